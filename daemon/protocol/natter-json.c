/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-json"

#include "config.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "natter-codec.h"
#include "natter-error.h"

/*
 * The protobuf JSON mapping with the original field names, generic over protobuf-c
 * descriptors: no code here knows a message of the schema.
 *
 * Text is decoded by a strict scanner rather than json-glib, which accepts more than
 * JSON (several roots, leading zeros, hex, single quotes) and loses some of it silently
 * (a `\u0000` escape cuts the string, an integer outside gint64 wraps). In one pass the
 * scanner checks the frame against RFC 8259, bounds the nesting before anything
 * recurses, names the field of a bad string, and lays the values out flat (see "Decoding:
 * a flat tree of values"); the values are then mapped onto the message.
 */

#define MAX_DEPTH 32

typedef struct _NatterPath NatterPath;

/* One step of the path to a value, kept on the stack of the recursion. */
struct _NatterPath
{
  const NatterPath *parent;   /* (unowned) (nullable) */
  const char       *name;     /* (unowned) (nullable): a key; NULL for an array element */
  gsize             name_len;
  gsize             index;
};

static void
path_append (GString          *out,
             const NatterPath *path)
{
  if (path == NULL)
    return;
  path_append (out, path->parent);
  if (path->name != NULL)
    {
      if (out->len > 0)
        g_string_append_c (out, '.');
      g_string_append_len (out, path->name, path->name_len);
    }
  else
    {
      g_string_append_printf (out, "[%" G_GSIZE_FORMAT "]", path->index);
    }
}

/* Where a field sits, for "in …": the path, or the message's name at the top. */
static char *
path_describe (const NatterPath                 *path,
               const ProtobufCMessageDescriptor *descriptor)
{
  GString *out = g_string_new (NULL);

  path_append (out, path);
  if (out->len == 0)
    g_string_append (out, descriptor->short_name);
  return g_string_free (out, FALSE);
}

static gboolean set_error (GError           **error,
                           const NatterPath  *path,
                           const char        *format,
                           ...) G_GNUC_PRINTF (3, 4);

/* Sets a bad_request error prefixed with the path of the value; always returns FALSE. */
static gboolean
set_error (GError           **error,
           const NatterPath  *path,
           const char        *format,
           ...)
{
  va_list args;
  g_autofree char *message = NULL;
  g_autoptr(GString) text = g_string_new (NULL);

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);

  path_append (text, path);
  if (text->len > 0)
    g_string_append (text, ": ");
  g_string_append (text, message);
  g_set_error_literal (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST, text->str);
  return FALSE;
}

/* ------------------------------------------------------------------------------------ */
/* Fields */

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

/* Whether a JSON number can fill the field (integers, floats, enums by number). */
static gboolean
type_is_numeric (ProtobufCType type)
{
  switch (type)
    {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
    case PROTOBUF_C_TYPE_ENUM:
      return TRUE;
    case PROTOBUF_C_TYPE_BOOL:
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES:
    case PROTOBUF_C_TYPE_MESSAGE:
    default:
      return FALSE;
    }
}

/* Whether proto3's implicit presence counts the value as set. */
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

/* Presence exactly as protobuf_c_message_pack() decides it, so both codecs carry the
 * same fields. */
static gboolean
field_is_present (const ProtobufCMessage         *message,
                  const ProtobufCFieldDescriptor *field)
{
  const void *member = G_STRUCT_MEMBER_P (message, field->offset);

  if (field->label == PROTOBUF_C_LABEL_REPEATED)
    return G_STRUCT_MEMBER (size_t, message, field->quantifier_offset) > 0;

  if ((field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0 &&
      G_STRUCT_MEMBER (uint32_t, message, field->quantifier_offset) != field->id)
    return FALSE;

  if (field->type == PROTOBUF_C_TYPE_STRING || field->type == PROTOBUF_C_TYPE_MESSAGE)
    {
      const void *ptr = *(const void * const *) member;

      if (ptr == NULL)
        return FALSE;
      if (field->label == PROTOBUF_C_LABEL_OPTIONAL && ptr == field->default_value)
        return FALSE;
    }

  if ((field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0)
    return TRUE;

  switch (field->label)
    {
    case PROTOBUF_C_LABEL_OPTIONAL:
      if (field->type == PROTOBUF_C_TYPE_STRING || field->type == PROTOBUF_C_TYPE_MESSAGE)
        return TRUE;
      return G_STRUCT_MEMBER (protobuf_c_boolean, message, field->quantifier_offset);
    case PROTOBUF_C_LABEL_NONE:
      return !value_is_zero (field, member);
    case PROTOBUF_C_LABEL_REQUIRED:
    case PROTOBUF_C_LABEL_REPEATED:
    default:
      return TRUE;
    }
}

static int
compare_name (const char *field_name,
              const char *name,
              gsize       len)
{
  int cmp = strncmp (field_name, name, len);

  if (cmp != 0)
    return cmp;
  return field_name[len] == '\0' ? 0 : 1;
}

/* Like protobuf_c_message_descriptor_get_field_by_name(), for a name that is not
 * nul-terminated. */
static const ProtobufCFieldDescriptor *
lookup_field (const ProtobufCMessageDescriptor *descriptor,
              const char                       *name,
              gsize                             len)
{
  guint lo = 0;
  guint hi = descriptor->n_fields;

  while (lo < hi)
    {
      guint mid = lo + (hi - lo) / 2;
      const ProtobufCFieldDescriptor *field =
        &descriptor->fields[descriptor->fields_sorted_by_name[mid]];
      int cmp = compare_name (field->name, name, len);

      if (cmp == 0)
        return field;
      if (cmp < 0)
        lo = mid + 1;
      else
        hi = mid;
    }
  return NULL;
}

/* ------------------------------------------------------------------------------------ */
/* Encoding to text */

static void
append_uint64 (GString *out,
               guint64  value)
{
  char buf[24];
  char *p = buf + sizeof buf;

  do
    {
      *--p = (char) ('0' + value % 10);
      value /= 10;
    }
  while (value != 0);
  g_string_append_len (out, p, buf + sizeof buf - p);
}

static void
append_int64 (GString *out,
              gint64   value)
{
  if (value < 0)
    {
      g_string_append_c (out, '-');
      append_uint64 (out, 0 - (guint64) value);
    }
  else
    {
      append_uint64 (out, (guint64) value);
    }
}

/* The shortest of two precisions that reads back as the same value, in the C locale. */
static const char *
format_double (char     buf[G_ASCII_DTOSTR_BUF_SIZE],
               double   value,
               gboolean is_float)
{
  /* "-0" would read back as the integer 0. */
  if (value == 0 && signbit (value))
    return "-0.0";
  if (is_float)
    {
      g_ascii_formatd (buf, G_ASCII_DTOSTR_BUF_SIZE, "%.6g", value);
      if ((float) g_ascii_strtod (buf, NULL) != (float) value)
        g_ascii_formatd (buf, G_ASCII_DTOSTR_BUF_SIZE, "%.9g", value);
    }
  else
    {
      g_ascii_formatd (buf, G_ASCII_DTOSTR_BUF_SIZE, "%.15g", value);
      if (g_ascii_strtod (buf, NULL) != value)
        g_ascii_formatd (buf, G_ASCII_DTOSTR_BUF_SIZE, "%.17g", value);
    }
  return buf;
}

/* The mapping's names for values JSON numbers cannot hold; NULL for a finite value. */
static const char *
non_finite_name (double value)
{
  if (isnan (value))
    return "NaN";
  if (isinf (value))
    return value > 0 ? "Infinity" : "-Infinity";
  return NULL;
}

static void
append_double (GString  *out,
               double    value,
               gboolean  is_float)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  const char *name = non_finite_name (value);

  if (name != NULL)
    g_string_append_printf (out, "\"%s\"", name);
  else
    g_string_append (out, format_double (buf, value, is_float));
}

/* Appends a JSON string. The text must be valid UTF-8; it is escaped only where JSON
 * requires, which keeps the common case a few long appends. */
static void
append_escaped (GString    *out,
                const char *str,
                gsize       len)
{
  static const char hex[] = "0123456789abcdef";
  const char *end = str + len;
  const char *run = str;

  g_string_append_c (out, '"');
  for (const char *p = str; p < end; p++)
    {
      guchar c = (guchar) *p;

      if (c >= 0x20 && c != '"' && c != '\\')
        continue;

      g_string_append_len (out, run, p - run);
      run = p + 1;
      switch (c)
        {
        case '"':
          g_string_append (out, "\\\"");
          break;
        case '\\':
          g_string_append (out, "\\\\");
          break;
        case '\n':
          g_string_append (out, "\\n");
          break;
        case '\r':
          g_string_append (out, "\\r");
          break;
        case '\t':
          g_string_append (out, "\\t");
          break;
        case '\b':
          g_string_append (out, "\\b");
          break;
        case '\f':
          g_string_append (out, "\\f");
          break;
        default:
          g_string_append (out, "\\u00");
          g_string_append_c (out, hex[c >> 4]);
          g_string_append_c (out, hex[c & 0xf]);
          break;
        }
    }
  g_string_append_len (out, run, end - run);
  g_string_append_c (out, '"');
}

/* Strings of a message built here should be valid UTF-8; if one is not, its invalid
 * bytes become U+FFFD so that the frame stays valid JSON. */
static void
append_string (GString    *out,
               const char *str)
{
  gsize len = strlen (str);

  if (G_LIKELY (g_utf8_validate_len (str, len, NULL)))
    {
      append_escaped (out, str, len);
    }
  else
    {
      g_autofree char *valid = g_utf8_make_valid (str, len);

      append_escaped (out, valid, strlen (valid));
    }
}

static void append_message (GString                *out,
                            const ProtobufCMessage *message);

static void
append_value (GString                        *out,
              const ProtobufCFieldDescriptor *field,
              const void                     *member)
{
  switch (field->type)
    {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
      append_int64 (out, *(const int32_t *) member);
      break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
      append_uint64 (out, *(const uint32_t *) member);
      break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
      append_int64 (out, *(const int64_t *) member);
      break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
      append_uint64 (out, *(const uint64_t *) member);
      break;
    case PROTOBUF_C_TYPE_FLOAT:
      append_double (out, *(const float *) member, TRUE);
      break;
    case PROTOBUF_C_TYPE_DOUBLE:
      append_double (out, *(const double *) member, FALSE);
      break;
    case PROTOBUF_C_TYPE_BOOL:
      g_string_append (out, *(const protobuf_c_boolean *) member ? "true" : "false");
      break;
    case PROTOBUF_C_TYPE_ENUM:
      {
        int value = *(const int *) member;
        const ProtobufCEnumValue *enum_value =
          protobuf_c_enum_descriptor_get_value (field->descriptor, value);

        if (enum_value != NULL)
          append_string (out, enum_value->name);
        else
          append_int64 (out, value);
      }
      break;
    case PROTOBUF_C_TYPE_STRING:
      append_string (out, *(const char * const *) member);
      break;
    case PROTOBUF_C_TYPE_BYTES:
      {
        const ProtobufCBinaryData *bytes = member;
        g_autofree char *base64 = g_base64_encode (bytes->data, bytes->len);

        g_string_append_c (out, '"');
        g_string_append (out, base64);
        g_string_append_c (out, '"');
      }
      break;
    case PROTOBUF_C_TYPE_MESSAGE:
      append_message (out, *(const ProtobufCMessage * const *) member);
      break;
    default:
      g_return_if_reached ();
    }
}

static void
append_message (GString                *out,
                const ProtobufCMessage *message)
{
  const ProtobufCMessageDescriptor *descriptor = message->descriptor;
  gboolean first = TRUE;

  g_string_append_c (out, '{');
  for (guint i = 0; i < descriptor->n_fields; i++)
    {
      const ProtobufCFieldDescriptor *field = &descriptor->fields[i];

      if (!field_is_present (message, field))
        continue;

      if (!first)
        g_string_append_c (out, ',');
      first = FALSE;
      g_string_append_c (out, '"');
      g_string_append (out, field->name);
      g_string_append (out, "\":");

      if (field->label == PROTOBUF_C_LABEL_REPEATED)
        {
          gsize n = G_STRUCT_MEMBER (size_t, message, field->quantifier_offset);
          const char *elements = G_STRUCT_MEMBER (const char *, message, field->offset);
          gsize size = value_size (field->type);

          g_string_append_c (out, '[');
          for (gsize j = 0; j < n; j++)
            {
              if (j > 0)
                g_string_append_c (out, ',');
              append_value (out, field, elements + j * size);
            }
          g_string_append_c (out, ']');
        }
      else
        {
          append_value (out, field, G_STRUCT_MEMBER_P (message, field->offset));
        }
    }
  g_string_append_c (out, '}');
}

/**
 * natter_json_encode:
 * @message: any protobuf-c message
 *
 * Encodes @message in the JSON mapping: compact UTF-8 text, no trailing newline. Fields
 * are written in field number order, only when present; integers, 64-bit ones included,
 * are JSON numbers.
 *
 * Returns: (transfer full): the JSON text
 */
GBytes *
natter_json_encode (const ProtobufCMessage *message)
{
  GString *out;

  g_return_val_if_fail (message != NULL, NULL);

  out = g_string_sized_new (128);
  append_message (out, message);
  return g_string_free_to_bytes (out);
}

/* ------------------------------------------------------------------------------------ */
/* Decoding: a flat tree of values
 *
 * Text decodes through one form: an array of values, each followed by its children, an
 * object's as a key and its value in turn. The scanner builds it in the same pass that
 * checks the text, into one array and one buffer for the strings, where a JsonNode tree
 * would cost a node, a hash table and a copy of each key per value. */

typedef enum {
  VALUE_NULL,
  VALUE_BOOLEAN,
  VALUE_INTEGER,
  VALUE_DOUBLE,
  VALUE_STRING,
  VALUE_ARRAY,
  VALUE_OBJECT,
} ValueType;

typedef struct
{
  ValueType type;
  guint     n_children;  /* an object's members, an array's elements */
  gsize     next;        /* index of the value after this one and its children */
  gsize     length;      /* of a string, in bytes */
  union {
    gboolean    boolean;
    gint64      integer;
    double      number;
    const char *string;  /* (unowned) nul-terminated valid UTF-8 */
  };
} Value;

/* Appends a value of @type with no children. The pointer is good until the next push. */
static Value *
values_push (GArray    *values,
             ValueType  type)
{
  Value value = { .type = type, .next = values->len + 1 };

  g_array_append_val (values, value);
  return &g_array_index (values, Value, values->len - 1);
}

/* Closes the container at @index over what was appended since. */
static void
values_close (GArray *values,
              gsize   index,
              guint   n_children)
{
  Value *container = &g_array_index (values, Value, index);

  container->n_children = n_children;
  container->next = values->len;
}

static ProtobufCMessage *
message_new (const ProtobufCMessageDescriptor *descriptor)
{
  /* g_malloc() is malloc(), so protobuf_c_message_free_unpacked() frees this. */
  ProtobufCMessage *message = g_malloc0 (descriptor->sizeof_message);

  protobuf_c_message_init (descriptor, message);
  return message;
}

/* Parses `-?[0-9]+`, the decimal string form of an integer. */
static gboolean
parse_decimal (const char       *str,
               gboolean         *out_negative,
               guint64          *out_magnitude,
               const NatterPath *path,
               GError          **error)
{
  const char *p = str;
  guint64 magnitude = 0;
  gboolean overflow = FALSE;

  *out_negative = *p == '-';
  if (*p == '-')
    p++;
  if (*p == '\0')
    return set_error (error, path, "expected an integer");

  for (; *p != '\0'; p++)
    {
      guint digit;

      if (!g_ascii_isdigit (*p))
        return set_error (error, path, "expected an integer");
      digit = (guint) (*p - '0');
      if (magnitude > (G_MAXUINT64 - digit) / 10)
        overflow = TRUE;
      else
        magnitude = magnitude * 10 + digit;
    }
  if (overflow)
    return set_error (error, path, "out of range");
  *out_magnitude = magnitude;
  return TRUE;
}

/* Any integer the mapping accepts, as a sign and a magnitude below 2^64. */
static gboolean
value_to_integer (const Value      *value,
                  gboolean         *out_negative,
                  guint64          *out_magnitude,
                  const NatterPath *path,
                  GError          **error)
{
  switch (value->type)
    {
    case VALUE_INTEGER:
      *out_negative = value->integer < 0;
      *out_magnitude = value->integer < 0 ? 0 - (guint64) value->integer
                                          : (guint64) value->integer;
      return TRUE;
    case VALUE_DOUBLE:
      if (!isfinite (value->number))
        return set_error (error, path, "out of range");
      if (value->number != floor (value->number))
        return set_error (error, path, "expected an integer");
      if (fabs (value->number) >= 18446744073709551616.0)
        return set_error (error, path, "out of range");
      *out_negative = value->number < 0;
      *out_magnitude = (guint64) fabs (value->number);
      return TRUE;
    case VALUE_STRING:
      return parse_decimal (value->string, out_negative, out_magnitude, path, error);
    case VALUE_NULL:
    case VALUE_BOOLEAN:
    case VALUE_ARRAY:
    case VALUE_OBJECT:
    default:
      return set_error (error, path, "expected an integer");
    }
}

static gboolean
value_to_signed (const Value      *value,
                 gint64            min,
                 gint64            max,
                 gint64           *out,
                 const NatterPath *path,
                 GError          **error)
{
  gboolean negative;
  guint64 magnitude;

  if (!value_to_integer (value, &negative, &magnitude, path, error))
    return FALSE;
  if (negative ? magnitude > (guint64) -(min + 1) + 1 : magnitude > (guint64) max)
    return set_error (error, path, "out of range");
  if (!negative)
    *out = (gint64) magnitude;
  else if (magnitude == (guint64) G_MAXINT64 + 1)
    *out = G_MININT64;
  else
    *out = -(gint64) magnitude;
  return TRUE;
}

static gboolean
value_to_unsigned (const Value      *value,
                   guint64           max,
                   guint64          *out,
                   const NatterPath *path,
                   GError          **error)
{
  gboolean negative;
  guint64 magnitude;

  if (!value_to_integer (value, &negative, &magnitude, path, error))
    return FALSE;
  if ((negative && magnitude != 0) || magnitude > max)
    return set_error (error, path, "out of range");
  *out = magnitude;
  return TRUE;
}

/* Matches a JSON number at the start of @text; returns its length, 0 if there is none. */
static gsize
match_number (const char *text,
              gsize       len,
              gboolean   *out_integer)
{
  gsize pos = 0;
  gsize digits_start;

  *out_integer = TRUE;
  if (pos < len && text[pos] == '-')
    pos++;
  if (pos >= len || !g_ascii_isdigit (text[pos]))
    return 0;
  if (text[pos] == '0')
    pos++;
  else
    while (pos < len && g_ascii_isdigit (text[pos]))
      pos++;

  if (pos < len && text[pos] == '.')
    {
      *out_integer = FALSE;
      digits_start = ++pos;
      while (pos < len && g_ascii_isdigit (text[pos]))
        pos++;
      if (pos == digits_start)
        return 0;
    }
  if (pos < len && (text[pos] == 'e' || text[pos] == 'E'))
    {
      *out_integer = FALSE;
      pos++;
      if (pos < len && (text[pos] == '+' || text[pos] == '-'))
        pos++;
      digits_start = pos;
      while (pos < len && g_ascii_isdigit (text[pos]))
        pos++;
      if (pos == digits_start)
        return 0;
    }
  return pos;
}

static gboolean
value_to_double (const Value      *value,
                 gboolean          is_float,
                 double           *out,
                 const NatterPath *path,
                 GError          **error)
{
  double number;
  gboolean integer;

  switch (value->type)
    {
    case VALUE_INTEGER:
      number = (double) value->integer;
      break;
    case VALUE_DOUBLE:
      number = value->number;
      if (!isfinite (number))
        return set_error (error, path, "out of range");
      break;
    case VALUE_STRING:
      if (g_str_equal (value->string, "NaN"))
        {
          *out = NAN;
          return TRUE;
        }
      if (g_str_equal (value->string, "Infinity") || g_str_equal (value->string, "-Infinity"))
        {
          *out = value->string[0] == '-' ? -INFINITY : INFINITY;
          return TRUE;
        }
      if (value->length == 0 ||
          match_number (value->string, value->length, &integer) != value->length)
        return set_error (error, path, "expected a number");
      number = g_ascii_strtod (value->string, NULL);
      if (!isfinite (number))
        return set_error (error, path, "out of range");
      break;
    case VALUE_NULL:
    case VALUE_BOOLEAN:
    case VALUE_ARRAY:
    case VALUE_OBJECT:
    default:
      return set_error (error, path, "expected a number");
    }

  if (is_float && fabs (number) > FLT_MAX)
    return set_error (error, path, "out of range");
  *out = number;
  return TRUE;
}

/* Standard or URL-safe base64, padded or not, as the mapping accepts; nothing else. */
static gboolean
value_to_bytes (const Value         *value,
                ProtobufCBinaryData *out,
                const NatterPath    *path,
                GError             **error)
{
  const char *str;
  gsize len;
  gsize data_len;
  g_autofree char *standard = NULL;

  if (value->type != VALUE_STRING)
    return set_error (error, path, "expected a base64 string");

  str = value->string;
  len = value->length;
  data_len = len;
  while (data_len > 0 && len - data_len < 2 && str[data_len - 1] == '=')
    data_len--;
  if (data_len % 4 == 1)
    return set_error (error, path, "expected a base64 string");

  standard = g_malloc (data_len + 4);
  for (gsize i = 0; i < data_len; i++)
    {
      char c = str[i];

      if (c == '-')
        c = '+';
      else if (c == '_')
        c = '/';
      else if (!g_ascii_isalnum (c) && c != '+' && c != '/')
        return set_error (error, path, "expected a base64 string");
      standard[i] = c;
    }
  for (len = data_len; len % 4 != 0; len++)
    standard[len] = '=';
  standard[len] = '\0';

  if (data_len == 0)
    {
      out->data = NULL;
      out->len = 0;
    }
  else
    {
      out->data = g_base64_decode (standard, &out->len);
    }
  return TRUE;
}

static gboolean
value_to_enum (const Value                    *value,
               const ProtobufCEnumDescriptor  *descriptor,
               int                            *out,
               const NatterPath               *path,
               GError                        **error)
{
  const ProtobufCEnumValue *enum_value;
  gint64 number;

  if (value->type != VALUE_STRING && value->type != VALUE_INTEGER &&
      value->type != VALUE_DOUBLE)
    return set_error (error, path, "expected a value of %s", descriptor->name);

  if (value->type == VALUE_STRING)
    {
      const char *name = value->string;

      enum_value = protobuf_c_enum_descriptor_get_value_by_name (descriptor, name);
      if (enum_value != NULL)
        {
          *out = enum_value->value;
          return TRUE;
        }
      if (!g_ascii_isdigit (name[0]) && !(name[0] == '-' && g_ascii_isdigit (name[1])))
        return set_error (error, path, "unknown value \"%s\" of %s", name, descriptor->name);
    }

  /* Any number, named or not: protobuf-c keeps unknown values from the wire too, and
   * both codecs must accept the same messages. */
  if (!value_to_signed (value, G_MININT32, G_MAXINT32, &number, path, error))
    return FALSE;
  *out = (int) number;
  return TRUE;
}

/* Decodes a scalar into @member, the field's storage (or an array element's). A string
 * or bytes value is allocated only on success. */
static gboolean
value_to_scalar (const ProtobufCFieldDescriptor *field,
                 const Value                    *value,
                 void                           *member,
                 const NatterPath               *path,
                 GError                        **error)
{
  gint64 s;
  guint64 u;
  double d;

  switch (field->type)
    {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
      if (!value_to_signed (value, G_MININT32, G_MAXINT32, &s, path, error))
        return FALSE;
      *(int32_t *) member = (int32_t) s;
      return TRUE;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
      if (!value_to_signed (value, G_MININT64, G_MAXINT64, &s, path, error))
        return FALSE;
      *(int64_t *) member = s;
      return TRUE;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
      if (!value_to_unsigned (value, G_MAXUINT32, &u, path, error))
        return FALSE;
      *(uint32_t *) member = (uint32_t) u;
      return TRUE;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
      if (!value_to_unsigned (value, G_MAXUINT64, &u, path, error))
        return FALSE;
      *(uint64_t *) member = u;
      return TRUE;
    case PROTOBUF_C_TYPE_FLOAT:
      if (!value_to_double (value, TRUE, &d, path, error))
        return FALSE;
      *(float *) member = (float) d;
      return TRUE;
    case PROTOBUF_C_TYPE_DOUBLE:
      if (!value_to_double (value, FALSE, &d, path, error))
        return FALSE;
      *(double *) member = d;
      return TRUE;
    case PROTOBUF_C_TYPE_BOOL:
      if (value->type != VALUE_BOOLEAN)
        return set_error (error, path, "expected true or false");
      *(protobuf_c_boolean *) member = value->boolean ? TRUE : FALSE;
      return TRUE;
    case PROTOBUF_C_TYPE_ENUM:
      return value_to_enum (value, field->descriptor, member, path, error);
    case PROTOBUF_C_TYPE_STRING:
      if (value->type != VALUE_STRING)
        return set_error (error, path, "expected a string");
      /* The scanner has checked its UTF-8. */
      *(char **) member = g_strndup (value->string, value->length);
      return TRUE;
    case PROTOBUF_C_TYPE_BYTES:
      return value_to_bytes (value, member, path, error);
    case PROTOBUF_C_TYPE_MESSAGE:
    default:
      g_return_val_if_reached (FALSE);
    }
}

static gboolean value_to_message (ProtobufCMessage  *message,
                                  const Value       *values,
                                  gsize              index,
                                  guint              depth,
                                  const NatterPath  *path,
                                  GError           **error);

/* Allocates a submessage into @slot before filling it, so that on error the root's
 * protobuf_c_message_free_unpacked() frees everything decoded so far. */
static gboolean
value_to_submessage (const ProtobufCFieldDescriptor  *field,
                     const Value                     *values,
                     gsize                            index,
                     ProtobufCMessage               **slot,
                     guint                            depth,
                     const NatterPath                *path,
                     GError                         **error)
{
  if (values[index].type != VALUE_OBJECT)
    return set_error (error, path, "expected an object");
  *slot = message_new (field->descriptor);
  return value_to_message (*slot, values, index, depth + 1, path, error);
}

static gboolean
value_to_repeated (ProtobufCMessage               *message,
                   const ProtobufCFieldDescriptor *field,
                   const Value                    *values,
                   gsize                           index,
                   guint                           depth,
                   const NatterPath               *path,
                   GError                        **error)
{
  const Value *array = &values[index];
  gsize size;
  char *elements;
  size_t *count;
  gsize element = index + 1;

  if (array->type != VALUE_ARRAY)
    return set_error (error, path, "expected an array");
  if (array->n_children == 0)
    return TRUE;

  /* The count grows with each element decoded, so that a partly decoded array frees
   * cleanly. */
  size = value_size (field->type);
  elements = g_malloc0_n (array->n_children, size);
  G_STRUCT_MEMBER (void *, message, field->offset) = elements;
  count = &G_STRUCT_MEMBER (size_t, message, field->quantifier_offset);
  *count = 0;

  for (guint i = 0; i < array->n_children; element = values[element].next, i++)
    {
      NatterPath element_path = { path, NULL, 0, i };
      void *slot = elements + i * size;

      if (values[element].type == VALUE_NULL)
        return set_error (error, &element_path, "null is not allowed in a list");

      if (field->type == PROTOBUF_C_TYPE_MESSAGE)
        {
          *count = i + 1;
          if (!value_to_submessage (field, values, element, slot, depth, &element_path, error))
            return FALSE;
        }
      else
        {
          if (!value_to_scalar (field, &values[element], slot, &element_path, error))
            return FALSE;
          *count = i + 1;
        }
    }
  return TRUE;
}

static gboolean
value_to_field (ProtobufCMessage               *message,
                const ProtobufCFieldDescriptor *field,
                const Value                    *values,
                gsize                           index,
                guint                           depth,
                const NatterPath               *path,
                GError                        **error)
{
  void *member = G_STRUCT_MEMBER_P (message, field->offset);

  if (field->label == PROTOBUF_C_LABEL_REPEATED)
    return value_to_repeated (message, field, values, index, depth, path, error);

  if (field->type == PROTOBUF_C_TYPE_MESSAGE)
    {
      if (values[index].type != VALUE_OBJECT)
        return set_error (error, path, "expected an object");
    }
  else if (!value_to_scalar (field, &values[index], member, path, error))
    {
      return FALSE;
    }

  /* Present from here on, so that the message owns what the member points to. */
  if ((field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0)
    G_STRUCT_MEMBER (uint32_t, message, field->quantifier_offset) = field->id;
  else if (field->label == PROTOBUF_C_LABEL_OPTIONAL &&
           field->type != PROTOBUF_C_TYPE_STRING &&
           field->type != PROTOBUF_C_TYPE_MESSAGE)
    G_STRUCT_MEMBER (protobuf_c_boolean, message, field->quantifier_offset) = TRUE;

  if (field->type == PROTOBUF_C_TYPE_MESSAGE)
    return value_to_submessage (field, values, index, member, depth, path, error);
  return TRUE;
}

/* Whether the object at @index has a member @name that is not null. */
static gboolean
object_has_value (const Value *values,
                  gsize        index,
                  const char  *name)
{
  gsize key = index + 1;

  for (guint i = 0; i < values[index].n_children; i++, key = values[key + 1].next)
    if (g_str_equal (values[key].string, name))
      return values[key + 1].type != VALUE_NULL;
  return FALSE;
}

static gboolean
value_to_message (ProtobufCMessage  *message,
                  const Value       *values,
                  gsize              index,
                  guint              depth,
                  const NatterPath  *path,
                  GError           **error)
{
  const ProtobufCMessageDescriptor *descriptor = message->descriptor;
  gsize key = index + 1;

  if (depth > MAX_DEPTH)
    return set_error (error, path, "nested too deeply (more than %d levels)", MAX_DEPTH);

  for (guint i = 0; i < values[index].n_children; i++, key = values[key + 1].next)
    {
      const Value *name = &values[key];
      const ProtobufCFieldDescriptor *field = lookup_field (descriptor, name->string,
                                                           name->length);
      NatterPath field_path;

      if (field == NULL)
        {
          g_autofree char *where = path_describe (path, descriptor);

          return set_error (error, NULL, "unknown field \"%s\" in %s", name->string, where);
        }

      /* null is the mapping's way to say "absent". */
      if (values[key + 1].type == VALUE_NULL)
        continue;

      if ((field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0)
        {
          uint32_t oneof_case = G_STRUCT_MEMBER (uint32_t, message, field->quantifier_offset);

          if (oneof_case != 0 && oneof_case != field->id)
            {
              const ProtobufCFieldDescriptor *other =
                protobuf_c_message_descriptor_get_field (descriptor, oneof_case);

              /* At the top of a frame, the oneof is the operation or the event. */
              if (path == NULL)
                return set_error (error, NULL, "more than one operation (%s, %s)",
                                  other->name, field->name);
              return set_error (error, path, "more than one of (%s, %s)",
                                other->name, field->name);
            }
        }

      field_path = (NatterPath) { path, field->name, strlen (field->name), 0 };
      if (!value_to_field (message, field, values, key + 1, depth, &field_path, error))
        return FALSE;
    }

  for (guint i = 0; i < descriptor->n_fields; i++)
    {
      const ProtobufCFieldDescriptor *field = &descriptor->fields[i];

      if (field->label == PROTOBUF_C_LABEL_REQUIRED &&
          !object_has_value (values, index, field->name))
        {
          g_autofree char *where = path_describe (path, descriptor);

          return set_error (error, NULL, "missing required field \"%s\" in %s",
                            field->name, where);
        }
    }
  return TRUE;
}

/* The root object at index 0 as a message of @descriptor. */
static ProtobufCMessage *
values_to_message (const ProtobufCMessageDescriptor  *descriptor,
                   GArray                            *values,
                   GError                           **error)
{
  ProtobufCMessage *message = message_new (descriptor);

  if (!value_to_message (message, (const Value *) (gpointer) values->data, 0, 1, NULL, error))
    {
      protobuf_c_message_free_unpacked (message, NULL);
      return NULL;
    }
  return message;
}

/* ------------------------------------------------------------------------------------ */
/* Decoding from text: the strict scanner */

typedef struct
{
  const char *data;      /* (unowned) */
  gsize       len;
  gsize       pos;
  GArray     *values;    /* (owned) Value */
  /* Every string, unescaped and nul-terminated. A string needs no more room than it
   * takes in the text, quotes included; an integer passed on as a string (see
   * scan_number()) one byte more than its digits. Twice the text's length is room for
   * all. */
  char       *strings;   /* (owned) */
  gsize       strings_used;
} Scanner;

static void
scanner_clear (Scanner *s)
{
  g_clear_pointer (&s->values, g_array_unref);
  g_clear_pointer (&s->strings, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Scanner, scanner_clear)

static gboolean
syntax_error (Scanner  *s,
              GError  **error)
{
  guchar c;

  if (s->pos >= s->len)
    return set_error (error, NULL, "frame is not valid JSON: unexpected end at byte %"
                      G_GSIZE_FORMAT, s->pos);
  c = (guchar) s->data[s->pos];
  if (c > 0x20 && c < 0x7f)
    return set_error (error, NULL, "frame is not valid JSON: unexpected '%c' at byte %"
                      G_GSIZE_FORMAT, c, s->pos);
  return set_error (error, NULL, "frame is not valid JSON: unexpected byte 0x%02x at byte %"
                    G_GSIZE_FORMAT, c, s->pos);
}

static void
skip_whitespace (Scanner *s)
{
  while (s->pos < s->len)
    {
      char c = s->data[s->pos];

      if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
        break;
      s->pos++;
    }
}

static gboolean
peek_is (Scanner *s,
         char     c)
{
  return s->pos < s->len && s->data[s->pos] == c;
}

static gboolean
read_hex4 (Scanner  *s,
           gsize     at,
           gunichar *out)
{
  gunichar value = 0;

  if (at > s->len || s->len - at < 4)
    return FALSE;
  for (gsize i = at; i < at + 4; i++)
    {
      int digit = g_ascii_xdigit_value (s->data[i]);

      if (digit < 0)
        return FALSE;
      value = value * 16 + (gunichar) digit;
    }
  *out = value;
  return TRUE;
}

/* At the `u` of a `\u` escape; moves past the escape (two for a surrogate pair). @what
 * names the string in errors. */
static gboolean
scan_unicode_escape (Scanner          *s,
                     const NatterPath *path,
                     const char       *what,
                     GError          **error)
{
  gunichar unit;
  gunichar low;

  if (!read_hex4 (s, s->pos + 1, &unit))
    return syntax_error (s, error);
  s->pos += 5;

  if (unit == 0)
    return set_error (error, path, "%s contains a NUL character", what);
  if (unit >= 0xdc00 && unit <= 0xdfff)
    return set_error (error, path, "%s contains an unpaired surrogate escape", what);
  if (unit >= 0xd800 && unit <= 0xdbff)
    {
      if (!peek_is (s, '\\') || s->pos + 1 >= s->len || s->data[s->pos + 1] != 'u' ||
          !read_hex4 (s, s->pos + 2, &low) || low < 0xdc00 || low > 0xdfff)
        return set_error (error, path, "%s contains an unpaired surrogate escape", what);
      s->pos += 6;
    }
  return TRUE;
}

static gunichar
hex4_value (const char *text)
{
  gunichar value = 0;

  for (guint i = 0; i < 4; i++)
    value = value * 16 + (gunichar) g_ascii_xdigit_value (text[i]);
  return value;
}

/* Decodes the escapes of a string the scanner has accepted into @out; returns the
 * length written, never more than @len. */
static gsize
unescape (const char *text,
          gsize       len,
          char       *out)
{
  gsize i = 0;
  gsize o = 0;

  while (i < len)
    {
      gunichar unit;

      if (text[i] != '\\')
        {
          out[o++] = text[i++];
          continue;
        }
      switch (text[i + 1])
        {
        case 'b':
          out[o++] = '\b';
          break;
        case 'f':
          out[o++] = '\f';
          break;
        case 'n':
          out[o++] = '\n';
          break;
        case 'r':
          out[o++] = '\r';
          break;
        case 't':
          out[o++] = '\t';
          break;
        case 'u':
          unit = hex4_value (text + i + 2);
          if (unit >= 0xd800 && unit <= 0xdbff)
            {
              gunichar low = hex4_value (text + i + 8);

              unit = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
              i += 6;
            }
          o += (gsize) g_unichar_to_utf8 (unit, out + o);
          i += 4;
          break;
        default:
          out[o++] = text[i + 1];
          break;
        }
      i += 2;
    }
  return o;
}

/* Appends a string value of @len bytes from @text, unescaping it if @escaped. */
static void
push_string (Scanner    *s,
             const char *text,
             gsize       len,
             gboolean    escaped)
{
  Value *value = values_push (s->values, VALUE_STRING);
  char *out = s->strings + s->strings_used;

  if (escaped)
    {
      value->length = unescape (text, len, out);
    }
  else
    {
      memcpy (out, text, len);
      value->length = len;
    }
  out[value->length] = '\0';
  value->string = out;
  s->strings_used += value->length + 1;
}

/* At the opening quote; moves past the closing one and appends the string. A key's
 * errors name the object that holds it, a value's the value. */
static gboolean
scan_string (Scanner          *s,
             const NatterPath *path,
             gboolean          is_key,
             gsize            *out_index,
             GError          **error)
{
  const char *what = is_key ? "field name" : "string";
  gsize start = ++s->pos;
  gboolean escaped = FALSE;

  while (s->pos < s->len)
    {
      guchar c = (guchar) s->data[s->pos];

      if (c == '"')
        {
          if (!g_utf8_validate_len (s->data + start, s->pos - start, NULL))
            return set_error (error, path, "%s is not valid UTF-8", what);
          *out_index = s->values->len;
          push_string (s, s->data + start, s->pos - start, escaped);
          s->pos++;
          return TRUE;
        }
      if (c == '\\')
        {
          escaped = TRUE;
          s->pos++;
          if (s->pos >= s->len)
            break;
          switch (s->data[s->pos])
            {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
              s->pos++;
              break;
            case 'u':
              if (!scan_unicode_escape (s, path, what, error))
                return FALSE;
              break;
            default:
              return syntax_error (s, error);
            }
          continue;
        }
      if (c == 0)
        return set_error (error, path, "%s contains a NUL character", what);
      if (c < 0x20)
        return syntax_error (s, error);
      s->pos++;
    }
  return syntax_error (s, error);
}

static gboolean
scan_literal (Scanner     *s,
              const char  *literal,
              GError     **error)
{
  gsize len = strlen (literal);

  if (s->len - s->pos < len || memcmp (s->data + s->pos, literal, len) != 0)
    return syntax_error (s, error);
  s->pos += len;
  return TRUE;
}

/* The value of an integer of @len characters, or FALSE if it does not fit a gint64. */
static gboolean
parse_int64 (const char *text,
             gsize       len,
             gint64     *out)
{
  gboolean negative = text[0] == '-';
  const char *digits = text + negative;
  gsize n = len - negative;
  guint64 magnitude = 0;

  if (n > 19 || (n == 19 && memcmp (digits, negative ? "9223372036854775808"
                                                     : "9223372036854775807", 19) > 0))
    return FALSE;
  for (gsize i = 0; i < n; i++)
    magnitude = magnitude * 10 + (guint64) (digits[i] - '0');
  if (!negative)
    *out = (gint64) magnitude;
  else if (magnitude == (guint64) G_MAXINT64 + 1)
    *out = G_MININT64;
  else
    *out = -(gint64) magnitude;
  return TRUE;
}

static gboolean
scan_number (Scanner   *s,
             gboolean   numeric_field,
             GError   **error)
{
  const char *text = s->data + s->pos;
  gboolean integer;
  gsize len = match_number (text, s->len - s->pos, &integer);
  gint64 value;
  Value *number;

  if (len == 0)
    return syntax_error (s, error);
  s->pos += len;

  if (integer && parse_int64 (text, len, &value))
    {
      number = values_push (s->values, VALUE_INTEGER);
      number->integer = value;
    }
  else if (integer && numeric_field)
    {
      /* Beyond a gint64: as the decimal string the mapping also accepts, so that it is
       * range-checked like any other rather than rounded. */
      push_string (s, text, len, FALSE);
    }
  else
    {
      char buf[64];
      g_autofree char *copy = NULL;
      const char *nul_terminated = buf;

      if (len < sizeof buf)
        {
          memcpy (buf, text, len);
          buf[len] = '\0';
        }
      else
        {
          nul_terminated = copy = g_strndup (text, len);
        }
      number = values_push (s->values, VALUE_DOUBLE);
      number->number = g_ascii_strtod (nul_terminated, NULL);
    }
  return TRUE;
}

static gboolean scan_value (Scanner                          *s,
                            const ProtobufCMessageDescriptor *descriptor,
                            const ProtobufCFieldDescriptor   *field,
                            gboolean                          element,
                            guint                             depth,
                            const NatterPath                 *path,
                            GError                          **error);

static gboolean
check_depth (guint     depth,
             GError  **error)
{
  if (depth > MAX_DEPTH)
    return set_error (error, NULL, "frame is nested too deeply (more than %d levels)",
                      MAX_DEPTH);
  return TRUE;
}

/* Steps over the opening bracket of an object or array; returns whether the container
 * is empty, having stepped over @close too if so. */
static gboolean
scan_open (Scanner *s,
           char     close)
{
  s->pos++;
  skip_whitespace (s);
  if (!peek_is (s, close))
    return FALSE;
  s->pos++;
  return TRUE;
}

/* After a member or element: steps over the `,` (*out_more set) or @close (unset) that
 * must follow. */
static gboolean
scan_separator (Scanner   *s,
                char       close,
                gboolean  *out_more,
                GError   **error)
{
  skip_whitespace (s);
  *out_more = peek_is (s, ',');
  if (!*out_more && !peek_is (s, close))
    return syntax_error (s, error);
  s->pos++;
  return TRUE;
}

/* @descriptor is the message the object maps to, if known: its fields type the values
 * (for integers beyond a gint64) and catch a key given twice. */
static gboolean
scan_object (Scanner                          *s,
             const ProtobufCMessageDescriptor *descriptor,
             guint                             depth,
             const NatterPath                 *path,
             GError                          **error)
{
  g_autofree guint8 *seen = NULL;
  gsize index;
  guint n = 0;
  gboolean more;

  if (!check_depth (depth, error))
    return FALSE;

  index = s->values->len;
  values_push (s->values, VALUE_OBJECT);
  more = !scan_open (s, '}');
  if (more && descriptor != NULL)
    seen = g_malloc0 (descriptor->n_fields);

  for (; more; n++)
    {
      const ProtobufCFieldDescriptor *field = NULL;
      const Value *key;
      gsize key_index;
      NatterPath key_path;

      skip_whitespace (s);
      if (!peek_is (s, '"'))
        return syntax_error (s, error);
      if (!scan_string (s, path, TRUE, &key_index, error))
        return FALSE;
      key = &g_array_index (s->values, Value, key_index);

      if (descriptor != NULL)
        {
          field = lookup_field (descriptor, key->string, key->length);
          if (field != NULL)
            {
              if (seen[field - descriptor->fields])
                {
                  g_autofree char *where = path_describe (path, descriptor);

                  return set_error (error, NULL, "duplicate field \"%s\" in %s",
                                    field->name, where);
                }
              seen[field - descriptor->fields] = TRUE;
            }
        }

      skip_whitespace (s);
      if (!peek_is (s, ':'))
        return syntax_error (s, error);
      s->pos++;

      /* The key's string stays put as values grow: it lives in s->strings. */
      key_path = (NatterPath) { path, key->string, key->length, 0 };
      if (!scan_value (s, NULL, field, FALSE, depth, &key_path, error) ||
          !scan_separator (s, '}', &more, error))
        return FALSE;
    }
  values_close (s->values, index, n);
  return TRUE;
}

/* @field is the repeated field the array fills, if known. */
static gboolean
scan_array (Scanner                        *s,
            const ProtobufCFieldDescriptor *field,
            guint                           depth,
            const NatterPath               *path,
            GError                        **error)
{
  gsize index;
  guint n = 0;
  gboolean more;

  if (!check_depth (depth, error))
    return FALSE;

  index = s->values->len;
  values_push (s->values, VALUE_ARRAY);
  more = !scan_open (s, ']');
  for (; more; n++)
    {
      NatterPath element_path = { path, NULL, 0, n };

      if (!scan_value (s, NULL, field, TRUE, depth, &element_path, error) ||
          !scan_separator (s, ']', &more, error))
        return FALSE;
    }
  values_close (s->values, index, n);
  return TRUE;
}

/* @descriptor is set for the root object; otherwise @field (nullable) is the field the
 * value fills, @element whether the value is an element of its list. */
static gboolean
scan_value (Scanner                          *s,
            const ProtobufCMessageDescriptor *descriptor,
            const ProtobufCFieldDescriptor   *field,
            gboolean                          element,
            guint                             depth,
            const NatterPath                 *path,
            GError                          **error)
{
  /* Whether the value is one value of the field rather than its list. */
  gboolean single = field != NULL && (field->label != PROTOBUF_C_LABEL_REPEATED || element);
  gsize index;

  skip_whitespace (s);
  if (s->pos >= s->len)
    return syntax_error (s, error);

  switch (s->data[s->pos])
    {
    case '{':
      if (descriptor == NULL && single && field->type == PROTOBUF_C_TYPE_MESSAGE)
        descriptor = field->descriptor;
      return scan_object (s, descriptor, depth + 1, path, error);
    case '[':
      return scan_array (s, field != NULL && !single ? field : NULL, depth + 1, path, error);
    case '"':
      return scan_string (s, path, FALSE, &index, error);
    case 't':
    case 'f':
      {
        gboolean truth = s->data[s->pos] == 't';

        if (!scan_literal (s, truth ? "true" : "false", error))
          return FALSE;
        values_push (s->values, VALUE_BOOLEAN)->boolean = truth;
        return TRUE;
      }
    case 'n':
      if (!scan_literal (s, "null", error))
        return FALSE;
      values_push (s->values, VALUE_NULL);
      return TRUE;
    default:
      return scan_number (s, single && type_is_numeric (field->type), error);
    }
}

/**
 * natter_json_decode:
 * @descriptor: the message type to decode
 * @data: (array length=len): UTF-8 JSON text, not necessarily nul-terminated
 * @len: length of @data in bytes
 * @error: return location for a #GError
 *
 * Decodes one JSON object in the mapping of @descriptor. The text must be strict JSON
 * (RFC 8259) nested at most 32 levels deep, with strings of valid UTF-8 without U+0000.
 * The object is decoded strictly: an unknown field, a value of the wrong type, an
 * integer out of the field's range or two members of one oneof are refused. A null
 * value means the field is absent. Integers may be JSON numbers or decimal strings. An
 * enum is a name of its type or any 32-bit number, as protobuf-c accepts on the wire.
 * Every failure is a %NATTER_ERROR_BAD_REQUEST, naming the field where there is one.
 *
 * Returns: (transfer full): the message, to free with protobuf_c_message_free_unpacked(),
 *   or %NULL with @error set
 */
ProtobufCMessage *
natter_json_decode (const ProtobufCMessageDescriptor  *descriptor,
                    const char                        *data,
                    gsize                              len,
                    GError                           **error)
{
  g_auto(Scanner) s = { data, len, 0, NULL, NULL, 0 };
  gboolean is_object;

  g_return_val_if_fail (descriptor != NULL, NULL);
  g_return_val_if_fail (data != NULL || len == 0, NULL);
  g_return_val_if_fail (len <= G_MAXSSIZE / 2, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  s.values = g_array_sized_new (FALSE, FALSE, sizeof (Value), 16);
  s.strings = g_malloc (2 * len + 2);

  skip_whitespace (&s);
  is_object = peek_is (&s, '{');
  if (!scan_value (&s, is_object ? descriptor : NULL, NULL, FALSE, 0, NULL, error))
    return NULL;
  skip_whitespace (&s);
  if (s.pos < s.len)
    {
      syntax_error (&s, error);
      return NULL;
    }
  if (!is_object)
    {
      set_error (error, NULL, "frame is not a JSON object");
      return NULL;
    }
  return values_to_message (descriptor, s.values, error);
}
