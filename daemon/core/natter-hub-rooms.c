/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-hub"

#include "config.h"

#include <string.h>

#include "natter-auth.h"
#include "natter-error.h"
#include "natter-hub-private.h"

/* The hub's rooms: names, members and the sessions that read each room, presence, each
 * room's delivery in seq order, and who may read, join or leave a room. */

static void resume_fetched_cb (GObject *source, GAsyncResult *result, gpointer user_data);

/* ---------------------------------------------------------------------------------- */
/* Names */

static gboolean
valid_name (const char *name, gsize max)
{
  gsize len = 0;

  if (name == NULL)
    return FALSE;
  for (const char *p = name; *p != '\0'; p++, len++)
    {
      char c = *p;

      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
        return FALSE;
    }
  return len >= 1 && len <= max;
}

/**
 * natter_validate_user_name:
 *
 * Returns: whether @name matches `[a-z0-9_.-]{1,32}`
 */
gboolean
natter_validate_user_name (const char *name)
{
  return valid_name (name, 32);
}

/**
 * natter_validate_room_name:
 *
 * Returns: whether @name matches `[a-z0-9_.-]{1,64}`; DM rooms are not valid room names
 */
gboolean
natter_validate_room_name (const char *name)
{
  return valid_name (name, 64);
}

/**
 * natter_dm_room_name:
 *
 * Returns: (transfer full): `dm:A:B` with the two names sorted
 */
char *
natter_dm_room_name (const char *a,
                     const char *b)
{
  if (strcmp (a, b) > 0)
    return g_strdup_printf ("dm:%s:%s", b, a);
  return g_strdup_printf ("dm:%s:%s", a, b);
}

/* Parses `dm:A:B`; only sorted, distinct, valid names make a DM room name. */
static gboolean
parse_dm_name (const char *room, char **out_a, char **out_b)
{
  g_auto(GStrv) parts = NULL;

  if (room == NULL || !g_str_has_prefix (room, "dm:"))
    return FALSE;
  parts = g_strsplit (room + 3, ":", 3);
  if (g_strv_length (parts) != 2 ||
      !natter_validate_user_name (parts[0]) || !natter_validate_user_name (parts[1]) ||
      strcmp (parts[0], parts[1]) >= 0)
    return FALSE;
  *out_a = g_strdup (parts[0]);
  *out_b = g_strdup (parts[1]);
  return TRUE;
}

/* ---------------------------------------------------------------------------------- */
/* Rooms, subscriptions and clients */

static gint
compare_strv_items (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

static void     room_release (const Natter__Message *message, gpointer user_data);
static gboolean room_fetch   (guint64 after_seq, gpointer user_data);

/* Only several nodes writing one room commit its seqs out of order, and then the earlier
 * one is usually a moment behind: a gap waits briefly before it is back-filled from the
 * store, which has every committed message, so it is asked again until it answers. */
static const NatterSeqOrderPolicy room_order_policy = {
  .release = room_release,
  .fetch = room_fetch,
  .hold_ms = GAP_HOLD_MS,
  .retry_ms = GAP_RETRY_MS,
};

static Room *
room_new (NatterHub *self, const char *name, const char *kind, const char *topic,
          guint64 last_seq)
{
  Room *room = g_new0 (Room, 1);

  room->hub = self;
  room->name = g_strdup (name);
  room->kind = g_strdup (kind);
  room->topic = g_strdup (topic);
  room->order = natter_seq_order_new (&room_order_policy, last_seq, room);
  room->members = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  room->subs = g_hash_table_new (NULL, NULL);
  room->roles = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  room->levels = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  room->invited = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  room->banned = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  return room;
}

void
natter_hub_room_free (Room *room)
{
  natter_seq_order_free (room->order);
  g_free (room->name);
  g_free (room->kind);
  g_free (room->topic);
  g_hash_table_unref (room->members);
  g_hash_table_unref (room->subs);
  g_hash_table_unref (room->roles);
  g_hash_table_unref (room->levels);
  g_hash_table_unref (room->invited);
  g_hash_table_unref (room->banned);
  g_free (room);
}

gboolean
natter_hub_room_is_member (Room *room, const char *user)
{
  if (g_str_equal (room->kind, NATTER_ROOM_KIND_SYSTEM))
    return TRUE;
  return g_hash_table_contains (room->members, user);
}

guint64
natter_hub_room_read_seq (Room *room, const char *user)
{
  guint64 *seq = g_hash_table_lookup (room->members, user);

  return seq != NULL ? *seq : 0;
}

void
natter_hub_room_set_read_seq (Room *room, const char *user, guint64 seq)
{
  guint64 *stored = g_hash_table_lookup (room->members, user);

  if (stored == NULL)
    {
      stored = g_new0 (guint64, 1);
      g_hash_table_insert (room->members, g_strdup (user), stored);
    }
  *stored = MAX (*stored, seq);
}

GHashTable *
natter_hub_user_rooms (NatterHub *self, const char *user, gboolean create)
{
  GHashTable *set = g_hash_table_lookup (self->user_rooms, user);

  if (set == NULL && create)
    {
      set = g_hash_table_new (NULL, NULL);
      g_hash_table_insert (self->user_rooms, g_strdup (user), set);
    }
  return set;
}

void
natter_hub_add_member (NatterHub *self, Room *room, const char *user, guint64 read_seq)
{
  if (!g_hash_table_contains (room->members, user))
    room->membership_gen = ++self->membership_gen;
  natter_hub_room_set_read_seq (room, user, read_seq);
  if (!g_str_equal (room->kind, NATTER_ROOM_KIND_SYSTEM))
    g_hash_table_add (natter_hub_user_rooms (self, user, TRUE), room);
}

Room *
natter_hub_add_room (NatterHub *self, const char *name, const char *kind, const char *topic,
                     guint64 last_seq)
{
  Room *room = g_hash_table_lookup (self->rooms, name);

  if (room != NULL)
    {
      natter_seq_order_note_known (room->order, last_seq);
      return room;
    }
  room = room_new (self, name, kind, topic, last_seq);
  g_hash_table_insert (self->rooms, room->name, room);
  if (g_str_equal (kind, NATTER_ROOM_KIND_SYSTEM))
    self->system = room;
  return room;
}

static Sub *
sub_new (Room *room, guint64 from_seq)
{
  Sub *sub = g_new0 (Sub, 1);

  sub->room = room;
  sub->delivered = from_seq;
  g_queue_init (&sub->held);
  sub->held_seqs = g_array_new (FALSE, FALSE, sizeof (guint64));
  return sub;
}

static void
sub_free (Sub *sub)
{
  g_queue_clear_full (&sub->held, (GDestroyNotify) natter_event_unref);
  g_array_unref (sub->held_seqs);
  g_free (sub);
}

ClientState *
natter_hub_client_state_new (NatterClient *client)
{
  ClientState *cs = g_new0 (ClientState, 1);

  cs->client = g_object_ref (client);
  cs->subs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) sub_free);
  return cs;
}

void
natter_hub_client_state_free (ClientState *cs)
{
  g_queue_clear_full (&cs->waiting, (GDestroyNotify) natter_client_frame_free);
  g_hash_table_unref (cs->subs);
  g_free (cs->user);
  g_free (cs->session);
  g_object_unref (cs->client);
  g_free (cs);
}

ClientState *
natter_hub_lookup_client (NatterHub *self, NatterClient *client)
{
  return g_hash_table_lookup (self->clients, client);
}

void
natter_hub_deliver (NatterHub *self, ClientState *cs, NatterEvent *event)
{
  self->n_deliveries++;
  natter_client_deliver (cs->client, event);
}

void
natter_hub_subscribe (NatterHub *self, ClientState *cs, Room *room, guint64 from_seq)
{
  if (g_hash_table_contains (cs->subs, room->name))
    return;
  g_hash_table_insert (cs->subs, g_strdup (room->name), sub_new (room, from_seq));
  g_hash_table_insert (room->subs, cs, g_hash_table_lookup (cs->subs, room->name));
  if (g_hash_table_size (room->subs) == 1)
    g_signal_emit (self, natter_hub_signals[SIGNAL_ROOM_WATCHED], 0, room->name);
}

/* @cs no longer reads @room. */
void
natter_hub_room_drop_sub (NatterHub *self, Room *room, ClientState *cs)
{
  if (!g_hash_table_remove (room->subs, cs) || g_hash_table_size (room->subs) > 0)
    return;
  if (self->shared)
    {
      /* Nobody to deliver to: forget held messages; the cursor moves on by itself. */
      natter_seq_order_drop_held (room->order);
    }
  g_signal_emit (self, natter_hub_signals[SIGNAL_ROOM_UNWATCHED], 0, room->name);
}

static void
unsubscribe (NatterHub *self, ClientState *cs, Room *room)
{
  natter_hub_room_drop_sub (self, room, cs);
  g_hash_table_remove (cs->subs, room->name);
}

/* Subscribes every logged-in session of @user to @room, from @from_seq. */
void
natter_hub_subscribe_user (NatterHub *self, const char *user, Room *room, guint64 from_seq)
{
  GPtrArray *sessions = g_hash_table_lookup (self->online, user);

  for (guint i = 0; sessions != NULL && i < sessions->len; i++)
    natter_hub_subscribe (self, g_ptr_array_index (sessions, i), room, from_seq);
}

/* @user left @room: the room's sessions (the user's own included) hear it, then the
 * user's sessions stop receiving the room. */
void
natter_hub_remove_member (NatterHub *self, Room *room, const char *user)
{
  natter_hub_remove_member_by (self, room, user, NULL, FALSE);
}

void
natter_hub_remove_member_by (NatterHub *self, Room *room, const char *user, const char *by,
                             gboolean banned)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Member member = NATTER__MEMBER__INIT;
  g_autoptr(NatterEvent) event = NULL;

  if (!g_hash_table_contains (room->members, user))
    return;
  member.room = room->name;
  member.user = (char *) user;
  member.has_joined = TRUE;
  member.joined = FALSE;
  member.by = (char *) by;
  member.has_banned = banned;
  member.banned = banned;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_MEMBER;
  frame.member = &member;
  event = natter_event_new (&frame);
  natter_hub_remove_member_event (self, room, user, event);
}

void
natter_hub_remove_member_event (NatterHub *self, Room *room, const char *user, NatterEvent *event)
{
  g_autofree char *name = g_strdup (user);
  GHashTable *mine;
  GPtrArray *sessions;

  if (!g_hash_table_remove (room->members, name))
    return;
  /* A role and a notification level end with the membership. */
  g_hash_table_remove (room->roles, name);
  g_hash_table_remove (room->levels, name);
  room->membership_gen = ++self->membership_gen;
  mine = natter_hub_user_rooms (self, name, FALSE);
  if (mine != NULL)
    g_hash_table_remove (mine, room);
  natter_hub_deliver_to_room (self, room, event, NULL);
  sessions = g_hash_table_lookup (self->online, name);
  for (guint i = 0; sessions != NULL && i < sessions->len; i++)
    unsubscribe (self, g_ptr_array_index (sessions, i), room);
}

/* Sends @event to every subscriber of @room except @except. */
void
natter_hub_deliver_to_room (NatterHub *self, Room *room, NatterEvent *event, ClientState *except)
{
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, room->subs);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (key != except)
      natter_hub_deliver (self, key, event);
}

/* ---------------------------------------------------------------------------------- */
/* Presence */

void
natter_hub_send_presence (NatterHub *self, const char *user, gboolean online)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Presence presence = NATTER__PRESENCE__INIT;
  g_autoptr(NatterEvent) event = NULL;
  g_autoptr(GHashTable) seen = g_hash_table_new (NULL, NULL);
  GHashTable *rooms = natter_hub_user_rooms (self, user, FALSE);
  GPtrArray *own = g_hash_table_lookup (self->online, user);
  GHashTableIter iter;
  gpointer key;

  presence.user = (char *) user;
  presence.has_online = TRUE;
  presence.online = online;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_PRESENCE;
  frame.presence = &presence;
  event = natter_event_new (&frame);

  /* Everyone who shares a room with @user, and the user's own other sessions. */
  if (rooms != NULL)
    {
      g_hash_table_iter_init (&iter, rooms);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        {
          Room *room = key;
          GHashTableIter sub_iter;
          gpointer cs;

          g_hash_table_iter_init (&sub_iter, room->subs);
          while (g_hash_table_iter_next (&sub_iter, &cs, NULL))
            if (g_hash_table_add (seen, cs))
              natter_hub_deliver (self, cs, event);
        }
    }
  for (guint i = 0; own != NULL && i < own->len; i++)
    if (g_hash_table_add (seen, g_ptr_array_index (own, i)))
      natter_hub_deliver (self, g_ptr_array_index (own, i), event);
}

/* Whether @user has a session on this node or, as other nodes say, on another. */
gboolean
natter_hub_user_online (NatterHub *self, const char *user)
{
  GPtrArray *sessions = g_hash_table_lookup (self->online, user);

  return (sessions != NULL && sessions->len > 0) ||
         g_hash_table_contains (self->online_elsewhere, user);
}

/* ---------------------------------------------------------------------------------- */
/* Delivery in seq order */

static void
sub_deliver (NatterHub *self, ClientState *cs, Sub *sub, guint64 seq, NatterEvent *event)
{
  if (sub->catching_up)
    {
      natter_event_ref (event);
      g_queue_push_tail (&sub->held, event);
      g_array_append_val (sub->held_seqs, seq);
      return;
    }
  if (seq <= sub->delivered)
    return;
  if (sub->first_live == 0)
    sub->first_live = seq;
  sub->delivered = seq;
  natter_hub_deliver (self, cs, event);
}

static void
deliver_room_message (NatterHub *self, Room *room, const Natter__Message *message)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  g_autoptr(NatterEvent) event = NULL;
  GHashTableIter iter;
  gpointer cs, sub;

  frame.event_case = NATTER__SERVER_FRAME__EVENT_MESSAGE;
  frame.message = (Natter__Message *) message;
  event = natter_event_new (&frame);

  g_hash_table_iter_init (&iter, room->subs);
  while (g_hash_table_iter_next (&iter, &cs, &sub))
    sub_deliver (self, cs, sub, message->seq, event);
}

static void
room_release (const Natter__Message *message, gpointer user_data)
{
  Room *room = user_data;

  deliver_room_message (room->hub, room, message);
}

/* Delivers messages of @room strictly in seq order. A later seq that arrives before an
 * earlier one (several nodes commit into one room) is held briefly, then the gap is
 * back-filled from the store. */
void
natter_hub_room_committed (NatterHub *self, Room *room, const Natter__Message *message)
{
  natter_seq_order_feed (room->order, message);
}

typedef struct
{
  NatterHub *hub;   /* (owned) */
  char      *room;  /* (owned) */
} GapFill;

static GapFill *
gap_fill_new (NatterHub *self, Room *room)
{
  GapFill *fill = g_new0 (GapFill, 1);

  fill->hub = g_object_ref (self);
  fill->room = g_strdup (room->name);
  return fill;
}

static void
gap_fill_free (GapFill *fill)
{
  g_object_unref (fill->hub);
  g_free (fill->room);
  g_free (fill);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GapFill, gap_fill_free)

static void
gap_fill_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GapFill) fill = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterHistoryResult) page = natter_store_history_finish (NATTER_STORE (source),
                                                                     result, &error);
  NatterHub *self = fill->hub;
  Room *room = g_hash_table_lookup (self->rooms, fill->room);
  guint64 before;

  if (room == NULL)
    return;
  if (page == NULL)
    {
      /* Expected while the database is away: try again a little later. */
      if (g_error_matches (error, NATTER_ERROR, NATTER_ERROR_UNAVAILABLE))
        g_debug ("Could not back-fill room %s: %s", fill->room, error->message);
      else
        g_warning ("Could not back-fill room %s: %s", fill->room, error->message);
      natter_seq_order_fetch_failed (room->order);
      return;
    }

  /* A node that missed many messages (Redis was away) pages until it has them all. */
  before = natter_room_delivered_seq (room);
  for (guint i = 0; i < page->messages->len; i++)
    natter_hub_room_add_mentions (room, g_ptr_array_index (page->messages, i));
  natter_seq_order_fetched (room->order, (Natter__Message * const *) page->messages->pdata,
                            page->messages->len);
  self->n_catch_ups += natter_room_delivered_seq (room) - before;
}

static gboolean
room_fetch (guint64 after_seq, gpointer user_data)
{
  Room *room = user_data;
  NatterHistoryQuery query = { 0, };

  query.has_after = TRUE;
  query.after_seq = after_seq;
  query.limit = MAX_PAGE;
  natter_store_history_async (room->hub->store, room->name, &query, NULL, gap_fill_cb,
                              gap_fill_new (room->hub, room));
  return TRUE;
}

/* Fetches what the store has after the room's delivered seq now, without waiting for
 * a held message's gap to fill by itself: the store is known to be ahead. */
void
natter_hub_room_backfill (NatterHub *self, Room *room)
{
  natter_seq_order_catch_up (room->order);
}

/* ---------------------------------------------------------------------------------- */
/* Rooms: access */

static void
room_refreshed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterRoomRecord) record = natter_store_get_room_finish (NATTER_STORE (source),
                                                                    result, &error);
  ClientState *cs;

  if (record == NULL && !g_error_matches (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND))
    {
      natter_hub_reply_with_gerror (req, error);
      return;
    }
  if (record != NULL)
    natter_hub_merge_room (req->hub, record, req->refresh_gen);
  cs = natter_hub_lookup_client (req->hub, req->client);
  if (cs == NULL)
    return;
  /* The handler runs again from the start. */
  g_clear_pointer (&req->user, g_free);
  g_clear_pointer (&req->room, g_free);
  g_clear_pointer (&req->token, g_free);
  natter_hub_handle_request (req, cs);
}

/* Shared store: @name, or @user's membership of it, may come from another node, and this
 * node's copy of a room no local session reads may be behind. Reads the room from the
 * store, then runs the request again, which answers from what the store said. Returns
 * FALSE, doing nothing, on a store of its own or when the request ran again already. */
gboolean
natter_hub_refresh_and_retry (Request *req, const char *name)
{
  NatterHub *self = req->hub;

  if (!self->shared || req->refreshed)
    return FALSE;
  req->refreshed = TRUE;
  req->refresh_gen = self->membership_gen;
  natter_store_get_room_async (self->store, name, NULL, room_refreshed_cb, natter_hub_request_ref (req));
  return TRUE;
}

/* Whether the store may know @name as a room @user may read: a room name, or a DM
 * of @user. */
static gboolean
may_read_name (const char *name, const char *user)
{
  g_autofree char *a = NULL, *b = NULL;

  if (parse_dm_name (name, &a, &b))
    return g_str_equal (a, user) || g_str_equal (b, user);
  return natter_validate_room_name (name);
}

/* Finds @name for reading by @user: not_found, or forbidden when not a member. Returns
 * NULL when it answered, or when the request runs again once the room was read from
 * the store (in a cluster). */
Room *
natter_hub_room_for_reading (Request *req, const char *user, const char *name)
{
  Room *room;

  if (name == NULL)
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST, "room is required");
      return NULL;
    }
  room = g_hash_table_lookup (req->hub->rooms, name);
  if ((room == NULL || !natter_hub_room_is_member (room, user)) && may_read_name (name, user) &&
      natter_hub_refresh_and_retry (req, name))
    return NULL;
  if (room == NULL)
    {
      g_autofree char *a = NULL, *b = NULL;

      if (!natter_validate_room_name (name) && !parse_dm_name (name, &a, &b))
        natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST, "invalid room name");
      else if (a != NULL && !g_str_equal (a, user) && !g_str_equal (b, user))
        natter_hub_reply_with_error (req, NATTER_ERROR_FORBIDDEN, "“%s” is a direct conversation of other users",
                     name);
      else
        natter_hub_reply_with_error (req, NATTER_ERROR_NOT_FOUND, "no room “%s”", name);
      return NULL;
    }
  if (!natter_hub_room_is_member (room, user))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_FORBIDDEN, "not a member of “%s”", name);
      return NULL;
    }
  return room;
}

/* ---------------------------------------------------------------------------------- */
/* Join */

static void
hold_or_release (NatterHub *self, ClientState *cs, Sub *sub)
{
  guint n = sub->held_seqs->len;

  sub->catching_up = FALSE;
  for (guint i = 0; i < n; i++)
    {
      NatterEvent *event = g_queue_pop_head (&sub->held);
      guint64 seq = g_array_index (sub->held_seqs, guint64, i);

      sub_deliver (self, cs, sub, seq, event);
      natter_event_unref (event);
    }
  g_array_set_size (sub->held_seqs, 0);
}

static void
send_joined (Request *req, Room *room, const char *user, gboolean has_more)
{
  NatterHub *self = req->hub;
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Joined joined = NATTER__JOINED__INIT;
  g_autoptr(GPtrArray) members = g_ptr_array_new ();
  g_autoptr(GPtrArray) online = g_ptr_array_new ();
  g_autoptr(GPtrArray) owners = g_ptr_array_new ();
  g_autoptr(GPtrArray) moderators = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key;

  if (!g_str_equal (room->kind, NATTER_ROOM_KIND_SYSTEM))
    {
      g_hash_table_iter_init (&iter, room->members);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        {
          NatterRole role = natter_hub_room_role (room, key);

          g_ptr_array_add (members, key);
          if (natter_hub_user_online (self, key))
            g_ptr_array_add (online, key);
          if (role == NATTER_ROLE_OWNER)
            g_ptr_array_add (owners, key);
          else if (role == NATTER_ROLE_MODERATOR)
            g_ptr_array_add (moderators, key);
        }
      g_ptr_array_sort (members, compare_strv_items);
      g_ptr_array_sort (online, compare_strv_items);
      g_ptr_array_sort (owners, compare_strv_items);
      g_ptr_array_sort (moderators, compare_strv_items);
    }

  joined.room = room->name;
  joined.has_last_seq = TRUE;
  joined.last_seq = natter_room_last_seq (room);
  joined.n_members = members->len;
  joined.members = (char **) members->pdata;
  joined.n_online = online->len;
  joined.online = (char **) online->pdata;
  joined.has_has_more = TRUE;
  joined.has_more = has_more;
  joined.kind = room->kind;
  joined.topic = room->topic;
  joined.has_private_ = TRUE;
  joined.private_ = room->is_private;
  joined.role = (char *) natter_role_to_string (natter_hub_room_role (room, user));
  joined.notification_level = (char *) natter_notification_level_to_string (
    natter_hub_room_notification_level (room, user));
  joined.n_owners = owners->len;
  joined.owners = (char **) owners->pdata;
  joined.n_moderators = moderators->len;
  joined.moderators = (char **) moderators->pdata;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_JOINED;
  frame.joined = &joined;
  natter_hub_reply (req, &frame);
}

/* Pages through the store, up to 200 messages at a time, from req->since_seq up to
 * req->resume_end. */
static void
resume_fetch (Request *req, Room *room)
{
  NatterHistoryQuery query = { 0, };

  query.has_after = TRUE;
  query.after_seq = req->since_seq;
  query.limit = (guint) MIN (req->resume_end - req->since_seq, MAX_PAGE);
  natter_store_history_async (req->hub->store, room->name, &query, NULL, resume_fetched_cb,
                              natter_hub_request_ref (req));
}

static void
resume_fetched_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterHistoryResult) page = natter_store_history_finish (NATTER_STORE (source),
                                                                     result, &error);
  NatterHub *self = req->hub;
  ClientState *cs = natter_hub_lookup_client (self, req->client);
  Room *room = g_hash_table_lookup (self->rooms, req->room);
  Sub *sub;

  if (cs == NULL || room == NULL)
    return;
  sub = g_hash_table_lookup (cs->subs, room->name);
  if (sub == NULL)
    return;
  if (page == NULL)
    {
      /* The client has `joined`; it sees the error and pages with history. */
      natter_hub_reply_with_gerror (req, error);
      hold_or_release (self, cs, sub);
      return;
    }

  for (guint i = 0; i < page->messages->len; i++)
    {
      Natter__Message *message = g_ptr_array_index (page->messages, i);
      Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
      g_autoptr(NatterEvent) event = NULL;

      if (message->seq > req->resume_end)
        break;
      req->since_seq = message->seq;
      /* Skip what this session already got live. */
      if (sub->first_live != 0 && message->seq >= sub->first_live &&
          message->seq <= sub->delivered)
        continue;
      natter_hub_room_add_mentions (room, message);
      frame.event_case = NATTER__SERVER_FRAME__EVENT_MESSAGE;
      frame.message = message;
      event = natter_event_new (&frame);
      natter_hub_deliver (self, cs, event);
      sub->delivered = MAX (sub->delivered, message->seq);
    }

  if (page->messages->len > 0 && req->since_seq < req->resume_end)
    {
      resume_fetch (req, room);
      return;
    }
  hold_or_release (self, cs, sub);
}

/* Answers `joined` for a member, then replays what came after since_seq, at most
 * resume_cap messages; live messages that arrive meanwhile wait behind the replay. */
static void
join_member (Request *req, ClientState *cs, Room *room)
{
  NatterHub *self = req->hub;
  guint cap = self->config->resume_cap;
  guint64 delivered_seq;
  Sub *sub;

  natter_hub_subscribe (self, cs, room, natter_room_delivered_seq (room));
  sub = g_hash_table_lookup (cs->subs, room->name);
  delivered_seq = natter_room_delivered_seq (room);

  if (!req->has_since || req->since_seq >= delivered_seq || sub->catching_up)
    {
      /* Nothing to catch up (or a resume is already running): positions past the end
       * mean the client is ahead of us; never repeat what it has. */
      if (req->has_since && sub->first_live == 0)
        sub->delivered = MAX (sub->delivered, MIN (req->since_seq, delivered_seq));
      send_joined (req, room, cs->user, FALSE);
      return;
    }

  /* Seqs are gapless, so the size of the backlog is known before reading it. */
  send_joined (req, room, cs->user, delivered_seq - req->since_seq > cap);
  if (sub->first_live == 0)
    sub->delivered = req->since_seq;
  sub->catching_up = TRUE;
  g_free (req->room);
  req->room = g_strdup (room->name);
  req->resume_end = MIN (delivered_seq, req->since_seq + cap);
  resume_fetch (req, room);
}

void
natter_hub_send_member_event (NatterHub *self, Room *room, const char *user, gboolean joined)
{
  natter_hub_send_member_event_full (self, room, user, joined, NULL, NULL, FALSE);
}

void
natter_hub_send_member_event_full (NatterHub *self, Room *room, const char *user,
                                   gboolean joined, const char *role, const char *by,
                                   gboolean banned)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Member member = NATTER__MEMBER__INIT;
  g_autoptr(NatterEvent) event = NULL;

  member.room = room->name;
  member.user = (char *) user;
  member.has_joined = TRUE;
  member.joined = joined;
  member.role = (char *) role;
  member.by = (char *) by;
  member.has_banned = banned;
  member.banned = banned;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_MEMBER;
  frame.member = &member;
  event = natter_event_new (&frame);
  natter_hub_deliver_to_room (self, room, event, NULL);
}

static void
join_member_added_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_store_add_member_finish (NATTER_STORE (source), result, &error))
    {
      natter_hub_reply_with_gerror (req, error);
      return;
    }
  natter_hub_join_added (req);
}

void
natter_hub_join_added (Request *req)
{
  NatterHub *self = req->hub;
  ClientState *cs;
  Room *room;

  room = g_hash_table_lookup (self->rooms, req->room);
  cs = natter_hub_lookup_client (self, req->client);
  if (room == NULL || cs == NULL)
    return;
  if (!natter_hub_room_is_member (room, cs->user))
    {
      /* An invitation is used up by joining (the store dropped it too). */
      g_hash_table_remove (room->invited, cs->user);
      natter_hub_add_member (self, room, cs->user, 0);
      /* The account's other sessions see the room from its start. */
      natter_hub_subscribe_user (self, cs->user, room, 0);
      natter_hub_send_member_event (self, room, cs->user, TRUE);
      g_signal_emit (self, natter_hub_signals[SIGNAL_MEMBER_CHANGED], 0, room->name, cs->user, TRUE);
    }
  join_member (req, cs, room);
}

/* A room was created for req->user: make them a member, then continue with req->then. */
void
natter_hub_room_created_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterRoomRecord) record = natter_store_create_room_finish (NATTER_STORE (source),
                                                                       result, &error);

  if (record == NULL)
    {
      natter_hub_reply_with_gerror (req, error);
      return;
    }
  natter_hub_add_room (req->hub, record->name, record->kind, record->topic, record->last_seq);
  natter_store_add_member_async (req->hub->store, record->name, req->user, NULL, req->then,
                                 natter_hub_request_ref (req));
}

/* Rooms joined by choice: DMs that others start are not the account's doing. */
static guint
count_public_rooms (GHashTable *rooms)
{
  GHashTableIter iter;
  gpointer key;
  guint n = 0;

  g_hash_table_iter_init (&iter, rooms);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (g_str_equal (((Room *) key)->kind, NATTER_ROOM_KIND_ROOM))
      n++;
  return n;
}

void
natter_hub_handle_join (Request *req, ClientState *cs)
{
  NatterHub *self = req->hub;
  Natter__Join *op = req->frame->join;
  Room *room;
  GHashTable *mine;
  g_autofree char *a = NULL, *b = NULL;
  guint retry_after_ms = 0;

  if (op->room == NULL)
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST, "join.room is required");
      return;
    }
  req->has_since = op->has_since_seq;
  req->since_seq = op->since_seq;

  room = g_hash_table_lookup (self->rooms, op->room);
  /* A cluster reads what the store knows first, unless a local session reads the room
   * already (then this node is up to date with it). */
  if ((room == NULL || !natter_hub_room_is_member (room, cs->user) || g_hash_table_size (room->subs) == 0) &&
      may_read_name (op->room, cs->user) && natter_hub_refresh_and_retry (req, op->room))
    return;
  if (room != NULL && natter_hub_room_is_member (room, cs->user))
    {
      join_member (req, cs, room);
      return;
    }
  if (room != NULL && !natter_hub_may_join (req, cs, room))
    return;
  if (parse_dm_name (op->room, &a, &b))
    {
      if (!g_str_equal (a, cs->user) && !g_str_equal (b, cs->user))
        natter_hub_reply_with_error (req, NATTER_ERROR_FORBIDDEN, "“%s” is a direct conversation of other users",
                     op->room);
      else if (room == NULL)
        natter_hub_reply_with_error (req, NATTER_ERROR_NOT_FOUND,
                     "no conversation “%s” yet: send a message with “to” to start it", op->room);
      else
        {
          /* Rejoining one's own DM after leaving it. */
          req->user = g_strdup (cs->user);
          req->room = g_strdup (room->name);
          natter_store_add_member_async (self->store, room->name, cs->user, NULL,
                                         join_member_added_cb, natter_hub_request_ref (req));
        }
      return;
    }
  if (!natter_validate_room_name (op->room))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST, "room name must match [a-z0-9_.-]{1,64}");
      return;
    }
  mine = natter_hub_user_rooms (self, cs->user, FALSE);
  if (mine != NULL && count_public_rooms (mine) >= self->config->max_rooms_per_user)
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_FORBIDDEN, "room limit reached (%u rooms)",
                   self->config->max_rooms_per_user);
      return;
    }
  if (room != NULL && g_hash_table_size (room->members) >= self->config->max_members_per_room)
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_FORBIDDEN, "“%s” is full", op->room);
      return;
    }

  if (room == NULL && !natter_buckets_take (self->room_buckets, cs->user, &retry_after_ms))
    {
      natter_hub_reply_rate_limited (req, retry_after_ms, "too many new rooms; retry later");
      return;
    }

  req->user = g_strdup (cs->user);
  req->room = g_strdup (op->room);
  if (room == NULL)
    {
      /* Its creator owns it, as with create. */
      natter_hub_handle_create (req, cs);
    }
  else
    natter_store_add_member_async (self->store, room->name, cs->user, NULL,
                                   join_member_added_cb, natter_hub_request_ref (req));
}

/* ---------------------------------------------------------------------------------- */
/* Leave */

static void
leave_removed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  NatterHub *self = req->hub;
  Room *room;

  if (!natter_store_remove_member_finish (NATTER_STORE (source), result, &error))
    {
      natter_hub_reply_with_gerror (req, error);
      return;
    }
  room = g_hash_table_lookup (self->rooms, req->room);
  if (room != NULL && g_hash_table_contains (room->members, req->user))
    {
      /* The account's own sessions (a browser, the D-Bus service) learn it too. */
      natter_hub_remove_member (self, room, req->user);
      g_signal_emit (self, natter_hub_signals[SIGNAL_MEMBER_CHANGED], 0, room->name, req->user, FALSE);
    }
  natter_hub_reply_ok (req);
}

void
natter_hub_handle_leave (Request *req, ClientState *cs)
{
  Room *room = natter_hub_room_for_reading (req, cs->user, req->frame->leave->room);

  if (room == NULL)
    return;
  if (g_str_equal (room->kind, NATTER_ROOM_KIND_SYSTEM))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_FORBIDDEN, "nobody can leave the system room");
      return;
    }
  if (!natter_hub_may_leave (req, room, cs->user))
    return;
  req->user = g_strdup (cs->user);
  req->room = g_strdup (room->name);
  natter_store_remove_member_async (req->hub->store, room->name, cs->user, NULL,
                                    leave_removed_cb, natter_hub_request_ref (req));
}
