/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-hub"

#include "config.h"

#include <string.h>

#include "natter-auth.h"
#include "natter-error.h"
#include "natter-hub-private.h"

/* What logged-in clients ask of the hub once in a room: send and broadcast, history,
 * the room list, read markers, typing and search. */

/* ---------------------------------------------------------------------------------- */
/* Send and broadcast */

/* Whether @c may be part of a user name (natter_validate_user_name()). */
static gboolean
is_name_char (char c)
{
  return g_ascii_islower (c) || g_ascii_isdigit (c) || c == '_' || c == '.' || c == '-';
}

/* Sets the mentions of @message: the members of @room named as `@user` in its body, each
 * once, in the order of their first mention. Every message read from the store on its way
 * to a client goes through here (the store keeps no mentions). A name is the longest run of name characters
 * after the `@`, less trailing dots, so that "thanks @bob." names bob. */
void
natter_hub_room_add_mentions (Room *room, Natter__Message *message)
{
  g_autoptr(GPtrArray) found = NULL;
  const char *body = message->body;

  if (body == NULL || message->kind == NULL ||
      !(g_str_equal (message->kind, NATTER_MESSAGE_KIND_TEXT) ||
        g_str_equal (message->kind, NATTER_MESSAGE_KIND_EDIT) ||
        g_str_equal (message->kind, NATTER_MESSAGE_KIND_BROADCAST)))
    return;

  found = g_ptr_array_new ();
  for (const char *at = strchr (body, '@'); at != NULL; at = strchr (at + 1, '@'))
    {
      g_autofree char *name = NULL;
      gsize len = 0;

      /* "a@b" is an address, not a mention. */
      if (at > body && is_name_char (at[-1]))
        continue;
      while (is_name_char (at[1 + len]))
        len++;
      while (len > 0 && at[len] == '.')
        len--;
      if (len == 0)
        continue;
      name = g_strndup (at + 1, len);
      if (natter_hub_room_is_member (room, name) &&
          !g_ptr_array_find_with_equal_func (found, name, g_str_equal, NULL))
        g_ptr_array_add (found, g_steal_pointer (&name));
    }
  if (found->len == 0)
    return;

  g_strfreev (message->mentions);
  message->n_mentions = found->len;
  g_ptr_array_add (found, NULL);
  message->mentions = (char **) g_ptr_array_steal (found, NULL);
}

/* Replies `sent` to an append (of a message or change) and fans the new message out. */
static void
complete_append (Request *req, NatterAppendResult *appended, const GError *error)
{
  NatterHub *self = req->hub;
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Sent sent = NATTER__SENT__INIT;
  Natter__Message *message;
  Room *room;

  if (appended == NULL)
    {
      natter_hub_reply_with_gerror (req, error);
      return;
    }
  message = appended->message;
  room = g_hash_table_lookup (self->rooms, message->room);
  if (room != NULL)
    natter_hub_room_add_mentions (room, message);

  /* Durable now: acknowledge, then fan out. */
  sent.room = message->room;
  sent.has_seq = TRUE;
  sent.seq = message->seq;
  sent.has_ts = TRUE;
  sent.ts = message->ts;
  sent.client_msg_id = message->client_msg_id;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_SENT;
  frame.sent = &sent;
  natter_hub_reply (req, &frame);

  if (room != NULL && !appended->duplicate)
    {
      self->n_messages++;
      if (!g_str_equal (room->kind, NATTER_ROOM_KIND_SYSTEM))
        natter_hub_room_set_read_seq (room, message->sender, message->seq);
      natter_hub_room_committed (self, room, message);
      g_signal_emit (self, natter_hub_signals[SIGNAL_MESSAGE_COMMITTED], 0, message);
    }
}

static void
send_appended_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterAppendResult) appended = natter_store_append_message_finish (NATTER_STORE (source),
                                                                              result, &error);

  complete_append (req, appended, error);
}

static void
change_appended_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterAppendResult) appended = natter_store_change_message_finish (NATTER_STORE (source),
                                                                              result, &error);

  complete_append (req, appended, error);
}

/* A message that refers to @target_seq of @room: a reply, or a change (kind edit, delete
 * or reaction). The store checks the target in the transaction that appends it. */
static void
append_change (Request *req, Room *room, const char *kind, guint64 target_seq,
               const char *body, const char *client_msg_id, gboolean active,
               gboolean moderator)
{
  NatterMessageChange change = {
    .room = room->name,
    .sender = req->user,
    .kind = kind,
    .body = body,
    .client_msg_id = client_msg_id,
    .target_seq = target_seq,
    .active = active,
    .moderator = moderator,
    .ts_ms = natter_hub_now_ms (),
  };

  natter_store_change_message_async (req->hub->store, &change, NULL, change_appended_cb,
                                     natter_hub_request_ref (req));
}

static void
append (Request *req, Room *room, const char *body, const char *client_msg_id,
        const char *kind)
{
  Natter__Send *send = req->frame->op_case == NATTER__CLIENT_FRAME__OP_SEND ? req->frame->send
                                                                           : NULL;

  if (send != NULL && send->has_reply_to)
    {
      append_change (req, room, kind, send->reply_to, body, client_msg_id, FALSE, FALSE);
      return;
    }
  natter_store_append_message_async (req->hub->store, room->name, req->user, body,
                                     client_msg_id, kind, natter_hub_now_ms (), NULL, send_appended_cb,
                                     natter_hub_request_ref (req));
}

static void
dm_member_added_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  NatterHub *self = req->hub;
  Room *room;

  if (!natter_store_add_member_finish (NATTER_STORE (source), result, &error))
    {
      natter_hub_reply_with_gerror (req, error);
      return;
    }
  room = g_hash_table_lookup (self->rooms, req->room);
  if (room == NULL)
    return;
  /* Both parties' sessions see the conversation from its first message. */
  if (!natter_hub_room_is_member (room, req->user))
    {
      natter_hub_add_member (self, room, req->user, 0);
      natter_hub_subscribe_user (self, req->user, room, 0);
      g_signal_emit (self, natter_hub_signals[SIGNAL_MEMBER_CHANGED], 0, room->name, req->user, TRUE);
    }
  if (!natter_hub_room_is_member (room, req->token))
    {
      natter_hub_add_member (self, room, req->token, 0);
      natter_hub_subscribe_user (self, req->token, room, 0);
      g_signal_emit (self, natter_hub_signals[SIGNAL_MEMBER_CHANGED], 0, room->name, req->token, TRUE);
    }
  append (req, room, req->frame->send->body,
          req->frame->send->client_msg_id, NATTER_MESSAGE_KIND_TEXT);
}

static void
dm_first_member_added_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_store_add_member_finish (NATTER_STORE (source), result, &error))
    {
      natter_hub_reply_with_gerror (req, error);
      return;
    }
  /* req->token holds the other party's name during DM set-up. */
  natter_store_add_member_async (req->hub->store, req->room, req->token, NULL,
                                 dm_member_added_cb, natter_hub_request_ref (req));
}

static void
dm_peer_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterUserRecord) peer = natter_store_get_user_finish (NATTER_STORE (source),
                                                                   result, &error);

  if (peer == NULL)
    {
      if (g_error_matches (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND))
        natter_hub_reply_with_error (req, NATTER_ERROR_NOT_FOUND, "no user “%s”", req->token);
      else
        natter_hub_reply_with_gerror (req, error);
      return;
    }
  req->then = dm_first_member_added_cb;
  natter_store_create_room_async (req->hub->store, req->room, NATTER_ROOM_KIND_DM, NULL, NULL,
                                  natter_hub_room_created_cb, natter_hub_request_ref (req));
}

static gboolean
check_body (Request *req, const char *body)
{
  gsize len = body != NULL ? strlen (body) : 0;

  if (len == 0)
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST, "body is required");
      return FALSE;
    }
  if (len > req->hub->config->max_body_bytes)
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_TOO_LARGE, "body is %" G_GSIZE_FORMAT " bytes; the limit is %u",
                   len, req->hub->config->max_body_bytes);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_client_msg_id (Request *req, const char *id, gboolean required)
{
  gsize len = id != NULL ? strlen (id) : 0;

  if ((required && len == 0) || len > MAX_CLIENT_MSG_ID || (id != NULL && len == 0))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST, "client_msg_id must be 1 to %u characters",
                   MAX_CLIENT_MSG_ID);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_rate (Request *req, ClientState *cs)
{
  guint retry_after_ms = 0;

  if (natter_hub_rate_check (req->hub, cs, &retry_after_ms))
    return TRUE;
  natter_hub_send_error (req->hub, req->client, req->has_id, req->id, NATTER_ERROR_RATE_LIMITED,
              "sending too fast; retry later", retry_after_ms);
  return FALSE;
}

void
natter_hub_handle_send (Request *req, ClientState *cs)
{
  NatterHub *self = req->hub;
  Natter__Send *op = req->frame->send;
  Room *room;

  if ((op->room == NULL) == (op->to == NULL))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST, "send needs exactly one of room or to");
      return;
    }
  if (!check_body (req, op->body) || !check_client_msg_id (req, op->client_msg_id, TRUE))
    return;

  if (op->to != NULL)
    {
      g_autofree char *name = NULL;

      if (!natter_validate_user_name (op->to))
        {
          natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST, "user name must match [a-z0-9_.-]{1,32}");
          return;
        }
      if (g_str_equal (op->to, cs->user))
        {
          natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST, "cannot send a direct message to yourself");
          return;
        }
      if (natter_hub_check_blocked (req, cs, op->to))
        return;
      name = natter_dm_room_name (cs->user, op->to);
      room = g_hash_table_lookup (self->rooms, name);
      if (room != NULL && g_hash_table_size (room->subs) == 0 && natter_hub_refresh_and_retry (req, name))
        return;
      if (!check_rate (req, cs))
        return;
      req->user = g_strdup (cs->user);
      if (room != NULL && natter_hub_room_is_member (room, cs->user) && natter_hub_room_is_member (room, op->to))
        {
          append (req, room, op->body, op->client_msg_id, NATTER_MESSAGE_KIND_TEXT);
          return;
        }
      req->room = g_steal_pointer (&name);
      req->token = g_strdup (op->to);
      if (room != NULL)
        natter_store_add_member_async (self->store, req->room, req->user, NULL,
                                       dm_first_member_added_cb, natter_hub_request_ref (req));
      else
        natter_store_get_user_async (self->store, op->to, NULL, dm_peer_cb, natter_hub_request_ref (req));
      return;
    }

  room = natter_hub_room_for_reading (req, cs->user, op->room);
  if (room == NULL)
    return;
  if (g_str_equal (room->kind, NATTER_ROOM_KIND_SYSTEM))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_FORBIDDEN, "only broadcasts go to the system room");
      return;
    }
  if (!check_rate (req, cs))
    return;
  req->user = g_strdup (cs->user);
  append (req, room, op->body, op->client_msg_id, NATTER_MESSAGE_KIND_TEXT);
}

/* The room of an edit, delete or react by @cs, if it may change messages there. */
static Room *
room_for_change (Request *req, ClientState *cs, const char *name, gboolean has_seq,
                 const char *client_msg_id)
{
  Room *room;

  if (!has_seq)
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST, "seq is required");
      return NULL;
    }
  if (!check_client_msg_id (req, client_msg_id, FALSE))
    return NULL;
  room = natter_hub_room_for_reading (req, cs->user, name);
  if (room == NULL)
    return NULL;
  if (!check_rate (req, cs))
    return NULL;
  req->user = g_strdup (cs->user);
  return room;
}

void
natter_hub_handle_edit (Request *req, ClientState *cs)
{
  Natter__Edit *op = req->frame->edit;
  Room *room;

  if (!check_body (req, op->body))
    return;
  room = room_for_change (req, cs, op->room, op->has_seq, op->client_msg_id);
  if (room != NULL)
    append_change (req, room, NATTER_MESSAGE_KIND_EDIT, op->seq, op->body, op->client_msg_id,
                   FALSE, FALSE);
}

void
natter_hub_handle_delete (Request *req, ClientState *cs)
{
  Natter__Delete *op = req->frame->delete_;
  Room *room = room_for_change (req, cs, op->room, op->has_seq, op->client_msg_id);

  /* Besides the sender: the room's moderators and owners, and administrators. */
  if (room != NULL)
    append_change (req, room, NATTER_MESSAGE_KIND_DELETE, op->seq, "", op->client_msg_id,
                   FALSE, cs->admin || natter_hub_room_role (room, cs->user) >= NATTER_ROLE_MODERATOR);
}

void
natter_hub_handle_react (Request *req, ClientState *cs)
{
  Natter__React *op = req->frame->react;
  gsize len = op->emoji != NULL ? strlen (op->emoji) : 0;
  Room *room;

  if (len == 0 || len > MAX_EMOJI_BYTES || !g_utf8_validate (op->emoji, -1, NULL))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST,
                                   "emoji must be 1 to %u bytes of UTF-8", MAX_EMOJI_BYTES);
      return;
    }
  room = room_for_change (req, cs, op->room, op->has_seq, op->client_msg_id);
  if (room != NULL)
    append_change (req, room, NATTER_MESSAGE_KIND_REACTION, op->seq, op->emoji,
                   op->client_msg_id, op->has_active ? op->active : TRUE, FALSE);
}

void
natter_hub_handle_broadcast (Request *req, ClientState *cs)
{
  Natter__Broadcast *op = req->frame->broadcast;
  g_autofree char *generated = NULL;

  if (!cs->admin)
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_FORBIDDEN, "only administrators may broadcast");
      return;
    }
  if (!check_body (req, op->body) || !check_client_msg_id (req, op->client_msg_id, FALSE))
    return;
  if (op->client_msg_id == NULL)
    {
      g_autofree char *token = natter_auth_new_token ();
      generated = g_strdup_printf ("b-%.32s", token);
    }
  req->user = g_strdup (cs->user);
  append (req, req->hub->system, op->body,
          op->client_msg_id != NULL ? op->client_msg_id : generated,
          NATTER_MESSAGE_KIND_BROADCAST);
}

/* ---------------------------------------------------------------------------------- */
/* History, rooms, read, typing, search */

static void
history_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterHistoryResult) page = natter_store_history_finish (NATTER_STORE (source),
                                                                     result, &error);
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__HistoryPage history = NATTER__HISTORY_PAGE__INIT;
  Room *room;

  if (page == NULL)
    {
      natter_hub_reply_with_gerror (req, error);
      return;
    }
  room = g_hash_table_lookup (req->hub->rooms, req->room);
  for (guint i = 0; room != NULL && i < page->messages->len; i++)
    natter_hub_room_add_mentions (room, g_ptr_array_index (page->messages, i));
  history.room = req->room;
  history.n_messages = page->messages->len;
  history.messages = (Natter__Message **) page->messages->pdata;
  history.has_has_more = TRUE;
  history.has_more = page->has_more;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_HISTORY;
  frame.history = &history;
  natter_hub_reply (req, &frame);
}

void
natter_hub_handle_history (Request *req, ClientState *cs)
{
  Natter__History *op = req->frame->history;
  NatterHistoryQuery query = { 0, };
  Room *room;

  if (op->has_limit && (op->limit == 0 || op->limit > req->hub->config->history_max))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST, "history.limit must be 1 to %u",
                   req->hub->config->history_max);
      return;
    }
  if (op->has_before_seq && op->has_after_seq && op->before_seq <= op->after_seq + 1)
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST, "history: before_seq must be above after_seq");
      return;
    }
  room = natter_hub_room_for_reading (req, cs->user, op->room);
  if (room == NULL)
    return;
  query.has_before = op->has_before_seq;
  query.before_seq = op->before_seq;
  query.has_after = op->has_after_seq;
  query.after_seq = op->after_seq;
  query.limit = op->has_limit ? op->limit : DEFAULT_HISTORY_LIMIT;
  req->room = g_strdup (room->name);
  natter_store_history_async (req->hub->store, room->name, &query, NULL, history_cb,
                              natter_hub_request_ref (req));
}

void
natter_hub_handle_rooms (Request *req, ClientState *cs)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__RoomList list = NATTER__ROOM_LIST__INIT;
  g_autofree Natter__RoomInfo *infos = NULL;
  g_autofree Natter__RoomInfo **ptrs = NULL;

  ptrs = natter_hub_room_infos (req->hub, cs->user, &list.n_rooms, &infos);
  list.rooms = ptrs;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_ROOM_LIST;
  frame.room_list = &list;
  natter_hub_reply (req, &frame);
}

static void
read_stored_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_store_set_read_finish (NATTER_STORE (source), result, &error))
    {
      natter_hub_reply_with_gerror (req, error);
      return;
    }
  natter_hub_reply_ok (req);
}

static void
read_member_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_store_add_member_finish (NATTER_STORE (source), result, &error))
    {
      natter_hub_reply_with_gerror (req, error);
      return;
    }
  natter_store_set_read_async (req->hub->store, req->room, req->user, req->since_seq, NULL,
                               read_stored_cb, natter_hub_request_ref (req));
}

void
natter_hub_handle_read (Request *req, ClientState *cs)
{
  NatterHub *self = req->hub;
  Natter__Read *op = req->frame->read;
  Room *room = natter_hub_room_for_reading (req, cs->user, op->room);
  gboolean had_marker;

  if (room == NULL)
    return;
  if (op->has_seq && op->seq > natter_room_last_seq (room) && natter_hub_refresh_and_retry (req, room->name))
    return;
  if (!op->has_seq || op->seq > natter_room_last_seq (room))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST, "read.seq must be a seq of the room (1 to %"
                   G_GUINT64_FORMAT ")", natter_room_last_seq (room));
      return;
    }
  if (!natter_hub_event_rate_check (req, cs))
    return;
  had_marker = g_hash_table_contains (room->members, cs->user);
  if (had_marker && op->seq <= natter_hub_room_read_seq (room, cs->user))
    {
      /* Markers only move forward: one that would not move is neither written nor
       * announced, so repeating it costs the room nothing. */
      natter_hub_reply_ok (req);
      return;
    }
  natter_hub_room_set_read_seq (room, cs->user, op->seq);
  req->user = g_strdup (cs->user);
  req->room = g_strdup (room->name);
  req->since_seq = op->seq;

  if (!g_str_equal (room->kind, NATTER_ROOM_KIND_SYSTEM))
    {
      Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
      Natter__Receipt receipt = NATTER__RECEIPT__INIT;
      g_autoptr(NatterEvent) event = NULL;

      receipt.room = room->name;
      receipt.user = cs->user;
      receipt.has_seq = TRUE;
      receipt.seq = natter_hub_room_read_seq (room, cs->user);
      frame.event_case = NATTER__SERVER_FRAME__EVENT_RECEIPT;
      frame.receipt = &receipt;
      event = natter_event_new (&frame);
      natter_hub_deliver_to_room (self, room, event, cs);
      g_signal_emit (self, natter_hub_signals[SIGNAL_ROOM_EVENT], 0, room->name, &frame);
    }

  /* The system room has no membership rows until someone keeps a marker in it. */
  if (!had_marker && g_str_equal (room->kind, NATTER_ROOM_KIND_SYSTEM))
    natter_store_add_member_async (self->store, room->name, cs->user, NULL, read_member_cb,
                                   natter_hub_request_ref (req));
  else
    natter_store_set_read_async (self->store, room->name, cs->user, op->seq, NULL,
                                 read_stored_cb, natter_hub_request_ref (req));
}

void
natter_hub_handle_typing (Request *req, ClientState *cs)
{
  Natter__Typing *op = req->frame->typing;
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Typing typing = NATTER__TYPING__INIT;
  g_autoptr(NatterEvent) event = NULL;
  Room *room = natter_hub_room_for_reading (req, cs->user, op->room);

  if (room == NULL)
    return;
  if (g_str_equal (room->kind, NATTER_ROOM_KIND_SYSTEM))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_FORBIDDEN, "nobody types in the system room");
      return;
    }
  if (!natter_hub_event_rate_check (req, cs))
    return;
  typing.room = room->name;
  typing.user = cs->user;
  typing.has_active = TRUE;
  typing.active = op->has_active ? op->active : TRUE;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_TYPING;
  frame.typing = &typing;
  event = natter_event_new (&frame);
  natter_hub_deliver_to_room (req->hub, room, event, cs);
  g_signal_emit (req->hub, natter_hub_signals[SIGNAL_ROOM_EVENT], 0, room->name, &frame);
  /* Typing has no reply on success. */
}

static void
search_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) messages = natter_store_search_finish (NATTER_STORE (source), result,
                                                              &error);
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__SearchResults results = NATTER__SEARCH_RESULTS__INIT;

  if (messages == NULL)
    {
      natter_hub_reply_with_gerror (req, error);
      return;
    }
  results.n_messages = messages->len;
  results.messages = (Natter__Message **) messages->pdata;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_SEARCH_RESULTS;
  frame.search_results = &results;
  natter_hub_reply (req, &frame);
}

void
natter_hub_handle_search (Request *req, ClientState *cs)
{
  Natter__Search *op = req->frame->search;
  guint limit = op->has_limit ? op->limit : DEFAULT_SEARCH_LIMIT;

  if (op->query == NULL || g_utf8_strlen (op->query, -1) == 0 ||
      g_utf8_strlen (op->query, -1) > MAX_QUERY_CHARS)
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST, "search.query must be 1 to %u characters",
                   MAX_QUERY_CHARS);
      return;
    }
  if (limit == 0 || limit > req->hub->config->search_max)
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST, "search.limit must be 1 to %u",
                   req->hub->config->search_max);
      return;
    }
  if (op->room != NULL && natter_hub_room_for_reading (req, cs->user, op->room) == NULL)
    return;
  natter_store_search_async (req->hub->store, cs->user, op->query, op->room, limit, NULL,
                             search_cb, natter_hub_request_ref (req));
}
