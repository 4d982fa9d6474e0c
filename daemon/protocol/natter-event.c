/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-event"

#include "config.h"

#include "natter-event.h"

struct _NatterEvent
{
  gatomicrefcount      ref_count;
  GBytes              *bytes[NATTER_CODEC_N]; /* (owned) (nullable) lazily encoded */
  Natter__ServerFrame *frame;                 /* (owned) (nullable) lazily unpacked */
};

/**
 * natter_event_new:
 * @frame: (transfer none): the frame, which may live on the caller's stack
 *
 * Returns: (transfer full): a new event holding a copy of @frame
 */
NatterEvent *
natter_event_new (const Natter__ServerFrame *frame)
{
  NatterEvent *self = g_new0 (NatterEvent, 1);

  g_atomic_ref_count_init (&self->ref_count);
  /* The protobuf encoding is the compact copy that outlives the caller's frame. */
  self->bytes[NATTER_CODEC_PROTO] = natter_codec_encode (NATTER_CODEC_PROTO, &frame->base);
  return self;
}

NatterEvent *
natter_event_ref (NatterEvent *self)
{
  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

void
natter_event_unref (NatterEvent *self)
{
  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;
  for (guint i = 0; i < NATTER_CODEC_N; i++)
    g_clear_pointer (&self->bytes[i], g_bytes_unref);
  g_clear_pointer (&self->frame, natter_server_frame_free);
  g_free (self);
}

/**
 * natter_event_get_frame:
 *
 * Returns: (transfer none): the frame, valid as long as @self
 */
const Natter__ServerFrame *
natter_event_get_frame (NatterEvent *self)
{
  if (self->frame == NULL)
    {
      GBytes *proto = self->bytes[NATTER_CODEC_PROTO];
      gsize len;
      const guint8 *data = g_bytes_get_data (proto, &len);

      self->frame = natter__server_frame__unpack (NULL, len, data);
      g_assert (self->frame != NULL);
    }
  return self->frame;
}

/**
 * natter_event_get_bytes:
 *
 * Returns: (transfer none): the frame encoded for @codec
 */
GBytes *
natter_event_get_bytes (NatterEvent *self,
                        NatterCodec  codec)
{
  g_return_val_if_fail ((guint) codec < NATTER_CODEC_N, NULL);

  if (self->bytes[codec] == NULL)
    self->bytes[codec] = natter_codec_encode (codec, &natter_event_get_frame (self)->base);
  return self->bytes[codec];
}
