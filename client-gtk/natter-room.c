/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-room"

#include "config.h"

#include <glib/gi18n.h>

#include "natter-errors.h"
#include "natter-outgoing.h"
#include "natter-room.h"

/* How long another member counts as typing without hearing from them again. */
#define TYPING_EXPIRY_SECONDS 8
/* Messages from one sender closer together than this are shown as one group. */
#define GROUP_INTERVAL_MS (5 * 60 * 1000)

/* A room the account is a member of, as the app sees it: the D-Bus room proxy (which
 * comes and goes with natterd) and the messages loaded so far, in seq order without
 * duplicates, whether they came from HistoryDetailed(), a message object or
 * MessageReceived. MessageChanged changes a loaded message in place. */
struct _NatterRoom
{
  GObject             parent_instance;

  char               *name;           /* (owned) */
  char               *account;        /* (owned) */
  char               *display_name;   /* (owned) */
  NatterDBusChatRoom *proxy;          /* (owned) (nullable): NULL while natterd is away */
  GCancellable       *cancellable;    /* (owned): calls made on the current proxy */
  GListStore         *messages;       /* (owned): NatterMessage, ascending seq */
  GListStore         *outgoing;       /* (owned): NatterOutgoing not confirmed yet, in order */
  GHashTable         *typing;         /* (owned): user → GSource id of its expiry */
  GHashTable         *receipts;       /* (owned): user → guint64 * seq */
  GHashTable         *quoted;         /* (owned): guint64 * seq → NatterMessage read only
                                         because a loaded reply quotes it */
  gboolean            has_more;
  gboolean            loading;
  gboolean            recent_loaded;
  gboolean            viewed;
};

G_DEFINE_FINAL_TYPE (NatterRoom, natter_room, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_NAME,
  PROP_DISPLAY_NAME,
  PROP_ICON_NAME,
  PROP_KIND,
  PROP_TOPIC,
  PROP_SUBTITLE,
  PROP_UNREAD_COUNT,
  PROP_LAST_SEQ,
  PROP_READ_SEQ,
  PROP_MEMBERS,
  PROP_ONLINE,
  PROP_TYPING,
  PROP_HAS_MORE,
  PROP_LOADING,
  PROP_LAST_MESSAGE,
  PROP_ATTACHED,
  PROP_ROLE,
  PROP_NOTIFICATION_LEVEL,
  PROP_PRIVATE,
  N_PROPS
};

enum {
  MESSAGE_RECEIVED,
  MESSAGE_CHANGED,
  RECEIPTS_CHANGED,
  MEMBER_CHANGED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

static void
natter_room_dispose (GObject *object)
{
  NatterRoom *self = NATTER_ROOM (object);

  natter_room_detach (self);
  g_clear_pointer (&self->typing, g_hash_table_unref);

  G_OBJECT_CLASS (natter_room_parent_class)->dispose (object);
}

static void
natter_room_finalize (GObject *object)
{
  NatterRoom *self = NATTER_ROOM (object);

  g_clear_pointer (&self->name, g_free);
  g_clear_pointer (&self->account, g_free);
  g_clear_pointer (&self->display_name, g_free);
  g_clear_pointer (&self->receipts, g_hash_table_unref);
  g_clear_pointer (&self->quoted, g_hash_table_unref);
  g_clear_object (&self->messages);
  g_clear_object (&self->outgoing);

  G_OBJECT_CLASS (natter_room_parent_class)->finalize (object);
}

static void
natter_room_get_property (GObject    *object,
                          guint       prop_id,
                          GValue     *value,
                          GParamSpec *pspec)
{
  NatterRoom *self = NATTER_ROOM (object);

  switch (prop_id)
    {
    case PROP_NAME:
      g_value_set_string (value, self->name);
      break;
    case PROP_DISPLAY_NAME:
      g_value_set_string (value, natter_room_get_display_name (self));
      break;
    case PROP_ICON_NAME:
      g_value_set_string (value, natter_room_get_icon_name (self));
      break;
    case PROP_KIND:
      g_value_set_string (value, natter_room_get_kind (self));
      break;
    case PROP_TOPIC:
      g_value_set_string (value, natter_room_get_topic (self));
      break;
    case PROP_SUBTITLE:
      g_value_take_string (value, natter_room_dup_subtitle (self));
      break;
    case PROP_UNREAD_COUNT:
      g_value_set_uint64 (value, natter_room_get_unread_count (self));
      break;
    case PROP_LAST_SEQ:
      g_value_set_uint64 (value, natter_room_get_last_seq (self));
      break;
    case PROP_READ_SEQ:
      g_value_set_uint64 (value, natter_room_get_read_seq (self));
      break;
    case PROP_MEMBERS:
      g_value_set_boxed (value, natter_room_get_members (self));
      break;
    case PROP_ONLINE:
      g_value_set_boxed (value, natter_room_get_online (self));
      break;
    case PROP_TYPING:
      g_value_take_boxed (value, natter_room_dup_typing (self));
      break;
    case PROP_HAS_MORE:
      g_value_set_boolean (value, self->has_more);
      break;
    case PROP_LOADING:
      g_value_set_boolean (value, self->loading);
      break;
    case PROP_LAST_MESSAGE:
      g_value_set_object (value, natter_room_get_last_message (self));
      break;
    case PROP_ATTACHED:
      g_value_set_boolean (value, self->proxy != NULL);
      break;
    case PROP_ROLE:
      g_value_set_string (value, natter_room_get_role (self));
      break;
    case PROP_NOTIFICATION_LEVEL:
      g_value_set_string (value, natter_room_get_notification_level (self));
      break;
    case PROP_PRIVATE:
      g_value_set_boolean (value, natter_room_get_private (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
natter_room_class_init (NatterRoomClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = natter_room_dispose;
  object_class->finalize = natter_room_finalize;
  object_class->get_property = natter_room_get_property;

#define RO (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS)
  properties[PROP_NAME] = g_param_spec_string ("name", NULL, NULL, NULL, RO);
  properties[PROP_DISPLAY_NAME] = g_param_spec_string ("display-name", NULL, NULL, NULL, RO);
  properties[PROP_ICON_NAME] = g_param_spec_string ("icon-name", NULL, NULL, NULL, RO);
  properties[PROP_KIND] = g_param_spec_string ("kind", NULL, NULL, NULL, RO);
  properties[PROP_TOPIC] = g_param_spec_string ("topic", NULL, NULL, NULL, RO);
  properties[PROP_SUBTITLE] = g_param_spec_string ("subtitle", NULL, NULL, NULL, RO);
  properties[PROP_UNREAD_COUNT] =
    g_param_spec_uint64 ("unread-count", NULL, NULL, 0, G_MAXUINT64, 0, RO);
  properties[PROP_LAST_SEQ] = g_param_spec_uint64 ("last-seq", NULL, NULL, 0, G_MAXUINT64, 0, RO);
  properties[PROP_READ_SEQ] = g_param_spec_uint64 ("read-seq", NULL, NULL, 0, G_MAXUINT64, 0, RO);
  properties[PROP_MEMBERS] = g_param_spec_boxed ("members", NULL, NULL, G_TYPE_STRV, RO);
  properties[PROP_ONLINE] = g_param_spec_boxed ("online", NULL, NULL, G_TYPE_STRV, RO);
  properties[PROP_TYPING] = g_param_spec_boxed ("typing", NULL, NULL, G_TYPE_STRV, RO);
  properties[PROP_HAS_MORE] = g_param_spec_boolean ("has-more", NULL, NULL, FALSE, RO);
  properties[PROP_LOADING] = g_param_spec_boolean ("loading", NULL, NULL, FALSE, RO);
  properties[PROP_LAST_MESSAGE] =
    g_param_spec_object ("last-message", NULL, NULL, NATTER_TYPE_MESSAGE, RO);
  properties[PROP_ATTACHED] = g_param_spec_boolean ("attached", NULL, NULL, FALSE, RO);
  properties[PROP_ROLE] = g_param_spec_string ("role", NULL, NULL, NULL, RO);
  properties[PROP_NOTIFICATION_LEVEL] =
    g_param_spec_string ("notification-level", NULL, NULL, NULL, RO);
  properties[PROP_PRIVATE] = g_param_spec_boolean ("private", NULL, NULL, FALSE, RO);
#undef RO

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * NatterRoom::message-received:
   * @self: the room
   * @message: a new message
   *
   * A message arrived live (not from history), once each.
   */
  signals[MESSAGE_RECEIVED] =
    g_signal_new ("message-received", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, NATTER_TYPE_MESSAGE);

  /**
   * NatterRoom::message-changed:
   * @self: the room
   * @message: a loaded message, changed in place already
   * @kind: "edit", "delete" or "reaction"
   *
   * Someone changed a loaded message.
   */
  signals[MESSAGE_CHANGED] =
    g_signal_new ("message-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, NATTER_TYPE_MESSAGE, G_TYPE_STRING);

  /**
   * NatterRoom::receipts-changed:
   * @self: the room
   *
   * Another member moved their read marker.
   */
  signals[RECEIPTS_CHANGED] =
    g_signal_new ("receipts-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);

  /**
   * NatterRoom::member-changed:
   * @self: the room
   * @user: a user name
   * @joined: whether @user is a member now
   * @role: @user's role now, or "" when not a member
   * @by: who kicked, banned or changed the role, or "" when @user did it
   *
   * natterd's MemberChanged: #NatterRoom:members and the roles have changed already.
   */
  signals[MEMBER_CHANGED] =
    g_signal_new ("member-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 4,
                  G_TYPE_STRING, G_TYPE_BOOLEAN, G_TYPE_STRING, G_TYPE_STRING);
}

static void
natter_room_init (NatterRoom *self)
{
  self->messages = g_list_store_new (NATTER_TYPE_MESSAGE);
  self->outgoing = g_list_store_new (NATTER_TYPE_OUTGOING);
  self->typing = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify) g_source_remove);
  self->receipts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->quoted = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_object_unref);
}

/**
 * natter_room_new:
 * @name: the room's name
 * @account: the account the app acts as
 *
 * Returns: (transfer full): a room without a D-Bus proxy yet
 */
NatterRoom *
natter_room_new (const char *name,
                 const char *account)
{
  NatterRoom *self = g_object_new (NATTER_TYPE_ROOM, NULL);

  self->name = g_strdup (name);
  self->account = g_strdup (account != NULL ? account : "");
  return self;
}

static void
notify_state (NatterRoom *self)
{
  static const guint props[] = {
    PROP_KIND, PROP_TOPIC, PROP_SUBTITLE, PROP_UNREAD_COUNT, PROP_LAST_SEQ, PROP_READ_SEQ,
    PROP_MEMBERS, PROP_ONLINE, PROP_ICON_NAME, PROP_DISPLAY_NAME, PROP_ATTACHED,
    PROP_ROLE, PROP_NOTIFICATION_LEVEL, PROP_PRIVATE,
  };

  g_object_freeze_notify (G_OBJECT (self));
  for (guint i = 0; i < G_N_ELEMENTS (props); i++)
    g_object_notify_by_pspec (G_OBJECT (self), properties[props[i]]);
  g_object_thaw_notify (G_OBJECT (self));
}

static void
set_loading (NatterRoom *self,
             gboolean    loading)
{
  if (self->loading == loading)
    return;
  self->loading = loading;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LOADING]);
}

static void
set_has_more (NatterRoom *self,
              gboolean    has_more)
{
  if (self->has_more == has_more)
    return;
  self->has_more = has_more;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_HAS_MORE]);
}

static gboolean
continues (NatterMessage *previous,
           NatterMessage *message)
{
  return previous != NULL &&
         g_strcmp0 (natter_message_get_sender (previous), natter_message_get_sender (message)) == 0 &&
         g_strcmp0 (natter_message_get_kind (previous), natter_message_get_kind (message)) == 0 &&
         natter_message_get_timestamp (message) - natter_message_get_timestamp (previous) < GROUP_INTERVAL_MS &&
         natter_message_same_day (previous, message);
}

/* Recomputes how the messages at @position and the one after it are grouped. */
static void
regroup (NatterRoom *self,
         guint       position)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->messages));

  for (guint i = position; i < MIN (position + 2, n); i++)
    {
      g_autoptr(NatterMessage) message = g_list_model_get_item (G_LIST_MODEL (self->messages), i);
      g_autoptr(NatterMessage) previous = NULL;

      if (i > 0)
        previous = g_list_model_get_item (G_LIST_MODEL (self->messages), i - 1);
      natter_message_set_continued (message, continues (previous, message));
    }
}

static guint64
seq_at (NatterRoom *self,
        guint       position)
{
  g_autoptr(NatterMessage) message = g_list_model_get_item (G_LIST_MODEL (self->messages), position);

  return natter_message_get_seq (message);
}

/* Where @seq is in the loaded messages, or where it would go. */
static gboolean
find_position (NatterRoom *self,
               guint64     seq,
               guint      *position)
{
  guint lo = 0;
  guint hi = g_list_model_get_n_items (G_LIST_MODEL (self->messages));

  /* Live messages come last: check the end before searching. */
  if (hi == 0 || seq_at (self, hi - 1) < seq)
    {
      *position = hi;
      return FALSE;
    }
  while (lo < hi)
    {
      guint mid = lo + (hi - lo) / 2;
      guint64 mid_seq = seq_at (self, mid);

      if (mid_seq == seq)
        {
          *position = mid;
          return TRUE;
        }
      if (mid_seq < seq)
        lo = mid + 1;
      else
        hi = mid;
    }
  *position = lo;
  return FALSE;
}

/**
 * natter_room_lookup_message:
 * @self: a room
 * @seq: a message's seq
 *
 * Returns: (transfer none) (nullable): the loaded message @seq
 */
NatterMessage *
natter_room_lookup_message (NatterRoom *self,
                            guint64     seq)
{
  g_autoptr(NatterMessage) message = NULL;
  guint position;

  g_return_val_if_fail (NATTER_IS_ROOM (self), NULL);

  if (!find_position (self, seq, &position))
    return NULL;
  message = g_list_model_get_item (G_LIST_MODEL (self->messages), position);
  /* The store keeps its own reference. */
  return message;
}

static void link_quote   (NatterRoom    *self,
                          NatterMessage *message);
static void quote_loaded (NatterRoom    *self,
                          NatterMessage *quoted);

/**
 * natter_room_add_message:
 * @self: a room
 * @message: a message of the room
 *
 * Inserts @message in seq order, unless a message with its seq is already there; that
 * one then takes what @message knows of its current state.
 *
 * Returns: whether @message was new
 */
gboolean
natter_room_add_message (NatterRoom    *self,
                         NatterMessage *message)
{
  guint position;

  g_return_val_if_fail (NATTER_IS_ROOM (self), FALSE);
  g_return_val_if_fail (NATTER_IS_MESSAGE (message), FALSE);

  if (find_position (self, natter_message_get_seq (message), &position))
    {
      g_autoptr(NatterMessage) existing = g_list_model_get_item (G_LIST_MODEL (self->messages), position);

      if (existing != message)
        {
          natter_message_update_from (existing, message);
          link_quote (self, existing);
        }
      return FALSE;
    }

  natter_message_set_own (message, g_strcmp0 (natter_message_get_sender (message), self->account) == 0);
  link_quote (self, message);
  g_list_store_insert (self->messages, position, message);
  /* Replies loaded before it wait for it. */
  if (g_hash_table_contains (self->quoted, &(guint64) { natter_message_get_seq (message) }))
    quote_loaded (self, message);
  regroup (self, position);
  if (position + 1 == g_list_model_get_n_items (G_LIST_MODEL (self->messages)))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LAST_MESSAGE]);
  return TRUE;
}

/* Signals of the proxy ------------------------------------------------------------- */

static void
message_received_cb (NatterDBusChatRoom *proxy,
                     guint64             seq,
                     gint64              timestamp,
                     const char         *sender,
                     const char         *body,
                     const char         *kind,
                     const char         *path,
                     NatterRoom         *self)
{
  g_autoptr(NatterMessage) message = natter_message_new (self->name, seq, timestamp, sender, body, kind);

  /* The message object may have brought the message in already: natterd signals each
   * message once, so the signal, not the insertion, says it is new. */
  natter_room_add_message (self, message);
  natter_message_set_own (message, g_strcmp0 (sender, self->account) == 0);
  /* The one loaded, which may know more (its mentions, from the message object). */
  if (natter_room_lookup_message (self, seq) != NULL)
    g_set_object (&message, natter_room_lookup_message (self, seq));
  g_signal_emit (self, signals[MESSAGE_RECEIVED], 0, message);

  /* A message ends its sender's typing. */
  if (g_hash_table_remove (self->typing, sender))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TYPING]);
}

typedef struct
{
  NatterRoom *room;  /* (unowned) */
  char       *user;  /* (owned) */
} TypingExpiry;

static void
typing_expiry_free (gpointer data)
{
  TypingExpiry *expiry = data;

  g_free (expiry->user);
  g_free (expiry);
}

static gboolean
typing_expired_cb (gpointer data)
{
  TypingExpiry *expiry = data;
  NatterRoom *self = expiry->room;

  /* Steal first: removing would remove this very source. */
  g_hash_table_steal (self->typing, expiry->user);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TYPING]);
  return G_SOURCE_REMOVE;
}

static void
typing_cb (NatterDBusChatRoom *proxy,
           const char         *user,
           gboolean            active,
           NatterRoom         *self)
{
  if (g_strcmp0 (user, self->account) == 0)
    return;

  if (active)
    {
      TypingExpiry *expiry = g_new0 (TypingExpiry, 1);
      guint id;

      expiry->room = self;
      expiry->user = g_strdup (user);
      id = g_timeout_add_seconds_full (G_PRIORITY_DEFAULT, TYPING_EXPIRY_SECONDS,
                                       typing_expired_cb, expiry, typing_expiry_free);
      g_hash_table_replace (self->typing, g_strdup (user), GUINT_TO_POINTER (id));
    }
  else if (!g_hash_table_remove (self->typing, user))
    {
      return;
    }
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TYPING]);
}

static void
receipt_cb (NatterDBusChatRoom *proxy,
            const char         *user,
            guint64             seq,
            NatterRoom         *self)
{
  guint64 *current;

  if (g_strcmp0 (user, self->account) == 0)
    return;
  current = g_hash_table_lookup (self->receipts, user);
  if (current != NULL && *current >= seq)
    return;
  g_hash_table_replace (self->receipts, g_strdup (user), g_memdup2 (&seq, sizeof seq));
  g_signal_emit (self, signals[RECEIPTS_CHANGED], 0);
}

static void
message_changed_cb (NatterDBusChatRoom *proxy,
                    guint64             seq,
                    guint64             change_seq,
                    const char         *sender,
                    const char         *kind,
                    const char         *body,
                    GVariant           *details,
                    NatterRoom         *self)
{
  NatterMessage *message = natter_room_lookup_message (self, seq);
  NatterMessage *quoted = g_hash_table_lookup (self->quoted, &seq);

  /* Not loaded: history will give its current state when it is. */
  if (message != NULL)
    natter_message_apply (message, body, NULL, details);
  if (quoted != NULL && natter_message_get_detailed (quoted))
    natter_message_apply (quoted, body, NULL, details);
  if (message != NULL)
    g_signal_emit (self, signals[MESSAGE_CHANGED], 0, message, kind);
  /* The room list shows the newest message: its text changed, or is gone. */
  if (message != NULL && message == natter_room_get_last_message (self))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LAST_MESSAGE]);
}

static void
member_changed_cb (NatterDBusChatRoom *proxy,
                   const char         *user,
                   gboolean            joined,
                   const char         *role,
                   const char         *by,
                   NatterRoom         *self)
{
  g_signal_emit (self, signals[MEMBER_CHANGED], 0, user, joined, role, by);
}

static void
properties_changed_cb (GDBusProxy *proxy,
                       GVariant   *changed,
                       GStrv       invalidated,
                       NatterRoom *self)
{
  notify_state (self);
}

/* Attaching and detaching ---------------------------------------------------------- */

static void
set_viewed_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!natter_dbus_chat_room_call_set_viewed_finish (NATTER_DBUS_CHAT_ROOM (source), result, &error) &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_debug ("SetViewed failed: %s", error->message);
}

static void
send_viewed (NatterRoom *self)
{
  if (self->proxy == NULL)
    return;
  natter_dbus_chat_room_call_set_viewed (self->proxy, self->viewed, self->cancellable,
                                         set_viewed_cb, NULL);
}

/**
 * natter_room_attach:
 * @self: a room
 * @proxy: the room's D-Bus proxy
 *
 * Makes @proxy the room's link to natterd: when the room appears, and again each time
 * natterd comes back. Messages already loaded are kept; a new History() call fills in
 * what was missed.
 */
void
natter_room_attach (NatterRoom         *self,
                    NatterDBusChatRoom *proxy)
{
  gboolean reload;

  g_return_if_fail (NATTER_IS_ROOM (self));
  g_return_if_fail (NATTER_DBUS_IS_CHAT_ROOM (proxy));

  if (self->proxy == proxy)
    return;

  reload = self->recent_loaded;
  natter_room_detach (self);
  self->proxy = g_object_ref (proxy);
  self->cancellable = g_cancellable_new ();
  g_signal_connect_object (proxy, "message-received", G_CALLBACK (message_received_cb), self, 0);
  g_signal_connect_object (proxy, "typing", G_CALLBACK (typing_cb), self, 0);
  g_signal_connect_object (proxy, "receipt", G_CALLBACK (receipt_cb), self, 0);
  g_signal_connect_object (proxy, "message-changed", G_CALLBACK (message_changed_cb), self, 0);
  g_signal_connect_object (proxy, "member-changed", G_CALLBACK (member_changed_cb), self, 0);
  /* After the proxy's own handler: gdbus-codegen's getters of strings and string arrays
   * (Members, Online) keep what they returned until that handler drops it, so before it
   * they still give the old value ("0 members" for a room just made or joined). */
  g_signal_connect_object (proxy, "g-properties-changed", G_CALLBACK (properties_changed_cb), self,
                           G_CONNECT_AFTER);
  notify_state (self);

  if (self->viewed)
    send_viewed (self);
  if (reload)
    natter_room_load_recent (self);
}

/**
 * natter_room_detach:
 * @self: a room
 *
 * Drops the D-Bus proxy (natterd went away) and cancels the calls made on it.
 */
void
natter_room_detach (NatterRoom *self)
{
  g_return_if_fail (NATTER_IS_ROOM (self));

  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  if (self->proxy != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->proxy, self);
      g_clear_object (&self->proxy);
      if (self->typing != NULL)
        g_hash_table_remove_all (self->typing);
      set_loading (self, FALSE);
      notify_state (self);
    }
}

gboolean
natter_room_is_attached (NatterRoom *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM (self), FALSE);
  return self->proxy != NULL;
}

/**
 * natter_room_set_account:
 * @self: a room
 * @account: the account the app acts as
 */
void
natter_room_set_account (NatterRoom *self,
                         const char *account)
{
  guint n;

  g_return_if_fail (NATTER_IS_ROOM (self));

  if (account == NULL)
    account = "";
  if (g_strcmp0 (self->account, account) == 0)
    return;
  g_free (self->account);
  self->account = g_strdup (account);
  g_clear_pointer (&self->display_name, g_free);

  n = g_list_model_get_n_items (G_LIST_MODEL (self->messages));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(NatterMessage) message = g_list_model_get_item (G_LIST_MODEL (self->messages), i);
      natter_message_set_own (message, g_strcmp0 (natter_message_get_sender (message), account) == 0);
    }
  notify_state (self);
}

/**
 * natter_room_reset:
 * @self: a room
 *
 * Forgets the loaded messages: natterd's history store changed (another epoch), so
 * their sequence numbers mean nothing any more.
 */
void
natter_room_reset (NatterRoom *self)
{
  g_return_if_fail (NATTER_IS_ROOM (self));

  g_list_store_remove_all (self->messages);
  g_hash_table_remove_all (self->receipts);
  g_hash_table_remove_all (self->quoted);
  self->recent_loaded = FALSE;
  set_has_more (self, FALSE);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LAST_MESSAGE]);
}

/* Properties ----------------------------------------------------------------------- */

const char *
natter_room_get_name (NatterRoom *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM (self), NULL);
  return self->name;
}

const char *
natter_room_get_kind (NatterRoom *self)
{
  const char *kind = NULL;

  g_return_val_if_fail (NATTER_IS_ROOM (self), NULL);

  if (self->proxy != NULL)
    kind = natter_dbus_chat_room_get_kind (self->proxy);
  if (kind != NULL && *kind != '\0')
    return kind;
  /* Before the properties are known, the name tells. */
  if (g_str_has_prefix (self->name, "dm:"))
    return "dm";
  if (g_str_equal (self->name, "system"))
    return "system";
  return "room";
}

/**
 * natter_room_get_display_name:
 * @self: a room
 *
 * Returns: the room's name for people: the other party of a direct-message room,
 *   “Announcements” for the system room, the room name otherwise
 */
const char *
natter_room_get_display_name (NatterRoom *self)
{
  const char *kind;

  g_return_val_if_fail (NATTER_IS_ROOM (self), NULL);

  if (self->display_name != NULL)
    return self->display_name;

  kind = natter_room_get_kind (self);
  if (g_str_equal (kind, "system"))
    {
      self->display_name = g_strdup (_("Announcements"));
    }
  else if (g_str_equal (kind, "dm"))
    {
      g_auto(GStrv) parts = g_strsplit (self->name, ":", 3);

      if (g_strv_length (parts) == 3)
        self->display_name = g_strdup (g_str_equal (parts[1], self->account) ? parts[2] : parts[1]);
      else
        self->display_name = g_strdup (self->name);
    }
  else
    {
      self->display_name = g_strdup (self->name);
    }
  return self->display_name;
}

const char *
natter_room_get_icon_name (NatterRoom *self)
{
  const char *kind;

  g_return_val_if_fail (NATTER_IS_ROOM (self), NULL);

  kind = natter_room_get_kind (self);
  if (g_str_equal (kind, "system"))
    return "natter-announcement-symbolic";
  if (g_str_equal (kind, "dm"))
    return "avatar-default-symbolic";
  return "natter-room-symbolic";
}

const char *
natter_room_get_topic (NatterRoom *self)
{
  const char *topic = NULL;

  g_return_val_if_fail (NATTER_IS_ROOM (self), NULL);

  if (self->proxy != NULL)
    topic = natter_dbus_chat_room_get_topic (self->proxy);
  return topic != NULL ? topic : "";
}

static gboolean
strv_contains (const char * const *strv,
               const char         *str)
{
  return strv != NULL && str != NULL && g_strv_contains (strv, str);
}

/**
 * natter_room_dup_subtitle:
 * @self: a room
 *
 * Returns: (transfer full): one line about the room for its header: the topic, the
 *   number of members, or whether the other party of a direct conversation is online
 */
char *
natter_room_dup_subtitle (NatterRoom *self)
{
  const char *kind;
  const char *topic;
  const char * const *members;
  guint n_members;

  g_return_val_if_fail (NATTER_IS_ROOM (self), NULL);

  kind = natter_room_get_kind (self);
  if (g_str_equal (kind, "system"))
    return g_strdup (_("Messages for everyone from the administrators"));
  if (g_str_equal (kind, "dm"))
    {
      if (strv_contains (natter_room_get_online (self), natter_room_get_display_name (self)))
        return g_strdup (_("Online"));
      return g_strdup (_("Offline"));
    }

  topic = natter_room_get_topic (self);
  if (*topic != '\0')
    return g_strdup (topic);
  members = natter_room_get_members (self);
  n_members = members != NULL ? g_strv_length ((GStrv) members) : 0;
  return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u member", "%u members", n_members),
                          n_members);
}

guint64
natter_room_get_unread_count (NatterRoom *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM (self), 0);
  return self->proxy != NULL ? natter_dbus_chat_room_get_unread_count (self->proxy) : 0;
}

guint64
natter_room_get_last_seq (NatterRoom *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM (self), 0);
  return self->proxy != NULL ? natter_dbus_chat_room_get_last_seq (self->proxy) : 0;
}

guint64
natter_room_get_read_seq (NatterRoom *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM (self), 0);
  return self->proxy != NULL ? natter_dbus_chat_room_get_read_seq (self->proxy) : 0;
}

const char * const *
natter_room_get_members (NatterRoom *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM (self), NULL);
  return self->proxy != NULL ? natter_dbus_chat_room_get_members (self->proxy) : NULL;
}

const char * const *
natter_room_get_online (NatterRoom *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM (self), NULL);
  return self->proxy != NULL ? natter_dbus_chat_room_get_online (self->proxy) : NULL;
}

/**
 * natter_room_get_private:
 * @self: a room
 *
 * Returns: whether the room is private: only members and invited users may join it
 */
gboolean
natter_room_get_private (NatterRoom *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM (self), FALSE);
  return self->proxy != NULL && natter_dbus_chat_room_get_private (self->proxy);
}

/**
 * natter_room_get_member_role:
 * @self: a room
 * @user: a user name
 *
 * Returns: @user's role in the room, or "" for someone who is not a member
 */
const char *
natter_room_get_member_role (NatterRoom *self,
                             const char *user)
{
  GVariant *roles;
  const char *role = NULL;

  g_return_val_if_fail (NATTER_IS_ROOM (self), NULL);

  if (self->proxy == NULL || user == NULL)
    return "";
  roles = natter_dbus_chat_room_get_member_roles (self->proxy);
  if (roles == NULL || !g_variant_lookup (roles, user, "&s", &role))
    return "";
  return role;
}

/**
 * natter_room_get_proxy:
 * @self: a room
 *
 * Returns: (transfer none) (nullable): the room's D-Bus proxy, NULL while natterd is away
 */
NatterDBusChatRoom *
natter_room_get_proxy (NatterRoom *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM (self), NULL);
  return self->proxy;
}

/**
 * natter_room_dup_typing:
 * @self: a room
 *
 * Returns: (transfer full): the other members typing now, sorted
 */
GStrv
natter_room_dup_typing (NatterRoom *self)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_autoptr(GList) users = NULL;

  g_return_val_if_fail (NATTER_IS_ROOM (self), NULL);

  if (self->typing != NULL)
    users = g_list_sort (g_hash_table_get_keys (self->typing), (GCompareFunc) g_strcmp0);
  for (GList *l = users; l != NULL; l = l->next)
    g_strv_builder_add (builder, l->data);
  return g_strv_builder_end (builder);
}

/**
 * natter_room_dup_readers:
 * @self: a room
 * @seq: a message's seq
 *
 * Returns: (transfer full): the other members known to have read up to @seq, sorted
 */
GStrv
natter_room_dup_readers (NatterRoom *self,
                         guint64     seq)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_autoptr(GList) users = NULL;

  g_return_val_if_fail (NATTER_IS_ROOM (self), NULL);

  users = g_list_sort (g_hash_table_get_keys (self->receipts), (GCompareFunc) g_strcmp0);
  for (GList *l = users; l != NULL; l = l->next)
    {
      const guint64 *read = g_hash_table_lookup (self->receipts, l->data);
      if (*read >= seq)
        g_strv_builder_add (builder, l->data);
    }
  return g_strv_builder_end (builder);
}

/**
 * natter_room_get_messages:
 * @self: a room
 *
 * Returns: (transfer none): the loaded messages (#NatterMessage), in seq order
 */
GListModel *
natter_room_get_messages (NatterRoom *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM (self), NULL);
  return G_LIST_MODEL (self->messages);
}

/**
 * natter_room_get_last_message:
 * @self: a room
 *
 * Returns: (transfer none) (nullable): the newest loaded message
 */
NatterMessage *
natter_room_get_last_message (NatterRoom *self)
{
  NatterMessage *last;
  guint n;

  g_return_val_if_fail (NATTER_IS_ROOM (self), NULL);

  n = g_list_model_get_n_items (G_LIST_MODEL (self->messages));
  if (n == 0)
    return NULL;
  last = g_list_model_get_item (G_LIST_MODEL (self->messages), n - 1);
  /* The store keeps its own reference. */
  g_object_unref (last);
  return last;
}

gboolean
natter_room_get_has_more (NatterRoom *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM (self), FALSE);
  return self->has_more;
}

/**
 * natter_room_get_history_loaded:
 * @self: a room
 *
 * Returns: whether the newest page of history has been read since the room was opened
 *   (or reset); until then the messages shown may be only those that arrived live, and
 *   #NatterRoom:has-more says nothing yet
 */
gboolean
natter_room_get_history_loaded (NatterRoom *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM (self), FALSE);
  return self->recent_loaded;
}

gboolean
natter_room_get_loading (NatterRoom *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM (self), FALSE);
  return self->loading;
}

/* History -------------------------------------------------------------------------- */

static void
history_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(NatterRoom) self = user_data;
  g_autoptr(GVariant) page = NULL;
  g_autoptr(GError) error = NULL;
  gboolean has_more = FALSE;
  gsize n;
  guint64 seq;
  gint64 timestamp;
  const char *sender;
  const char *body;
  const char *kind;

  if (!natter_dbus_chat_room_call_history_detailed_finish (NATTER_DBUS_CHAT_ROOM (source), &page,
                                                           &has_more, result, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_warning ("Cannot read the history of %s: %s", self->name, error->message);
          set_loading (self, FALSE);
        }
      return;
    }

  /* Newest first: each message of an older page then goes to the start of the list. */
  n = g_variant_n_children (page);
  for (gsize i = n; i > 0; i--)
    {
      g_autoptr(NatterMessage) message = NULL;
      g_autoptr(GVariant) details = NULL;

      g_variant_get_child (page, i - 1, "(tx&s&s&s@a{sv})", &seq, &timestamp, &sender, &body, &kind,
                           &details);
      message = natter_message_new (self->name, seq, timestamp, sender, body, kind);
      natter_message_apply (message, body, kind, details);
      natter_room_add_message (self, message);
    }

  self->recent_loaded = TRUE;
  set_has_more (self, has_more);
  set_loading (self, FALSE);
}

static void
load_page (NatterRoom *self,
           guint64     before_seq)
{
  if (self->proxy == NULL || self->loading)
    return;
  set_loading (self, TRUE);
  natter_dbus_chat_room_call_history_detailed (self->proxy, before_seq, NATTER_ROOM_PAGE_SIZE,
                                               self->cancellable, history_cb, g_object_ref (self));
}

/**
 * natter_room_load_recent:
 * @self: a room
 *
 * Loads the newest page of history, merging it with the messages already there.
 */
void
natter_room_load_recent (NatterRoom *self)
{
  g_return_if_fail (NATTER_IS_ROOM (self));
  load_page (self, 0);
}

/**
 * natter_room_load_older:
 * @self: a room
 *
 * Loads the page of history before the oldest loaded message, if there is one.
 */
void
natter_room_load_older (NatterRoom *self)
{
  g_return_if_fail (NATTER_IS_ROOM (self));

  if (g_list_model_get_n_items (G_LIST_MODEL (self->messages)) == 0)
    {
      load_page (self, 0);
      return;
    }
  if (!self->has_more)
    return;
  load_page (self, seq_at (self, 0));
}

/* Quotes --------------------------------------------------------------------------- */

/* Gives each loaded reply to @quoted its quote. */
static void
quote_loaded (NatterRoom    *self,
              NatterMessage *quoted)
{
  guint64 seq = natter_message_get_seq (quoted);
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->messages));

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(NatterMessage) message = g_list_model_get_item (G_LIST_MODEL (self->messages), i);

      if (natter_message_get_reply_to (message) == seq && natter_message_get_quoted (message) == NULL)
        natter_message_set_quoted (message, quoted);
    }
}

typedef struct
{
  NatterRoom *room;      /* (owned) */
  guint64     reply_to;  /* the message asked for */
} QuoteRequest;

static void
quote_request_free (QuoteRequest *request)
{
  g_object_unref (request->room);
  g_free (request);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (QuoteRequest, quote_request_free)

static void
quote_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(QuoteRequest) request = user_data;
  NatterRoom *self = request->room;
  g_autoptr(GVariant) page = NULL;
  g_autoptr(GVariant) details = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterMessage) quoted = NULL;
  gboolean has_more = FALSE;
  guint64 seq;
  gint64 timestamp;
  const char *sender;
  const char *body;
  const char *kind;

  if (!natter_dbus_chat_room_call_history_detailed_finish (NATTER_DBUS_CHAT_ROOM (source), &page,
                                                           &has_more, result, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_debug ("Cannot read a quoted message of %s: %s", self->name, error->message);
      /* Asked again by the next reply to it (natterd may be back by then). */
      g_hash_table_remove (self->quoted, &request->reply_to);
      return;
    }
  if (g_variant_n_children (page) == 0)
    return;
  g_variant_get_child (page, 0, "(tx&s&s&s@a{sv})", &seq, &timestamp, &sender, &body, &kind, &details);
  /* Not the message asked for (it is not in the room's history), or loaded meanwhile. */
  if (seq != request->reply_to || natter_room_lookup_message (self, seq) != NULL)
    return;
  quoted = natter_message_new (self->name, seq, timestamp, sender, body, kind);
  natter_message_apply (quoted, body, kind, details);
  g_hash_table_replace (self->quoted, g_memdup2 (&seq, sizeof seq), g_object_ref (quoted));
  quote_loaded (self, quoted);
}

/* Finds the message @message answers, among the loaded ones or from natterd. */
static void
link_quote (NatterRoom    *self,
            NatterMessage *message)
{
  guint64 reply_to = natter_message_get_reply_to (message);
  NatterMessage *quoted;
  QuoteRequest *request;

  if (reply_to == 0 || natter_message_get_quoted (message) != NULL)
    return;
  quoted = natter_room_lookup_message (self, reply_to);
  if (quoted == NULL)
    quoted = g_hash_table_lookup (self->quoted, &reply_to);
  if (quoted != NULL && natter_message_get_detailed (quoted))
    {
      natter_message_set_quoted (message, quoted);
      return;
    }
  /* Asked for already: the answer serves every reply to it. */
  if (g_hash_table_contains (self->quoted, &reply_to) || self->proxy == NULL)
    return;
  g_hash_table_insert (self->quoted, g_memdup2 (&reply_to, sizeof reply_to),
                       natter_message_new (self->name, reply_to, 0, "", "", "text"));
  request = g_new0 (QuoteRequest, 1);
  request->room = g_object_ref (self);
  request->reply_to = reply_to;
  natter_dbus_chat_room_call_history_detailed (self->proxy, reply_to + 1, 1, self->cancellable,
                                               quote_cb, request);
}

/* Calls ---------------------------------------------------------------------------- */

static GError *
not_connected_error (void)
{
  return g_error_new_literal (G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                              _("The chat service is not running"));
}

/* The message is in the room now: it no longer waits. */
static void
drop_outgoing (NatterRoom *self,
               const char *client_msg_id)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->outgoing));

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(NatterOutgoing) outgoing = g_list_model_get_item (G_LIST_MODEL (self->outgoing), i);

      if (g_str_equal (natter_outgoing_get_client_msg_id (outgoing), client_msg_id))
        {
          g_list_store_remove (self->outgoing, i);
          return;
        }
    }
}

static void
send_proxy_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  NatterRoom *self = g_task_get_source_object (task);
  NatterOutgoing *outgoing = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_proxy_call_finish (G_DBUS_PROXY (source), result, &error);
  guint64 seq = 0;

  if (reply != NULL)
    g_variant_get (reply, "(t)", &seq);
  else
    {
      g_autoptr(GError) for_user = natter_error_for_user (error, NATTER_REQUEST_SEND);

      /* It stays on screen, with a way to send it again under the same identifier. */
      natter_outgoing_set_error (outgoing, for_user->message);
      g_task_return_error (task, g_steal_pointer (&for_user));
      return;
    }
  drop_outgoing (self, natter_outgoing_get_client_msg_id (outgoing));
  g_task_return_int (task, (gssize) seq);
}

static void
send_outgoing (NatterRoom          *self,
               NatterOutgoing      *outgoing,
               GCancellable        *cancellable,
               GAsyncReadyCallback  callback,
               gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, natter_room_send_async);
  g_task_set_task_data (task, g_object_ref (outgoing), g_object_unref);
  natter_outgoing_set_error (outgoing, NULL);
  if (self->proxy == NULL)
    {
      g_autoptr(GError) error = not_connected_error ();

      natter_outgoing_set_error (outgoing, error->message);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  /* No timeout: natterd answers once the message is stored, which may wait for the link
   * to the server, or fails; a call that fails can be made again without a duplicate. */
  if (natter_outgoing_get_reply_to (outgoing) != 0)
    g_dbus_proxy_call (G_DBUS_PROXY (self->proxy), "Reply",
                       g_variant_new ("(tss)", natter_outgoing_get_reply_to (outgoing),
                                      natter_outgoing_get_body (outgoing),
                                      natter_outgoing_get_client_msg_id (outgoing)),
                       G_DBUS_CALL_FLAGS_NONE, G_MAXINT, cancellable, send_proxy_cb,
                       g_steal_pointer (&task));
  else
    g_dbus_proxy_call (G_DBUS_PROXY (self->proxy), "SendWithId",
                       g_variant_new ("(ss)", natter_outgoing_get_body (outgoing),
                                      natter_outgoing_get_client_msg_id (outgoing)),
                       G_DBUS_CALL_FLAGS_NONE, G_MAXINT, cancellable, send_proxy_cb,
                       g_steal_pointer (&task));
}

/**
 * natter_room_send_async:
 * @self: a room
 * @body: the text to send
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when natterd has stored the message (or refused it)
 * @user_data: data for @callback
 *
 * Sends a message to the room. Until natterd confirms it, it is in
 * natter_room_get_outgoing(); if it fails it stays there for natter_room_resend_async().
 */
void
natter_room_send_async (NatterRoom          *self,
                        const char          *body,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  g_return_if_fail (NATTER_IS_ROOM (self));
  g_return_if_fail (body != NULL);

  natter_room_reply_async (self, 0, body, cancellable, callback, user_data);
}

/**
 * natter_room_reply_async:
 * @self: a room
 * @reply_to: the seq of the message answered, or 0 for an ordinary message
 * @body: the text to send
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when natterd has stored the message (or refused it)
 * @user_data: data for @callback
 *
 * Sends a message that answers message @reply_to (Room.Reply), as
 * natter_room_send_async() sends others. Finish with natter_room_send_finish().
 */
void
natter_room_reply_async (NatterRoom          *self,
                         guint64              reply_to,
                         const char          *body,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_autoptr(NatterOutgoing) outgoing = NULL;

  g_return_if_fail (NATTER_IS_ROOM (self));
  g_return_if_fail (body != NULL);

  outgoing = natter_outgoing_new (body);
  natter_outgoing_set_reply_to (outgoing, reply_to);
  g_list_store_append (self->outgoing, outgoing);
  send_outgoing (self, outgoing, cancellable, callback, user_data);
}

/**
 * natter_room_resend_async:
 * @self: a room
 * @outgoing: a message of natter_room_get_outgoing() whose sending failed
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when natterd has stored the message (or refused it)
 * @user_data: data for @callback
 *
 * Sends @outgoing again, under its identifier: natterd stores it once, however many
 * attempts reached it. Finish with natter_room_send_finish().
 */
void
natter_room_resend_async (NatterRoom          *self,
                          NatterOutgoing      *outgoing,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_return_if_fail (NATTER_IS_ROOM (self));
  g_return_if_fail (NATTER_IS_OUTGOING (outgoing));

  send_outgoing (self, outgoing, cancellable, callback, user_data);
}

/**
 * natter_room_get_outgoing:
 * @self: a room
 *
 * Returns: (transfer none): the messages sent from this app that natterd has not
 *   confirmed yet (#NatterOutgoing), oldest first
 */
GListModel *
natter_room_get_outgoing (NatterRoom *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM (self), NULL);
  return G_LIST_MODEL (self->outgoing);
}

/**
 * natter_room_message_arrived:
 * @self: a room
 * @client_msg_id: the identifier a message object of the room carries
 *
 * A message this app sent may arrive before natterd's answer to the call that sent it
 * (or after that call failed): it no longer waits.
 */
void
natter_room_message_arrived (NatterRoom *self,
                             const char *client_msg_id)
{
  g_return_if_fail (NATTER_IS_ROOM (self));

  if (client_msg_id != NULL && *client_msg_id != '\0')
    drop_outgoing (self, client_msg_id);
}

/**
 * natter_room_send_finish:
 * @self: a room
 * @result: the result given to the callback
 * @out_seq: (out) (optional): the message's seq
 * @error: return location for an error
 *
 * Returns: whether the message was sent
 */
gboolean
natter_room_send_finish (NatterRoom    *self,
                         GAsyncResult  *result,
                         guint64       *out_seq,
                         GError       **error)
{
  gssize seq;

  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  seq = g_task_propagate_int (G_TASK (result), error);
  if (seq < 0)
    return FALSE;
  if (out_seq != NULL)
    *out_seq = (guint64) seq;
  return TRUE;
}

static void
leave_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_dbus_chat_room_call_leave_finish (NATTER_DBUS_CHAT_ROOM (source), result, &error))
    {
      g_task_return_error (task, natter_error_for_user (error, NATTER_REQUEST_LEAVE));
      return;
    }
  g_task_return_boolean (task, TRUE);
}

/**
 * natter_room_leave_async:
 * @self: a room
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the room was left
 * @user_data: data for @callback
 *
 * Leaves the room; it goes away from the list when natterd removes its object.
 */
void
natter_room_leave_async (NatterRoom          *self,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (NATTER_IS_ROOM (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_room_leave_async);

  if (self->proxy == NULL)
    {
      g_task_return_error (task, not_connected_error ());
      return;
    }
  natter_dbus_chat_room_call_leave (self->proxy, cancellable, leave_cb, g_steal_pointer (&task));
}

gboolean
natter_room_leave_finish (NatterRoom    *self,
                          GAsyncResult  *result,
                          GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
mark_read_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!natter_dbus_chat_room_call_mark_read_finish (NATTER_DBUS_CHAT_ROOM (source), result, &error) &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_debug ("MarkRead failed: %s", error->message);
}

/**
 * natter_room_mark_read:
 * @self: a room
 *
 * Moves the account's read marker to the newest message, if there are unread ones.
 */
void
natter_room_mark_read (NatterRoom *self)
{
  g_return_if_fail (NATTER_IS_ROOM (self));

  if (self->proxy == NULL || natter_room_get_unread_count (self) == 0)
    return;
  natter_dbus_chat_room_call_mark_read (self->proxy, 0, self->cancellable, mark_read_cb, NULL);
}

static void
set_typing_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!natter_dbus_chat_room_call_set_typing_finish (NATTER_DBUS_CHAT_ROOM (source), result, &error) &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_debug ("SetTyping failed: %s", error->message);
}

/**
 * natter_room_set_typing:
 * @self: a room
 * @typing: whether the account is typing in the room
 *
 * Tells the other members (not in the system room, where nobody writes).
 */
void
natter_room_set_typing (NatterRoom *self,
                        gboolean    typing)
{
  g_return_if_fail (NATTER_IS_ROOM (self));

  if (self->proxy == NULL || g_str_equal (natter_room_get_kind (self), "system"))
    return;
  natter_dbus_chat_room_call_set_typing (self->proxy, typing, self->cancellable, set_typing_cb, NULL);
}

/**
 * natter_room_set_viewed:
 * @self: a room
 * @viewed: whether the room is on screen
 *
 * Tells natterd that the room is on screen, so that it raises no notification for it;
 * told again whenever natterd comes back.
 */
void
natter_room_set_viewed (NatterRoom *self,
                        gboolean    viewed)
{
  g_return_if_fail (NATTER_IS_ROOM (self));

  viewed = !!viewed;
  if (self->viewed == viewed)
    return;
  self->viewed = viewed;
  send_viewed (self);
}

/* Changing messages ---------------------------------------------------------------- */

static void
change_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_proxy_call_finish (G_DBUS_PROXY (source), result, &error);

  if (reply == NULL)
    {
      g_task_return_error (task, natter_error_for_user (error, NATTER_REQUEST_CHANGE_MESSAGE));
      return;
    }
  g_task_return_boolean (task, TRUE);
}

static void
call_change (NatterRoom          *self,
             const char          *method,
             GVariant            *parameters,
             gpointer             source_tag,
             GCancellable        *cancellable,
             GAsyncReadyCallback  callback,
             gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(GVariant) owned = g_variant_ref_sink (parameters);

  g_task_set_source_tag (task, source_tag);
  if (self->proxy == NULL)
    {
      g_task_return_error (task, not_connected_error ());
      return;
    }
  g_dbus_proxy_call (G_DBUS_PROXY (self->proxy), method, owned, G_DBUS_CALL_FLAGS_NONE, -1,
                     cancellable, change_cb, g_steal_pointer (&task));
}

/**
 * natter_room_edit_async:
 * @self: a room
 * @seq: one of the account's messages
 * @body: its new text
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when natterd has made the change (or refused it)
 * @user_data: data for @callback
 *
 * Replaces the text of message @seq (Room.Edit). The message changes on screen when
 * MessageChanged says so. Finish with natter_room_change_finish().
 */
void
natter_room_edit_async (NatterRoom          *self,
                        guint64              seq,
                        const char          *body,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  g_return_if_fail (NATTER_IS_ROOM (self));
  g_return_if_fail (body != NULL);

  call_change (self, "Edit", g_variant_new ("(ts)", seq, body), natter_room_edit_async,
               cancellable, callback, user_data);
}

/**
 * natter_room_delete_async:
 * @self: a room
 * @seq: a message the account may delete
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when natterd has made the change (or refused it)
 * @user_data: data for @callback
 *
 * Deletes message @seq (Room.Delete). Finish with natter_room_change_finish().
 */
void
natter_room_delete_async (NatterRoom          *self,
                          guint64              seq,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_return_if_fail (NATTER_IS_ROOM (self));

  call_change (self, "Delete", g_variant_new ("(t)", seq), natter_room_delete_async,
               cancellable, callback, user_data);
}

/**
 * natter_room_react_async:
 * @self: a room
 * @seq: a message
 * @emoji: the reaction
 * @active: %TRUE to add the account's reaction, %FALSE to take it back
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when natterd has made the change (or refused it)
 * @user_data: data for @callback
 *
 * Reacts to message @seq (Room.React). Finish with natter_room_change_finish().
 */
void
natter_room_react_async (NatterRoom          *self,
                         guint64              seq,
                         const char          *emoji,
                         gboolean             active,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_return_if_fail (NATTER_IS_ROOM (self));
  g_return_if_fail (emoji != NULL);

  call_change (self, "React", g_variant_new ("(tsb)", seq, emoji, active), natter_room_react_async,
               cancellable, callback, user_data);
}

/**
 * natter_room_set_notification_level_async:
 * @self: a room
 * @level: "all", "mentions" or "none"
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when natterd has stored it (or refused it)
 * @user_data: data for @callback
 *
 * Chooses which new messages of the room raise a notification. Finish with
 * natter_room_change_finish().
 */
void
natter_room_set_notification_level_async (NatterRoom          *self,
                                          const char          *level,
                                          GCancellable        *cancellable,
                                          GAsyncReadyCallback  callback,
                                          gpointer             user_data)
{
  g_return_if_fail (NATTER_IS_ROOM (self));
  g_return_if_fail (level != NULL);

  call_change (self, "SetNotificationLevel", g_variant_new ("(s)", level),
               natter_room_set_notification_level_async, cancellable, callback, user_data);
}

/**
 * natter_room_change_finish:
 * @self: a room
 * @result: the result given to the callback
 * @error: return location for an error, for users
 *
 * Returns: whether natterd made the change
 */
gboolean
natter_room_change_finish (NatterRoom    *self,
                           GAsyncResult  *result,
                           GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * natter_room_get_role:
 * @self: a room
 *
 * Returns: the account's role in the room: "owner", "moderator", "member", or "" when
 *   natterd does not say
 */
const char *
natter_room_get_role (NatterRoom *self)
{
  const char *role = NULL;

  g_return_val_if_fail (NATTER_IS_ROOM (self), NULL);

  if (self->proxy != NULL)
    role = natter_dbus_chat_room_get_role (self->proxy);
  return role != NULL ? role : "";
}

/**
 * natter_room_get_can_moderate:
 * @self: a room
 * @admin: whether the account administers the server (natter_service_get_admin())
 *
 * The one rule for what a moderator may do, for the message menus and the room's
 * controls alike: the room's owners and moderators may, and the server's administrators,
 * who may do anything an owner may (docs/protocol.md, "Rooms people control").
 *
 * Returns: whether the account may delete other members' messages in the room (and,
 *   in a room people run, kick, ban and set the topic)
 */
gboolean
natter_room_get_can_moderate (NatterRoom *self,
                              gboolean    admin)
{
  const char *role;

  g_return_val_if_fail (NATTER_IS_ROOM (self), FALSE);

  if (admin)
    return TRUE;
  role = natter_room_get_role (self);
  return g_str_equal (role, "owner") || g_str_equal (role, "moderator");
}

/**
 * natter_room_get_notification_level:
 * @self: a room
 *
 * Returns: which new messages raise a notification: "all", "mentions" or "none"
 */
const char *
natter_room_get_notification_level (NatterRoom *self)
{
  const char *level = NULL;

  g_return_val_if_fail (NATTER_IS_ROOM (self), NULL);

  if (self->proxy != NULL)
    level = natter_dbus_chat_room_get_notification_level (self->proxy);
  return level != NULL && *level != '\0' ? level : "all";
}

/**
 * natter_room_get_account:
 * @self: a room
 *
 * Returns: the account the app acts as
 */
const char *
natter_room_get_account (NatterRoom *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM (self), NULL);
  return self->account;
}
