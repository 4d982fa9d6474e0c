/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-dbus"

#include "config.h"

#include "natter-dbus-room.h"
#include "natter-dbus-util.h"
#include "natter-error.h"
#include "natter-store.h"

#define NATTER_DBUS_ROOMS_PATH "/io/github/natter/Chat/rooms/"
/* The hub's page limit (protocol: history limit ≤ 200). */
#define HISTORY_PAGE_MAX 200

typedef struct
{
  Natter__Message          *message;  /* (owned) */
  NatterDBusObjectSkeleton *object;   /* (owned) */
} WindowEntry;

struct _NatterDBusRoom
{
  NatterDBusChatRoomSkeleton parent_instance;

  NatterDBusClient         *client;       /* (owned) */
  GDBusObjectManagerServer *manager;      /* (owned) */
  NatterDBusObjectSkeleton *object;       /* (owned) */
  char                     *name;         /* (owned) */
  char                     *path;         /* (owned) */
  char                     *account;      /* (owned) */
  guint                     window_size;
  GQueue                    window;       /* (owned) WindowEntry *, ascending seq */
  GHashTable               *members;      /* (owned) user name → role (owned) */
  GHashTable               *online;       /* (owned) set of user names */
  GHashTable               *viewers;      /* (owned) unique bus name → name watch id */
  GCancellable             *cancellable;  /* (owned) cancelled on unexport */
  gboolean                  filling;
  guint64                   announced_seq; /* the last seq signalled by MessageReceived */
  /* Changes (edits, deletions, reactions) not signalled yet, in seq order: one whose
   * message is not in the window waits for its state to be read. */
  GQueue                    changes;      /* (owned) Natter__Message * */
  gboolean                  reading_change;
};

static void natter_dbus_room_iface_init (NatterDBusChatRoomIface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (NatterDBusRoom, natter_dbus_room,
                               NATTER_DBUS_TYPE_CHAT_ROOM_SKELETON,
                               G_IMPLEMENT_INTERFACE (NATTER_DBUS_TYPE_CHAT_ROOM,
                                                      natter_dbus_room_iface_init))

enum {
  SIGNAL_LEFT,
  SIGNAL_VIEWED_CHANGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/* ---------------------------------------------------------------------------------- */
/* Object paths */

/**
 * natter_dbus_room_path_for_name:
 * @name: a room name
 *
 * Room names may hold `.`, `-`, `:`, which object paths may not: bytes other than
 * `[a-zA-Z0-9]` become `_` and two hex digits, as g_dbus_escape_object_path() does.
 *
 * Returns: (transfer full): the object path of the room @name
 */
char *
natter_dbus_room_path_for_name (const char *name)
{
  g_autofree char *escaped = g_dbus_escape_object_path (name);

  return g_strconcat (NATTER_DBUS_ROOMS_PATH, escaped, NULL);
}

/* ---------------------------------------------------------------------------------- */
/* Properties */

static int
compare_strings (gconstpointer a,
                 gconstpointer b)
{
  return g_strcmp0 (*(const char * const *) a, *(const char * const *) b);
}

static GStrv
sorted_names (GHashTable *set)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, set);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (names, g_strdup (key));
  g_ptr_array_sort (names, compare_strings);
  g_ptr_array_add (names, NULL);
  return (GStrv) g_ptr_array_free (g_steal_pointer (&names), FALSE);
}

static gboolean
strv_equal (const char * const *a,
            const char * const *b)
{
  if (a == NULL || b == NULL)
    return a == b;
  return g_strv_equal (a, b);
}

static void
sync_members (NatterDBusRoom *self)
{
  g_auto(GStrv) members = sorted_names (self->members);
  g_auto(GStrv) online = sorted_names (self->online);
  NatterDBusChatRoom *iface = NATTER_DBUS_CHAT_ROOM (self);
  g_autoptr(GVariant) roles = NULL;
  GVariant *current;
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{ss}"));
  for (guint i = 0; members[i] != NULL; i++)
    g_variant_builder_add (&builder, "{ss}", members[i],
                           (const char *) g_hash_table_lookup (self->members, members[i]));
  roles = g_variant_ref_sink (g_variant_builder_end (&builder));

  /* One PropertiesChanged for a change, none without one. */
  if (!strv_equal ((const char * const *) members, natter_dbus_chat_room_get_members (iface)))
    natter_dbus_chat_room_set_members (iface, (const char * const *) members);
  current = natter_dbus_chat_room_get_member_roles (iface);
  if (current == NULL || !g_variant_equal (current, roles))
    natter_dbus_chat_room_set_member_roles (iface, roles);
  if (!strv_equal ((const char * const *) online, natter_dbus_chat_room_get_online (iface)))
    natter_dbus_chat_room_set_online (iface, (const char * const *) online);
}

/* The account's own role, as the room's Role; "" where it has none (`system`). */
static void
set_own_role (NatterDBusRoom *self,
              const char     *role)
{
  NatterDBusChatRoom *iface = NATTER_DBUS_CHAT_ROOM (self);

  if (g_strcmp0 (natter_dbus_chat_room_get_kind (iface), NATTER_ROOM_KIND_SYSTEM) == 0)
    role = "";
  if (g_strcmp0 (natter_dbus_chat_room_get_role (iface), role) != 0)
    natter_dbus_chat_room_set_role (iface, role);
}

static void
set_private (NatterDBusRoom *self,
             gboolean        is_private)
{
  NatterDBusChatRoom *iface = NATTER_DBUS_CHAT_ROOM (self);

  if (natter_dbus_chat_room_get_private (iface) != is_private)
    natter_dbus_chat_room_set_private (iface, is_private);
}

static void
set_topic (NatterDBusRoom *self,
           const char     *topic)
{
  NatterDBusChatRoom *iface = NATTER_DBUS_CHAT_ROOM (self);

  if (topic == NULL)
    topic = "";
  if (g_strcmp0 (natter_dbus_chat_room_get_topic (iface), topic) != 0)
    natter_dbus_chat_room_set_topic (iface, topic);
}

static void
set_positions (NatterDBusRoom *self,
               guint64         last_seq,
               guint64         read_seq)
{
  NatterDBusChatRoom *iface = NATTER_DBUS_CHAT_ROOM (self);
  guint64 unread = last_seq > read_seq ? last_seq - read_seq : 0;

  /* The generated setters notify only on change. */
  natter_dbus_chat_room_set_last_seq (iface, last_seq);
  natter_dbus_chat_room_set_read_seq (iface, read_seq);
  natter_dbus_chat_room_set_unread_count (iface, unread);
}

static void
move_last_seq (NatterDBusRoom *self,
               guint64         seq)
{
  NatterDBusChatRoom *iface = NATTER_DBUS_CHAT_ROOM (self);

  set_positions (self, MAX (natter_dbus_chat_room_get_last_seq (iface), seq),
                 natter_dbus_chat_room_get_read_seq (iface));
}

static void
move_read_seq (NatterDBusRoom *self,
               guint64         seq)
{
  NatterDBusChatRoom *iface = NATTER_DBUS_CHAT_ROOM (self);
  guint64 last_seq = natter_dbus_chat_room_get_last_seq (iface);

  set_positions (self, MAX (last_seq, seq),
                 MAX (natter_dbus_chat_room_get_read_seq (iface), seq));
}

/* ---------------------------------------------------------------------------------- */
/* The window of recent messages */

static void
window_entry_free (WindowEntry *entry)
{
  g_clear_pointer (&entry->message, natter_message_free);
  g_clear_object (&entry->object);
  g_free (entry);
}

static void
drop_oldest (NatterDBusRoom *self)
{
  WindowEntry *entry = g_queue_pop_head (&self->window);
  const char *path = g_dbus_object_get_object_path (G_DBUS_OBJECT (entry->object));

  g_dbus_object_manager_server_unexport (self->manager, path);
  window_entry_free (entry);
}

static char *
message_path (NatterDBusRoom *self,
              guint64         seq)
{
  return g_strdup_printf ("%s/%" G_GUINT64_FORMAT, self->path, seq);
}

static gboolean
is_change (const Natter__Message *message)
{
  return g_strcmp0 (message->kind, NATTER_MESSAGE_KIND_EDIT) == 0 ||
         g_strcmp0 (message->kind, NATTER_MESSAGE_KIND_DELETE) == 0 ||
         g_strcmp0 (message->kind, NATTER_MESSAGE_KIND_REACTION) == 0;
}

static GVariant *
reactions_variant (const Natter__Message *message)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(sas)"));
  for (gsize i = 0; i < message->n_reactions; i++)
    {
      const Natter__Reaction *reaction = message->reactions[i];

      g_variant_builder_open (&builder, G_VARIANT_TYPE ("(sas)"));
      g_variant_builder_add (&builder, "s", reaction->emoji != NULL ? reaction->emoji : "");
      g_variant_builder_add_value (&builder,
                                   g_variant_new_strv ((const char * const *) reaction->users,
                                                       reaction->n_users));
      g_variant_builder_close (&builder);
    }
  return g_variant_builder_end (&builder);
}

/* A message's state beyond seq, time, sender and body, as HistoryDetailed() and
 * MessageChanged give it: only what it has. */
static GVariant *
details_variant (const Natter__Message *message,
                 gboolean               with_kind)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  if (with_kind)
    g_variant_builder_add (&builder, "{sv}", "kind",
                           g_variant_new_string (message->kind != NULL ? message->kind
                                                                       : NATTER_MESSAGE_KIND_TEXT));
  if (message->has_edited_ts && message->edited_ts != 0)
    g_variant_builder_add (&builder, "{sv}", "edited_ts", g_variant_new_int64 (message->edited_ts));
  if (message->has_reply_to && message->reply_to != 0)
    g_variant_builder_add (&builder, "{sv}", "reply_to", g_variant_new_uint64 (message->reply_to));
  if (message->n_reactions > 0)
    g_variant_builder_add (&builder, "{sv}", "reactions", reactions_variant (message));
  if (message->n_mentions > 0)
    g_variant_builder_add (&builder, "{sv}", "mentions",
                           g_variant_new_strv ((const char * const *) message->mentions,
                                               message->n_mentions));
  return g_variant_builder_end (&builder);
}

/* The generated setters notify only on change; variants are compared here as
 * sync_members() does. */
static void
sync_message_properties (NatterDBusChatMessage *iface,
                         const Natter__Message *message)
{
  g_autoptr(GPtrArray) mentions = g_ptr_array_new ();
  g_autoptr(GVariant) reactions = g_variant_ref_sink (reactions_variant (message));
  GVariant *current;

  natter_dbus_chat_message_set_sender (iface, message->sender != NULL ? message->sender : "");
  natter_dbus_chat_message_set_body (iface, message->body != NULL ? message->body : "");
  natter_dbus_chat_message_set_timestamp (iface, message->ts);
  natter_dbus_chat_message_set_client_msg_id (iface, message->client_msg_id != NULL
                                                     ? message->client_msg_id : "");
  natter_dbus_chat_message_set_kind (iface, message->kind != NULL ? message->kind
                                                                  : NATTER_MESSAGE_KIND_TEXT);
  natter_dbus_chat_message_set_edited_timestamp (iface, message->has_edited_ts
                                                        ? message->edited_ts : 0);
  natter_dbus_chat_message_set_reply_to (iface, message->has_reply_to ? message->reply_to : 0);
  current = natter_dbus_chat_message_get_reactions (iface);
  if (current == NULL || !g_variant_equal (current, reactions))
    natter_dbus_chat_message_set_reactions (iface, reactions);
  for (gsize i = 0; i < message->n_mentions; i++)
    g_ptr_array_add (mentions, message->mentions[i]);
  g_ptr_array_add (mentions, NULL);
  if (!strv_equal ((const char * const *) mentions->pdata,
                   natter_dbus_chat_message_get_mentions (iface)))
    natter_dbus_chat_message_set_mentions (iface, (const char * const *) mentions->pdata);
}

static WindowEntry *
window_entry_new (NatterDBusRoom        *self,
                  const Natter__Message *message)
{
  WindowEntry *entry = g_new0 (WindowEntry, 1);
  g_autofree char *path = message_path (self, message->seq);
  g_autoptr(NatterDBusChatMessage) iface = natter_dbus_chat_message_skeleton_new ();

  entry->message = natter_message_copy (message);
  natter_dbus_chat_message_set_room (iface, self->name);
  natter_dbus_chat_message_set_seq (iface, message->seq);
  sync_message_properties (iface, message);
  entry->object = natter_dbus_object_skeleton_new (path);
  natter_dbus_object_skeleton_set_chat_message (entry->object, iface);
  return entry;
}

/* Puts @message into the window, in seq order, unless it is there already or older than
 * a full window; the oldest message drops out when the window is full. */
static gboolean
window_insert (NatterDBusRoom        *self,
               const Natter__Message *message)
{
  WindowEntry *entry;
  GList *link;

  if (self->window_size == 0 || self->manager == NULL)
    return FALSE;

  /* Messages almost always come in order: search from the newest. */
  for (link = self->window.tail; link != NULL; link = link->prev)
    {
      WindowEntry *other = link->data;

      if (other->message->seq == message->seq)
        return FALSE;
      if (other->message->seq < message->seq)
        break;
    }
  if (link == NULL && self->window.length >= self->window_size)
    return FALSE;

  entry = window_entry_new (self, message);
  if (link == NULL)
    g_queue_push_head (&self->window, entry);
  else
    g_queue_insert_after (&self->window, link, entry);
  g_dbus_object_manager_server_export (self->manager, G_DBUS_OBJECT_SKELETON (entry->object));
  while (self->window.length > self->window_size)
    drop_oldest (self);
  return TRUE;
}

/* ---------------------------------------------------------------------------------- */
/* Changes: edits, deletions and reactions */

static WindowEntry *
window_lookup (NatterDBusRoom *self,
               guint64         seq)
{
  for (GList *link = self->window.tail; link != NULL; link = link->prev)
    {
      WindowEntry *entry = link->data;

      if (entry->message->seq == seq)
        return entry;
      if (entry->message->seq < seq)
        break;
    }
  return NULL;
}

static void
emit_message_changed (NatterDBusRoom        *self,
                      const Natter__Message *change,
                      const Natter__Message *state)
{
  natter_dbus_chat_room_emit_message_changed (NATTER_DBUS_CHAT_ROOM (self),
                                              change->target_seq, change->seq,
                                              change->sender != NULL ? change->sender : "",
                                              change->kind,
                                              state->body != NULL ? state->body : "",
                                              details_variant (state, TRUE));
}

static void read_change_target (NatterDBusRoom *self, guint64 seq);

/* Applies the waiting changes in order: to the target's object if it is in the window
 * (a deletion erases its text there), and signals each with the target's state. A target
 * older than the window is read first, so that MessageChanged always tells its state. */
static void
signal_changes (NatterDBusRoom *self)
{
  Natter__Message *change;

  while (!self->reading_change && (change = g_queue_peek_head (&self->changes)) != NULL)
    {
      g_autoptr(Natter__Message) owned = NULL;
      g_autoptr(Natter__Message) state = NULL;
      WindowEntry *entry = window_lookup (self, change->target_seq);

      if (entry != NULL)
        {
          NatterDBusChatMessage *iface;

          state = natter_message_apply_change (entry->message, change);
          natter_message_free (entry->message);
          entry->message = natter_message_copy (state);
          iface = natter_dbus_object_get_chat_message (NATTER_DBUS_OBJECT (entry->object));
          sync_message_properties (iface, state);
          g_object_unref (iface);
        }
      else if (g_strcmp0 (change->kind, NATTER_MESSAGE_KIND_DELETE) == 0)
        {
          /* Nothing of a deleted message is left to read. */
          state = natter_message_new (self->name, change->target_seq, 0, NULL, "", NULL,
                                      NATTER_MESSAGE_KIND_DELETED);
        }
      else
        {
          read_change_target (self, change->target_seq);
          return;
        }
      owned = g_queue_pop_head (&self->changes);
      emit_message_changed (self, owned, state);
    }
}

static void
change_target_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(NatterDBusRoom) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterEvent) event = natter_dbus_client_request_finish (NATTER_DBUS_CLIENT (source),
                                                                    result, &error);
  g_autoptr(Natter__Message) change = NULL;
  g_autoptr(Natter__Message) state = NULL;
  const Natter__ServerFrame *frame = event != NULL ? natter_event_get_frame (event) : NULL;

  self->reading_change = FALSE;
  change = g_queue_pop_head (&self->changes);
  if (change == NULL || self->manager == NULL)
    return;
  if (frame != NULL && frame->event_case == NATTER__SERVER_FRAME__EVENT_HISTORY)
    for (gsize i = 0; i < frame->history->n_messages && state == NULL; i++)
      if (frame->history->messages[i]->seq == change->target_seq)
        state = natter_message_copy (frame->history->messages[i]);
  if (state == NULL)
    {
      /* The room was left meanwhile, or natterd is going away: say what the change says. */
      g_autoptr(Natter__Message) unknown = natter_message_new (self->name, change->target_seq, 0,
                                                               NULL, "", NULL,
                                                               NATTER_MESSAGE_KIND_TEXT);

      g_debug ("Could not read message %" G_GUINT64_FORMAT " of %s: %s", change->target_seq,
               self->name, error != NULL ? error->message : "not in the page");
      state = natter_message_apply_change (unknown, change);
    }
  emit_message_changed (self, change, state);
  signal_changes (self);
}

static void
read_change_target (NatterDBusRoom *self,
                    guint64         seq)
{
  Natter__ClientFrame *frame = natter_dbus_client_frame_new ();

  frame->op_case = NATTER__CLIENT_FRAME__OP_HISTORY;
  frame->history = g_new0 (Natter__History, 1);
  natter__history__init (frame->history);
  frame->history->room = g_strdup (self->name);
  frame->history->has_limit = TRUE;
  frame->history->limit = 1;
  frame->history->has_before_seq = TRUE;
  frame->history->before_seq = seq + 1;
  self->reading_change = TRUE;
  natter_dbus_client_request_async (self->client, frame, self->cancellable, change_target_cb,
                                    g_object_ref (self));
}

/**
 * natter_dbus_room_add_message:
 * @self: a #NatterDBusRoom
 * @message: a message of this room
 * @live: whether the hub pushed @message as it happened (rather than from history)
 *
 * Puts @message into the window of recent messages and moves the room's positions. A
 * live message is also announced with MessageReceived; the hub pushes those in seq
 * order, once each, so a seq not above the last one announced is a repeat.
 *
 * Returns: whether @message was new: announced if @live, added to the window if not
 */
gboolean
natter_dbus_room_add_message (NatterDBusRoom        *self,
                              const Natter__Message *message,
                              gboolean               live)
{
  g_autofree char *path = NULL;
  gboolean inserted;

  g_return_val_if_fail (NATTER_IS_DBUS_ROOM (self), FALSE);

  move_last_seq (self, message->seq);
  /* The hub moves a sender's read marker to their own message (not in `system`). */
  if (g_strcmp0 (message->sender, self->account) == 0 &&
      g_strcmp0 (natter_dbus_chat_room_get_kind (NATTER_DBUS_CHAT_ROOM (self)),
                 NATTER_ROOM_KIND_SYSTEM) != 0)
    move_read_seq (self, message->seq);

  /* A change is no message object of its own: it changes its target's. History pages
   * (the window's filling) hold their messages' current state already. */
  if (is_change (message))
    {
      if (live && message->seq > self->announced_seq)
        {
          self->announced_seq = message->seq;
          g_queue_push_tail (&self->changes, natter_message_copy (message));
          signal_changes (self);
        }
      return FALSE;
    }

  inserted = window_insert (self, message);
  if (!live)
    return inserted;
  if (message->seq <= self->announced_seq)
    return FALSE;
  self->announced_seq = message->seq;

  /* The object exists while the message is in the window. */
  path = message_path (self, message->seq);
  natter_dbus_chat_room_emit_message_received (NATTER_DBUS_CHAT_ROOM (self),
                                               message->seq, message->ts,
                                               message->sender != NULL ? message->sender : "",
                                               message->body != NULL ? message->body : "",
                                               message->kind != NULL ? message->kind
                                                                     : NATTER_MESSAGE_KIND_TEXT,
                                               path);
  return TRUE;
}

/**
 * natter_dbus_room_set_window_size:
 *
 * Changes how many recent messages are objects; a smaller window drops the oldest now.
 */
void
natter_dbus_room_set_window_size (NatterDBusRoom *self,
                                  guint           window_size)
{
  g_return_if_fail (NATTER_IS_DBUS_ROOM (self));

  self->window_size = window_size;
  while (self->window.length > self->window_size)
    drop_oldest (self);
}

static void request_window_page (NatterDBusRoom *self,
                                 guint64         before_seq);

static void
window_page_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(NatterDBusRoom) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterEvent) event = natter_dbus_client_request_finish (NATTER_DBUS_CLIENT (source),
                                                                    result, &error);
  const Natter__HistoryPage *page;
  guint64 oldest = 0;

  self->filling = FALSE;
  if (event == NULL)
    {
      /* A room left meanwhile, or a daemon shutting down: the window stays as it is. */
      g_debug ("Could not load the recent messages of %s: %s", self->name, error->message);
      return;
    }
  if (self->manager == NULL)
    return;
  if (natter_event_get_frame (event)->event_case != NATTER__SERVER_FRAME__EVENT_HISTORY)
    return;

  page = natter_event_get_frame (event)->history;
  for (gsize i = 0; i < page->n_messages; i++)
    {
      natter_dbus_room_add_message (self, page->messages[i], FALSE);
      oldest = oldest == 0 ? page->messages[i]->seq : MIN (oldest, page->messages[i]->seq);
    }
  if (page->has_more && oldest > 1 && self->window.length < self->window_size)
    request_window_page (self, oldest);
}

static void
request_window_page (NatterDBusRoom *self,
                     guint64         before_seq)
{
  Natter__ClientFrame *frame = natter_dbus_client_frame_new ();
  guint missing = self->window_size - MIN (self->window_size, self->window.length);

  frame->op_case = NATTER__CLIENT_FRAME__OP_HISTORY;
  frame->history = g_new0 (Natter__History, 1);
  natter__history__init (frame->history);
  frame->history->room = g_strdup (self->name);
  frame->history->has_limit = TRUE;
  frame->history->limit = CLAMP (missing, 1, HISTORY_PAGE_MAX);
  if (before_seq > 0)
    {
      frame->history->has_before_seq = TRUE;
      frame->history->before_seq = before_seq;
    }
  self->filling = TRUE;
  natter_dbus_client_request_async (self->client, frame, self->cancellable, window_page_cb,
                                    g_object_ref (self));
}

/**
 * natter_dbus_room_fill_window:
 *
 * Loads the room's most recent messages into the window (once a room object appears).
 */
void
natter_dbus_room_fill_window (NatterDBusRoom *self)
{
  WindowEntry *oldest;

  g_return_if_fail (NATTER_IS_DBUS_ROOM (self));

  if (self->filling || self->manager == NULL ||
      self->window.length >= self->window_size ||
      natter_dbus_chat_room_get_last_seq (NATTER_DBUS_CHAT_ROOM (self)) == 0)
    return;
  /* Messages pushed since the room appeared are in already: load what came before. */
  oldest = g_queue_peek_head (&self->window);
  if (oldest == NULL)
    request_window_page (self, 0);
  else if (oldest->message->seq > 1)
    request_window_page (self, oldest->message->seq);
}

/* ---------------------------------------------------------------------------------- */
/* What the hub pushes */

void
natter_dbus_room_update_info (NatterDBusRoom         *self,
                              const Natter__RoomInfo *info)
{
  NatterDBusChatRoom *iface = NATTER_DBUS_CHAT_ROOM (self);
  guint64 read_seq;

  g_return_if_fail (NATTER_IS_DBUS_ROOM (self));

  if (info->kind != NULL)
    natter_dbus_chat_room_set_kind (iface, info->kind);
  set_topic (self, info->topic);
  if (info->has_private_)
    set_private (self, info->private_);
  if (info->role != NULL)
    {
      set_own_role (self, info->role);
      /* The account's own entry of MemberRoles, which a list does not carry otherwise. */
      if (self->account != NULL && g_hash_table_contains (self->members, self->account))
        {
          g_hash_table_insert (self->members, g_strdup (self->account), g_strdup (info->role));
          sync_members (self);
        }
    }
  if (info->notification_level != NULL)
    natter_dbus_chat_room_set_notification_level (iface, info->notification_level);
  if (info->has_read_seq)
    read_seq = info->read_seq;
  else
    read_seq = info->last_seq > info->unread ? info->last_seq - info->unread : 0;
  /* Positions only move forward: a list may be older than a message pushed since. */
  set_positions (self, MAX (info->last_seq, natter_dbus_chat_room_get_last_seq (iface)),
                 MAX (read_seq, natter_dbus_chat_room_get_read_seq (iface)));
}

void
natter_dbus_room_update_joined (NatterDBusRoom       *self,
                                const Natter__Joined *joined)
{
  NatterDBusChatRoom *iface = NATTER_DBUS_CHAT_ROOM (self);

  g_return_if_fail (NATTER_IS_DBUS_ROOM (self));

  if (joined->kind != NULL)
    natter_dbus_chat_room_set_kind (iface, joined->kind);
  set_topic (self, joined->topic);
  if (joined->has_private_)
    set_private (self, joined->private_);
  if (joined->role != NULL)
    set_own_role (self, joined->role);
  if (joined->notification_level != NULL)
    natter_dbus_chat_room_set_notification_level (iface, joined->notification_level);
  move_last_seq (self, joined->last_seq);

  g_hash_table_remove_all (self->members);
  for (gsize i = 0; i < joined->n_members; i++)
    g_hash_table_insert (self->members, g_strdup (joined->members[i]),
                         g_strdup (NATTER_DBUS_ROLE_MEMBER));
  for (gsize i = 0; i < joined->n_moderators; i++)
    if (g_hash_table_contains (self->members, joined->moderators[i]))
      g_hash_table_insert (self->members, g_strdup (joined->moderators[i]),
                           g_strdup (NATTER_DBUS_ROLE_MODERATOR));
  for (gsize i = 0; i < joined->n_owners; i++)
    if (g_hash_table_contains (self->members, joined->owners[i]))
      g_hash_table_insert (self->members, g_strdup (joined->owners[i]),
                           g_strdup (NATTER_DBUS_ROLE_OWNER));
  /* The caller's own role is in every `joined`, also from a server without the lists. */
  if (joined->role != NULL && self->account != NULL &&
      g_hash_table_contains (self->members, self->account))
    g_hash_table_insert (self->members, g_strdup (self->account), g_strdup (joined->role));
  g_hash_table_remove_all (self->online);
  for (gsize i = 0; i < joined->n_online; i++)
    g_hash_table_add (self->online, g_strdup (joined->online[i]));
  sync_members (self);
}

/**
 * natter_dbus_room_member_changed:
 * @self: a #NatterDBusRoom
 * @user: a user name
 * @joined: whether @user is a member now
 * @role: (nullable): @user's role now, if the event said (a join says none: a newcomer
 *   is a member, a member that was one keeps its role)
 * @by: (nullable): who kicked, banned or set the role
 *
 * Updates Members, MemberRoles, Online (and Role, for the account) and emits
 * MemberChanged.
 */
void
natter_dbus_room_member_changed (NatterDBusRoom *self,
                                 const char     *user,
                                 gboolean        joined,
                                 const char     *role,
                                 const char     *by)
{
  const char *now = "";

  g_return_if_fail (NATTER_IS_DBUS_ROOM (self));
  g_return_if_fail (user != NULL);

  if (joined)
    {
      if (role == NULL || *role == '\0')
        role = g_hash_table_lookup (self->members, user);
      if (role == NULL)
        role = NATTER_DBUS_ROLE_MEMBER;
      g_hash_table_insert (self->members, g_strdup (user), g_strdup (role));
      now = g_hash_table_lookup (self->members, user);
      if (g_strcmp0 (user, self->account) == 0)
        set_own_role (self, now);
    }
  else
    {
      g_hash_table_remove (self->members, user);
      g_hash_table_remove (self->online, user);
    }
  sync_members (self);
  natter_dbus_chat_room_emit_member_changed (NATTER_DBUS_CHAT_ROOM (self), user, joined, now,
                                             by != NULL ? by : "");
}

/**
 * natter_dbus_room_topic_changed:
 * @self: a #NatterDBusRoom
 * @topic: (nullable): the room's topic now
 *
 * Someone set the topic: Topic follows.
 */
void
natter_dbus_room_topic_changed (NatterDBusRoom *self,
                                const char     *topic)
{
  g_return_if_fail (NATTER_IS_DBUS_ROOM (self));
  set_topic (self, topic);
}

void
natter_dbus_room_presence_changed (NatterDBusRoom *self,
                                   const char     *user,
                                   gboolean        online)
{
  g_return_if_fail (NATTER_IS_DBUS_ROOM (self));

  if (!g_hash_table_contains (self->members, user))
    return;
  if (online)
    g_hash_table_add (self->online, g_strdup (user));
  else
    g_hash_table_remove (self->online, user);
  sync_members (self);
  natter_dbus_chat_room_emit_presence (NATTER_DBUS_CHAT_ROOM (self), user, online);
}

void
natter_dbus_room_typing (NatterDBusRoom *self,
                         const char     *user,
                         gboolean        active)
{
  g_return_if_fail (NATTER_IS_DBUS_ROOM (self));
  natter_dbus_chat_room_emit_typing (NATTER_DBUS_CHAT_ROOM (self), user, active);
}

void
natter_dbus_room_receipt (NatterDBusRoom *self,
                          const char     *user,
                          guint64         seq)
{
  g_return_if_fail (NATTER_IS_DBUS_ROOM (self));

  /* The account's other sessions (a browser) move the shared marker too. */
  if (g_strcmp0 (user, self->account) == 0)
    move_read_seq (self, seq);
  natter_dbus_chat_room_emit_receipt (NATTER_DBUS_CHAT_ROOM (self), user, seq);
}

/**
 * natter_dbus_room_set_notification_level:
 * @level: "all", "mentions" or "none", as the backend said
 *
 * The account's notification level in the room changed (another front end set it).
 */
void
natter_dbus_room_set_notification_level (NatterDBusRoom *self,
                                         const char     *level)
{
  g_return_if_fail (NATTER_IS_DBUS_ROOM (self));
  natter_dbus_chat_room_set_notification_level (NATTER_DBUS_CHAT_ROOM (self), level);
}

/* ---------------------------------------------------------------------------------- */
/* Viewers */

gboolean
natter_dbus_room_is_viewed (NatterDBusRoom *self)
{
  g_return_val_if_fail (NATTER_IS_DBUS_ROOM (self), FALSE);
  return g_hash_table_size (self->viewers) > 0;
}

static void
viewer_vanished_cb (GDBusConnection *connection,
                    const char      *name,
                    gpointer         user_data)
{
  NatterDBusRoom *self = user_data;

  if (g_hash_table_remove (self->viewers, name))
    g_signal_emit (self, signals[SIGNAL_VIEWED_CHANGED], 0);
}

/* ---------------------------------------------------------------------------------- */
/* Methods */

static void
send_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(NatterDBusCall) call = user_data;
  g_autoptr(NatterEvent) event = natter_dbus_call_finish_request (call, source, result,
                                                                  NATTER__SERVER_FRAME__EVENT_SENT);

  if (event == NULL)
    return;
  natter_dbus_chat_room_complete_send (NATTER_DBUS_CHAT_ROOM (call->self), call->invocation,
                                       natter_event_get_frame (event)->sent->seq);
}

static void
send_with_id_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(NatterDBusCall) call = user_data;
  g_autoptr(NatterEvent) event = natter_dbus_call_finish_request (call, source, result,
                                                                  NATTER__SERVER_FRAME__EVENT_SENT);

  if (event == NULL)
    return;
  natter_dbus_chat_room_complete_send_with_id (NATTER_DBUS_CHAT_ROOM (call->self),
                                               call->invocation,
                                               natter_event_get_frame (event)->sent->seq);
}

static gboolean
natter_dbus_room_handle_send (NatterDBusChatRoom    *iface,
                              GDBusMethodInvocation *invocation,
                              const char            *body)
{
  NatterDBusRoom *self = NATTER_DBUS_ROOM (iface);
  Natter__ClientFrame *frame = natter_dbus_client_frame_new ();

  frame->op_case = NATTER__CLIENT_FRAME__OP_SEND;
  frame->send = g_new0 (Natter__Send, 1);
  natter__send__init (frame->send);
  frame->send->room = g_strdup (self->name);
  frame->send->body = g_strdup (body);
  frame->send->client_msg_id = natter_dbus_new_client_msg_id ();
  natter_dbus_client_request_async (self->client, frame, NULL, send_cb,
                                    natter_dbus_call_new (self, invocation));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
natter_dbus_room_handle_send_with_id (NatterDBusChatRoom    *iface,
                                      GDBusMethodInvocation *invocation,
                                      const char            *body,
                                      const char            *client_msg_id)
{
  NatterDBusRoom *self = NATTER_DBUS_ROOM (iface);
  Natter__ClientFrame *frame = natter_dbus_client_frame_new ();

  /* The backend checks the identifier (1 to 64 characters) and stores the message once
   * per (account, identifier): a repeated call gets the first call's seq. */
  frame->op_case = NATTER__CLIENT_FRAME__OP_SEND;
  frame->send = g_new0 (Natter__Send, 1);
  natter__send__init (frame->send);
  frame->send->room = g_strdup (self->name);
  frame->send->body = g_strdup (body);
  frame->send->client_msg_id = g_strdup (client_msg_id);
  natter_dbus_client_request_async (self->client, frame, NULL, send_with_id_cb,
                                    natter_dbus_call_new (self, invocation));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
history_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(NatterDBusCall) call = user_data;
  g_autoptr(NatterEvent) event = natter_dbus_call_finish_request (call, source, result,
                                                                  NATTER__SERVER_FRAME__EVENT_HISTORY);
  const Natter__HistoryPage *page;
  GVariantBuilder builder;

  if (event == NULL)
    return;
  page = natter_event_get_frame (event)->history;
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(txsss)"));
  for (gsize i = 0; i < page->n_messages; i++)
    {
      const Natter__Message *m = page->messages[i];

      g_variant_builder_add (&builder, "(txsss)", m->seq, m->ts,
                             m->sender != NULL ? m->sender : "",
                             m->body != NULL ? m->body : "",
                             m->kind != NULL ? m->kind : NATTER_MESSAGE_KIND_TEXT);
    }
  natter_dbus_chat_room_complete_history (NATTER_DBUS_CHAT_ROOM (call->self), call->invocation,
                                          g_variant_builder_end (&builder), page->has_more);
}

static gboolean
natter_dbus_room_handle_history (NatterDBusChatRoom    *iface,
                                 GDBusMethodInvocation *invocation,
                                 guint64                before_seq,
                                 guint                  limit)
{
  NatterDBusRoom *self = NATTER_DBUS_ROOM (iface);
  Natter__ClientFrame *frame = natter_dbus_client_frame_new ();

  frame->op_case = NATTER__CLIENT_FRAME__OP_HISTORY;
  frame->history = g_new0 (Natter__History, 1);
  natter__history__init (frame->history);
  frame->history->room = g_strdup (self->name);
  /* 0 means "the newest" and "the server's default", as documented. */
  frame->history->has_before_seq = before_seq > 0;
  frame->history->before_seq = before_seq;
  frame->history->has_limit = limit > 0;
  frame->history->limit = limit;
  natter_dbus_client_request_async (self->client, frame, NULL, history_cb,
                                    natter_dbus_call_new (self, invocation));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void request_history_detailed (NatterDBusCall *call, guint64 before_seq, guint limit);

static void
history_detailed_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(NatterDBusCall) call = user_data;
  g_autoptr(NatterEvent) event = natter_dbus_call_finish_request (call, source, result,
                                                                  NATTER__SERVER_FRAME__EVENT_HISTORY);
  const Natter__HistoryPage *page;
  GVariantBuilder builder;
  guint64 oldest = G_MAXUINT64;
  gsize n_shown = 0;

  if (event == NULL)
    return;
  page = natter_event_get_frame (event)->history;
  for (gsize i = 0; i < page->n_messages; i++)
    {
      oldest = MIN (oldest, page->messages[i]->seq);
      if (!is_change (page->messages[i]))
        n_shown++;
    }
  /* A page of changes only would leave the caller nothing to page on from: read on
   * before it until a message comes (or the history ends). */
  if (n_shown == 0 && page->has_more && page->n_messages > 0)
    {
      GVariant *parameters = g_dbus_method_invocation_get_parameters (call->invocation);
      guint64 before_seq;
      guint limit;

      g_variant_get (parameters, "(tu)", &before_seq, &limit);
      request_history_detailed (g_steal_pointer (&call), oldest, limit);
      return;
    }
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(txsssa{sv})"));
  for (gsize i = 0; i < page->n_messages; i++)
    {
      const Natter__Message *m = page->messages[i];

      /* The page's messages are in their current state: their changes are folded in. */
      if (is_change (m))
        continue;
      g_variant_builder_add (&builder, "(txsss@a{sv})", m->seq, m->ts,
                             m->sender != NULL ? m->sender : "",
                             m->body != NULL ? m->body : "",
                             m->kind != NULL ? m->kind : NATTER_MESSAGE_KIND_TEXT,
                             details_variant (m, FALSE));
    }
  natter_dbus_chat_room_complete_history_detailed (NATTER_DBUS_CHAT_ROOM (call->self),
                                                   call->invocation,
                                                   g_variant_builder_end (&builder),
                                                   page->has_more);
}

/* Takes @call. */
static void
request_history_detailed (NatterDBusCall *call,
                          guint64         before_seq,
                          guint           limit)
{
  NatterDBusRoom *self = NATTER_DBUS_ROOM (call->self);
  Natter__ClientFrame *frame = natter_dbus_client_frame_new ();

  frame->op_case = NATTER__CLIENT_FRAME__OP_HISTORY;
  frame->history = g_new0 (Natter__History, 1);
  natter__history__init (frame->history);
  frame->history->room = g_strdup (self->name);
  frame->history->has_before_seq = before_seq > 0;
  frame->history->before_seq = before_seq;
  frame->history->has_limit = limit > 0;
  frame->history->limit = limit;
  natter_dbus_client_request_async (self->client, frame, NULL, history_detailed_cb, call);
}

static gboolean
natter_dbus_room_handle_history_detailed (NatterDBusChatRoom    *iface,
                                          GDBusMethodInvocation *invocation,
                                          guint64                before_seq,
                                          guint                  limit)
{
  request_history_detailed (natter_dbus_call_new (iface, invocation), before_seq, limit);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* Reply(), Edit(), Delete() and React() all answer with the new message's seq. */
static void
change_sent_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(NatterDBusCall) call = user_data;
  g_autoptr(NatterEvent) event = natter_dbus_call_finish_request (call, source, result,
                                                                  NATTER__SERVER_FRAME__EVENT_SENT);

  if (event == NULL)
    return;
  /* Returning takes a reference of the invocation, as the generated complete_*() do. */
  g_dbus_method_invocation_return_value (call->invocation,
                                         g_variant_new ("(t)",
                                                        natter_event_get_frame (event)->sent->seq));
}

static gboolean
natter_dbus_room_handle_reply (NatterDBusChatRoom    *iface,
                               GDBusMethodInvocation *invocation,
                               guint64                reply_to,
                               const char            *body,
                               const char            *client_msg_id)
{
  NatterDBusRoom *self = NATTER_DBUS_ROOM (iface);
  Natter__ClientFrame *frame = natter_dbus_client_frame_new ();

  frame->op_case = NATTER__CLIENT_FRAME__OP_SEND;
  frame->send = g_new0 (Natter__Send, 1);
  natter__send__init (frame->send);
  frame->send->room = g_strdup (self->name);
  frame->send->body = g_strdup (body);
  frame->send->has_reply_to = TRUE;
  frame->send->reply_to = reply_to;
  frame->send->client_msg_id = client_msg_id[0] != '\0' ? g_strdup (client_msg_id)
                                                         : natter_dbus_new_client_msg_id ();
  natter_dbus_client_request_async (self->client, frame, NULL, change_sent_cb,
                                    natter_dbus_call_new (self, invocation));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
natter_dbus_room_handle_edit (NatterDBusChatRoom    *iface,
                              GDBusMethodInvocation *invocation,
                              guint64                seq,
                              const char            *body)
{
  NatterDBusRoom *self = NATTER_DBUS_ROOM (iface);
  Natter__ClientFrame *frame = natter_dbus_client_frame_new ();

  frame->op_case = NATTER__CLIENT_FRAME__OP_EDIT;
  frame->edit = g_new0 (Natter__Edit, 1);
  natter__edit__init (frame->edit);
  frame->edit->room = g_strdup (self->name);
  frame->edit->has_seq = TRUE;
  frame->edit->seq = seq;
  frame->edit->body = g_strdup (body);
  frame->edit->client_msg_id = natter_dbus_new_client_msg_id ();
  natter_dbus_client_request_async (self->client, frame, NULL, change_sent_cb,
                                    natter_dbus_call_new (self, invocation));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
natter_dbus_room_handle_delete (NatterDBusChatRoom    *iface,
                                GDBusMethodInvocation *invocation,
                                guint64                seq)
{
  NatterDBusRoom *self = NATTER_DBUS_ROOM (iface);
  Natter__ClientFrame *frame = natter_dbus_client_frame_new ();

  frame->op_case = NATTER__CLIENT_FRAME__OP_DELETE;
  frame->delete_ = g_new0 (Natter__Delete, 1);
  natter__delete__init (frame->delete_);
  frame->delete_->room = g_strdup (self->name);
  frame->delete_->has_seq = TRUE;
  frame->delete_->seq = seq;
  frame->delete_->client_msg_id = natter_dbus_new_client_msg_id ();
  natter_dbus_client_request_async (self->client, frame, NULL, change_sent_cb,
                                    natter_dbus_call_new (self, invocation));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
natter_dbus_room_handle_react (NatterDBusChatRoom    *iface,
                               GDBusMethodInvocation *invocation,
                               guint64                seq,
                               const char            *emoji,
                               gboolean               active)
{
  NatterDBusRoom *self = NATTER_DBUS_ROOM (iface);
  Natter__ClientFrame *frame = natter_dbus_client_frame_new ();

  frame->op_case = NATTER__CLIENT_FRAME__OP_REACT;
  frame->react = g_new0 (Natter__React, 1);
  natter__react__init (frame->react);
  frame->react->room = g_strdup (self->name);
  frame->react->has_seq = TRUE;
  frame->react->seq = seq;
  frame->react->emoji = g_strdup (emoji);
  frame->react->has_active = TRUE;
  frame->react->active = active;
  frame->react->client_msg_id = natter_dbus_new_client_msg_id ();
  natter_dbus_client_request_async (self->client, frame, NULL, change_sent_cb,
                                    natter_dbus_call_new (self, invocation));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
set_notification_level_cb (GObject      *source,
                           GAsyncResult *result,
                           gpointer      user_data)
{
  g_autoptr(NatterDBusCall) call = user_data;
  g_autoptr(NatterEvent) event = natter_dbus_call_finish_request (call, source, result,
                                                                  NATTER__SERVER_FRAME__EVENT_OK);
  GVariant *parameters;
  const char *level;

  if (event == NULL)
    return;
  parameters = g_dbus_method_invocation_get_parameters (call->invocation);
  g_variant_get (parameters, "(&s)", &level);
  natter_dbus_chat_room_set_notification_level (NATTER_DBUS_CHAT_ROOM (call->self), level);
  natter_dbus_chat_room_complete_set_notification_level (NATTER_DBUS_CHAT_ROOM (call->self),
                                                         call->invocation);
}

static gboolean
natter_dbus_room_handle_set_notification_level (NatterDBusChatRoom    *iface,
                                                GDBusMethodInvocation *invocation,
                                                const char            *level)
{
  NatterDBusRoom *self = NATTER_DBUS_ROOM (iface);
  Natter__ClientFrame *frame = natter_dbus_client_frame_new ();

  /* The backend checks the level, so that the error is the server's. */
  frame->op_case = NATTER__CLIENT_FRAME__OP_SET_NOTIFICATION_LEVEL;
  frame->set_notification_level = g_new0 (Natter__SetNotificationLevel, 1);
  natter__set_notification_level__init (frame->set_notification_level);
  frame->set_notification_level->room = g_strdup (self->name);
  frame->set_notification_level->level = g_strdup (level);
  natter_dbus_client_request_async (self->client, frame, NULL, set_notification_level_cb,
                                    natter_dbus_call_new (self, invocation));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
mark_read_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(NatterDBusCall) call = user_data;
  g_autoptr(NatterEvent) event = natter_dbus_call_finish_request (call, source, result,
                                                                  NATTER__SERVER_FRAME__EVENT_OK);

  if (event == NULL)
    return;
  move_read_seq (call->self, call->seq);
  natter_dbus_chat_room_complete_mark_read (NATTER_DBUS_CHAT_ROOM (call->self),
                                            call->invocation);
}

static gboolean
natter_dbus_room_handle_mark_read (NatterDBusChatRoom    *iface,
                                   GDBusMethodInvocation *invocation,
                                   guint64                seq)
{
  NatterDBusRoom *self = NATTER_DBUS_ROOM (iface);
  Natter__ClientFrame *frame;
  NatterDBusCall *call;

  if (seq == 0)
    seq = natter_dbus_chat_room_get_last_seq (iface);
  if (seq == 0)
    {
      /* An empty room: nothing to mark. */
      natter_dbus_chat_room_complete_mark_read (iface, invocation);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  frame = natter_dbus_client_frame_new ();
  frame->op_case = NATTER__CLIENT_FRAME__OP_READ;
  frame->read = g_new0 (Natter__Read, 1);
  natter__read__init (frame->read);
  frame->read->room = g_strdup (self->name);
  frame->read->has_seq = TRUE;
  frame->read->seq = seq;
  call = natter_dbus_call_new (self, invocation);
  call->seq = seq;
  natter_dbus_client_request_async (self->client, frame, NULL, mark_read_cb, call);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
leave_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(NatterDBusCall) call = user_data;
  g_autoptr(NatterEvent) event = natter_dbus_call_finish_request (call, source, result,
                                                                  NATTER__SERVER_FRAME__EVENT_OK);

  if (event == NULL)
    return;
  /* Answer first: the object goes away with the signal. */
  natter_dbus_chat_room_complete_leave (NATTER_DBUS_CHAT_ROOM (call->self), call->invocation);
  g_signal_emit (call->self, signals[SIGNAL_LEFT], 0);
}

static gboolean
natter_dbus_room_handle_leave (NatterDBusChatRoom    *iface,
                               GDBusMethodInvocation *invocation)
{
  NatterDBusRoom *self = NATTER_DBUS_ROOM (iface);
  Natter__ClientFrame *frame = natter_dbus_client_frame_new ();

  frame->op_case = NATTER__CLIENT_FRAME__OP_LEAVE;
  frame->leave = g_new0 (Natter__Leave, 1);
  natter__leave__init (frame->leave);
  frame->leave->room = g_strdup (self->name);
  natter_dbus_client_request_async (self->client, frame, NULL, leave_cb,
                                    natter_dbus_call_new (self, invocation));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
natter_dbus_room_handle_set_typing (NatterDBusChatRoom    *iface,
                                    GDBusMethodInvocation *invocation,
                                    gboolean               active)
{
  NatterDBusRoom *self = NATTER_DBUS_ROOM (iface);
  Natter__ClientFrame *frame;

  if (g_strcmp0 (natter_dbus_chat_room_get_kind (iface), NATTER_ROOM_KIND_SYSTEM) == 0)
    {
      g_dbus_method_invocation_return_error_literal (invocation, NATTER_ERROR,
                                                     NATTER_ERROR_FORBIDDEN,
                                                     "nobody types in the system room");
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  /* Typing has no reply on success (protocol): answer the caller right away. */
  frame = natter_dbus_client_frame_new ();
  frame->op_case = NATTER__CLIENT_FRAME__OP_TYPING;
  frame->typing = g_new0 (Natter__Typing, 1);
  natter__typing__init (frame->typing);
  frame->typing->room = g_strdup (self->name);
  frame->typing->has_active = TRUE;
  frame->typing->active = active;
  natter_dbus_client_send (self->client, frame);
  natter_dbus_chat_room_complete_set_typing (iface, invocation);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
natter_dbus_room_handle_set_viewed (NatterDBusChatRoom    *iface,
                                    GDBusMethodInvocation *invocation,
                                    gboolean               viewed)
{
  NatterDBusRoom *self = NATTER_DBUS_ROOM (iface);
  gboolean was_viewed = natter_dbus_room_is_viewed (self);

  /* A peer-to-peer caller has no name to watch; it views nothing. */
  natter_dbus_watch_caller (self->viewers, invocation, viewed, viewer_vanished_cb, self);
  natter_dbus_chat_room_complete_set_viewed (iface, invocation);
  if (was_viewed != natter_dbus_room_is_viewed (self))
    g_signal_emit (self, signals[SIGNAL_VIEWED_CHANGED], 0);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* Invite, Kick, Ban, Unban, SetRole and SetTopic: requests answered with `ok`, whose
 * effects (MemberChanged, Topic) come as the events every member gets. */
static void
request_moderation (NatterDBusRoom        *self,
                    GDBusMethodInvocation *invocation,
                    Natter__ClientFrame   *frame)
{
  natter_dbus_client_request_async (self->client, frame, NULL, natter_dbus_call_return_ok_cb,
                                    natter_dbus_call_new (self, invocation));
}

static gboolean
natter_dbus_room_handle_invite (NatterDBusChatRoom    *iface,
                                GDBusMethodInvocation *invocation,
                                const char            *user)
{
  NatterDBusRoom *self = NATTER_DBUS_ROOM (iface);
  Natter__ClientFrame *frame = natter_dbus_client_frame_new ();

  frame->op_case = NATTER__CLIENT_FRAME__OP_INVITE;
  frame->invite = g_new0 (Natter__Invite, 1);
  natter__invite__init (frame->invite);
  frame->invite->room = g_strdup (self->name);
  frame->invite->user = g_strdup (user);
  request_moderation (self, invocation, frame);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ModerationLog(): the room's kicks, bans, unbans, role and topic changes, a feed beside
 * its messages. */
static void
moderation_log_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(NatterDBusCall) call = user_data;
  g_autoptr(NatterEvent) event = natter_dbus_call_finish_request (call, source, result,
                                                                  NATTER__SERVER_FRAME__EVENT_MODERATION_LOG);
  const Natter__ModerationLogPage *page;
  GVariantBuilder builder;

  if (event == NULL)
    return;
  page = natter_event_get_frame (event)->moderation_log;
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(xsssa{sv})"));
  for (gsize i = 0; i < page->n_events; i++)
    {
      const Natter__ModerationEvent *e = page->events[i];
      GVariantDict details;

      g_variant_dict_init (&details, NULL);
      if (e->reason != NULL)
        g_variant_dict_insert (&details, "reason", "s", e->reason);
      if (e->role != NULL)
        g_variant_dict_insert (&details, "role", "s", e->role);
      if (e->topic != NULL)
        g_variant_dict_insert (&details, "topic", "s", e->topic);
      g_variant_builder_add (&builder, "(xsss@a{sv})", e->ts,
                             e->kind != NULL ? e->kind : "",
                             e->user != NULL ? e->user : "",
                             e->by != NULL ? e->by : "",
                             g_variant_dict_end (&details));
    }
  natter_dbus_chat_room_complete_moderation_log (NATTER_DBUS_CHAT_ROOM (call->self),
                                                 call->invocation,
                                                 g_variant_builder_end (&builder));
}

static gboolean
natter_dbus_room_handle_moderation_log (NatterDBusChatRoom    *iface,
                                        GDBusMethodInvocation *invocation,
                                        gint64                 before_ts,
                                        guint                  limit)
{
  NatterDBusRoom *self = NATTER_DBUS_ROOM (iface);
  Natter__ClientFrame *frame;

  if (before_ts < 0)
    {
      g_dbus_method_invocation_return_error (invocation, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                                             "before_ts must be 0 or a time after the epoch");
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  frame = natter_dbus_client_frame_new ();
  frame->op_case = NATTER__CLIENT_FRAME__OP_MODERATION_LOG;
  frame->moderation_log = g_new0 (Natter__ModerationLog, 1);
  natter__moderation_log__init (frame->moderation_log);
  frame->moderation_log->room = g_strdup (self->name);
  /* 0 means the newest and the default page size, as documented. */
  frame->moderation_log->has_before_ts = before_ts > 0;
  frame->moderation_log->before_ts = before_ts;
  frame->moderation_log->has_limit = limit > 0;
  frame->moderation_log->limit = limit;
  natter_dbus_client_request_async (self->client, frame, NULL, moderation_log_cb,
                                    natter_dbus_call_new (self, invocation));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static Natter__Moderate *
moderate_new (NatterDBusRoom *self,
              const char     *user,
              const char     *reason)
{
  Natter__Moderate *op = g_new0 (Natter__Moderate, 1);

  natter__moderate__init (op);
  op->room = g_strdup (self->name);
  op->user = g_strdup (user);
  /* "" means no reason, as documented. */
  op->reason = reason != NULL && *reason != '\0' ? g_strdup (reason) : NULL;
  return op;
}

static gboolean
natter_dbus_room_handle_kick (NatterDBusChatRoom    *iface,
                              GDBusMethodInvocation *invocation,
                              const char            *user,
                              const char            *reason)
{
  NatterDBusRoom *self = NATTER_DBUS_ROOM (iface);
  Natter__ClientFrame *frame = natter_dbus_client_frame_new ();

  frame->op_case = NATTER__CLIENT_FRAME__OP_KICK;
  frame->kick = moderate_new (self, user, reason);
  request_moderation (self, invocation, frame);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
natter_dbus_room_handle_ban (NatterDBusChatRoom    *iface,
                             GDBusMethodInvocation *invocation,
                             const char            *user,
                             const char            *reason)
{
  NatterDBusRoom *self = NATTER_DBUS_ROOM (iface);
  Natter__ClientFrame *frame = natter_dbus_client_frame_new ();

  frame->op_case = NATTER__CLIENT_FRAME__OP_BAN;
  frame->ban = moderate_new (self, user, reason);
  request_moderation (self, invocation, frame);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
natter_dbus_room_handle_unban (NatterDBusChatRoom    *iface,
                               GDBusMethodInvocation *invocation,
                               const char            *user)
{
  NatterDBusRoom *self = NATTER_DBUS_ROOM (iface);
  Natter__ClientFrame *frame = natter_dbus_client_frame_new ();

  frame->op_case = NATTER__CLIENT_FRAME__OP_UNBAN;
  frame->unban = moderate_new (self, user, NULL);
  request_moderation (self, invocation, frame);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
natter_dbus_room_handle_set_role (NatterDBusChatRoom    *iface,
                                  GDBusMethodInvocation *invocation,
                                  const char            *user,
                                  const char            *role)
{
  NatterDBusRoom *self = NATTER_DBUS_ROOM (iface);
  Natter__ClientFrame *frame = natter_dbus_client_frame_new ();

  /* The backend checks the role's name: one of the three, or bad_request. */
  frame->op_case = NATTER__CLIENT_FRAME__OP_SET_ROLE;
  frame->set_role = g_new0 (Natter__SetRole, 1);
  natter__set_role__init (frame->set_role);
  frame->set_role->room = g_strdup (self->name);
  frame->set_role->user = g_strdup (user);
  frame->set_role->role = g_strdup (role);
  request_moderation (self, invocation, frame);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
natter_dbus_room_handle_set_topic (NatterDBusChatRoom    *iface,
                                   GDBusMethodInvocation *invocation,
                                   const char            *topic)
{
  NatterDBusRoom *self = NATTER_DBUS_ROOM (iface);
  Natter__ClientFrame *frame = natter_dbus_client_frame_new ();

  frame->op_case = NATTER__CLIENT_FRAME__OP_SET_TOPIC;
  frame->set_topic = g_new0 (Natter__SetTopic, 1);
  natter__set_topic__init (frame->set_topic);
  frame->set_topic->room = g_strdup (self->name);
  frame->set_topic->topic = g_strdup (topic);
  request_moderation (self, invocation, frame);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
natter_dbus_room_iface_init (NatterDBusChatRoomIface *iface)
{
  iface->handle_send = natter_dbus_room_handle_send;
  iface->handle_send_with_id = natter_dbus_room_handle_send_with_id;
  iface->handle_history = natter_dbus_room_handle_history;
  iface->handle_history_detailed = natter_dbus_room_handle_history_detailed;
  iface->handle_reply = natter_dbus_room_handle_reply;
  iface->handle_edit = natter_dbus_room_handle_edit;
  iface->handle_delete = natter_dbus_room_handle_delete;
  iface->handle_react = natter_dbus_room_handle_react;
  iface->handle_set_notification_level = natter_dbus_room_handle_set_notification_level;
  iface->handle_mark_read = natter_dbus_room_handle_mark_read;
  iface->handle_leave = natter_dbus_room_handle_leave;
  iface->handle_set_typing = natter_dbus_room_handle_set_typing;
  iface->handle_set_viewed = natter_dbus_room_handle_set_viewed;
  iface->handle_invite = natter_dbus_room_handle_invite;
  iface->handle_kick = natter_dbus_room_handle_kick;
  iface->handle_ban = natter_dbus_room_handle_ban;
  iface->handle_unban = natter_dbus_room_handle_unban;
  iface->handle_set_role = natter_dbus_room_handle_set_role;
  iface->handle_set_topic = natter_dbus_room_handle_set_topic;
  iface->handle_moderation_log = natter_dbus_room_handle_moderation_log;
}

/* ---------------------------------------------------------------------------------- */
/* Lifetime */

/**
 * natter_dbus_room_unexport:
 *
 * Removes the room and its message objects from the bus. Requests in flight still
 * answer their callers.
 */
void
natter_dbus_room_unexport (NatterDBusRoom *self)
{
  g_return_if_fail (NATTER_IS_DBUS_ROOM (self));

  if (self->manager == NULL)
    return;
  g_cancellable_cancel (self->cancellable);
  while (!g_queue_is_empty (&self->window))
    drop_oldest (self);
  g_dbus_object_manager_server_unexport (self->manager, self->path);
  g_clear_object (&self->manager);
  /* The object skeleton holds a reference on its interface, which is us. */
  natter_dbus_object_skeleton_set_chat_room (self->object, NULL);
  g_clear_object (&self->object);
  /* Removing the watches drops their callbacks, which point at us. */
  g_hash_table_remove_all (self->viewers);
}

static void
natter_dbus_room_dispose (GObject *object)
{
  NatterDBusRoom *self = NATTER_DBUS_ROOM (object);

  natter_dbus_room_unexport (self);
  g_clear_object (&self->client);

  G_OBJECT_CLASS (natter_dbus_room_parent_class)->dispose (object);
}

static void
natter_dbus_room_finalize (GObject *object)
{
  NatterDBusRoom *self = NATTER_DBUS_ROOM (object);

  g_clear_pointer (&self->name, g_free);
  g_clear_pointer (&self->path, g_free);
  g_clear_pointer (&self->account, g_free);
  g_clear_pointer (&self->members, g_hash_table_unref);
  g_clear_pointer (&self->online, g_hash_table_unref);
  g_clear_pointer (&self->viewers, g_hash_table_unref);
  g_clear_object (&self->cancellable);
  g_queue_clear_full (&self->changes, (GDestroyNotify) natter_message_free);

  G_OBJECT_CLASS (natter_dbus_room_parent_class)->finalize (object);
}

static void
natter_dbus_room_class_init (NatterDBusRoomClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = natter_dbus_room_dispose;
  object_class->finalize = natter_dbus_room_finalize;

  signals[SIGNAL_LEFT] =
    g_signal_new ("left", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_VIEWED_CHANGED] =
    g_signal_new ("viewed-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
natter_dbus_room_init (NatterDBusRoom *self)
{
  g_queue_init (&self->window);
  g_queue_init (&self->changes);
  self->members = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->online = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->viewers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, natter_dbus_unwatch);
  self->cancellable = g_cancellable_new ();
}

/**
 * natter_dbus_room_new:
 * @client: the D-Bus front end's client, for the room's requests
 * @manager: the object manager to export the room and its messages on
 * @name: the room name
 * @account: the local account
 * @window_size: how many recent messages are objects
 *
 * Creates the room object and exports it on @manager, with empty properties until
 * natter_dbus_room_update_info() or natter_dbus_room_update_joined() fill them in.
 *
 * Returns: (transfer full): a new #NatterDBusRoom
 */
NatterDBusRoom *
natter_dbus_room_new (NatterDBusClient         *client,
                      GDBusObjectManagerServer *manager,
                      const char               *name,
                      const char               *account,
                      guint                     window_size)
{
  NatterDBusRoom *self;
  NatterDBusChatRoom *iface;
  const char *kind = NATTER_ROOM_KIND_ROOM;

  g_return_val_if_fail (NATTER_IS_DBUS_CLIENT (client), NULL);
  g_return_val_if_fail (G_IS_DBUS_OBJECT_MANAGER_SERVER (manager), NULL);
  g_return_val_if_fail (name != NULL, NULL);

  self = g_object_new (NATTER_TYPE_DBUS_ROOM, NULL);
  iface = NATTER_DBUS_CHAT_ROOM (self);
  self->client = g_object_ref (client);
  self->manager = g_object_ref (manager);
  self->name = g_strdup (name);
  self->path = natter_dbus_room_path_for_name (name);
  self->account = g_strdup (account);
  self->window_size = window_size;

  /* Until the hub tells: the kind follows from the name. */
  if (g_str_equal (name, NATTER_SYSTEM_ROOM))
    kind = NATTER_ROOM_KIND_SYSTEM;
  else if (g_str_has_prefix (name, "dm:"))
    kind = NATTER_ROOM_KIND_DM;
  natter_dbus_chat_room_set_name (iface, name);
  natter_dbus_chat_room_set_kind (iface, kind);
  natter_dbus_chat_room_set_topic (iface, "");
  natter_dbus_chat_room_set_role (iface, "");
  natter_dbus_chat_room_set_notification_level (iface, "all");
  sync_members (self);

  self->object = natter_dbus_object_skeleton_new (self->path);
  natter_dbus_object_skeleton_set_chat_room (self->object, iface);
  g_dbus_object_manager_server_export (manager, G_DBUS_OBJECT_SKELETON (self->object));
  return self;
}

const char *
natter_dbus_room_get_object_path (NatterDBusRoom *self)
{
  g_return_val_if_fail (NATTER_IS_DBUS_ROOM (self), NULL);
  return self->path;
}

const char *
natter_dbus_room_get_room_name (NatterDBusRoom *self)
{
  g_return_val_if_fail (NATTER_IS_DBUS_ROOM (self), NULL);
  return self->name;
}
