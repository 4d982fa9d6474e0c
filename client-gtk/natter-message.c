/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-message"

#include "config.h"

#include <string.h>

#include "natter-message.h"

/* One message of a room, as HistoryDetailed(), a message object or MessageReceived
 * give it. People change messages (edits, deletions, reactions: MessageChanged): the
 * same object then changes in place and says so with ::changed, so that its row is
 * updated rather than made anew. How it is shown changes too (“continued” when the
 * previous message is from the same sender a moment earlier, “own” when the account
 * sent it). */
struct _NatterMessage
{
  GObject   parent_instance;

  char     *room;       /* (owned) */
  char     *sender;     /* (owned) */
  char     *body;       /* (owned) */
  char     *kind;       /* (owned) */
  GVariant *reactions;  /* (owned): a(sas), each emoji with who reacted */
  GStrv     mentions;   /* (owned) */
  NatterMessage *quoted;  /* (owned) (nullable): the message this one answers */
  guint64   seq;
  gint64    timestamp;  /* ms since the Unix epoch */
  gint64    edited_ts;  /* ms since the Unix epoch, or 0 */
  guint64   reply_to;
  gboolean  detailed;   /* whether edits, replies, reactions and mentions are known */
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
  PROP_EDITED_TIMESTAMP,
  PROP_REPLY_TO,
  N_PROPS
};

enum {
  CHANGED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

static void
natter_message_finalize (GObject *object)
{
  NatterMessage *self = NATTER_MESSAGE (object);

  g_clear_pointer (&self->room, g_free);
  g_clear_pointer (&self->sender, g_free);
  g_clear_pointer (&self->body, g_free);
  g_clear_pointer (&self->kind, g_free);
  g_clear_pointer (&self->reactions, g_variant_unref);
  g_clear_pointer (&self->mentions, g_strfreev);
  g_clear_object (&self->quoted);

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
    case PROP_EDITED_TIMESTAMP:
      g_value_set_int64 (value, self->edited_ts);
      break;
    case PROP_REPLY_TO:
      g_value_set_uint64 (value, self->reply_to);
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
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_KIND] =
    g_param_spec_string ("kind", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_EDITED_TIMESTAMP] =
    g_param_spec_int64 ("edited-timestamp", NULL, NULL, 0, G_MAXINT64, 0,
                        G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_REPLY_TO] =
    g_param_spec_uint64 ("reply-to", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_CONTINUED] =
    g_param_spec_boolean ("continued", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_OWN] =
    g_param_spec_boolean ("own", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * NatterMessage::changed:
   * @self: the message
   *
   * Someone edited, deleted or reacted to the message, or what was known of it grew
   * (its reply, reactions and mentions).
   */
  signals[CHANGED] =
    g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
natter_message_init (NatterMessage *self)
{
  self->reactions = g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE ("(sas)"), NULL, 0));
  self->mentions = g_new0 (char *, 1);
}

/**
 * natter_message_new:
 * @room: the room's name
 * @seq: the message's sequence number in @room
 * @timestamp: server time in ms since the Unix epoch
 * @sender: the sender's user name
 * @body: the text
 * @kind: `text`, `broadcast` or `deleted`
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

/**
 * natter_message_get_deleted:
 * @self: a message
 *
 * Returns: whether the message was deleted (its text is gone)
 */
gboolean
natter_message_get_deleted (NatterMessage *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE (self), FALSE);
  return g_strcmp0 (self->kind, "deleted") == 0;
}

/**
 * natter_message_get_edited_timestamp:
 * @self: a message
 *
 * Returns: when the message was last edited, in ms since the Unix epoch, or 0
 */
gint64
natter_message_get_edited_timestamp (NatterMessage *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE (self), 0);
  return self->edited_ts;
}

/**
 * natter_message_get_reply_to:
 * @self: a message
 *
 * Returns: the seq of the message this one answers, or 0
 */
guint64
natter_message_get_reply_to (NatterMessage *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE (self), 0);
  return self->reply_to;
}

/**
 * natter_message_get_reactions:
 * @self: a message
 *
 * Returns: (transfer none): the reactions, `a(sas)`: each emoji with the users who
 *   reacted with it, in the order first used
 */
GVariant *
natter_message_get_reactions (NatterMessage *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE (self), NULL);
  return self->reactions;
}

/**
 * natter_message_get_mentions:
 * @self: a message
 *
 * Returns: (transfer none): the users the message mentions, as the server found them
 */
const char * const *
natter_message_get_mentions (NatterMessage *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE (self), NULL);
  return (const char * const *) self->mentions;
}

/**
 * natter_message_get_detailed:
 * @self: a message
 *
 * Returns: whether the message's reply, edits, reactions and mentions are known (a
 *   message from MessageReceived alone does not say)
 */
gboolean
natter_message_get_detailed (NatterMessage *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE (self), FALSE);
  return self->detailed;
}

/**
 * natter_message_apply:
 * @self: a message
 * @body: its text now ("" once deleted)
 * @kind: (nullable): its kind now, or %NULL to take it from @details (or keep it)
 * @details: (nullable): (transfer floating): `a{sv}` as HistoryDetailed() and MessageChanged give it:
 *   "edited_ts" (x), "reply_to" (t), "reactions" (a(sas)), "mentions" (as), "kind" (s)
 *
 * Brings the message to its current state, in place, and emits ::changed.
 */
void
natter_message_apply (NatterMessage *self,
                      const char    *body,
                      const char    *kind,
                      GVariant      *details)
{
  g_autoptr(GVariant) owned_details = NULL;
  g_autoptr(GVariant) reactions = NULL;
  g_auto(GStrv) mentions = NULL;
  const char *details_kind = NULL;
  gint64 edited_ts = 0;
  guint64 reply_to = 0;

  g_return_if_fail (NATTER_IS_MESSAGE (self));
  g_return_if_fail (body != NULL);
  g_return_if_fail (details == NULL || g_variant_is_of_type (details, G_VARIANT_TYPE_VARDICT));

  if (details != NULL)
    {
      owned_details = g_variant_ref_sink (details);
      g_variant_lookup (details, "edited_ts", "x", &edited_ts);
      g_variant_lookup (details, "reply_to", "t", &reply_to);
      g_variant_lookup (details, "kind", "&s", &details_kind);
      reactions = g_variant_lookup_value (details, "reactions", G_VARIANT_TYPE ("a(sas)"));
      g_variant_lookup (details, "mentions", "^as", &mentions);
    }
  if (kind == NULL || *kind == '\0')
    kind = details_kind;

  g_object_freeze_notify (G_OBJECT (self));
  if (g_strcmp0 (self->body, body) != 0)
    {
      g_free (self->body);
      self->body = g_strdup (body);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BODY]);
    }
  if (kind != NULL && *kind != '\0' && g_strcmp0 (self->kind, kind) != 0)
    {
      g_free (self->kind);
      self->kind = g_strdup (kind);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_KIND]);
    }
  if (self->edited_ts != edited_ts)
    {
      self->edited_ts = edited_ts;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_EDITED_TIMESTAMP]);
    }
  /* A reply stays a reply; a change that does not repeat it keeps it. */
  if (reply_to != 0 && self->reply_to != reply_to)
    {
      self->reply_to = reply_to;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_REPLY_TO]);
    }
  g_clear_pointer (&self->reactions, g_variant_unref);
  self->reactions = reactions != NULL ? g_steal_pointer (&reactions)
                                      : g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE ("(sas)"), NULL, 0));
  g_strfreev (self->mentions);
  self->mentions = mentions != NULL ? g_steal_pointer (&mentions) : g_new0 (char *, 1);
  self->detailed = TRUE;
  g_object_thaw_notify (G_OBJECT (self));

  g_signal_emit (self, signals[CHANGED], 0);
}

/* The state of @self as details for natter_message_apply(). */
static GVariant *
details_of (NatterMessage *self)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "edited_ts", g_variant_new_int64 (self->edited_ts));
  g_variant_builder_add (&builder, "{sv}", "reply_to", g_variant_new_uint64 (self->reply_to));
  g_variant_builder_add (&builder, "{sv}", "reactions", self->reactions);
  g_variant_builder_add (&builder, "{sv}", "mentions",
                         g_variant_new_strv ((const char * const *) self->mentions, -1));
  return g_variant_builder_end (&builder);
}

/**
 * natter_message_update_from:
 * @self: a message
 * @other: the same message, as another source gave it
 *
 * Takes the state of @other if it knows more than @self does (@self came from
 * MessageReceived, @other from a message object or history) or is newer.
 */
void
natter_message_update_from (NatterMessage *self,
                            NatterMessage *other)
{
  g_autoptr(GVariant) details = NULL;

  g_return_if_fail (NATTER_IS_MESSAGE (self));
  g_return_if_fail (NATTER_IS_MESSAGE (other));

  if (!other->detailed)
    return;
  details = g_variant_ref_sink (details_of (other));
  natter_message_apply (self, other->body, other->kind, details);
}

/**
 * natter_message_get_quoted:
 * @self: a message
 *
 * Returns: (transfer none) (nullable): the message this one answers, as far as it is
 *   known (see natter_message_get_reply_to())
 */
NatterMessage *
natter_message_get_quoted (NatterMessage *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE (self), NULL);
  return self->quoted;
}

/**
 * natter_message_set_quoted:
 * @self: a message
 * @quoted: (nullable): the message it answers
 */
void
natter_message_set_quoted (NatterMessage *self,
                           NatterMessage *quoted)
{
  g_return_if_fail (NATTER_IS_MESSAGE (self));
  g_return_if_fail (quoted == NULL || NATTER_IS_MESSAGE (quoted));

  if (g_set_object (&self->quoted, quoted))
    g_signal_emit (self, signals[CHANGED], 0);
}

/**
 * natter_message_mentions:
 * @self: a message
 * @user: a user name
 *
 * Returns: whether the message mentions @user: as the server found it, or, before
 *   that is known, as `@user` in the text
 */
gboolean
natter_message_mentions (NatterMessage *self,
                         const char    *user)
{
  const char *found;
  gsize length;

  g_return_val_if_fail (NATTER_IS_MESSAGE (self), FALSE);

  if (user == NULL || *user == '\0')
    return FALSE;
  if (self->detailed)
    return g_strv_contains ((const char * const *) self->mentions, user);
  length = strlen (user);
  for (found = strchr (self->body, '@'); found != NULL; found = strchr (found + 1, '@'))
    {
      char next = found[1 + length];

      if ((found == self->body || (!g_ascii_isalnum (found[-1]) && found[-1] != '@')) &&
          strncmp (found + 1, user, length) == 0 &&
          !(g_ascii_isalnum (next) || next == '_' || next == '-' ||
            (next == '.' && (g_ascii_isalnum (found[2 + length]) || found[2 + length] == '_'))))
        return TRUE;
    }
  return FALSE;
}
