/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-message"

#include "config.h"

#include "natter-message.h"

/* One message of a room, as History() and MessageReceived give it. Messages never
 * change; only how they are shown does (“continued” when the previous message is from
 * the same sender a moment earlier, “own” when the account sent it). */
struct _NatterMessage
{
  GObject   parent_instance;

  char     *room;       /* (owned) */
  char     *sender;     /* (owned) */
  char     *body;       /* (owned) */
  char     *kind;       /* (owned) */
  guint64   seq;
  gint64    timestamp;  /* ms since the Unix epoch */
  gboolean  continued;
  gboolean  own;
};

G_DEFINE_FINAL_TYPE (NatterMessage, natter_message, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_ROOM,
  PROP_SEQ,
  PROP_TIMESTAMP,
  PROP_SENDER,
  PROP_BODY,
  PROP_KIND,
  PROP_CONTINUED,
  PROP_OWN,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
natter_message_finalize (GObject *object)
{
  NatterMessage *self = NATTER_MESSAGE (object);

  g_clear_pointer (&self->room, g_free);
  g_clear_pointer (&self->sender, g_free);
  g_clear_pointer (&self->body, g_free);
  g_clear_pointer (&self->kind, g_free);

  G_OBJECT_CLASS (natter_message_parent_class)->finalize (object);
}

static void
natter_message_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  NatterMessage *self = NATTER_MESSAGE (object);

  switch (prop_id)
    {
    case PROP_ROOM:
      g_value_set_string (value, self->room);
      break;
    case PROP_SEQ:
      g_value_set_uint64 (value, self->seq);
      break;
    case PROP_TIMESTAMP:
      g_value_set_int64 (value, self->timestamp);
      break;
    case PROP_SENDER:
      g_value_set_string (value, self->sender);
      break;
    case PROP_BODY:
      g_value_set_string (value, self->body);
      break;
    case PROP_KIND:
      g_value_set_string (value, self->kind);
      break;
    case PROP_CONTINUED:
      g_value_set_boolean (value, self->continued);
      break;
    case PROP_OWN:
      g_value_set_boolean (value, self->own);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
natter_message_class_init (NatterMessageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = natter_message_finalize;
  object_class->get_property = natter_message_get_property;

  properties[PROP_ROOM] =
    g_param_spec_string ("room", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_SEQ] =
    g_param_spec_uint64 ("seq", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_TIMESTAMP] =
    g_param_spec_int64 ("timestamp", NULL, NULL, G_MININT64, G_MAXINT64, 0,
                        G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_SENDER] =
    g_param_spec_string ("sender", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_BODY] =
    g_param_spec_string ("body", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_KIND] =
    g_param_spec_string ("kind", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_CONTINUED] =
    g_param_spec_boolean ("continued", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_OWN] =
    g_param_spec_boolean ("own", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
natter_message_init (NatterMessage *self)
{
}

/**
 * natter_message_new:
 * @room: the room's name
 * @seq: the message's sequence number in @room
 * @timestamp: server time in ms since the Unix epoch
 * @sender: the sender's user name
 * @body: the text
 * @kind: `text` or `broadcast`
 *
 * Returns: (transfer full): a new message
 */
NatterMessage *
natter_message_new (const char *room,
                    guint64     seq,
                    gint64      timestamp,
                    const char *sender,
                    const char *body,
                    const char *kind)
{
  NatterMessage *self = g_object_new (NATTER_TYPE_MESSAGE, NULL);

  self->room = g_strdup (room);
  self->seq = seq;
  self->timestamp = timestamp;
  self->sender = g_strdup (sender);
  self->body = g_strdup (body);
  self->kind = g_strdup (kind);

  return self;
}

const char *
natter_message_get_room (NatterMessage *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE (self), NULL);
  return self->room;
}

guint64
natter_message_get_seq (NatterMessage *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE (self), 0);
  return self->seq;
}

gint64
natter_message_get_timestamp (NatterMessage *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE (self), 0);
  return self->timestamp;
}

/**
 * natter_message_dup_datetime:
 * @self: a message
 *
 * Returns: (transfer full): the time the server received the message, in local time
 */
GDateTime *
natter_message_dup_datetime (NatterMessage *self)
{
  g_autoptr(GDateTime) utc = NULL;

  g_return_val_if_fail (NATTER_IS_MESSAGE (self), NULL);

  utc = g_date_time_new_from_unix_utc (self->timestamp / 1000);
  return g_date_time_to_local (utc);
}

const char *
natter_message_get_sender (NatterMessage *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE (self), NULL);
  return self->sender;
}

const char *
natter_message_get_body (NatterMessage *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE (self), NULL);
  return self->body;
}

const char *
natter_message_get_kind (NatterMessage *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE (self), NULL);
  return self->kind;
}

gboolean
natter_message_get_continued (NatterMessage *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE (self), FALSE);
  return self->continued;
}

void
natter_message_set_continued (NatterMessage *self,
                              gboolean       continued)
{
  g_return_if_fail (NATTER_IS_MESSAGE (self));

  continued = !!continued;
  if (self->continued == continued)
    return;
  self->continued = continued;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CONTINUED]);
}

gboolean
natter_message_get_own (NatterMessage *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE (self), FALSE);
  return self->own;
}

void
natter_message_set_own (NatterMessage *self,
                        gboolean       own)
{
  g_return_if_fail (NATTER_IS_MESSAGE (self));

  own = !!own;
  if (self->own == own)
    return;
  self->own = own;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_OWN]);
}

/**
 * natter_message_same_day:
 * @self: a message
 * @other: another message
 *
 * Returns: whether both messages were sent on the same local calendar day
 */
gboolean
natter_message_same_day (NatterMessage *self,
                         NatterMessage *other)
{
  g_autoptr(GDateTime) a = NULL;
  g_autoptr(GDateTime) b = NULL;

  g_return_val_if_fail (NATTER_IS_MESSAGE (self), FALSE);
  g_return_val_if_fail (NATTER_IS_MESSAGE (other), FALSE);

  a = natter_message_dup_datetime (self);
  b = natter_message_dup_datetime (other);
  return g_date_time_get_year (a) == g_date_time_get_year (b) &&
         g_date_time_get_day_of_year (a) == g_date_time_get_day_of_year (b);
}
