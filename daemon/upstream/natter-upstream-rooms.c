/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-upstream"

#include "config.h"

#include <string.h>

#include "natter-upstream-private.h"

/* The account's rooms as the link knows them: members, read markers, and their
 * messages passed on to the front end and the cache in seq order, once each, through a
 * NatterSeqOrder per room. */

static void room_release (const Natter__Message *message, gpointer user_data);
static void room_lost (guint64 first, guint64 last, gpointer user_data);
static gboolean room_fetch (guint64 after_seq, gpointer user_data);

static const char *
kind_for_room_name (const char *name)
{
  if (g_str_equal (name, NATTER_SYSTEM_ROOM))
    return NATTER_ROOM_KIND_SYSTEM;
  if (g_str_has_prefix (name, "dm:"))
    return NATTER_ROOM_KIND_DM;
  return NATTER_ROOM_KIND_ROOM;
}

/* The server's seqs are gapless and it sends each room in order, so a gap is messages the
 * link missed (while it was down, or past a resume's cap): they are fetched at once, and
 * what the server cannot send any more is skipped. */
static const NatterSeqOrderPolicy room_order_policy = {
  .release = room_release,
  .fetch = room_fetch,
  .lost = room_lost,
  .max_held = HELD_MAX,
};

UpstreamRoom *
natter_upstream_room_new (NatterUpstream *self,
                          const char     *name,
                          const char     *kind,
                          guint64         last_seq)
{
  UpstreamRoom *room = g_new0 (UpstreamRoom, 1);

  room->upstream = self;
  room->name = g_strdup (name);
  room->kind = g_strdup (kind != NULL ? kind : kind_for_room_name (name));
  room->order = natter_seq_order_new (&room_order_policy, last_seq, room);
  room->members = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  room->roles = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return room;
}

void
natter_upstream_room_free (UpstreamRoom *room)
{
  g_free (room->name);
  g_free (room->kind);
  g_free (room->topic);
  g_free (room->role);
  g_free (room->notification_level);
  natter_seq_order_free (room->order);
  g_hash_table_unref (room->members);
  g_hash_table_unref (room->roles);
  g_free (room);
}

/* Every seq up to this one was handled. */
guint64
natter_upstream_room_seen (UpstreamRoom *room)
{
  return natter_seq_order_get_cursor (room->order);
}

/* Makes every room object go away: the account changed, or was forgotten, or the
 * server's store was replaced. */
void
natter_upstream_drop_all_rooms (NatterUpstream *self)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer name;

  g_hash_table_iter_init (&iter, self->rooms);
  while (g_hash_table_iter_next (&iter, &name, NULL))
    g_ptr_array_add (names, g_strdup (name));
  g_hash_table_remove_all (self->rooms);
  g_hash_table_remove_all (self->left_rooms);
  for (guint i = 0; i < names->len && self->user != NULL; i++)
    natter_upstream_deliver_member (self, g_ptr_array_index (names, i), self->user, FALSE);
}

static int
compare_room_names (gconstpointer a,
                    gconstpointer b)
{
  const UpstreamRoom *x = *(UpstreamRoom * const *) a, *y = *(UpstreamRoom * const *) b;
  gboolean sx = g_str_equal (x->kind, NATTER_ROOM_KIND_SYSTEM);
  gboolean sy = g_str_equal (y->kind, NATTER_ROOM_KIND_SYSTEM);

  /* As the server lists them: `system` first, then by name. */
  if (sx != sy)
    return sx ? -1 : 1;
  return strcmp (x->name, y->name);
}

/* RoomInfos of the rooms known locally, for a welcome or a room list while offline. */
Natter__RoomInfo **
natter_upstream_local_room_infos (NatterUpstream    *self,
                                  gsize             *out_n,
                                  Natter__RoomInfo **out_storage)
{
  g_autoptr(GPtrArray) rooms = natter_upstream_hash_table_values (self->rooms);
  Natter__RoomInfo *infos = g_new0 (Natter__RoomInfo, MAX (rooms->len, 1));
  Natter__RoomInfo **ptrs = g_new0 (Natter__RoomInfo *, MAX (rooms->len, 1));

  g_ptr_array_sort (rooms, compare_room_names);
  for (guint i = 0; i < rooms->len; i++)
    {
      UpstreamRoom *room = g_ptr_array_index (rooms, i);
      Natter__RoomInfo *info = &infos[i];

      natter__room_info__init (info);
      info->name = room->name;
      info->topic = room->topic;
      info->kind = room->kind;
      info->has_last_seq = TRUE;
      info->last_seq = natter_upstream_room_seen (room);
      info->has_read_seq = TRUE;
      info->read_seq = MIN (room->read_seq, info->last_seq);
      info->has_unread = TRUE;
      info->unread = info->last_seq - info->read_seq;
      info->has_private_ = TRUE;
      info->private_ = room->is_private;
      info->role = room->role;
      info->notification_level = room->notification_level;
      ptrs[i] = info;
    }
  *out_n = rooms->len;
  *out_storage = infos;
  return ptrs;
}

/* What the cache knows, for the front end before (or without) the server's welcome. */
void
natter_upstream_deliver_local_welcome (NatterUpstream *self)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Welcome welcome = NATTER__WELCOME__INIT;
  g_autofree Natter__RoomInfo *storage = NULL;
  g_autofree Natter__RoomInfo **ptrs = NULL;

  welcome.user = self->user;
  welcome.epoch = self->cache != NULL ? (char *) natter_upstream_cache_get_epoch (self->cache)
                                      : NULL;
  ptrs = natter_upstream_local_room_infos (self, &welcome.n_rooms, &storage);
  welcome.rooms = ptrs;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_WELCOME;
  frame.welcome = &welcome;
  natter_upstream_deliver (self, &frame);
}

/* ---------------------------------------------------------------------------------- */
/* Rooms: in-order delivery, once each */

UpstreamRoom *
natter_upstream_ensure_room (NatterUpstream *self,
                             const char     *name,
                             const char     *kind,
                             gboolean       *out_created)
{
  UpstreamRoom *room = g_hash_table_lookup (self->rooms, name);
  gpointer key, copied;
  guint64 seen = 0;

  if (out_created != NULL)
    *out_created = room == NULL;
  if (room != NULL)
    return room;
  /* Rejoined: the copy goes on after what it has, so its seqs stay the server's. */
  if (g_hash_table_steal_extended (self->left_rooms, name, &key, &copied))
    {
      seen = *(guint64 *) copied;
      g_free (key);
      g_free (copied);
    }
  room = natter_upstream_room_new (self, name, kind, seen);
  g_hash_table_insert (self->rooms, room->name, room);
  if (self->user != NULL)
    g_hash_table_add (room->members, g_strdup (self->user));
  if (self->cache != NULL)
    natter_upstream_cache_add_room (self->cache, room->name, room->kind, room->topic);
  return room;
}

void
natter_upstream_forget_room (NatterUpstream *self,
                             const char     *name)
{
  UpstreamRoom *room = g_hash_table_lookup (self->rooms, name);

  if (room == NULL)
    return;
  if (!room->gapped)
    {
      guint64 seen = natter_upstream_room_seen (room);

      g_hash_table_insert (self->left_rooms, g_strdup (name), g_memdup2 (&seen, sizeof seen));
    }
  g_hash_table_remove (self->rooms, name);
  if (self->cache != NULL && self->user != NULL)
    natter_upstream_cache_remove_member (self->cache, name, self->user);
}

/* Passes on the next message of @room: to the cache, and to the front end unless it is
 * old history being copied. */
static void
room_release (const Natter__Message *message,
              gpointer               user_data)
{
  UpstreamRoom *room = user_data;
  NatterUpstream *self = room->upstream;

  if (self->cache != NULL && !room->gapped)
    natter_upstream_cache_append (self->cache, message);
  /* The server moves a sender's read marker to their own message. */
  if (g_strcmp0 (message->sender, self->user) == 0 &&
      !g_str_equal (room->kind, NATTER_ROOM_KIND_SYSTEM))
    room->read_seq = MAX (room->read_seq, message->seq);
  if (room->resuming && message->seq >= room->resume_end)
    room->resuming = FALSE;

  if (message->seq > room->floor)
    {
      Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;

      frame.event_case = NATTER__SERVER_FRAME__EVENT_MESSAGE;
      frame.message = (Natter__Message *) message;
      natter_upstream_deliver (self, &frame);
    }
}

/* The server could not fill a gap (its seqs are gapless, so this means lost data): the
 * room goes on after it, and its local copy, whose seqs would no longer be the server's,
 * stops there. */
static void
room_lost (guint64  first,
           guint64  last,
           gpointer user_data)
{
  UpstreamRoom *room = user_data;

  g_warning ("Messages %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT " of %s are missing on %s; "
             "skipping them", first, last, room->name,
             natter_upstream_server_label (room->upstream));
  room->gapped = TRUE;
}

void
natter_upstream_handle_message (NatterUpstream        *self,
                                const Natter__Message *message)
{
  UpstreamRoom *room;

  if (message->room == NULL || message->seq == 0)
    return;
  /* A direct message someone started, or a room joined from another session: the
   * server sends it from its first message. */
  room = natter_upstream_ensure_room (self, message->room, NULL, NULL);
  natter_seq_order_feed (room->order, message);
}

/* ---------------------------------------------------------------------------------- */
/* Catching up */

static void
fetch_reply (NatterUpstream      *self,
             UpstreamRequest     *req,
             Natter__ServerFrame *frame)
{
  UpstreamRoom *room = g_hash_table_lookup (self->rooms, req->room);
  const Natter__HistoryPage *page;

  if (room == NULL)
    return;
  if (frame->event_case != NATTER__SERVER_FRAME__EVENT_HISTORY)
    {
      g_debug ("Cannot fetch the history of %s: %s", room->name,
               frame->event_case == NATTER__SERVER_FRAME__EVENT_ERROR ? frame->error->message
                                                                      : "unexpected reply");
      natter_seq_order_fetch_failed (room->order);
      return;
    }
  page = frame->history;
  for (gsize i = 0; i < page->n_messages; i++)
    if (page->messages[i]->room == NULL)
      page->messages[i]->room = strdup (room->name);
  natter_seq_order_fetched (room->order, page->messages, page->n_messages);
}

/* Asks for the messages after @after_seq, unless the link is down (the resume after the
 * next welcome brings them) or a resume is bringing them now. */
static gboolean
room_fetch (guint64  after_seq,
            gpointer user_data)
{
  UpstreamRoom *room = user_data;
  NatterUpstream *self = room->upstream;
  Natter__ClientFrame *frame;

  if (self->link != LINK_UP || room->resuming)
    return FALSE;
  frame = natter_upstream_client_frame_new (NATTER__CLIENT_FRAME__OP_HISTORY);
  frame->history = g_new0 (Natter__History, 1);
  natter__history__init (frame->history);
  frame->history->room = g_strdup (room->name);
  frame->history->has_after_seq = TRUE;
  frame->history->after_seq = after_seq;
  frame->history->has_limit = TRUE;
  frame->history->limit = HISTORY_PAGE_MAX;
  natter_upstream_send_own_request (self, frame, room->name, fetch_reply);
  return TRUE;
}

static void
update_members (NatterUpstream     *self,
                UpstreamRoom       *room,
                char * const       *members,
                gsize               n_members)
{
  g_autoptr(GHashTable) fresh = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  GHashTableIter iter;
  gpointer user;

  for (gsize i = 0; i < n_members; i++)
    {
      g_hash_table_add (fresh, g_strdup (members[i]));
      if (self->cache != NULL && !g_hash_table_contains (room->members, members[i]))
        natter_upstream_cache_add_member (self->cache, room->name, members[i]);
    }
  g_hash_table_iter_init (&iter, room->members);
  while (g_hash_table_iter_next (&iter, &user, NULL))
    if (self->cache != NULL && !g_hash_table_contains (fresh, user))
      natter_upstream_cache_remove_member (self->cache, room->name, user);
  g_hash_table_unref (room->members);
  room->members = g_steal_pointer (&fresh);
}

void
natter_upstream_apply_joined (NatterUpstream       *self,
                              const Natter__Joined *joined)
{
  UpstreamRoom *room;

  if (joined->room == NULL)
    return;
  room = natter_upstream_ensure_room (self, joined->room, joined->kind, NULL);
  if (joined->kind != NULL && g_strcmp0 (room->kind, joined->kind) != 0)
    {
      g_free (room->kind);
      room->kind = g_strdup (joined->kind);
    }
  if (g_strcmp0 (room->topic, joined->topic) != 0)
    {
      g_free (room->topic);
      room->topic = g_strdup (joined->topic);
    }
  natter_seq_order_note_known (room->order, joined->last_seq);
  /* `system` lists no members: everyone reads it. */
  if (joined->n_members > 0)
    update_members (self, room, joined->members, joined->n_members);
  if (joined->has_private_)
    room->is_private = joined->private_;
  if (joined->role != NULL)
    {
      g_free (room->role);
      room->role = g_strdup (joined->role);
    }
  natter_upstream_set_notification_level (room, joined->notification_level);
  g_hash_table_remove_all (room->roles);
  for (gsize i = 0; i < joined->n_moderators; i++)
    g_hash_table_insert (room->roles, g_strdup (joined->moderators[i]), g_strdup ("moderator"));
  for (gsize i = 0; i < joined->n_owners; i++)
    g_hash_table_insert (room->roles, g_strdup (joined->owners[i]), g_strdup ("owner"));
}

static int
compare_name_ptrs (gconstpointer a,
                   gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

/* The room's owners and moderators as the mirror knows them, sorted, for a `joined`
 * answered offline; the arrays borrow the names. */
void
natter_upstream_room_roles (UpstreamRoom *room,
                            GPtrArray    *owners,
                            GPtrArray    *moderators)
{
  GHashTableIter iter;
  gpointer user, role;

  g_hash_table_iter_init (&iter, room->roles);
  while (g_hash_table_iter_next (&iter, &user, &role))
    g_ptr_array_add (g_str_equal (role, "owner") ? owners : moderators, user);
  g_ptr_array_sort (owners, compare_name_ptrs);
  g_ptr_array_sort (moderators, compare_name_ptrs);
}

void
natter_upstream_handle_topic (NatterUpstream      *self,
                              const Natter__Topic *topic)
{
  UpstreamRoom *room = topic->room != NULL ? g_hash_table_lookup (self->rooms, topic->room)
                                           : NULL;

  if (room == NULL)
    return;
  g_free (room->topic);
  room->topic = topic->topic != NULL && *topic->topic != '\0' ? g_strdup (topic->topic) : NULL;
}

void
natter_upstream_resume_reply (NatterUpstream      *self,
                              UpstreamRequest     *req,
                              Natter__ServerFrame *frame)
{
  UpstreamRoom *room = g_hash_table_lookup (self->rooms, req->room);

  if (room == NULL)
    return;
  if (frame->event_case != NATTER__SERVER_FRAME__EVENT_JOINED)
    {
      room->resuming = FALSE;
      g_debug ("Cannot resume %s: %s", room->name,
               frame->event_case == NATTER__SERVER_FRAME__EVENT_ERROR ? frame->error->message
                                                                      : "unexpected reply");
      return;
    }
  natter_upstream_apply_joined (self, frame->joined);
  if (frame->joined->has_more)
    {
      /* The replay stops at the server's resume cap: page through the rest. Pages and
       * replay may overlap; what was seen already is skipped. */
      room->resuming = FALSE;
    }
  else
    {
      room->resume_end = frame->joined->last_seq;
      room->resuming = natter_upstream_room_seen (room) < room->resume_end;
    }
  natter_seq_order_catch_up (room->order);
}

void
natter_upstream_handle_member (NatterUpstream       *self,
                               const Natter__Member *member)
{
  UpstreamRoom *room;

  if (member->room == NULL || member->user == NULL)
    return;
  if (g_strcmp0 (member->user, self->user) == 0)
    {
      if (!member->joined)
        {
          natter_upstream_forget_room (self, member->room);
          return;
        }
      room = natter_upstream_ensure_room (self, member->room, NULL, NULL);
      if (member->role != NULL)
        {
          g_free (room->role);
          room->role = g_strdup (member->role);
          if (g_str_equal (member->role, "member"))
            g_hash_table_remove (room->roles, member->user);
          else
            g_hash_table_insert (room->roles, g_strdup (member->user), g_strdup (member->role));
        }
      return;
    }
  room = g_hash_table_lookup (self->rooms, member->room);
  if (room == NULL)
    return;
  /* A role ends with the membership; a join says none (a newcomer is a member). */
  if (!member->joined || g_strcmp0 (member->role, "member") == 0)
    g_hash_table_remove (room->roles, member->user);
  else if (member->role != NULL)
    g_hash_table_insert (room->roles, g_strdup (member->user), g_strdup (member->role));
  if (member->joined && g_hash_table_add (room->members, g_strdup (member->user)))
    {
      if (self->cache != NULL)
        natter_upstream_cache_add_member (self->cache, room->name, member->user);
    }
  else if (!member->joined && g_hash_table_remove (room->members, member->user))
    {
      if (self->cache != NULL)
        natter_upstream_cache_remove_member (self->cache, room->name, member->user);
    }
}

void
natter_upstream_handle_receipt (NatterUpstream        *self,
                                const Natter__Receipt *receipt)
{
  UpstreamRoom *room;

  if (receipt->room == NULL || g_strcmp0 (receipt->user, self->user) != 0)
    return;
  room = g_hash_table_lookup (self->rooms, receipt->room);
  if (room == NULL)
    return;
  room->read_seq = MAX (room->read_seq, receipt->seq);
  if (self->cache != NULL)
    natter_upstream_cache_set_read (self->cache, room->name, receipt->seq);
}

/* ---------------------------------------------------------------------------------- */
/* Notification levels: the server keeps them; the copy here answers while offline. */

void
natter_upstream_set_notification_level (UpstreamRoom *room,
                                        const char   *level)
{
  if (level == NULL || g_strcmp0 (room->notification_level, level) == 0)
    return;
  g_free (room->notification_level);
  room->notification_level = g_strdup (level);
  if (room->upstream->cache != NULL)
    natter_upstream_cache_set_notification_level (room->upstream->cache, room->name, level);
}

/* Another session of the account set its level in a room. */
void
natter_upstream_handle_notification_level (NatterUpstream                  *self,
                                           const Natter__NotificationLevel *level)
{
  UpstreamRoom *room = level->room != NULL ? g_hash_table_lookup (self->rooms, level->room)
                                           : NULL;

  if (room != NULL)
    natter_upstream_set_notification_level (room, level->level);
}
