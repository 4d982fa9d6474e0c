/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-upstream"

#include "config.h"

#include <string.h>

#include "natter-upstream-private.h"

/* The link to the server: connecting (with backoff and a deadline), logging in, the
 * welcome that resumes every room, the heartbeat, frames from the server, and what
 * happens to requests in flight when the link is lost. */

static void send_login (NatterUpstream *self);
static void welcome_received (NatterUpstream *self, Natter__ServerFrame *frame);

static Natter__ServerFrame *
server_frame_copy (const Natter__ServerFrame *frame)
{
  g_autoptr(GBytes) bytes = natter_codec_encode (NATTER_CODEC_PROTO, &frame->base);
  gsize len;
  const guint8 *data = g_bytes_get_data (bytes, &len);

  return natter__server_frame__unpack (NULL, len, data);
}

static gboolean
is_send (const UpstreamRequest *req)
{
  return req->frame->op_case == NATTER__CLIENT_FRAME__OP_SEND ||
         req->frame->op_case == NATTER__CLIENT_FRAME__OP_BROADCAST;
}

/* ---------------------------------------------------------------------------------- */
/* The wire */

static void
link_send (NatterUpstream      *self,
           Natter__ClientFrame *frame)
{
  g_autoptr(GBytes) bytes = natter_codec_encode (NATTER_CODEC_PROTO, &frame->base);

  soup_websocket_connection_send_message (self->ws, SOUP_WEBSOCKET_DATA_BINARY, bytes);
}

/* Puts @req on the wire; its reply is matched by a fresh id. Takes ownership. */
void
natter_upstream_send_request (NatterUpstream  *self,
                              UpstreamRequest *req)
{
  g_assert (self->ws != NULL);

  /* Typing from the front end has no reply to wait for. */
  if (req->client != NULL && !req->has_client_id)
    {
      req->frame->has_id = FALSE;
      link_send (self, req->frame);
      natter_upstream_request_free (req);
      return;
    }
  req->wire_id = self->next_id++;
  req->frame->has_id = TRUE;
  req->frame->id = req->wire_id;
  link_send (self, req->frame);
  g_hash_table_insert (self->requests, &req->wire_id, req);
}

void
natter_upstream_send_own_request (NatterUpstream      *self,
                                  Natter__ClientFrame *frame,
                                  const char          *room,
                                  ReplyFunc            on_reply)
{
  UpstreamRequest *req = g_new0 (UpstreamRequest, 1);

  req->frame = frame;
  req->room = g_strdup (room);
  req->on_reply = on_reply;
  natter_upstream_send_request (self, req);
}

/* ---------------------------------------------------------------------------------- */
/* Logging in */

static void
stored_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!natter_account_secret_store_finish (result, &error))
    g_warning ("Cannot keep the session token in the Secret Service: %s", error->message);
}

static void
cleared_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!natter_account_secret_clear_finish (result, &error))
    g_warning ("Cannot remove the account from the Secret Service: %s", error->message);
}

static void
auth_failed (NatterUpstream *self,
             const char     *message)
{
  self->want_link = FALSE;
  natter_upstream_wipe_string (&self->password);
  natter_upstream_wipe_string (&self->token);
  natter_upstream_set_status (self, NATTER_BACKEND_STATUS_AUTH_FAILED,
                              "%s refused the account %s: %s. Sign in again with your password.",
                              natter_upstream_server_label (self), self->user, message);
  natter_upstream_fail_connect (self, NATTER_ERROR_UNAUTHORIZED, self->status_message);
  natter_upstream_link_lost (self, NULL);
}

static void
fallback_password_cb (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  g_autoptr(NatterUpstream) self = user_data;
  g_autoptr(GError) error = NULL;
  char *password = natter_account_secret_lookup_finish (result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (password == NULL)
    {
      if (self->link == LINK_LOGIN)
        auth_failed (self, "the session token was refused and no password is stored");
      return;
    }
  natter_upstream_wipe_string (&self->password);
  self->password = g_strdup (password);
  secret_password_free (password);
  if (self->link == LINK_LOGIN)
    send_login (self);
}

static void
login_reply (NatterUpstream      *self,
             UpstreamRequest     *req,
             Natter__ServerFrame *frame)
{
  NatterError code = NATTER_ERROR_INTERNAL;

  if (frame->event_case == NATTER__SERVER_FRAME__EVENT_WELCOME)
    {
      welcome_received (self, frame);
      return;
    }
  if (frame->event_case == NATTER__SERVER_FRAME__EVENT_ERROR)
    natter_error_code_from_string (frame->error->code, &code);
  if (code != NATTER_ERROR_UNAUTHORIZED)
    {
      g_autofree char *reason = g_strdup_printf ("login failed: %s",
                                                 frame->event_case == NATTER__SERVER_FRAME__EVENT_ERROR
                                                   ? frame->error->message : "unexpected reply");

      natter_upstream_link_lost (self, reason);
      return;
    }

  if (req->with_token)
    {
      /* Expired or revoked: the password, if we have one, gets a new token. */
      g_debug ("The server refused the session token");
      natter_upstream_wipe_string (&self->token);
      if (self->password != NULL)
        send_login (self);
      else
        natter_account_secret_lookup_async (self->server, self->user, NATTER_SECRET_PASSWORD,
                                            self->account_cancellable, fallback_password_cb,
                                            g_object_ref (self));
      return;
    }
  auth_failed (self, frame->error->message != NULL ? frame->error->message : "unauthorized");
}

/* CreateAccount(): the server refused to create the account (the name is taken, the
 * password too short, too many registrations): nothing to retry. */
static void
register_reply (NatterUpstream      *self,
                UpstreamRequest     *req,
                Natter__ServerFrame *frame)
{
  NatterError code = NATTER_ERROR_INTERNAL;
  g_autofree char *reason = NULL;

  if (frame->event_case == NATTER__SERVER_FRAME__EVENT_WELCOME)
    {
      self->register_first = FALSE;
      welcome_received (self, frame);
      return;
    }
  if (frame->event_case == NATTER__SERVER_FRAME__EVENT_ERROR)
    natter_error_code_from_string (frame->error->code, &code);
  reason = g_strdup_printf ("%s did not create the account %s: %s",
                            natter_upstream_server_label (self), self->user,
                            frame->event_case == NATTER__SERVER_FRAME__EVENT_ERROR &&
                            frame->error->message != NULL ? frame->error->message
                                                          : "unexpected reply");
  self->register_first = FALSE;
  self->want_link = FALSE;
  natter_upstream_wipe_string (&self->password);
  natter_upstream_set_status (self, NATTER_BACKEND_STATUS_OFFLINE, "%s", reason);
  natter_upstream_fail_connect (self, code, reason);
  natter_upstream_link_lost (self, NULL);
}

static void
send_register (NatterUpstream *self)
{
  Natter__ClientFrame *frame = natter_upstream_client_frame_new (NATTER__CLIENT_FRAME__OP_REGISTER);
  UpstreamRequest *req = g_new0 (UpstreamRequest, 1);

  frame->register_ = g_new0 (Natter__Register, 1);
  natter__register__init (frame->register_);
  frame->register_->user = g_strdup (self->user);
  frame->register_->password = g_strdup (self->password);
  req->frame = frame;
  req->on_reply = register_reply;
  self->link = LINK_LOGIN;
  natter_upstream_send_request (self, req);
}

static void
send_login (NatterUpstream *self)
{
  Natter__ClientFrame *frame = NULL;
  UpstreamRequest *req = NULL;

  if (self->register_first && self->password != NULL)
    {
      send_register (self);
      return;
    }
  frame = natter_upstream_client_frame_new (NATTER__CLIENT_FRAME__OP_LOGIN);
  req = g_new0 (UpstreamRequest, 1);

  frame->login = g_new0 (Natter__Login, 1);
  natter__login__init (frame->login);
  frame->login->user = g_strdup (self->user);
  if (self->token != NULL)
    {
      frame->login->token = g_strdup (self->token);
      req->with_token = TRUE;
    }
  else
    frame->login->password = g_strdup (self->password);
  req->frame = frame;
  req->on_reply = login_reply;
  self->link = LINK_LOGIN;
  natter_upstream_send_request (self, req);
}

/* After the welcome (and the cache is right for the server's epoch): resume every room,
 * tell the front end, send what waited. */
void
natter_upstream_continue_welcome (NatterUpstream      *self,
                                  Natter__ServerFrame *frame)
{
  Natter__Welcome *welcome = frame->welcome;
  g_autoptr(GHashTable) listed = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GPtrArray) gone = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer name;

  for (gsize i = 0; i < welcome->n_rooms; i++)
    if (welcome->rooms[i]->name != NULL)
      g_hash_table_add (listed, welcome->rooms[i]->name);

  /* Rooms left from elsewhere while we were away. */
  g_hash_table_iter_init (&iter, self->rooms);
  while (g_hash_table_iter_next (&iter, &name, NULL))
    if (!g_hash_table_contains (listed, name))
      g_ptr_array_add (gone, g_strdup (name));
  for (guint i = 0; i < gone->len; i++)
    {
      natter_upstream_forget_room (self, g_ptr_array_index (gone, i));
      natter_upstream_deliver_member (self, g_ptr_array_index (gone, i), self->user, FALSE);
    }

  for (gsize i = 0; i < welcome->n_rooms; i++)
    {
      const Natter__RoomInfo *info = welcome->rooms[i];
      Natter__ClientFrame *join;
      gboolean created;
      UpstreamRoom *room;

      if (info->name == NULL)
        continue;
      room = natter_upstream_ensure_room (self, info->name, info->kind, &created);
      /* A room never copied before: what it holds is history, not news. */
      if (created)
        room->floor = info->last_seq;
      if (g_strcmp0 (room->topic, info->topic) != 0)
        {
          g_free (room->topic);
          room->topic = g_strdup (info->topic);
        }
      natter_seq_order_note_known (room->order, info->last_seq);
      if (info->has_read_seq)
        room->read_seq = MAX (room->read_seq, info->read_seq);
      if (info->has_private_)
        room->is_private = info->private_;
      if (info->role != NULL)
        {
          g_free (room->role);
          room->role = g_strdup (info->role);
        }
      natter_upstream_set_notification_level (room, info->notification_level);

      join = natter_upstream_client_frame_new (NATTER__CLIENT_FRAME__OP_JOIN);
      join->join = g_new0 (Natter__Join, 1);
      natter__join__init (join->join);
      join->join->room = g_strdup (room->name);
      join->join->has_since_seq = TRUE;
      join->join->since_seq = natter_upstream_room_seen (room);
      room->resuming = TRUE;
      room->resume_end = G_MAXUINT64;
      /* A page asked for on the last link will not come. */
      natter_seq_order_reset (room->order);
      natter_upstream_send_own_request (self, join, room->name, natter_upstream_resume_reply);
    }

  self->link = LINK_UP;
  self->attempt = 0;
  frame->has_id = FALSE;
  natter_upstream_deliver (self, frame);

  natter_upstream_set_status (self, NATTER_BACKEND_STATUS_CONNECTED, "Connected to %s as %s",
                              self->server, self->user);
  natter_upstream_complete_connect (self, NULL);

  while (!g_queue_is_empty (&self->outbox) && self->link == LINK_UP)
    natter_upstream_send_request (self, g_queue_pop_head (&self->outbox));
}

static void
cache_reset_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(NatterUpstream) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_upstream_cache_close_finish (NATTER_UPSTREAM_CACHE (source), result, &error))
    g_warning ("Cannot remove the old copy of the history: %s", error->message);
  if (self->user != NULL)
    natter_upstream_open_cache (self);
}

static void
welcome_received (NatterUpstream      *self,
                  Natter__ServerFrame *frame)
{
  Natter__Welcome *welcome = frame->welcome;
  const char *cached_epoch = self->cache != NULL ? natter_upstream_cache_get_epoch (self->cache)
                                                 : NULL;

  /* The token never goes further than this. */
  if (welcome->token != NULL)
    {
      gboolean changed = g_strcmp0 (welcome->token, self->token) != 0;

      natter_upstream_wipe_string (&self->token);
      self->token = g_strdup (welcome->token);
      memset (welcome->token, 0, strlen (welcome->token));
      free (welcome->token);
      welcome->token = NULL;
      if (self->remember && changed)
        natter_account_secret_store_async (self->server, self->user, NATTER_SECRET_TOKEN,
                                           self->token, NULL, stored_cb, NULL);
    }
  if (self->forget_on_login)
    {
      self->forget_on_login = FALSE;
      natter_account_secret_clear_async (self->server, self->user, NULL, cleared_cb, NULL);
    }
  natter_upstream_wipe_string (&self->password);

  if (welcome->epoch != NULL && cached_epoch != NULL && !g_str_equal (welcome->epoch, cached_epoch))
    {
      NatterUpstreamCache *cache = g_steal_pointer (&self->cache);

      /* The server's store was replaced: the copy's positions mean nothing any more. */
      g_message ("The store of %s was replaced (epoch %s, was %s): starting a new copy",
                 self->server, welcome->epoch, cached_epoch);
      natter_upstream_drop_all_rooms (self);
      self->cache_ready = FALSE;
      self->stashed_welcome = server_frame_copy (frame);
      natter_upstream_cache_close_async (cache, TRUE, NULL, cache_reset_cb, g_object_ref (self));
      g_object_unref (cache);
      return;
    }
  if (welcome->epoch != NULL && self->cache != NULL)
    natter_upstream_cache_set_epoch (self->cache, welcome->epoch);
  natter_upstream_continue_welcome (self, frame);
}

/* ---------------------------------------------------------------------------------- */
/* Frames from the server */

static void
handle_reply (NatterUpstream      *self,
              UpstreamRequest     *req,
              Natter__ServerFrame *frame)
{
  if (req->on_reply != NULL)
    {
      req->on_reply (self, req, frame);
      return;
    }
  /* The front end's own requests: keep the mirror in step, then pass the answer on. */
  if (frame->event_case == NATTER__SERVER_FRAME__EVENT_JOINED)
    natter_upstream_apply_joined (self, frame->joined);
  else if (frame->event_case == NATTER__SERVER_FRAME__EVENT_OK &&
           req->frame->op_case == NATTER__CLIENT_FRAME__OP_READ)
    {
      const char *name = req->frame->read->room;
      UpstreamRoom *room = name != NULL ? g_hash_table_lookup (self->rooms, name) : NULL;

      if (room != NULL)
        room->read_seq = MAX (room->read_seq, req->frame->read->seq);
      if (self->cache != NULL && room != NULL)
        natter_upstream_cache_set_read (self->cache, room->name, req->frame->read->seq);
    }
  else if (frame->event_case == NATTER__SERVER_FRAME__EVENT_OK &&
           req->frame->op_case == NATTER__CLIENT_FRAME__OP_SET_NOTIFICATION_LEVEL)
    {
      /* The server tells only the account's other sessions: the answer is ours. */
      const char *name = req->frame->set_notification_level->room;
      UpstreamRoom *room = name != NULL ? g_hash_table_lookup (self->rooms, name) : NULL;

      if (room != NULL)
        natter_upstream_set_notification_level (room, req->frame->set_notification_level->level);
    }
  natter_upstream_reply (req, frame);
}

/* Takes ownership of @frame. */
void
natter_upstream_handle_frame (NatterUpstream      *self,
                              Natter__ServerFrame *frame)
{
  g_autoptr(Natter__ServerFrame) owned = frame;
  gpointer key = NULL, value = NULL;

  /* The cache is being replaced after a new epoch: everything waits for it. */
  if (self->stashed_welcome != NULL)
    {
      g_queue_push_tail (&self->stashed_frames, g_steal_pointer (&owned));
      return;
    }

  if (frame->has_id)
    {
      g_autoptr(UpstreamRequest) req = NULL;

      if (!g_hash_table_steal_extended (self->requests, &frame->id, &key, &value))
        {
          g_debug ("Ignoring a reply to no request (%" G_GUINT64_FORMAT ")", frame->id);
          return;
        }
      req = value;
      handle_reply (self, req, frame);
      return;
    }

  switch ((int) frame->event_case)
    {
    case NATTER__SERVER_FRAME__EVENT_MESSAGE:
      natter_upstream_handle_message (self, frame->message);
      return;
    case NATTER__SERVER_FRAME__EVENT_MEMBER:
      natter_upstream_handle_member (self, frame->member);
      break;
    case NATTER__SERVER_FRAME__EVENT_RECEIPT:
      natter_upstream_handle_receipt (self, frame->receipt);
      break;
    case NATTER__SERVER_FRAME__EVENT_TOPIC:
      natter_upstream_handle_topic (self, frame->topic);
      break;
    case NATTER__SERVER_FRAME__EVENT_INVITE:
      /* For the front end: an invitation changes nothing here until the account joins. */
      break;
    case NATTER__SERVER_FRAME__EVENT_NOTIFICATION_LEVEL:
      natter_upstream_handle_notification_level (self, frame->notification_level);
      break;
    case NATTER__SERVER_FRAME__EVENT_PRESENCE:
    case NATTER__SERVER_FRAME__EVENT_TYPING:
    case NATTER__SERVER_FRAME__EVENT_ERROR:
      break;
    default:
      g_debug ("Ignoring a frame of kind %d from the server", (int) frame->event_case);
      return;
    }
  natter_upstream_deliver (self, frame);
}

/* ---------------------------------------------------------------------------------- */
/* The connection */

static void
on_ws_message (SoupWebsocketConnection *ws,
               gint                     type,
               GBytes                  *message,
               NatterUpstream          *self)
{
  g_autoptr(GError) error = NULL;
  Natter__ServerFrame *frame;
  gsize len;
  const guint8 *data = g_bytes_get_data (message, &len);

  self->last_rx = g_get_monotonic_time ();
  if (type != SOUP_WEBSOCKET_DATA_BINARY)
    {
      g_debug ("Ignoring a text frame on %s", NATTER_SUBPROTOCOL_PROTO);
      return;
    }
  frame = natter_codec_decode_server_frame (NATTER_CODEC_PROTO, data, len, &error);
  if (frame == NULL)
    {
      g_debug ("Ignoring an undecodable frame from the server: %s", error->message);
      return;
    }
  g_object_ref (self);
  natter_upstream_handle_frame (self, frame);
  g_object_unref (self);
}

static void
on_ws_pong (SoupWebsocketConnection *ws,
            GBytes                  *message,
            NatterUpstream          *self)
{
  self->last_rx = g_get_monotonic_time ();
}

static void
on_ws_error (SoupWebsocketConnection *ws,
             GError                  *error,
             NatterUpstream          *self)
{
  g_debug ("WebSocket error: %s", error->message);
}

static void
on_ws_closed (SoupWebsocketConnection *ws,
              NatterUpstream          *self)
{
  g_autofree char *reason = NULL;
  const char *data = soup_websocket_connection_get_close_data (ws);
  gushort code = soup_websocket_connection_get_close_code (ws);

  if (code != 0)
    reason = g_strdup_printf ("the server closed the connection (%u%s%s)", code,
                              data != NULL && *data != '\0' ? ": " : "",
                              data != NULL ? data : "");
  else
    reason = g_strdup ("the connection was lost");
  g_object_ref (self);
  natter_upstream_link_lost (self, reason);
  g_object_unref (self);
}

/* The server pings us and we ping it (libsoup's keepalive), so a live link is never
 * silent for long; a half-open TCP connection is, and is dropped. */
static gboolean
heartbeat_cb (gpointer user_data)
{
  NatterUpstream *self = user_data;
  gint64 silent = g_get_monotonic_time () - self->last_rx;
  g_autofree char *reason = NULL;

  if (silent < (gint64) self->ping_timeout_s * G_USEC_PER_SEC)
    return G_SOURCE_CONTINUE;
  reason = g_strdup_printf ("no answer from the server for %u s", self->ping_timeout_s);
  self->heartbeat_source = 0;
  natter_upstream_link_lost (self, reason);
  return G_SOURCE_REMOVE;
}

static void
ws_connected_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(NatterUpstream) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(SoupWebsocketConnection) ws = soup_session_websocket_connect_finish (SOUP_SESSION (source),
                                                                                result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  g_clear_object (&self->link_cancellable);
  g_clear_handle_id (&self->attempt_timeout_source, g_source_remove);

  if (ws == NULL && (self->tls_errors != 0 || error->domain == G_TLS_ERROR))
    {
      g_autofree char *problems = natter_upstream_describe_certificate_errors (self->tls_errors);

      self->link = LINK_DOWN;
      self->want_link = FALSE;
      natter_upstream_set_status (self, NATTER_BACKEND_STATUS_CERTIFICATE_ERROR,
                                  "The TLS certificate of %s was refused: %s. %s", self->server,
                                  problems,
                                  self->ca_database != NULL
                                    ? "It is not signed by the authority of --ca-file either."
                                    : "If you trust it, start natterd with --ca-file and the "
                                      "certificate of its authority.");
      natter_upstream_fail_connect (self, NATTER_ERROR_UNAVAILABLE, self->status_message);
      natter_upstream_link_lost (self, NULL);
      return;
    }
  if (ws == NULL)
    {
      g_autofree char *reason = g_strdup_printf ("cannot reach %s: %s", self->server,
                                                 error->message);

      self->link = LINK_DOWN;
      natter_upstream_link_lost (self, reason);
      return;
    }
  if (g_strcmp0 (soup_websocket_connection_get_protocol (ws), NATTER_SUBPROTOCOL_PROTO) != 0)
    {
      g_autofree char *reason = g_strdup_printf ("%s does not speak %s", self->server,
                                                 NATTER_SUBPROTOCOL_PROTO);

      soup_websocket_connection_close (ws, SOUP_WEBSOCKET_CLOSE_PROTOCOL_ERROR, NULL);
      self->link = LINK_DOWN;
      natter_upstream_link_lost (self, reason);
      return;
    }

  self->ws = g_steal_pointer (&ws);
  soup_websocket_connection_set_max_incoming_payload_size (self->ws, MAX_INCOMING_BYTES);
  soup_websocket_connection_set_keepalive_interval (self->ws, self->ping_interval_s);
  g_signal_connect (self->ws, "message", G_CALLBACK (on_ws_message), self);
  g_signal_connect (self->ws, "pong", G_CALLBACK (on_ws_pong), self);
  g_signal_connect (self->ws, "error", G_CALLBACK (on_ws_error), self);
  g_signal_connect (self->ws, "closed", G_CALLBACK (on_ws_closed), self);
  self->last_rx = g_get_monotonic_time ();
  self->heartbeat_source = g_timeout_add_seconds (MAX (1, self->ping_interval_s / 2),
                                                  heartbeat_cb, self);
  g_debug ("Connected to %s; logging in as %s", self->server, self->user);
  send_login (self);
}

/* A server that accepts the TCP connection but never completes the handshake (a frozen
 * process) must not stall the link forever. */
static gboolean
attempt_timeout_cb (gpointer user_data)
{
  NatterUpstream *self = user_data;
  g_autofree char *reason = g_strdup_printf ("%s did not answer within %u s", self->server,
                                             self->ping_timeout_s);

  self->attempt_timeout_source = 0;
  natter_upstream_link_lost (self, reason);
  return G_SOURCE_REMOVE;
}

void
natter_upstream_begin_attempt (NatterUpstream *self)
{
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GUri) uri = NULL;
  g_autoptr(GError) error = NULL;
  char *protocols[] = { (char *) NATTER_SUBPROTOCOL_PROTO, NULL };

  g_clear_handle_id (&self->reconnect_source, g_source_remove);
  /* Without the cache open, the positions to resume from are unknown:
   * natter_upstream_proceed() comes back here once it is. */
  if (self->link != LINK_DOWN || !self->want_link || !self->cache_ready)
    return;

  uri = g_uri_parse (self->server, SOUP_HTTP_URI_FLAGS, &error);
  if (uri == NULL)
    {
      self->want_link = FALSE;
      natter_upstream_set_status (self, NATTER_BACKEND_STATUS_OFFLINE, "Invalid server URL %s: %s",
                                  self->server, error->message);
      natter_upstream_fail_connect (self, NATTER_ERROR_BAD_REQUEST, self->status_message);
      return;
    }
  msg = soup_message_new_from_uri (SOUP_METHOD_GET, uri);
  g_signal_connect_object (msg, "accept-certificate",
                           G_CALLBACK (natter_upstream_accept_certificate_cb), self, 0);
  self->tls_errors = 0;
  self->link = LINK_OPENING;
  self->link_cancellable = g_cancellable_new ();
  self->attempt_timeout_source = g_timeout_add_seconds (self->ping_timeout_s, attempt_timeout_cb,
                                                        self);
  soup_session_websocket_connect_async (self->session, msg, NULL, protocols, G_PRIORITY_DEFAULT,
                                        self->link_cancellable, ws_connected_cb,
                                        g_object_ref (self));
}

static gboolean
reconnect_cb (gpointer user_data)
{
  NatterUpstream *self = user_data;

  self->reconnect_source = 0;
  natter_upstream_begin_attempt (self);
  return G_SOURCE_REMOVE;
}

/* Jittered exponential backoff: half the step, plus up to the other half at random, so
 * that many desktops do not come back to a restarted server all at once. */
static guint
next_backoff_ms (NatterUpstream *self)
{
  guint step = BACKOFF_MIN_MS;

  for (guint i = 0; i < self->attempt && step < BACKOFF_MAX_MS; i++)
    step *= 2;
  step = MIN (step, BACKOFF_MAX_MS);
  self->attempt++;
  return step / 2 + (guint) g_random_int_range (0, (gint32) (step / 2) + 1);
}

static int
compare_wire_id (gconstpointer a,
                 gconstpointer b)
{
  const UpstreamRequest *x = *(UpstreamRequest * const *) a, *y = *(UpstreamRequest * const *) b;

  return x->wire_id < y->wire_id ? -1 : x->wire_id > y->wire_id;
}

/* The link is gone (or must go). Sends in flight wait to be retried with their
 * client_msg_id, reads are answered from the cache, the rest fail; then, unless the
 * link is not wanted any more, a reconnect is scheduled. @reason: why, for the status
 * (%NULL when the caller set the status itself). */
void
natter_upstream_link_lost (NatterUpstream *self,
                           const char     *reason)
{
  g_autoptr(GPtrArray) in_flight = NULL;
  g_autoptr(SoupWebsocketConnection) ws = g_steal_pointer (&self->ws);
  GHashTableIter iter;
  gpointer room;

  g_clear_handle_id (&self->heartbeat_source, g_source_remove);
  g_clear_handle_id (&self->attempt_timeout_source, g_source_remove);
  if (self->link_cancellable != NULL)
    {
      g_cancellable_cancel (self->link_cancellable);
      g_clear_object (&self->link_cancellable);
    }
  if (ws != NULL)
    {
      g_signal_handlers_disconnect_by_data (ws, self);
      if (soup_websocket_connection_get_state (ws) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close (ws, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, NULL);
    }
  self->link = LINK_DOWN;
  g_clear_pointer (&self->stashed_welcome, natter_server_frame_free);
  g_queue_clear_full (&self->stashed_frames, (GDestroyNotify) natter_server_frame_free);

  /* Sends go back to the head of the queue in their order; they are retried with their
   * client_msg_id, so one that did commit is not sent twice. */
  in_flight = natter_upstream_hash_table_values (self->requests);
  g_hash_table_steal_all (self->requests);
  g_ptr_array_sort (in_flight, compare_wire_id);
  for (guint i = in_flight->len; i > 0; i--)
    {
      UpstreamRequest *req = g_ptr_array_index (in_flight, i - 1);

      if (req->client != NULL && is_send (req))
        {
          g_queue_push_head (&self->outbox, req);
          g_ptr_array_remove_index (in_flight, i - 1);
        }
    }
  for (guint i = 0; i < in_flight->len; i++)
    {
      g_autoptr(UpstreamRequest) req = g_ptr_array_index (in_flight, i);

      if (req->client == NULL)
        continue;
      switch ((int) req->frame->op_case)
        {
        case NATTER__CLIENT_FRAME__OP_JOIN:
        case NATTER__CLIENT_FRAME__OP_HISTORY:
        case NATTER__CLIENT_FRAME__OP_SEARCH:
        case NATTER__CLIENT_FRAME__OP_ROOMS:
          natter_upstream_answer_offline (self, g_steal_pointer (&req));
          break;
        default:
          natter_upstream_reply_error (req, NATTER_ERROR_UNAVAILABLE,
                                       "The connection to %s was lost before it answered; "
                                       "try again", natter_upstream_server_label (self));
          break;
        }
    }

  g_hash_table_iter_init (&iter, self->rooms);
  while (g_hash_table_iter_next (&iter, NULL, &room))
    {
      ((UpstreamRoom *) room)->resuming = FALSE;
      natter_seq_order_reset (((UpstreamRoom *) room)->order);
    }

  if (!self->want_link)
    {
      /* Nobody will send these: they fail now rather than never. */
      UpstreamRequest *req;

      while ((req = g_queue_pop_head (&self->outbox)) != NULL)
        {
          natter_upstream_reply_error (req, NATTER_ERROR_UNAVAILABLE,
                                       "Not connected to %s (%s): %s",
                                       natter_upstream_server_label (self), self->status,
                                       self->status_message);
          natter_upstream_request_free (req);
        }
      return;
    }
  if (reason != NULL && self->reconnect_source == 0)
    {
      guint delay = next_backoff_ms (self);
      g_autofree char *what = g_strdup (reason);

      what[0] = g_ascii_toupper (what[0]);
      natter_upstream_set_status (self, NATTER_BACKEND_STATUS_RECONNECTING,
                                  "%s; trying again in %.1f s", what, delay / 1000.0);
      if (self->connect_task != NULL)
        natter_upstream_fail_connect (self, NATTER_ERROR_UNAVAILABLE, self->status_message);
      self->reconnect_source = g_timeout_add (delay, reconnect_cb, self);
    }
}
