/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-codec"

#include "config.h"

#include <string.h>

#include "natter-codec.h"
#include "natter-error.h"

/* Deeper than any schema of the project; bounds the recursion on hostile input. */
#define MAX_DEPTH 32

/**
 * natter_codec_to_subprotocol:
 * @codec: a #NatterCodec
 *
 * Returns: (transfer none): the WebSocket subprotocol that carries @codec
 */
const char *
natter_codec_to_subprotocol (NatterCodec codec)
{
  switch (codec)
    {
    case NATTER_CODEC_JSON:
      return NATTER_SUBPROTOCOL_JSON;
    case NATTER_CODEC_PROTO:
      return NATTER_SUBPROTOCOL_PROTO;
    default:
      g_return_val_if_reached (NULL);
    }
}

/**
 * natter_codec_from_subprotocol:
 * @subprotocol: (nullable): a WebSocket subprotocol name
 * @out_codec: (out): the codec of @subprotocol
 *
 * Maps a subprotocol name to its codec. %NULL, for no subprotocol, is not a name: the
 * caller decides what a connection without one speaks.
 *
 * Returns: %TRUE if @subprotocol is one of the protocol's
 */
gboolean
natter_codec_from_subprotocol (const char  *subprotocol,
                               NatterCodec *out_codec)
{
  g_return_val_if_fail (out_codec != NULL, FALSE);

  if (g_strcmp0 (subprotocol, NATTER_SUBPROTOCOL_JSON) == 0)
    *out_codec = NATTER_CODEC_JSON;
  else if (g_strcmp0 (subprotocol, NATTER_SUBPROTOCOL_PROTO) == 0)
    *out_codec = NATTER_CODEC_PROTO;
  else
    return FALSE;
  return TRUE;
}

/**
 * natter_codec_encode:
 * @codec: the codec of the peer
 * @message: any protobuf-c message
 *
 * Encodes @message for @codec: protobuf binary, or the JSON mapping as UTF-8 text (see
 * natter_json_encode()).
 *
 * Returns: (transfer full): the frame's payload
 */
GBytes *
natter_codec_encode (NatterCodec             codec,
                     const ProtobufCMessage *message)
{
  g_return_val_if_fail (message != NULL, NULL);

  switch (codec)
    {
    case NATTER_CODEC_JSON:
      return natter_json_encode (message);
    case NATTER_CODEC_PROTO:
      {
        gsize len = protobuf_c_message_get_packed_size (message);
        guint8 *data = g_malloc (MAX (len, 1));

        protobuf_c_message_pack (message, data);
        return g_bytes_new_take (data, len);
      }
    default:
      g_return_val_if_reached (NULL);
    }
}

/* ------------------------------------------------------------------------------------ */
/* Strings of protobuf frames */

typedef struct _WirePath WirePath;

/* One step of the path to a field, kept on the stack of the recursion. */
struct _WirePath
{
  const WirePath *parent;  /* (unowned) (nullable) */
  const char     *name;    /* (unowned) */
  gboolean        has_index;
  guint           index;
};

static void
wire_path_append (GString        *out,
                  const WirePath *path)
{
  if (path == NULL)
    return;
  wire_path_append (out, path->parent);
  if (out->len > 0)
    g_string_append_c (out, '.');
  g_string_append (out, path->name);
  if (path->has_index)
    g_string_append_printf (out, "[%u]", path->index);
}

static gboolean
set_string_error (GError         **error,
                  const WirePath  *path,
                  const char      *problem)
{
  g_autoptr(GString) where = g_string_new (NULL);

  wire_path_append (where, path);
  g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST, "%s: %s", where->str, problem);
  return FALSE;
}

static gboolean
set_malformed (GError **error)
{
  g_set_error_literal (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                       "malformed protobuf frame");
  return FALSE;
}

static gboolean
read_varint (const guint8 *data,
             gsize         len,
             gsize        *pos,
             guint64      *out)
{
  guint64 value = 0;

  for (guint shift = 0; shift < 64 && *pos < len; shift += 7)
    {
      guint8 byte = data[(*pos)++];

      value |= (guint64) (byte & 0x7f) << shift;
      if ((byte & 0x80) == 0)
        {
          *out = value;
          return TRUE;
        }
    }
  return FALSE;
}

/*
 * protobuf-c checks neither that proto2 strings are UTF-8 nor that they have no NUL,
 * and the NUL cannot be seen once unpacked: the C string just ends early. So the strings
 * are checked on the wire, walking the encoded message along its descriptor. Runs after
 * protobuf_c_message_unpack() has accepted the frame.
 */
static gboolean
check_wire_strings (const ProtobufCMessageDescriptor  *descriptor,
                    const guint8                      *data,
                    gsize                              len,
                    guint                              depth,
                    const WirePath                    *path,
                    GError                           **error)
{
  g_autofree guint *counts = NULL;
  gsize pos = 0;

  if (depth > MAX_DEPTH)
    return set_malformed (error);

  while (pos < len)
    {
      const ProtobufCFieldDescriptor *field;
      guint64 tag;
      guint64 length;
      guint64 ignored;
      WirePath field_path;

      /* protobuf-c takes an over-long encoding of field number 0, which no protobuf
       * reader accepts once re-encoded. */
      if (!read_varint (data, len, &pos, &tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff)
        return set_malformed (error);

      switch (tag & 7)
        {
        case 0:
          if (!read_varint (data, len, &pos, &ignored))
            return set_malformed (error);
          continue;
        case 1:
          if (len - pos < 8)
            return set_malformed (error);
          pos += 8;
          continue;
        case 5:
          if (len - pos < 4)
            return set_malformed (error);
          pos += 4;
          continue;
        case 2:
          break;
        default:
          return set_malformed (error);
        }

      if (!read_varint (data, len, &pos, &length) || length > len - pos)
        return set_malformed (error);

      field = protobuf_c_message_descriptor_get_field (descriptor, (unsigned) (tag >> 3));
      if (field == NULL ||
          (field->type != PROTOBUF_C_TYPE_STRING && field->type != PROTOBUF_C_TYPE_MESSAGE))
        {
          pos += length;
          continue;
        }

      field_path = (WirePath) { path, field->name, FALSE, 0 };
      if (field->label == PROTOBUF_C_LABEL_REPEATED)
        {
          if (counts == NULL)
            counts = g_new0 (guint, descriptor->n_fields);
          field_path.has_index = TRUE;
          field_path.index = counts[field - descriptor->fields]++;
        }

      if (field->type == PROTOBUF_C_TYPE_STRING)
        {
          if (memchr (data + pos, '\0', length) != NULL)
            return set_string_error (error, &field_path, "string contains a NUL character");
          if (!g_utf8_validate_len ((const char *) data + pos, length, NULL))
            return set_string_error (error, &field_path, "string is not valid UTF-8");
        }
      else if (!check_wire_strings (field->descriptor, data + pos, length, depth + 1,
                                    &field_path, error))
        {
          return FALSE;
        }
      pos += length;
    }
  return TRUE;
}

static ProtobufCMessage *
decode_proto (const ProtobufCMessageDescriptor  *descriptor,
              const guint8                      *data,
              gsize                              len,
              GError                           **error)
{
  ProtobufCMessage *message = protobuf_c_message_unpack (descriptor, NULL, len, data);

  if (message == NULL)
    {
      set_malformed (error);
      return NULL;
    }
  if (!check_wire_strings (descriptor, data, len, 1, NULL, error))
    {
      protobuf_c_message_free_unpacked (message, NULL);
      return NULL;
    }
  return message;
}

/**
 * natter_codec_decode:
 * @codec: the codec of the peer
 * @descriptor: the message type to decode
 * @data: (array length=len) (nullable): the frame's payload
 * @len: length of @data in bytes
 * @error: return location for a #GError
 *
 * Decodes a frame strictly: besides what each encoding requires, strings must be valid
 * UTF-8 without U+0000 (see natter_json_decode() for the JSON rules). Every failure is a
 * %NATTER_ERROR_BAD_REQUEST; the message names the field where there is one.
 *
 * Returns: (transfer full): the message, to free with
 *   `protobuf_c_message_free_unpacked (message, NULL)`, or %NULL with @error set
 */
ProtobufCMessage *
natter_codec_decode (NatterCodec                        codec,
                     const ProtobufCMessageDescriptor  *descriptor,
                     const guint8                      *data,
                     gsize                              len,
                     GError                           **error)
{
  g_return_val_if_fail (descriptor != NULL, NULL);
  g_return_val_if_fail (data != NULL || len == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  switch (codec)
    {
    case NATTER_CODEC_JSON:
      return natter_json_decode (descriptor, (const char *) data, len, error);
    case NATTER_CODEC_PROTO:
      return decode_proto (descriptor, data, len, error);
    default:
      g_return_val_if_reached (NULL);
    }
}

/**
 * natter_codec_decode_client_frame:
 * @codec: the codec of the peer
 * @data: (array length=len) (nullable): the frame's payload
 * @len: length of @data in bytes
 * @error: return location for a #GError
 *
 * Decodes a #Natter__ClientFrame as natter_codec_decode() does. A frame without an
 * operation decodes; reporting it is the caller's business.
 *
 * Returns: (transfer full): the frame, or %NULL with @error set
 */
Natter__ClientFrame *
natter_codec_decode_client_frame (NatterCodec    codec,
                                  const guint8  *data,
                                  gsize          len,
                                  GError       **error)
{
  return (Natter__ClientFrame *) natter_codec_decode (codec, &natter__client_frame__descriptor,
                                                      data, len, error);
}

/**
 * natter_codec_decode_server_frame:
 * @codec: the codec of the peer
 * @data: (array length=len) (nullable): the frame's payload
 * @len: length of @data in bytes
 * @error: return location for a #GError
 *
 * Decodes a #Natter__ServerFrame as natter_codec_decode() does.
 *
 * Returns: (transfer full): the frame, or %NULL with @error set
 */
Natter__ServerFrame *
natter_codec_decode_server_frame (NatterCodec    codec,
                                  const guint8  *data,
                                  gsize          len,
                                  GError       **error)
{
  return (Natter__ServerFrame *) natter_codec_decode (codec, &natter__server_frame__descriptor,
                                                      data, len, error);
}

/**
 * natter_client_frame_free:
 * @frame: (nullable) (transfer full): a frame decoded by this module or unpacked by
 *   protobuf-c
 */
void
natter_client_frame_free (Natter__ClientFrame *frame)
{
  if (frame != NULL)
    protobuf_c_message_free_unpacked (&frame->base, NULL);
}

/**
 * natter_server_frame_free:
 * @frame: (nullable) (transfer full): a frame decoded by this module or unpacked by
 *   protobuf-c
 */
void
natter_server_frame_free (Natter__ServerFrame *frame)
{
  if (frame != NULL)
    protobuf_c_message_free_unpacked (&frame->base, NULL);
}

/* Finds the top-level field 1 (the frame id, a varint) of a protobuf frame. */
static gboolean
peek_proto_id (const guint8 *data,
               gsize         len,
               guint64      *out_id)
{
  gsize pos = 0;

  while (pos < len)
    {
      guint64 key, value;

      if (!read_varint (data, len, &pos, &key))
        return FALSE;
      switch (key & 7)
        {
        case 0:
          if (!read_varint (data, len, &pos, &value))
            return FALSE;
          if (key >> 3 == 1)
            {
              *out_id = value;
              return TRUE;
            }
          break;
        case 1:
          pos += 8;
          break;
        case 2:
          if (!read_varint (data, len, &pos, &value) || value > len - MIN (pos, len))
            return FALSE;
          pos += value;
          break;
        case 5:
          pos += 4;
          break;
        default:
          return FALSE;
        }
    }
  return FALSE;
}

/* Finds `"id": <digits>` among the top-level members of a JSON object, without
 * parsing (the frame may be invalid anywhere else) and without recursion. */
static gboolean
peek_json_id (const guint8 *data,
              gsize         len,
              guint64      *out_id)
{
  guint depth = 0;
  gsize i = 0;

  while (i < len)
    {
      guint8 c = data[i];

      if (c == '"')
        {
          gsize start = ++i;
          gboolean is_key_id;

          while (i < len && data[i] != '"')
            i += data[i] == '\\' ? 2 : 1;
          if (i >= len)
            return FALSE;
          is_key_id = depth == 1 && i - start == 2 && memcmp (data + start, "id", 2) == 0;
          i++;
          if (!is_key_id)
            continue;
          while (i < len && g_ascii_isspace (data[i]))
            i++;
          if (i >= len || data[i] != ':')
            continue;
          i++;
          while (i < len && g_ascii_isspace (data[i]))
            i++;
          if (i < len && g_ascii_isdigit (data[i]))
            {
              guint64 value = 0;

              for (; i < len && g_ascii_isdigit (data[i]); i++)
                {
                  if (value > (G_MAXUINT64 - 9) / 10)
                    return FALSE;
                  value = value * 10 + (data[i] - '0');
                }
              /* 1.5 or 1e400 is no id: only an integer that ends there is. */
              if (i < len && (data[i] == '.' || data[i] == 'e' || data[i] == 'E'))
                return FALSE;
              *out_id = value;
              return TRUE;
            }
          continue;
        }
      if (c == '{' || c == '[')
        depth++;
      else if ((c == '}' || c == ']') && depth > 0)
        depth--;
      i++;
    }
  return FALSE;
}

/**
 * natter_codec_peek_id:
 * @codec: the codec of @data
 * @data: (array length=len): a frame that may not decode
 * @len: its length
 * @out_id: (out): the frame's `id`
 *
 * Finds the request id of a frame that failed to decode, so that its error reply can
 * still carry the id.
 *
 * Returns: %TRUE if an id was found
 */
gboolean
natter_codec_peek_id (NatterCodec   codec,
                      const guint8 *data,
                      gsize         len,
                      guint64      *out_id)
{
  g_return_val_if_fail (out_id != NULL, FALSE);

  if (codec == NATTER_CODEC_PROTO)
    return peek_proto_id (data, len, out_id);
  return peek_json_id (data, len, out_id);
}
