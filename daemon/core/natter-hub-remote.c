/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-hub"

#include "config.h"

#include <string.h>

#include "natter-hub-private.h"

/* What others change behind this node's back, and how it reaches local clients.
 *
 * On a shared store (a cluster's PostgreSQL), other nodes commit messages, create rooms
 * and change memberships. The hub learns of them in two ways: from the store itself
 * (natter_hub_apply_last_seqs(), natter_hub_reload_rooms(), and the room a request is
 * refused for being read again: refresh_and_retry() in natter-hub.c), and from whatever
 * stands beside the hub and hears other nodes (cluster/natter-cluster.c), through the
 * natter_hub_receive_*() functions here. Either way the hub's in-order delivery does the
 * rest: a later seq is held briefly and a gap back-filled from the store.
 *
 * On a store of its own, nothing here runs. */

static gboolean
watched (Room *room)
{
  return g_hash_table_size (room->subs) > 0;
}

/* The store says the room's last seq is @seq. A room no local session reads just moves
 * its cursor to the end; a watched one fetches what it has not delivered. */
static void
apply_last_seq (NatterHub *self, Room *room, guint64 seq)
{
  natter_seq_order_note_known (room->order, seq);
  if (!watched (room))
    {
      natter_seq_order_set_cursor (room->order, MAX (natter_room_delivered_seq (room),
                                                     natter_room_last_seq (room)));
      return;
    }
  if (natter_room_last_seq (room) > natter_room_delivered_seq (room))
    natter_hub_room_backfill (self, room);
}

/**
 * natter_hub_apply_last_seqs:
 * @self: a #NatterHub
 * @seqs: (element-type utf8 guint64): room name → the last seq the store has
 *
 * Catches up with rooms that other writers of a shared store moved on: local readers of
 * those rooms get what they missed, in order.
 */
void
natter_hub_apply_last_seqs (NatterHub  *self,
                            GHashTable *seqs)
{
  GHashTableIter iter;
  gpointer key, value;

  g_return_if_fail (NATTER_IS_HUB (self));

  g_hash_table_iter_init (&iter, seqs);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      Room *room = g_hash_table_lookup (self->rooms, key);

      if (room != NULL)
        apply_last_seq (self, room, *(guint64 *) value);
    }
}

/**
 * natter_hub_merge_room:
 * @record: the room as the store has it, with its members
 * @since_gen: the hub's membership_gen when the store was asked
 *
 * Makes this node's copy of a room match the store's: the room itself, its last seq and
 * its members. Members that changed on this node after the store was asked are left as
 * they are: this node knows better.
 */
void
natter_hub_merge_room (NatterHub              *self,
                       const NatterRoomRecord *record,
                       guint64                 since_gen)
{
  Room *room = g_hash_table_lookup (self->rooms, record->name);
  g_autoptr(GHashTable) stored = NULL;
  g_autoptr(GPtrArray) gone = NULL;
  GHashTableIter iter;
  gpointer key;
  gboolean system;

  if (room == NULL)
    room = natter_hub_add_room (self, record->name, record->kind, record->topic,
                                record->last_seq);
  apply_last_seq (self, room, record->last_seq);

  if (room->membership_gen > since_gen)
    return;
  natter_hub_room_apply_record (room, record);
  system = g_str_equal (room->kind, NATTER_ROOM_KIND_SYSTEM);
  stored = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < record->members->len; i++)
    {
      NatterMemberRecord *member = g_ptr_array_index (record->members, i);

      g_hash_table_add (stored, member->user);
      if (!system && !g_hash_table_contains (room->members, member->user))
        {
          GPtrArray *sessions = g_hash_table_lookup (self->online, member->user);

          /* When a membership began is not known here. A DM is personal and small: its
           * sessions get what the user has not read; a room is live from now (its
           * history is a page away). */
          if (g_str_equal (room->kind, NATTER_ROOM_KIND_DM) && !watched (room) &&
              sessions != NULL && sessions->len > 0)
            natter_seq_order_set_cursor (room->order,
                                         MIN (natter_room_delivered_seq (room), member->read_seq));
          natter_hub_add_member (self, room, member->user, member->read_seq);
          natter_hub_subscribe_user (self, member->user, room, natter_room_delivered_seq (room));
        }
      else
        natter_hub_room_set_read_seq (room, member->user, member->read_seq);
    }
  if (system)
    return;

  gone = g_ptr_array_new_with_free_func (g_free);
  g_hash_table_iter_init (&iter, room->members);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (!g_hash_table_contains (stored, key))
      g_ptr_array_add (gone, g_strdup (key));
  for (guint i = 0; i < gone->len; i++)
    natter_hub_remove_member (self, room, g_ptr_array_index (gone, i));
}

typedef struct
{
  NatterHub *hub;       /* (owned) */
  guint64    since_gen;
} Fetch;

static Fetch *
fetch_new (NatterHub *self)
{
  Fetch *fetch = g_new0 (Fetch, 1);

  fetch->hub = g_object_ref (self);
  fetch->since_gen = self->membership_gen;
  return fetch;
}

static void
fetch_free (Fetch *fetch)
{
  g_object_unref (fetch->hub);
  g_free (fetch);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Fetch, fetch_free)

static void
room_fetched_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Fetch) fetch = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterRoomRecord) record = natter_store_get_room_finish (NATTER_STORE (source),
                                                                    result, &error);

  if (record == NULL)
    {
      g_debug ("Could not read a room another node announced: %s", error->message);
      return;
    }
  natter_hub_merge_room (fetch->hub, record, fetch->since_gen);
}

/* Reads @name with all its members from the store, and merges it. */
void
natter_hub_fetch_room (NatterHub  *self,
                       const char *name)
{
  natter_store_get_room_async (self->store, name, NULL, room_fetched_cb, fetch_new (self));
}

static void
reloaded_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Fetch) fetch = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterStoreSnapshot) snapshot = natter_store_load_finish (NATTER_STORE (source),
                                                                      result, &error);

  fetch->hub->reloading = FALSE;
  if (snapshot == NULL)
    {
      g_debug ("Could not read the rooms again: %s", error->message);
      return;
    }
  for (guint i = 0; i < snapshot->rooms->len; i++)
    natter_hub_merge_room (fetch->hub, g_ptr_array_index (snapshot->rooms, i),
                           fetch->since_gen);
  g_debug ("Read %u rooms again", snapshot->rooms->len);
}

/**
 * natter_hub_reload_rooms:
 * @self: a #NatterHub on a shared store
 *
 * Reads every room and its members from the store again and merges them: for the joins,
 * leaves and new rooms of other nodes that this node did not hear of. Does nothing while
 * a reload is in flight.
 */
void
natter_hub_reload_rooms (NatterHub *self)
{
  g_return_if_fail (NATTER_IS_HUB (self));

  if (self->reloading)
    return;
  self->reloading = TRUE;
  natter_store_load_async (self->store, NULL, reloaded_cb, fetch_new (self));
}

/**
 * natter_hub_list_watched_rooms:
 * @self: a #NatterHub
 *
 * Returns: (transfer container) (element-type utf8): the rooms that sessions of this
 *   node read; the names are valid until the hub next runs
 */
GPtrArray *
natter_hub_list_watched_rooms (NatterHub *self)
{
  GPtrArray *names = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer value;

  g_return_val_if_fail (NATTER_IS_HUB (self), names);

  g_hash_table_iter_init (&iter, self->rooms);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (watched (value))
      g_ptr_array_add (names, ((Room *) value)->name);
  return names;
}

/**
 * natter_hub_list_online_users:
 * @self: a #NatterHub
 *
 * Returns: (transfer container) (element-type utf8): the accounts with a session on this
 *   node; the names are valid until the hub next runs
 */
GPtrArray *
natter_hub_list_online_users (NatterHub *self)
{
  GPtrArray *users = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key, value;

  g_return_val_if_fail (NATTER_IS_HUB (self), users);

  g_hash_table_iter_init (&iter, self->online);
  while (g_hash_table_iter_next (&iter, &key, &value))
    if (((GPtrArray *) value)->len > 0)
      g_ptr_array_add (users, key);
  return users;
}

/**
 * natter_hub_describe_room:
 * @name: a room name
 * @out_kind: (out) (optional) (transfer none): its kind, NATTER_ROOM_KIND_*
 * @out_topic: (out) (optional) (transfer none) (nullable): its topic
 * @out_last_seq: (out) (optional): the highest seq known committed
 *
 * Returns: whether this node knows @name
 */
gboolean
natter_hub_describe_room (NatterHub   *self,
                          const char  *name,
                          const char **out_kind,
                          const char **out_topic,
                          guint64     *out_last_seq)
{
  Room *room;

  g_return_val_if_fail (NATTER_IS_HUB (self), FALSE);

  room = g_hash_table_lookup (self->rooms, name);
  if (room == NULL)
    return FALSE;
  if (out_kind != NULL)
    *out_kind = room->kind;
  if (out_topic != NULL)
    *out_topic = room->topic;
  if (out_last_seq != NULL)
    *out_last_seq = natter_room_last_seq (room);
  return TRUE;
}

/**
 * natter_hub_describe_room_roles:
 * @name: a room name
 * @users: the accounts to describe
 * @out_private: (out): whether the room is private
 * @owners: (element-type utf8): where the names of @users who own the room are added
 * @moderators: (element-type utf8): where those of the moderators among @users are added
 *
 * Returns: whether this node knows @name
 */
gboolean
natter_hub_describe_room_roles (NatterHub          *self,
                                const char         *name,
                                const char * const *users,
                                gboolean           *out_private,
                                GPtrArray          *owners,
                                GPtrArray          *moderators)
{
  Room *room;

  g_return_val_if_fail (NATTER_IS_HUB (self), FALSE);

  room = g_hash_table_lookup (self->rooms, name);
  if (room == NULL)
    return FALSE;
  *out_private = room->is_private;
  for (gsize i = 0; users[i] != NULL; i++)
    switch (natter_hub_room_role (room, users[i]))
      {
      case NATTER_ROLE_OWNER:
        g_ptr_array_add (owners, (gpointer) users[i]);
        break;
      case NATTER_ROLE_MODERATOR:
        g_ptr_array_add (moderators, (gpointer) users[i]);
        break;
      case NATTER_ROLE_MEMBER:
      default:
        break;
      }
  return TRUE;
}

/**
 * natter_hub_set_online_elsewhere:
 * @self: a #NatterHub
 * @user: an account
 * @online: whether another node has a session of @user
 *
 * Presence is the union of every node's: local sessions of the people who share a room
 * with @user hear of a change only when @user comes online or goes offline everywhere.
 */
void
natter_hub_set_online_elsewhere (NatterHub  *self,
                                 const char *user,
                                 gboolean    online)
{
  gboolean before;

  g_return_if_fail (NATTER_IS_HUB (self));

  before = natter_hub_user_online (self, user);
  if (online)
    g_hash_table_add (self->online_elsewhere, g_strdup (user));
  else
    g_hash_table_remove (self->online_elsewhere, user);
  if (natter_hub_user_online (self, user) != before)
    natter_hub_send_presence (self, user, !before);
}

/**
 * natter_hub_receive_message:
 * @self: a #NatterHub
 * @message: a message another node committed
 *
 * Delivers @message to this node's readers of its room, in seq order with the rest.
 */
void
natter_hub_receive_message (NatterHub             *self,
                            const Natter__Message *message)
{
  Room *room;

  g_return_if_fail (NATTER_IS_HUB (self));

  room = message->room != NULL ? g_hash_table_lookup (self->rooms, message->room) : NULL;
  if (room == NULL || message->seq == 0 || message->sender == NULL)
    return;
  if (!watched (room))
    {
      /* Still subscribed for a moment after the last local reader left. */
      apply_last_seq (self, room, message->seq);
      return;
    }
  if (!g_str_equal (room->kind, NATTER_ROOM_KIND_SYSTEM) &&
      g_hash_table_contains (room->members, message->sender))
    natter_hub_room_set_read_seq (room, message->sender, message->seq);
  natter_hub_room_committed (self, room, message);
}

/**
 * natter_hub_receive_room_event:
 * @self: a #NatterHub
 * @room: the room
 * @frame: what another node's client did in @room: typing, a receipt, a role set or a
 *   removal (`member`), a topic, an invitation (`invite` naming the invitee in `user`)
 *
 * Applies it to this node's copy of @room and passes it on to this node's readers of
 * @room (an invitation to the invitee's sessions). Anything else is ignored.
 */
void
natter_hub_receive_room_event (NatterHub                 *self,
                               const char                *name,
                               const Natter__ServerFrame *frame)
{
  Room *room;
  g_autoptr(NatterEvent) event = NULL;

  g_return_if_fail (NATTER_IS_HUB (self));

  room = g_hash_table_lookup (self->rooms, name);
  if (room == NULL)
    return;

  switch ((int) frame->event_case)
    {
    case NATTER__SERVER_FRAME__EVENT_TYPING:
      if (g_strcmp0 (frame->typing->room, name) != 0 || frame->typing->user == NULL)
        return;
      break;
    case NATTER__SERVER_FRAME__EVENT_RECEIPT:
      if (g_strcmp0 (frame->receipt->room, name) != 0 || frame->receipt->user == NULL)
        return;
      if (g_hash_table_contains (room->members, frame->receipt->user))
        natter_hub_room_set_read_seq (room, frame->receipt->user, frame->receipt->seq);
      break;
    case NATTER__SERVER_FRAME__EVENT_NOTIFICATION_LEVEL:
      /* For the account's own sessions, not the room. */
      natter_hub_receive_notification_level (self, room, frame);
      return;
    case NATTER__SERVER_FRAME__EVENT_INVITE:
      natter_hub_apply_remote_invite (self, room, frame->invite);
      return;
    case NATTER__SERVER_FRAME__EVENT_MEMBER:
    case NATTER__SERVER_FRAME__EVENT_TOPIC:
      {
        gboolean deliver;

        if (!natter_hub_apply_remote_moderation (self, room, frame, &deliver) || !deliver)
          return;
      }
      break;
    default:
      g_debug ("Ignoring a frame of type %d on room %s", frame->event_case, name);
      return;
    }
  event = natter_event_new (frame);
  natter_hub_deliver_to_room (self, room, event, NULL);
}

/* @user joined @room on another node when the room was at @since. */
static void
apply_join (NatterHub *self, Room *room, const char *user, guint64 since)
{
  if (!natter_validate_user_name (user) || g_hash_table_contains (room->members, user))
    return;
  if (!watched (room))
    {
      /* Its cursor may be old: the newcomer's sessions here start where the join was. */
      natter_seq_order_note_known (room->order, since);
      natter_seq_order_set_cursor (room->order, since);
    }
  natter_hub_add_member (self, room, user, 0);
  natter_hub_subscribe_user (self, user, room, since);
  /* As on the node of the join: public rooms announce their members. */
  if (g_str_equal (room->kind, NATTER_ROOM_KIND_ROOM))
    natter_hub_send_member_event (self, room, user, TRUE);
}

static gboolean
names_contain (char **names, gsize n_names, const char *name)
{
  for (gsize i = 0; i < n_names; i++)
    if (g_strcmp0 (names[i], name) == 0)
      return TRUE;
  return FALSE;
}

/**
 * natter_hub_receive_joined:
 * @self: a #NatterHub
 * @joined: the room (its kind, topic and last seq at the join) and the accounts that
 *   joined it on another node
 *
 * Adds the members, and the room if this node did not know it (then its other members
 * are read from the store). Only rooms and DMs are taken.
 */
void
natter_hub_receive_joined (NatterHub            *self,
                           const Natter__Joined *joined)
{
  Room *room;
  gboolean learned = FALSE;

  g_return_if_fail (NATTER_IS_HUB (self));

  if (joined->room == NULL || joined->kind == NULL ||
      !(g_str_equal (joined->kind, NATTER_ROOM_KIND_ROOM) ||
        g_str_equal (joined->kind, NATTER_ROOM_KIND_DM)))
    return;
  room = g_hash_table_lookup (self->rooms, joined->room);
  if (room == NULL)
    {
      room = natter_hub_add_room (self, joined->room, joined->kind, joined->topic,
                                  joined->last_seq);
      learned = TRUE;
    }
  /* Who may see the room and the newcomers' roles (a creator owns the room) hold from
   * now, not only once the store was read. */
  if (joined->has_private_)
    room->is_private = joined->private_;
  for (gsize i = 0; i < joined->n_members; i++)
    {
      const char *user = joined->members[i];
      gboolean known = g_hash_table_contains (room->members, user);

      apply_join (self, room, user, joined->last_seq);
      if (known || !g_hash_table_contains (room->members, user))
        continue;
      g_hash_table_remove (room->invited, user);
      if (names_contain (joined->owners, joined->n_owners, user))
        g_hash_table_insert (room->roles, g_strdup (user), GINT_TO_POINTER (NATTER_ROLE_OWNER));
      else if (names_contain (joined->moderators, joined->n_moderators, user))
        g_hash_table_insert (room->roles, g_strdup (user),
                             GINT_TO_POINTER (NATTER_ROLE_MODERATOR));
    }
  /* The frame names the newcomers only: the other members come from the store. */
  if (learned)
    natter_hub_fetch_room (self, room->name);
}

/**
 * natter_hub_receive_left:
 * @self: a #NatterHub
 * @room: the room
 * @user: the account that left it on another node
 */
void
natter_hub_receive_left (NatterHub  *self,
                         const char *name,
                         const char *user)
{
  Room *room;

  g_return_if_fail (NATTER_IS_HUB (self));

  room = g_hash_table_lookup (self->rooms, name);
  if (room != NULL)
    natter_hub_remove_member (self, room, user);
}

/* What only a node of a cluster has to tell. */
void
natter_hub_append_shared_metrics (NatterHub *self,
                                  GString   *out)
{
  g_string_append_printf (out,
                          "# HELP natter_catch_up_messages_total Messages delivered after "
                          "fetching them from the store (a gap, Redis away).\n"
                          "# TYPE natter_catch_up_messages_total counter\n"
                          "natter_catch_up_messages_total %" G_GUINT64_FORMAT "\n"
                          "# HELP natter_users_online_elsewhere Accounts other nodes say are "
                          "online.\n"
                          "# TYPE natter_users_online_elsewhere gauge\n"
                          "natter_users_online_elsewhere %u\n",
                          self->n_catch_ups, g_hash_table_size (self->online_elsewhere));
}

/**
 * natter_hub_receive_sessions_ended:
 * @user: the account
 * @sessions: (nullable): ids of sessions whose tokens another node revoked, or %NULL for
 *   all of the account's
 * @reason: (nullable): why, for the close frame
 *
 * Closes this node's connections of those sessions with 1008. Their tokens are gone
 * from the store already, which every login asks.
 */
void
natter_hub_receive_sessions_ended (NatterHub          *self,
                                   const char         *user,
                                   const char * const *sessions,
                                   const char         *reason)
{
  g_return_if_fail (NATTER_IS_HUB (self));
  g_return_if_fail (user != NULL);

  natter_hub_close_sessions (self, user, sessions, NULL,
                             reason != NULL ? reason : "session ended");
}
