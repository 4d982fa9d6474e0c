/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-test-json-node"

#include "config.h"

#include <math.h>
#include <string.h>

#include "natter-codec.h"
#include "natter-test-json-node.h"

/* ------------------------------------------------------------------------------------ */
/* Encoding to a JsonNode, written apart from natter-json.c's encoder so that the two can
 * be compared: only the rules of the mapping are shared, not the code. */

static gsize
value_size (ProtobufCType type)
{
  switch (type)
    {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
      return sizeof (int32_t);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
      return sizeof (int64_t);
    case PROTOBUF_C_TYPE_FLOAT:
      return sizeof (float);
    case PROTOBUF_C_TYPE_DOUBLE:
      return sizeof (double);
    case PROTOBUF_C_TYPE_BOOL:
      return sizeof (protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM:
      return sizeof (int);
    case PROTOBUF_C_TYPE_STRING:
      return sizeof (char *);
    case PROTOBUF_C_TYPE_BYTES:
      return sizeof (ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
      return sizeof (ProtobufCMessage *);
    default:
      g_return_val_if_reached (0);
    }
}

/* Whether proto3's implicit presence counts the value as unset. */
static gboolean
value_is_zero (const ProtobufCFieldDescriptor *field,
               const void                     *member)
{
  switch (field->type)
    {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_ENUM:
      return *(const int32_t *) member == 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
      return *(const int64_t *) member == 0;
    case PROTOBUF_C_TYPE_FLOAT:
      return *(const float *) member == 0;
    case PROTOBUF_C_TYPE_DOUBLE:
      return *(const double *) member == 0;
    case PROTOBUF_C_TYPE_BOOL:
      return !*(const protobuf_c_boolean *) member;
    case PROTOBUF_C_TYPE_STRING:
      {
        const char *str = *(const char * const *) member;
        return str == NULL || *str == '\0';
      }
    case PROTOBUF_C_TYPE_BYTES:
      return ((const ProtobufCBinaryData *) member)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE:
      return *(const ProtobufCMessage * const *) member == NULL;
    default:
      g_return_val_if_reached (TRUE);
    }
}

/* Presence as protobuf_c_message_pack() decides it. */
static gboolean
field_is_present (const ProtobufCMessage         *message,
                  const ProtobufCFieldDescriptor *field)
{
  const void *member = G_STRUCT_MEMBER_P (message, field->offset);
  gboolean in_oneof = (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;

  if (field->label == PROTOBUF_C_LABEL_REPEATED)
    return G_STRUCT_MEMBER (size_t, message, field->quantifier_offset) > 0;
  if (in_oneof && G_STRUCT_MEMBER (uint32_t, message, field->quantifier_offset) != field->id)
    return FALSE;
  if (field->type == PROTOBUF_C_TYPE_STRING || field->type == PROTOBUF_C_TYPE_MESSAGE)
    {
      const void *ptr = *(const void * const *) member;

      if (ptr == NULL)
        return FALSE;
      if (field->label == PROTOBUF_C_LABEL_OPTIONAL && ptr == field->default_value)
        return FALSE;
      if (in_oneof || field->label == PROTOBUF_C_LABEL_OPTIONAL)
        return TRUE;
    }
  if (in_oneof)
    return TRUE;
  switch (field->label)
    {
    case PROTOBUF_C_LABEL_OPTIONAL:
      return G_STRUCT_MEMBER (protobuf_c_boolean, message, field->quantifier_offset);
    case PROTOBUF_C_LABEL_NONE:
      return !value_is_zero (field, member);
    case PROTOBUF_C_LABEL_REQUIRED:
    case PROTOBUF_C_LABEL_REPEATED:
    default:
      return TRUE;
    }
}

static JsonObject *message_to_object (const ProtobufCMessage *message);

static JsonNode *
value_to_node (const ProtobufCFieldDescriptor *field,
               const void                     *member)
{
  JsonNode *node = json_node_alloc ();

  switch (field->type)
    {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
      return json_node_init_int (node, *(const int32_t *) member);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
      return json_node_init_int (node, *(const uint32_t *) member);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
      return json_node_init_int (node, *(const int64_t *) member);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
      {
        guint64 value = *(const uint64_t *) member;
        char buf[24];

        if (value <= G_MAXINT64)
          return json_node_init_int (node, (gint64) value);
        /* A JsonNode holds a gint64: beyond it, the mapping's decimal string. */
        g_snprintf (buf, sizeof buf, "%" G_GUINT64_FORMAT, value);
        return json_node_init_string (node, buf);
      }
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
      {
        double value = field->type == PROTOBUF_C_TYPE_FLOAT ? *(const float *) member
                                                            : *(const double *) member;

        /* The mapping's names for what a JSON number cannot hold. */
        if (isnan (value))
          return json_node_init_string (node, "NaN");
        if (isinf (value))
          return json_node_init_string (node, value > 0 ? "Infinity" : "-Infinity");
        return json_node_init_double (node, value);
      }
    case PROTOBUF_C_TYPE_BOOL:
      return json_node_init_boolean (node, *(const protobuf_c_boolean *) member != 0);
    case PROTOBUF_C_TYPE_ENUM:
      {
        int value = *(const int *) member;
        const ProtobufCEnumValue *enum_value =
          protobuf_c_enum_descriptor_get_value (field->descriptor, value);

        if (enum_value != NULL)
          return json_node_init_string (node, enum_value->name);
        return json_node_init_int (node, value);
      }
    case PROTOBUF_C_TYPE_STRING:
      {
        const char *str = *(const char * const *) member;
        g_autofree char *valid = NULL;

        if (!g_utf8_validate (str, -1, NULL))
          str = valid = g_utf8_make_valid (str, -1);
        return json_node_init_string (node, str);
      }
    case PROTOBUF_C_TYPE_BYTES:
      {
        const ProtobufCBinaryData *bytes = member;
        g_autofree char *base64 = g_base64_encode (bytes->data, bytes->len);

        return json_node_init_string (node, base64);
      }
    case PROTOBUF_C_TYPE_MESSAGE:
      json_node_init (node, JSON_NODE_OBJECT);
      json_node_take_object (node,
                             message_to_object (*(const ProtobufCMessage * const *) member));
      return node;
    default:
      g_return_val_if_reached (json_node_init_null (node));
    }
}

static JsonObject *
message_to_object (const ProtobufCMessage *message)
{
  const ProtobufCMessageDescriptor *descriptor = message->descriptor;
  JsonObject *object = json_object_new ();

  for (guint i = 0; i < descriptor->n_fields; i++)
    {
      const ProtobufCFieldDescriptor *field = &descriptor->fields[i];

      if (!field_is_present (message, field))
        continue;

      if (field->label == PROTOBUF_C_LABEL_REPEATED)
        {
          gsize n = G_STRUCT_MEMBER (size_t, message, field->quantifier_offset);
          const char *elements = G_STRUCT_MEMBER (const char *, message, field->offset);
          gsize size = value_size (field->type);
          JsonArray *array = json_array_sized_new (n);

          for (gsize j = 0; j < n; j++)
            json_array_add_element (array, value_to_node (field, elements + j * size));
          json_object_set_array_member (object, field->name, array);
        }
      else
        {
          json_object_set_member (object, field->name,
                                  value_to_node (field,
                                                 G_STRUCT_MEMBER_P (message, field->offset)));
        }
    }
  return object;
}

/**
 * natter_test_node_from_message:
 * @message: any protobuf-c message
 *
 * Maps @message to a JSON object, as natter_json_encode() maps it to text. A #JsonNode
 * holds at most a gint64, so a 64-bit unsigned value above %G_MAXINT64 becomes a decimal
 * string, which the mapping accepts as well.
 *
 * Returns: (transfer full): a node holding an object
 */
JsonNode *
natter_test_node_from_message (const ProtobufCMessage *message)
{
  JsonNode *node;

  g_return_val_if_fail (message != NULL, NULL);

  node = json_node_new (JSON_NODE_OBJECT);
  json_node_take_object (node, message_to_object (message));
  return node;
}

/* ------------------------------------------------------------------------------------ */
/* Decoding from a JsonNode: through strict JSON text and natterd's decoder. Not through
 * json-glib's generator: 1.6 writes U+001F unescaped, which is not JSON. */

/* Escapes what JSON requires and nothing else; invalid UTF-8 is passed on, for the
 * decoder to refuse and name. */
static void
append_string (GString    *out,
               const char *str)
{
  g_string_append_c (out, '"');
  for (const char *p = str; *p != '\0'; p++)
    {
      guchar c = (guchar) *p;

      if (c == '"' || c == '\\')
        {
          g_string_append_c (out, '\\');
          g_string_append_c (out, (char) c);
        }
      else if (c < 0x20)
        g_string_append_printf (out, "\\u%04x", c);
      else
        g_string_append_c (out, (char) c);
    }
  g_string_append_c (out, '"');
}

static void
append_node (GString  *out,
             JsonNode *node)
{
  switch (json_node_get_node_type (node))
    {
    case JSON_NODE_OBJECT:
      {
        JsonObjectIter iter;
        const char *key;
        JsonNode *member;
        gboolean first = TRUE;

        g_string_append_c (out, '{');
        json_object_iter_init_ordered (&iter, json_node_get_object (node));
        while (json_object_iter_next_ordered (&iter, &key, &member))
          {
            if (!first)
              g_string_append_c (out, ',');
            first = FALSE;
            append_string (out, key);
            g_string_append_c (out, ':');
            append_node (out, member);
          }
        g_string_append_c (out, '}');
        return;
      }
    case JSON_NODE_ARRAY:
      {
        JsonArray *array = json_node_get_array (node);

        g_string_append_c (out, '[');
        for (guint i = 0; i < json_array_get_length (array); i++)
          {
            if (i > 0)
              g_string_append_c (out, ',');
            append_node (out, json_array_get_element (array, i));
          }
        g_string_append_c (out, ']');
        return;
      }
    case JSON_NODE_VALUE:
      {
        GType type = json_node_get_value_type (node);

        if (type == G_TYPE_INT64)
          g_string_append_printf (out, "%" G_GINT64_FORMAT, json_node_get_int (node));
        else if (type == G_TYPE_DOUBLE && isfinite (json_node_get_double (node)))
          {
            char buf[G_ASCII_DTOSTR_BUF_SIZE];
            const char *number = g_ascii_formatd (buf, sizeof buf, "%.17g",
                                                  json_node_get_double (node));

            /* 17 digits read back as the same double; a fraction keeps it a double,
             * which -0 would not stay as an integer. */
            g_string_append (out, number);
            if (strpbrk (number, ".e") == NULL)
              g_string_append (out, ".0");
          }
        else if (type == G_TYPE_BOOLEAN)
          g_string_append (out, json_node_get_boolean (node) ? "true" : "false");
        else if (type == G_TYPE_STRING)
          append_string (out, json_node_get_string (node));
        else
          g_string_append (out, "null");
        return;
      }
    case JSON_NODE_NULL:
    default:
      g_string_append (out, "null");
      return;
    }
}

/**
 * natter_test_node_to_message:
 * @descriptor: the message type to decode
 * @node: a JSON object in the mapping of @descriptor
 * @error: return location for a #GError
 *
 * Decodes @node with the rules of natter_json_decode(), which it goes through.
 *
 * Returns: (transfer full): the message, to free with protobuf_c_message_free_unpacked(),
 *   or %NULL with @error set
 */
ProtobufCMessage *
natter_test_node_to_message (const ProtobufCMessageDescriptor  *descriptor,
                             JsonNode                          *node,
                             GError                           **error)
{
  g_autoptr(GString) text = g_string_new (NULL);

  g_return_val_if_fail (descriptor != NULL, NULL);
  g_return_val_if_fail (node != NULL, NULL);

  append_node (text, node);
  return natter_json_decode (descriptor, text->str, text->len, error);
}
