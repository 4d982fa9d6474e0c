/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-codec-bench"

/* natter-codec-bench: CPU time per frame of natterd's codecs (libnatter), on the frames the
 * load generator sends and receives most: a `send` and the `message` event it becomes.
 * Each codec decodes and encodes each frame --iterations times on one thread; the load
 * generator's numbers include all of this, this tool isolates it. */

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "natter-codec.h"
#include "natter-store.h"

/* As natter-loadgen writes it: a nanosecond stamp, then padding to 128 bytes. */
#define SEND_FRAME \
  "{\"id\":123456,\"send\":{\"room\":\"r123\",\"body\":\"1764230000123456789 " \
  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
  "xxxxxxxxxxxxxxxxxxxxxxxx\",\"client_msg_id\":\"4f2a9c1e-99-123456\"}}"

static const char *
codec_name (NatterCodec codec)
{
  return codec == NATTER_CODEC_JSON ? "json" : "proto";
}

static double
per_frame_us (gint64 start, guint iterations)
{
  return (double) (g_get_monotonic_time () - start) / iterations;
}

static void
bench_client_frame (NatterCodec codec, GBytes *frame, guint iterations)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (frame, &len);
  gint64 start = g_get_monotonic_time ();

  for (guint i = 0; i < iterations; i++)
    {
      g_autoptr(GError) error = NULL;
      Natter__ClientFrame *decoded = natter_codec_decode_client_frame (codec, data, len, &error);

      if (decoded == NULL)
        g_error ("the send frame does not decode: %s", error->message);
      protobuf_c_message_free_unpacked (&decoded->base, NULL);
    }
  printf ("%-6s decode send     %7.3f µs  (%" G_GSIZE_FORMAT " bytes)\n",
          codec_name (codec), per_frame_us (start, iterations), len);
}

static void
bench_server_frame (NatterCodec codec, const Natter__ServerFrame *frame, guint iterations)
{
  gint64 start = g_get_monotonic_time ();
  gsize len = 0;

  for (guint i = 0; i < iterations; i++)
    {
      g_autoptr(GBytes) bytes = natter_codec_encode (codec, &frame->base);

      len = g_bytes_get_size (bytes);
    }
  printf ("%-6s encode message  %7.3f µs  (%" G_GSIZE_FORMAT " bytes)\n",
          codec_name (codec), per_frame_us (start, iterations), len);
}

int
main (int argc, char **argv)
{
  guint iterations = 200000;
  g_autoptr(GError) error = NULL;
  g_autoptr(GOptionContext) context = g_option_context_new (NULL);
  GOptionEntry entries[] = {
    { "iterations", 'n', 0, G_OPTION_ARG_INT, &iterations, "Frames per measurement", "N" },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr(GBytes) json_send = g_bytes_new_static (SEND_FRAME, strlen (SEND_FRAME));
  g_autoptr(GBytes) proto_send = NULL;
  Natter__ClientFrame *send;
  Natter__Message *message;
  Natter__ServerFrame event = NATTER__SERVER_FRAME__INIT;

  g_option_context_set_summary (context, "CPU time per frame of natterd's JSON and protobuf "
                                "codecs, for a send and the message event it becomes.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error) || iterations == 0)
    {
      g_printerr ("natter-codec-bench: %s\n",
                  error != NULL ? error->message : "--iterations must be at least 1");
      return 2;
    }

  send = natter_codec_decode_client_frame (NATTER_CODEC_JSON, g_bytes_get_data (json_send, NULL),
                                           g_bytes_get_size (json_send), &error);
  g_assert_no_error (error);
  proto_send = natter_codec_encode (NATTER_CODEC_PROTO, &send->base);
  message = natter_message_new (send->send->room, 42, 1764230000123, "bench123",
                                send->send->body, send->send->client_msg_id, "text");
  event.event_case = NATTER__SERVER_FRAME__EVENT_MESSAGE;
  event.message = message;

  bench_client_frame (NATTER_CODEC_JSON, json_send, iterations);
  bench_client_frame (NATTER_CODEC_PROTO, proto_send, iterations);
  bench_server_frame (NATTER_CODEC_JSON, &event, iterations);
  bench_server_frame (NATTER_CODEC_PROTO, &event, iterations);

  natter_message_free (message);
  protobuf_c_message_free_unpacked (&send->base, NULL);
  return 0;
}
