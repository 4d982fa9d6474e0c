/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-session"

#include "config.h"

#include "natter-error.h"
#include "natter-session.h"
#include "natter-websocket.h"

struct _NatterSession
{
  NatterClient             parent_instance;

  NatterBackend           *backend;     /* (owned) */
  const NatterConfig      *config;      /* (unowned) outlives the session */
  NatterWebsocket         *ws;          /* (owned) */
  NatterCodec              codec;
  gint64                   last_ping;   /* monotonic µs of our last ping */
  guint                    bad_frames;  /* bad frames in a row */
  gboolean                 closed;
};

G_DEFINE_FINAL_TYPE (NatterSession, natter_session, NATTER_TYPE_CLIENT)

enum {
  SIGNAL_CLOSED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static gboolean
is_open (NatterSession *self)
{
  return !self->closed && natter_websocket_is_open (self->ws);
}

static void
natter_session_deliver (NatterClient *client,
                        NatterEvent  *event)
{
  NatterSession *self = NATTER_SESSION (client);
  GBytes *bytes;

  if (!is_open (self))
    return;
  bytes = natter_event_get_bytes (event, self->codec);
  natter_websocket_send (self->ws, self->codec == NATTER_CODEC_JSON, bytes);
}

static void
natter_session_close (NatterClient *client,
                      gushort       code,
                      const char   *reason)
{
  NatterSession *self = NATTER_SESSION (client);

  if (is_open (self))
    natter_websocket_close (self->ws, code, reason);
}

static void
bad_frame (NatterSession *self,
           const guint8  *data,
           gsize          len,
           const GError  *error)
{
  guint64 id = 0;
  gboolean has_id = natter_codec_peek_id (self->codec, data, len, &id);

  natter_backend_reply_error (self->backend, NATTER_CLIENT (self), id, has_id, error);
  if (++self->bad_frames >= self->config->bad_frame_limit)
    natter_session_close (NATTER_CLIENT (self), NATTER_CLOSE_POLICY, "too many bad frames");
}

static void
on_message (NatterWebsocket *ws,
            gboolean         is_text,
            GBytes          *message,
            gpointer         user_data)
{
  NatterSession *self = user_data;
  g_autoptr(GError) error = NULL;
  Natter__ClientFrame *frame;
  gsize len;
  const guint8 *data = g_bytes_get_data (message, &len);

  if ((self->codec == NATTER_CODEC_JSON) != is_text)
    {
      g_set_error (&error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                   self->codec == NATTER_CODEC_JSON
                     ? "binary frame on the natter.v1.json subprotocol: send text frames"
                     : "text frame on the natter.v1.proto subprotocol: send binary frames");
      bad_frame (self, data, len, error);
      return;
    }

  frame = natter_codec_decode_client_frame (self->codec, data, len, &error);
  if (frame == NULL)
    {
      bad_frame (self, data, len, error);
      return;
    }
  self->bad_frames = 0;
  natter_backend_dispatch (self->backend, NATTER_CLIENT (self), frame);
}

static void
on_closed (NatterWebsocket *ws,
           gpointer         user_data)
{
  NatterSession *self = user_data;
  g_autoptr(NatterSession) hold G_GNUC_UNUSED = g_object_ref (self);

  if (self->closed)
    return;
  self->closed = TRUE;
  g_debug ("Session of %s closed (%u)", natter_client_get_peer (NATTER_CLIENT (self)),
           natter_websocket_get_close_code (ws));
  natter_backend_remove_client (self->backend, NATTER_CLIENT (self));
  g_signal_emit (self, signals[SIGNAL_CLOSED], 0);
}

/**
 * natter_session_heartbeat:
 * @now: the monotonic time
 *
 * Pings every ping interval and drops a peer from which no frame at all (data, ping,
 * pong, anything) came
 * for the ping timeout. The server calls it for every session from one timer, at half the
 * ping interval, so a timeout is not overshot by more than that.
 */
void
natter_session_heartbeat (NatterSession *self,
                          gint64         now)
{
  const NatterConfig *config = self->config;
  gint64 silent = now - natter_websocket_get_last_heard (self->ws);

  if (!is_open (self))
    return;
  if (silent >= (gint64) config->ping_timeout_s * G_USEC_PER_SEC)
    {
      g_debug ("Dropping %s: silent for %" G_GINT64_FORMAT " ms",
               natter_client_get_peer (NATTER_CLIENT (self)), silent / 1000);
      natter_session_close (NATTER_CLIENT (self), NATTER_CLOSE_GOING_AWAY, "idle timeout");
      return;
    }
  if (now - self->last_ping >= (gint64) config->ping_interval_s * G_USEC_PER_SEC - G_USEC_PER_SEC / 10)
    {
      self->last_ping = now;
      natter_websocket_ping (self->ws);
    }
}

static void
natter_session_dispose (GObject *object)
{
  NatterSession *self = NATTER_SESSION (object);

  if (self->ws != NULL)
    g_signal_handlers_disconnect_by_data (self->ws, self);
  g_clear_object (&self->ws);
  g_clear_object (&self->backend);

  G_OBJECT_CLASS (natter_session_parent_class)->dispose (object);
}

static void
natter_session_class_init (NatterSessionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  NatterClientClass *client_class = NATTER_CLIENT_CLASS (klass);

  object_class->dispose = natter_session_dispose;
  client_class->deliver = natter_session_deliver;
  client_class->end = natter_session_close;

  signals[SIGNAL_CLOSED] =
    g_signal_new ("closed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 0);
}

static void
natter_session_init (NatterSession *self)
{
}

/**
 * natter_session_new:
 * @backend: what the session's requests go to
 * @config: the limits and the heartbeat's timing; must outlive the session
 * @stream: the connection, right after the WebSocket handshake
 * @socket: (nullable): its socket, for plain TCP (see natter_websocket_new())
 * @codec: the negotiated codec
 * @peer: the remote address, for logs and per-IP limits
 *
 * Returns: (transfer full): a session already added to @backend
 */
NatterSession *
natter_session_new (NatterBackend      *backend,
                    const NatterConfig *config,
                    GIOStream          *stream,
                    GSocket            *socket,
                    NatterCodec         codec,
                    const char         *peer)
{
  NatterSession *self = g_object_new (NATTER_TYPE_SESSION, NULL);
  NatterWebsocketLimits limits = {
    .max_message = config->max_frame_bytes,
    .max_queue_bytes = config->max_queue_bytes,
    .max_queue_frames = config->max_queue_frames,
  };

  self->backend = g_object_ref (backend);
  self->config = config;
  self->codec = codec;
  self->last_ping = g_get_monotonic_time ();
  natter_client_set_peer (NATTER_CLIENT (self), peer);

  self->ws = natter_websocket_new (stream, socket, &limits);
  g_signal_connect (self->ws, "message", G_CALLBACK (on_message), self);
  g_signal_connect (self->ws, "closed", G_CALLBACK (on_closed), self);

  natter_backend_add_client (backend, NATTER_CLIENT (self));
  return self;
}

void
natter_session_shutdown (NatterSession *self)
{
  g_return_if_fail (NATTER_IS_SESSION (self));
  natter_session_close (NATTER_CLIENT (self), NATTER_CLOSE_GOING_AWAY, "server shutting down");
}
