/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-fuzz"

#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "natter-error.h"
#include "natter-fuzz.h"
#include "natter-test-json-node.h"

/**
 * natter_fuzz_init:
 *
 * Makes warnings and criticals fatal, as `G_DEBUG=fatal-criticals` and GTest do: whatever
 * the input, a critical is a bug, and the fuzzer must see it as a crash.
 */
void
natter_fuzz_init (void)
{
  static gsize initialized = 0;

  if (g_once_init_enter (&initialized))
    {
      GLogLevelFlags fatal = g_log_set_always_fatal (G_LOG_FATAL_MASK);

      g_log_set_always_fatal (fatal | G_LOG_LEVEL_WARNING | G_LOG_LEVEL_CRITICAL);
      g_once_init_leave (&initialized, 1);
    }
}

/* Prints @bytes with everything but printable ASCII escaped, so that a JSON frame reads
 * as text and a protobuf frame as bytes. */
static void
dump (const char *label,
      GBytes     *bytes)
{
  g_autoptr(GString) out = g_string_new (NULL);
  gsize len;
  const guint8 *data = g_bytes_get_data (bytes, &len);

  for (gsize i = 0; i < len; i++)
    {
      if (data[i] >= 0x20 && data[i] < 0x7f && data[i] != '\\')
        g_string_append_c (out, (char) data[i]);
      else
        g_string_append_printf (out, "\\x%02x", data[i]);
    }
  g_printerr ("%s (%" G_GSIZE_FORMAT " bytes): %s\n", label, len, out->str);
}

G_NORETURN static void
fail (const char *problem,
      GBytes     *first,
      GBytes     *second)
{
  g_printerr ("natter-fuzz: %s\n", problem);
  if (first != NULL)
    dump ("first", first);
  if (second != NULL)
    dump ("second", second);
  abort ();
}

/* Decodes from an exact-size copy, so that a read past the end shows under ASan. */
static ProtobufCMessage *
decode_copy (NatterCodec                        codec,
             const ProtobufCMessageDescriptor  *descriptor,
             GBytes                            *bytes,
             GError                           **error)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (bytes, &len);
  g_autofree guint8 *copy = len > 0 ? g_memdup2 (data, len) : NULL;

  return natter_codec_decode (codec, descriptor, copy, len, error);
}

/**
 * natter_fuzz_check_round_trip:
 * @message: a message the codecs accepted, or built by the daemon
 *
 * Checks that @message survives both codecs: its encoding decodes, encodes to the same
 * bytes again, and carries the same fields (as the JSON mapping shows them) through
 * either codec and through the #JsonNode mapping. Aborts otherwise.
 */
void
natter_fuzz_check_round_trip (const ProtobufCMessage *message)
{
  const ProtobufCMessageDescriptor *descriptor = message->descriptor;
  g_autoptr(GBytes) json = natter_codec_encode (NATTER_CODEC_JSON, message);
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) node_error = NULL;
  g_autoptr(GBytes) node_json = NULL;
  ProtobufCMessage *from_node;

  for (NatterCodec codec = NATTER_CODEC_JSON; codec < NATTER_CODEC_N; codec++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GBytes) first = natter_codec_encode (codec, message);
      g_autoptr(GBytes) second = NULL;
      g_autoptr(GBytes) second_json = NULL;
      ProtobufCMessage *decoded = decode_copy (codec, descriptor, first, &error);

      if (decoded == NULL)
        {
          g_printerr ("natter-fuzz: %s: %s\n", natter_codec_to_subprotocol (codec),
                      error->message);
          fail ("an encoded message does not decode again", json, first);
        }
      second = natter_codec_encode (codec, decoded);
      second_json = natter_codec_encode (NATTER_CODEC_JSON, decoded);
      protobuf_c_message_free_unpacked (decoded, NULL);

      if (!g_bytes_equal (first, second))
        fail (codec == NATTER_CODEC_JSON ? "JSON round trip is not stable"
                                         : "protobuf round trip is not stable",
              first, second);
      if (!g_bytes_equal (json, second_json))
        fail (codec == NATTER_CODEC_JSON ? "fields changed through the JSON codec"
                                         : "fields changed through the protobuf codec",
              json, second_json);
    }

  /* The JsonNode mapping of the tests (natter-test-json-node.c) agrees with the text one. */
  node = natter_test_node_from_message (message);
  from_node = natter_test_node_to_message (descriptor, node, &node_error);
  if (from_node == NULL)
    {
      g_printerr ("natter-fuzz: %s\n", node_error->message);
      fail ("a message does not decode from its JsonNode", json, NULL);
    }
  node_json = natter_codec_encode (NATTER_CODEC_JSON, from_node);
  protobuf_c_message_free_unpacked (from_node, NULL);
  if (!g_bytes_equal (json, node_json))
    fail ("fields changed through the JsonNode mapping", json, node_json);
}

/* A refused frame gets an error frame: bad_request, with a message that is valid UTF-8
 * (the protobuf codec would send it as it is). */
static void
check_decode_error (const GError *error,
                    const guint8 *data,
                    gsize         len)
{
  g_autoptr(GBytes) input = g_bytes_new (data, len);

  if (!g_error_matches (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST))
    {
      g_printerr ("natter-fuzz: %s\n", error->message);
      fail ("a refused frame is not a bad_request", input, NULL);
    }
  if (!g_utf8_validate (error->message, -1, NULL))
    {
      g_autoptr(GBytes) message = g_bytes_new (error->message, strlen (error->message));

      fail ("an error message is not valid UTF-8", input, message);
    }
}

/**
 * natter_fuzz_codec_one:
 * @codec: the codec to decode with
 * @data: (array length=len): a frame
 * @len: its length
 *
 * The body of the codec targets: decodes @data as a client frame and as a server frame;
 * checks what decodes with natter_fuzz_check_round_trip() and what does not with the
 * error rules. Also looks for the request id, as a session does with a bad frame.
 */
void
natter_fuzz_codec_one (NatterCodec   codec,
                       const guint8 *data,
                       gsize         len)
{
  g_autoptr(GError) client_error = NULL;
  g_autoptr(GError) server_error = NULL;
  g_autoptr(Natter__ClientFrame) client = NULL;
  g_autoptr(Natter__ServerFrame) server = NULL;
  guint64 id;

  natter_fuzz_init ();

  /* Any answer will do; it must only stay inside the frame. */
  natter_codec_peek_id (codec, data, len, &id);

  client = natter_codec_decode_client_frame (codec, data, len, &client_error);
  if (client != NULL)
    natter_fuzz_check_round_trip (&client->base);
  else
    check_decode_error (client_error, data, len);

  server = natter_codec_decode_server_frame (codec, data, len, &server_error);
  if (server != NULL)
    natter_fuzz_check_round_trip (&server->base);
  else
    check_decode_error (server_error, data, len);
}
