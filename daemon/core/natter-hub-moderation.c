/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-hub"

#include "config.h"

#include <string.h>

#include "natter-error.h"
#include "natter-hub-private.h"

/* Who may see, join and moderate a room, in one place: private rooms and invitations,
 * roles, kicks, bans, topics, the directory and blocks. The rules:
 * - a private room is seen only by its members and invitees (and server admins): the
 *   others cannot join it, and since they are no members nothing else of it reaches
 *   them (history, search, presence, typing, receipts and member lists all go by
 *   membership);
 * - a banned user is no member and cannot become one;
 * - owners set roles; moderators and owners kick, ban and set the topic; server admins
 *   may do anything an owner may. */

#define MAX_TOPIC_BYTES        1024
#define MAX_REASON_BYTES       1024
#define DEFAULT_DIRECTORY_LIMIT 50
#define MAX_DIRECTORY_LIMIT    100

/* ---------------------------------------------------------------------------------- */
/* The rules */

/* Replaces what @room knows of who may see and moderate it with what the store says. */
void
natter_hub_room_apply_record (Room *room, const NatterRoomRecord *record)
{
  room->is_private = record->is_private;
  g_hash_table_remove_all (room->roles);
  for (guint i = 0; i < record->members->len; i++)
    {
      NatterMemberRecord *member = g_ptr_array_index (record->members, i);

      if (member->role != NATTER_ROLE_MEMBER)
        g_hash_table_insert (room->roles, g_strdup (member->user), GINT_TO_POINTER (member->role));
    }
  g_hash_table_remove_all (room->levels);
  for (guint i = 0; i < record->members->len; i++)
    {
      NatterMemberRecord *member = g_ptr_array_index (record->members, i);

      if (member->notification_level != NATTER_NOTIFICATION_LEVEL_ALL)
        g_hash_table_insert (room->levels, g_strdup (member->user),
                             GINT_TO_POINTER (member->notification_level));
    }
  g_hash_table_remove_all (room->invited);
  for (guint i = 0; i < record->invited->len; i++)
    g_hash_table_add (room->invited, g_strdup (g_ptr_array_index (record->invited, i)));
  g_hash_table_remove_all (room->banned);
  for (guint i = 0; i < record->banned->len; i++)
    g_hash_table_add (room->banned, g_strdup (g_ptr_array_index (record->banned, i)));
}

NatterRole
natter_hub_room_role (Room *room, const char *user)
{
  return (NatterRole) GPOINTER_TO_INT (g_hash_table_lookup (room->roles, user));
}

gboolean
natter_hub_room_visible (Room *room, const char *user, gboolean admin)
{
  return !room->is_private || admin || natter_hub_room_is_member (room, user) ||
         g_hash_table_contains (room->invited, user);
}

gboolean
natter_hub_may_join (Request *req, ClientState *cs, Room *room)
{
  if (!g_str_equal (room->kind, NATTER_ROOM_KIND_ROOM))
    return TRUE;
  if (g_hash_table_contains (room->banned, cs->user))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_FORBIDDEN, "banned from “%s”", room->name);
      return FALSE;
    }
  if (!natter_hub_room_visible (room, cs->user, cs->admin))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_FORBIDDEN,
                                   "“%s” is private: joining it takes an invitation", room->name);
      return FALSE;
    }
  return TRUE;
}

static gboolean has_other_owner (Room *room, const char *user);

/* The last owner of a room with other members would leave it without one: refused
 * (with an answer to @req), as demoting, kicking or banning the last owner is. */
gboolean
natter_hub_may_leave (Request *req, Room *room, const char *user)
{
  if (!g_str_equal (room->kind, NATTER_ROOM_KIND_ROOM) ||
      natter_hub_room_role (room, user) != NATTER_ROLE_OWNER ||
      has_other_owner (room, user) || g_hash_table_size (room->members) <= 1)
    return TRUE;
  natter_hub_reply_with_error (req, NATTER_ERROR_FORBIDDEN,
                               "you are the last owner of “%s”: make someone else owner first",
                               room->name);
  return FALSE;
}

/* What @cs may do in @room: its role there, or an owner's for a server admin. */
static NatterRole
effective_role (Room *room, ClientState *cs)
{
  if (cs->admin)
    return NATTER_ROLE_OWNER;
  return natter_hub_room_role (room, cs->user);
}

/* Finds the room a moderation names, for @cs: bad_request, not_found, or forbidden when
 * @cs is no member (a server admin need not be one) or its role is below @needed.
 * Returns NULL when it answered, or when the request runs again after the room was read
 * from a shared store. */
static Room *
room_for_moderation (Request *req, ClientState *cs, const char *name, NatterRole needed)
{
  Room *room;

  if (name == NULL)
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST, "room is required");
      return NULL;
    }
  if (!natter_validate_room_name (name))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST,
                                   "room name must match [a-z0-9_.-]{1,64}");
      return NULL;
    }
  /* Another node may have changed the room, its members or their roles. */
  if (natter_hub_refresh_and_retry (req, name))
    return NULL;
  room = g_hash_table_lookup (req->hub->rooms, name);
  if (room == NULL || !g_str_equal (room->kind, NATTER_ROOM_KIND_ROOM) ||
      !natter_hub_room_visible (room, cs->user, cs->admin))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_NOT_FOUND, "no room “%s”", name);
      return NULL;
    }
  if (!cs->admin && !natter_hub_room_is_member (room, cs->user))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_FORBIDDEN, "not a member of “%s”", name);
      return NULL;
    }
  if (effective_role (room, cs) < needed)
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_FORBIDDEN, "only %ss of “%s” may do that",
                                   natter_role_to_string (needed), name);
      return NULL;
    }
  return room;
}

static gboolean
check_user_field (Request *req, const char *user)
{
  if (user == NULL)
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST, "user is required");
      return FALSE;
    }
  if (!natter_validate_user_name (user))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST,
                                   "user name must match [a-z0-9_.-]{1,32}");
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_text_field (Request *req, const char *what, const char *text, gsize max_bytes)
{
  if (text == NULL)
    return TRUE;
  if (strlen (text) > max_bytes || !g_utf8_validate (text, -1, NULL))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST,
                                   "%s must be valid UTF-8 of at most %" G_GSIZE_FORMAT " bytes",
                                   what, max_bytes);
      return FALSE;
    }
  return TRUE;
}

static void
deliver_to_user (NatterHub *self, const char *user, Natter__ServerFrame *frame)
{
  GPtrArray *sessions = g_hash_table_lookup (self->online, user);
  g_autoptr(NatterEvent) event = NULL;

  if (sessions == NULL)
    return;
  event = natter_event_new (frame);
  for (guint i = 0; i < sessions->len; i++)
    natter_hub_deliver (self, g_ptr_array_index (sessions, i), event);
}

/* Tells the room's sessions, here and, through the cluster, on other nodes. */
static void
publish_member_event (NatterHub *self, Room *room, const char *user, gboolean joined,
                      const char *role, const char *by, gboolean banned)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Member member = NATTER__MEMBER__INIT;

  if (joined)
    natter_hub_send_member_event_full (self, room, user, joined, role, by, FALSE);
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
  g_signal_emit (self, natter_hub_signals[SIGNAL_ROOM_EVENT], 0, room->name, &frame);
}

/* Runs a moderation through the store, then @done on the main loop. */
static void
moderate (Request *req, const NatterModeration *change, GAsyncReadyCallback done)
{
  natter_store_moderate_async (req->hub->store, change, NULL, done, natter_hub_request_ref (req));
}

/* @user is no member of @room any more, removed by @by: the room's sessions and @user's
 * learn it, here and, through the cluster, on other nodes, all from one frame, which
 * also ends the membership there. */
static void
remove_and_publish (NatterHub *self, Room *room, const char *user, const char *by,
                    gboolean banned)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Member member = NATTER__MEMBER__INIT;
  g_autoptr(NatterEvent) event = NULL;
  g_autofree char *name = g_strdup (user);

  member.room = room->name;
  member.user = name;
  member.has_joined = TRUE;
  member.joined = FALSE;
  member.by = (char *) by;
  member.has_banned = banned;
  member.banned = banned;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_MEMBER;
  frame.member = &member;
  event = natter_event_new (&frame);
  natter_hub_remove_member_event (self, room, name, event);
  g_signal_emit (self, natter_hub_signals[SIGNAL_ROOM_EVENT], 0, room->name, &frame);
}

/* Another node changed @room: a role, a kick or ban (@frame a `member`), or the topic.
 * Returns whether @frame is one of those; the caller delivers it to the room, except
 * for a removal, which this delivers while the removed user's sessions still read it. */
gboolean
natter_hub_apply_remote_moderation (NatterHub *self, Room *room, const Natter__ServerFrame *frame,
                                    gboolean *out_deliver)
{
  *out_deliver = TRUE;
  switch ((int) frame->event_case)
    {
    case NATTER__SERVER_FRAME__EVENT_MEMBER:
      {
        const Natter__Member *member = frame->member;
        NatterRole role;

        if (g_strcmp0 (member->room, room->name) != 0 || member->user == NULL)
          return FALSE;
        if (!member->joined)
          {
            g_autoptr(NatterEvent) event = natter_event_new (frame);

            /* A ban holds here too, before the store is read again. */
            if (member->has_banned && member->banned)
              {
                g_hash_table_add (room->banned, g_strdup (member->user));
                g_hash_table_remove (room->invited, member->user);
              }
            /* As the node that removed them told it (who did, and whether a ban). */
            natter_hub_remove_member_event (self, room, member->user, event);
            *out_deliver = FALSE;
            return TRUE;
          }
        if (member->role == NULL || !natter_role_from_string (member->role, &role) ||
            !natter_hub_room_is_member (room, member->user))
          return FALSE;
        if (role == NATTER_ROLE_MEMBER)
          g_hash_table_remove (room->roles, member->user);
        else
          g_hash_table_insert (room->roles, g_strdup (member->user), GINT_TO_POINTER (role));
        return TRUE;
      }
    case NATTER__SERVER_FRAME__EVENT_TOPIC:
      if (g_strcmp0 (frame->topic->room, room->name) != 0)
        return FALSE;
      g_free (room->topic);
      room->topic = g_strdup (frame->topic->topic);
      return TRUE;
    default:
      return FALSE;
    }
}

/* ---------------------------------------------------------------------------------- */
/* create, and join of a name that is no room yet */

static void
created_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  NatterHub *self = req->hub;
  gboolean is_private = req->frame->op_case == NATTER__CLIENT_FRAME__OP_CREATE &&
                        req->frame->create->private_;
  const char *topic = req->frame->op_case == NATTER__CLIENT_FRAME__OP_CREATE
                      ? req->frame->create->topic : NULL;
  ClientState *cs;
  Room *room;

  if (!natter_store_moderate_finish (NATTER_STORE (source), result, &error))
    {
      /* A join that lost a race to create the name joins the room the winner made
       * (as a member): read from a shared store, or already here, as the store
       * completes in order. The join read the store before, when the name was free:
       * it reads it again, once. */
      if (g_error_matches (error, NATTER_ERROR, NATTER_ERROR_CONFLICT) &&
          req->frame->op_case == NATTER__CLIENT_FRAME__OP_JOIN && !req->lost_create)
        {
          req->lost_create = TRUE;
          req->refreshed = FALSE;
          if (natter_hub_refresh_and_retry (req, req->room))
            return;
          cs = natter_hub_lookup_client (self, req->client);
          if (cs == NULL)
            return;
          g_clear_pointer (&req->user, g_free);
          g_clear_pointer (&req->room, g_free);
          natter_hub_handle_request (req, cs);
          return;
        }
      natter_hub_reply_with_gerror (req, error);
      return;
    }
  room = natter_hub_add_room (self, req->room, NATTER_ROOM_KIND_ROOM, topic, 0);
  room->is_private = is_private;
  g_hash_table_insert (room->roles, g_strdup (req->user), GINT_TO_POINTER (NATTER_ROLE_OWNER));
  natter_hub_join_added (req);
}

void
natter_hub_handle_create (Request *req, ClientState *cs)
{
  NatterHub *self = req->hub;
  NatterModeration change = { .kind = NATTER_MODERATION_CREATE };
  guint retry_after_ms = 0;

  if (req->frame->op_case == NATTER__CLIENT_FRAME__OP_CREATE)
    {
      Natter__Create *op = req->frame->create;

      if (op->room == NULL)
        {
          natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST, "create.room is required");
          return;
        }
      if (!natter_validate_room_name (op->room))
        {
          natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST,
                                       "room name must match [a-z0-9_.-]{1,64}");
          return;
        }
      if (!check_text_field (req, "topic", op->topic, MAX_TOPIC_BYTES))
        return;
      if (g_hash_table_contains (self->rooms, op->room))
        {
          natter_hub_reply_with_error (req, NATTER_ERROR_CONFLICT, "“%s” exists", op->room);
          return;
        }
      if (!natter_buckets_take (self->room_buckets, cs->user, &retry_after_ms))
        {
          natter_hub_reply_rate_limited (req, retry_after_ms, "too many new rooms; retry later");
          return;
        }
      change.is_private = op->private_;
      change.text = op->topic;
      g_free (req->room);
      req->room = g_strdup (op->room);
      g_free (req->user);
      req->user = g_strdup (cs->user);
    }
  /* A join of a new name was checked and rate-limited by the join, and set req->room. */
  change.room = req->room;
  change.user = cs->user;
  moderate (req, &change, created_cb);
}

/* ---------------------------------------------------------------------------------- */
/* invite */

static void
invited_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Invited invited = NATTER__INVITED__INIT;
  Room *room;

  if (!natter_store_moderate_finish (NATTER_STORE (source), result, &error))
    {
      natter_hub_reply_with_gerror (req, error);
      return;
    }
  room = g_hash_table_lookup (req->hub->rooms, req->room);
  if (room != NULL)
    g_hash_table_add (room->invited, g_strdup (req->token));
  natter_hub_reply_ok (req);

  invited.room = req->room;
  invited.by = req->user;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_INVITE;
  frame.invite = &invited;
  deliver_to_user (req->hub, req->token, &frame);
  /* Other nodes: the invitee may be there, and may join there. */
  invited.user = req->token;
  g_signal_emit (req->hub, natter_hub_signals[SIGNAL_ROOM_EVENT], 0, req->room, &frame);
}

/* Another node invited @invite->user to @room: this node lets them join, and tells their
 * sessions here. */
void
natter_hub_apply_remote_invite (NatterHub *self, Room *room, const Natter__Invited *invite)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Invited invited = NATTER__INVITED__INIT;

  if (g_strcmp0 (invite->room, room->name) != 0 || invite->user == NULL ||
      !natter_validate_user_name (invite->user))
    return;
  if (!natter_hub_room_is_member (room, invite->user))
    g_hash_table_add (room->invited, g_strdup (invite->user));
  invited.room = room->name;
  invited.by = invite->by;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_INVITE;
  frame.invite = &invited;
  deliver_to_user (self, invite->user, &frame);
}

static void
invitee_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterUserRecord) user = natter_store_get_user_finish (NATTER_STORE (source),
                                                                   result, &error);
  NatterModeration change = { .kind = NATTER_MODERATION_INVITE };

  if (user == NULL || user->deleted)
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_NOT_FOUND, "no user “%s”", req->token);
      return;
    }
  change.room = req->room;
  change.user = req->token;
  change.by = req->user;
  moderate (req, &change, invited_cb);
}

void
natter_hub_handle_invite (Request *req, ClientState *cs)
{
  Natter__Invite *op = req->frame->invite;
  guint retry_after_ms = 0;
  Room *room;

  if (!check_user_field (req, op->user))
    return;
  room = room_for_moderation (req, cs, op->room, NATTER_ROLE_MEMBER);
  if (room == NULL)
    return;
  /* Every invitation counts, also to unknown users: guessing names costs as much. */
  if (!natter_buckets_take (req->hub->invite_buckets, cs->user, &retry_after_ms))
    {
      natter_hub_reply_rate_limited (req, retry_after_ms, "too many invitations; retry later");
      return;
    }
  if (g_hash_table_contains (room->banned, op->user))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_FORBIDDEN, "“%s” is banned from “%s”",
                                   op->user, room->name);
      return;
    }
  if (natter_hub_room_is_member (room, op->user))
    {
      natter_hub_reply_ok (req);
      return;
    }
  req->room = g_strdup (room->name);
  req->user = g_strdup (cs->user);
  req->token = g_strdup (op->user);
  natter_store_get_user_async (req->hub->store, op->user, NULL, invitee_cb,
                               natter_hub_request_ref (req));
}

/* ---------------------------------------------------------------------------------- */
/* invitations and decline: the invitee's side. Invitations live in the store, so that
 * one given while the invitee had no session open is found later, on any node. */

static void
invitations_listed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) invitations = natter_store_list_invitations_finish (NATTER_STORE (source),
                                                                           result, &error);
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__InvitationList list = NATTER__INVITATION_LIST__INIT;
  g_autofree Natter__Invitation *items = NULL;
  g_autofree Natter__Invitation **ptrs = NULL;

  if (invitations == NULL)
    {
      natter_hub_reply_with_gerror (req, error);
      return;
    }
  items = g_new0 (Natter__Invitation, invitations->len);
  ptrs = g_new0 (Natter__Invitation *, invitations->len);
  for (guint i = 0; i < invitations->len; i++)
    {
      NatterInvitation *invitation = g_ptr_array_index (invitations, i);

      natter__invitation__init (&items[i]);
      items[i].room = invitation->room;
      items[i].by = invitation->by;
      items[i].has_ts = TRUE;
      items[i].ts = invitation->ts;
      ptrs[i] = &items[i];
    }
  list.n_invitations = invitations->len;
  list.invitations = ptrs;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_INVITATION_LIST;
  frame.invitation_list = &list;
  natter_hub_reply (req, &frame);
}

void
natter_hub_handle_invitations (Request *req, ClientState *cs)
{
  natter_store_list_invitations_async (req->hub->store, cs->user, NULL, invitations_listed_cb,
                                       natter_hub_request_ref (req));
}

static void
declined_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  Room *room;

  if (!natter_store_moderate_finish (NATTER_STORE (source), result, &error))
    {
      natter_hub_reply_with_gerror (req, error);
      return;
    }
  room = g_hash_table_lookup (req->hub->rooms, req->room);
  if (room != NULL)
    g_hash_table_remove (room->invited, req->user);
  natter_hub_reply_ok (req);
}

void
natter_hub_handle_decline (Request *req, ClientState *cs)
{
  Natter__Decline *op = req->frame->decline;
  NatterModeration change = { .kind = NATTER_MODERATION_DECLINE };

  if (op->room == NULL)
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST, "decline.room is required");
      return;
    }
  if (!natter_validate_room_name (op->room))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST,
                                   "room name must match [a-z0-9_.-]{1,64}");
      return;
    }
  req->room = g_strdup (op->room);
  req->user = g_strdup (cs->user);
  change.room = req->room;
  change.user = req->user;
  moderate (req, &change, declined_cb);
}

/* A ban withdrew the invitations the banned user gave to @room in the store: this node's
 * copy of who is invited follows. */
static void
invitations_reread_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(NatterHub) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterRoomRecord) record = natter_store_get_room_finish (NATTER_STORE (source),
                                                                    result, &error);
  Room *room;

  if (record == NULL)
    {
      g_debug ("Cannot read the invitations of a room again: %s", error->message);
      return;
    }
  room = g_hash_table_lookup (self->rooms, record->name);
  if (room == NULL)
    return;
  g_hash_table_remove_all (room->invited);
  for (guint i = 0; i < record->invited->len; i++)
    g_hash_table_add (room->invited, g_strdup (g_ptr_array_index (record->invited, i)));
}

/* ---------------------------------------------------------------------------------- */
/* directory */

static void
directory_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) entries = natter_store_directory_finish (NATTER_STORE (source), result,
                                                                &error);
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__DirectoryList list = NATTER__DIRECTORY_LIST__INIT;
  g_autofree Natter__DirectoryRoom *rooms = NULL;
  g_autofree Natter__DirectoryRoom **ptrs = NULL;

  if (entries == NULL)
    {
      natter_hub_reply_with_gerror (req, error);
      return;
    }
  rooms = g_new0 (Natter__DirectoryRoom, entries->len);
  ptrs = g_new0 (Natter__DirectoryRoom *, entries->len);
  for (guint i = 0; i < entries->len; i++)
    {
      NatterDirectoryEntry *entry = g_ptr_array_index (entries, i);

      natter__directory_room__init (&rooms[i]);
      rooms[i].name = entry->name;
      rooms[i].topic = entry->topic;
      rooms[i].has_members = TRUE;
      rooms[i].members = entry->n_members;
      ptrs[i] = &rooms[i];
    }
  list.n_rooms = entries->len;
  list.rooms = ptrs;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_DIRECTORY;
  frame.directory = &list;
  natter_hub_reply (req, &frame);
}

void
natter_hub_handle_directory (Request *req, ClientState *cs)
{
  Natter__Directory *op = req->frame->directory;
  guint limit = op->has_limit ? op->limit : DEFAULT_DIRECTORY_LIMIT;
  guint retry_after_ms = 0;

  if (limit < 1 || limit > MAX_DIRECTORY_LIMIT)
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST,
                                   "directory.limit must be 1 to %u", MAX_DIRECTORY_LIMIT);
      return;
    }
  if (op->query != NULL &&
      (!g_utf8_validate (op->query, -1, NULL) || g_utf8_strlen (op->query, -1) > MAX_QUERY_CHARS))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST,
                                   "directory.query must be valid UTF-8 of at most %u characters",
                                   MAX_QUERY_CHARS);
      return;
    }
  if (!natter_buckets_take (req->hub->directory_buckets, cs->user, &retry_after_ms))
    {
      natter_hub_reply_rate_limited (req, retry_after_ms,
                                     "too many directory queries; retry later");
      return;
    }
  natter_store_directory_async (req->hub->store, op->query != NULL && *op->query != '\0' ? op->query : NULL,
                                limit, NULL, directory_cb, natter_hub_request_ref (req));
}

/* ---------------------------------------------------------------------------------- */
/* set_role */

static void
role_set_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  Natter__SetRole *op = req->frame->set_role;
  NatterRole role = NATTER_ROLE_MEMBER;
  Room *room;

  if (!natter_store_moderate_finish (NATTER_STORE (source), result, &error))
    {
      natter_hub_reply_with_gerror (req, error);
      return;
    }
  natter_role_from_string (op->role, &role);
  room = g_hash_table_lookup (req->hub->rooms, req->room);
  if (room != NULL && natter_hub_room_is_member (room, op->user))
    {
      if (role == NATTER_ROLE_MEMBER)
        g_hash_table_remove (room->roles, op->user);
      else
        g_hash_table_insert (room->roles, g_strdup (op->user), GINT_TO_POINTER (role));
    }
  natter_hub_reply_ok (req);
  natter_hub_log_moderation (req->hub, req->room, NATTER_MODERATION_EVENT_ROLE, op->user,
                             req->user, NULL, op->role, NULL);
  if (room != NULL)
    publish_member_event (req->hub, room, op->user, TRUE, op->role, req->user, FALSE);
}

/* Whether @room has an owner besides @user. */
static gboolean
has_other_owner (Room *room, const char *user)
{
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, room->roles);
  while (g_hash_table_iter_next (&iter, &key, &value))
    if (GPOINTER_TO_INT (value) == NATTER_ROLE_OWNER && !g_str_equal (key, user))
      return TRUE;
  return FALSE;
}

void
natter_hub_handle_set_role (Request *req, ClientState *cs)
{
  Natter__SetRole *op = req->frame->set_role;
  NatterModeration change = { .kind = NATTER_MODERATION_SET_ROLE };
  NatterRole role;
  Room *room;

  if (!check_user_field (req, op->user))
    return;
  if (op->role == NULL || !natter_role_from_string (op->role, &role))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST,
                                   "set_role.role must be owner, moderator or member");
      return;
    }
  room = room_for_moderation (req, cs, op->room, NATTER_ROLE_OWNER);
  if (room == NULL)
    return;
  if (!natter_hub_room_is_member (room, op->user))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_NOT_FOUND, "“%s” is not a member of “%s”",
                                   op->user, room->name);
      return;
    }
  /* A room that has an owner keeps one. */
  if (role != NATTER_ROLE_OWNER && natter_hub_room_role (room, op->user) == NATTER_ROLE_OWNER &&
      !has_other_owner (room, op->user))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_FORBIDDEN,
                                   "“%s” is the last owner of “%s”: make another owner first",
                                   op->user, room->name);
      return;
    }
  req->room = g_strdup (room->name);
  req->user = g_strdup (cs->user);
  change.room = room->name;
  change.user = op->user;
  change.role = role;
  moderate (req, &change, role_set_cb);
}

/* ---------------------------------------------------------------------------------- */
/* kick, ban and unban */

/* kick, ban or unban, into the room's moderation log. */
static void
log_removal (Request *req)
{
  const char *kind = NATTER_MODERATION_EVENT_UNBAN;
  const Natter__Moderate *op = req->frame->unban;

  if (req->frame->op_case == NATTER__CLIENT_FRAME__OP_KICK)
    {
      kind = NATTER_MODERATION_EVENT_KICK;
      op = req->frame->kick;
    }
  else if (req->frame->op_case == NATTER__CLIENT_FRAME__OP_BAN)
    {
      kind = NATTER_MODERATION_EVENT_BAN;
      op = req->frame->ban;
    }
  natter_hub_log_moderation (req->hub, req->room, kind, req->token, req->user,
                             req->frame->op_case == NATTER__CLIENT_FRAME__OP_UNBAN
                             ? NULL : op->reason, NULL, NULL);
}

static void
removed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  NatterHub *self = req->hub;
  gboolean ok;
  Room *room;

  if (req->frame->op_case == NATTER__CLIENT_FRAME__OP_KICK)
    ok = natter_store_remove_member_finish (NATTER_STORE (source), result, &error);
  else
    ok = natter_store_moderate_finish (NATTER_STORE (source), result, &error);
  if (!ok)
    {
      natter_hub_reply_with_gerror (req, error);
      return;
    }
  room = g_hash_table_lookup (self->rooms, req->room);
  if (room != NULL)
    {
      switch ((int) req->frame->op_case)
        {
        case NATTER__CLIENT_FRAME__OP_BAN:
          g_hash_table_add (room->banned, g_strdup (req->token));
          g_hash_table_remove (room->invited, req->token);
          natter_store_get_room_async (self->store, room->name, NULL, invitations_reread_cb,
                                       g_object_ref (self));
          break;
        case NATTER__CLIENT_FRAME__OP_UNBAN:
          g_hash_table_remove (room->banned, req->token);
          break;
        default:
          break;
        }
      if (req->frame->op_case != NATTER__CLIENT_FRAME__OP_UNBAN &&
          natter_hub_room_is_member (room, req->token))
        {
          /* Its sessions stop receiving the room now, here and on other nodes. */
          remove_and_publish (self, room, req->token, req->user,
                              req->frame->op_case == NATTER__CLIENT_FRAME__OP_BAN);
        }
    }
  natter_hub_reply_ok (req);
  log_removal (req);
}

/* kick, ban and unban: the same fields and who may. */
void
natter_hub_handle_ban (Request *req, ClientState *cs)
{
  Natter__Moderate *op;
  NatterModeration change = { 0, };
  Room *room;

  switch ((int) req->frame->op_case)
    {
    case NATTER__CLIENT_FRAME__OP_KICK:
      op = req->frame->kick;
      break;
    case NATTER__CLIENT_FRAME__OP_BAN:
      op = req->frame->ban;
      change.kind = NATTER_MODERATION_BAN;
      break;
    default:
      op = req->frame->unban;
      change.kind = NATTER_MODERATION_UNBAN;
      break;
    }
  if (!check_user_field (req, op->user) ||
      !check_text_field (req, "reason", op->reason, MAX_REASON_BYTES))
    return;
  room = room_for_moderation (req, cs, op->room, NATTER_ROLE_MODERATOR);
  if (room == NULL)
    return;
  if (req->frame->op_case != NATTER__CLIENT_FRAME__OP_UNBAN &&
      natter_hub_room_role (room, op->user) > effective_role (room, cs))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_FORBIDDEN,
                                   "“%s” has a higher role in “%s”", op->user, room->name);
      return;
    }
  if (req->frame->op_case == NATTER__CLIENT_FRAME__OP_KICK &&
      !natter_hub_room_is_member (room, op->user))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_NOT_FOUND, "“%s” is not a member of “%s”",
                                   op->user, room->name);
      return;
    }
  if (req->frame->op_case != NATTER__CLIENT_FRAME__OP_UNBAN &&
      natter_hub_room_role (room, op->user) == NATTER_ROLE_OWNER &&
      !has_other_owner (room, op->user))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_FORBIDDEN,
                                   "“%s” is the last owner of “%s”", op->user, room->name);
      return;
    }
  req->room = g_strdup (room->name);
  req->user = g_strdup (cs->user);
  req->token = g_strdup (op->user);
  if (req->frame->op_case == NATTER__CLIENT_FRAME__OP_KICK)
    {
      natter_store_remove_member_async (req->hub->store, room->name, op->user, NULL, removed_cb,
                                        natter_hub_request_ref (req));
      return;
    }
  change.room = room->name;
  change.user = op->user;
  change.by = cs->user;
  change.text = op->reason;
  moderate (req, &change, removed_cb);
}

/* ---------------------------------------------------------------------------------- */
/* set_topic */

static void
topic_set_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Topic topic = NATTER__TOPIC__INIT;
  g_autoptr(NatterEvent) event = NULL;
  Room *room;

  if (!natter_store_moderate_finish (NATTER_STORE (source), result, &error))
    {
      natter_hub_reply_with_gerror (req, error);
      return;
    }
  room = g_hash_table_lookup (req->hub->rooms, req->room);
  natter_hub_reply_ok (req);
  natter_hub_log_moderation (req->hub, req->room, NATTER_MODERATION_EVENT_TOPIC, req->user,
                             req->user, NULL, NULL, req->frame->set_topic->topic);
  if (room == NULL)
    return;
  g_free (room->topic);
  room->topic = g_strdup (req->frame->set_topic->topic);
  topic.room = room->name;
  topic.topic = room->topic;
  topic.by = req->user;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_TOPIC;
  frame.topic = &topic;
  event = natter_event_new (&frame);
  natter_hub_deliver_to_room (req->hub, room, event, NULL);
  g_signal_emit (req->hub, natter_hub_signals[SIGNAL_ROOM_EVENT], 0, room->name, &frame);
}

void
natter_hub_handle_set_topic (Request *req, ClientState *cs)
{
  Natter__SetTopic *op = req->frame->set_topic;
  NatterModeration change = { .kind = NATTER_MODERATION_SET_TOPIC };
  Room *room;

  if (!check_text_field (req, "topic", op->topic, MAX_TOPIC_BYTES))
    return;
  room = room_for_moderation (req, cs, op->room, NATTER_ROLE_MODERATOR);
  if (room == NULL)
    return;
  req->room = g_strdup (room->name);
  req->user = g_strdup (cs->user);
  change.room = room->name;
  change.user = cs->user;
  change.text = op->topic != NULL && *op->topic != '\0' ? op->topic : NULL;
  moderate (req, &change, topic_set_cb);
}

/* ---------------------------------------------------------------------------------- */
/* block and unblock */

static void
blocked_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_store_moderate_finish (NATTER_STORE (source), result, &error))
    {
      natter_hub_reply_with_gerror (req, error);
      return;
    }
  natter_hub_reply_ok (req);
}

static void
blockee_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterUserRecord) user = natter_store_get_user_finish (NATTER_STORE (source),
                                                                   result, &error);
  NatterModeration change = { 0, };

  if (user == NULL || user->deleted)
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_NOT_FOUND, "no user “%s”", req->token);
      return;
    }
  change.kind = req->frame->op_case == NATTER__CLIENT_FRAME__OP_BLOCK
                ? NATTER_MODERATION_BLOCK : NATTER_MODERATION_UNBLOCK;
  change.user = req->token;
  change.by = req->user;
  moderate (req, &change, blocked_cb);
}

void
natter_hub_handle_block (Request *req, ClientState *cs)
{
  Natter__Block *op = req->frame->op_case == NATTER__CLIENT_FRAME__OP_BLOCK
                      ? req->frame->block : req->frame->unblock;

  if (!check_user_field (req, op->user))
    return;
  if (g_str_equal (op->user, cs->user))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST, "cannot block yourself");
      return;
    }
  req->user = g_strdup (cs->user);
  req->token = g_strdup (op->user);
  natter_store_get_user_async (req->hub->store, op->user, NULL, blockee_cb,
                               natter_hub_request_ref (req));
}

static void
blocks_listed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) blocked = natter_store_list_blocks_finish (NATTER_STORE (source), result, &error);
  ClientState *cs;

  if (blocked == NULL)
    {
      natter_hub_reply_with_gerror (req, error);
      return;
    }
  cs = natter_hub_lookup_client (req->hub, req->client);
  if (cs == NULL)
    return;
  /* The blocked sender learns no more than this. */
  if (g_strv_contains ((const char * const *) blocked, cs->user))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_FORBIDDEN, "cannot send to “%s”",
                                   req->frame->send->to);
      return;
    }
  req->block_checked = TRUE;
  natter_hub_handle_request (req, cs);
}

gboolean
natter_hub_check_blocked (Request *req, ClientState *cs, const char *to)
{
  if (req->block_checked)
    return FALSE;
  natter_store_list_blocks_async (req->hub->store, to, NULL, blocks_listed_cb,
                                  natter_hub_request_ref (req));
  return TRUE;
}
