/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-hub"

#include "config.h"

#include <string.h>

#include "natter-auth.h"
#include "natter-error.h"
#include "natter-hub-private.h"

static void natter_hub_backend_init (NatterBackendInterface *iface);

static void pump (NatterHub *self, ClientState *cs);

G_DEFINE_FINAL_TYPE_WITH_CODE (NatterHub, natter_hub, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (NATTER_TYPE_BACKEND, natter_hub_backend_init))

enum {
  PROP_0,
  PROP_BACKEND_FIRST,
};

guint natter_hub_signals[N_SIGNALS];

/* ---------------------------------------------------------------------------------- */
/* Replies */

Request *
natter_hub_request_ref (Request *req)
{
  req->ref_count++;
  return req;
}

void
natter_hub_request_unref (Request *req)
{
  NatterHub *hub = req->hub;

  if (--req->ref_count > 0)
    return;

  if (req->frame != NULL)
    {
      ClientState *cs = natter_hub_lookup_client (hub, req->client);

      if (cs != NULL)
        {
          g_assert (cs->running > 0);
          cs->running--;
          if (req->barrier)
            cs->barrier = FALSE;
          pump (hub, cs);
        }
    }

  natter_client_frame_free (req->frame);
  g_free (req->user);
  g_free (req->room);
  if (req->token != NULL)
    memset (req->token, 0, strlen (req->token));
  g_free (req->token);
  g_free (req->login_key);
  g_object_unref (req->client);
  g_free (req);

  g_assert (hub->in_flight > 0);
  if (--hub->in_flight == 0 && hub->drain_task != NULL)
    {
      GTask *task = g_steal_pointer (&hub->drain_task);

      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
    }
  g_object_unref (hub);
}


static void
send_frame_to (NatterHub *self, NatterClient *client, Natter__ServerFrame *frame)
{
  ClientState *cs = natter_hub_lookup_client (self, client);
  g_autoptr(NatterEvent) event = NULL;

  if (cs == NULL)
    return; /* gone while the request was in flight */
  event = natter_event_new (frame);
  natter_hub_deliver (self, cs, event);
}

void
natter_hub_reply (Request *req, Natter__ServerFrame *frame)
{
  frame->has_id = req->has_id;
  frame->id = req->id;
  send_frame_to (req->hub, req->client, frame);
}

void
natter_hub_send_error (NatterHub *self, NatterClient *client, gboolean has_id, guint64 id,
            NatterError code, const char *message, guint retry_after_ms)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Error error = NATTER__ERROR__INIT;

  self->n_errors[code]++;
  error.code = (char *) natter_error_code_to_string (code);
  error.message = (char *) message;
  error.has_retry_after_ms = retry_after_ms > 0;
  error.retry_after_ms = retry_after_ms;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_ERROR;
  frame.error = &error;
  frame.has_id = has_id;
  frame.id = id;
  send_frame_to (self, client, &frame);
}

void
natter_hub_reply_with_error (Request *req, NatterError code, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  natter_hub_send_error (req->hub, req->client, req->has_id, req->id, code, message, 0);
}

void
natter_hub_reply_with_gerror (Request *req, const GError *error)
{
  NatterError code = natter_error_code_for (error);

  if (error->domain != NATTER_ERROR)
    g_warning ("Request failed: %s", error->message);
  natter_hub_send_error (req->hub, req->client, req->has_id, req->id, code,
              error->domain == NATTER_ERROR ? error->message : "internal error",
              code == NATTER_ERROR_RATE_LIMITED ? BUSY_RETRY_MS : 0);
}

void
natter_hub_reply_error (NatterHub    *self,
                        NatterClient *client,
                        guint64       request_id,
                        gboolean      has_request_id,
                        const GError *error)
{
  g_return_if_fail (NATTER_IS_HUB (self));
  natter_hub_send_error (self, client, has_request_id, request_id, natter_error_code_for (error),
              error->message, 0);
}

void
natter_hub_reply_ok (Request *req)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Ok ok = NATTER__OK__INIT;

  frame.event_case = NATTER__SERVER_FRAME__EVENT_OK;
  frame.ok = &ok;
  natter_hub_reply (req, &frame);
}

/* ---------------------------------------------------------------------------------- */
/* Dispatch */

static gboolean
is_barrier (const Natter__ClientFrame *frame)
{
  switch ((int) frame->op_case)
    {
    case NATTER__CLIENT_FRAME__OP_SEND:
    case NATTER__CLIENT_FRAME__OP_READ:
    case NATTER__CLIENT_FRAME__OP_TYPING:
      return FALSE;
    default:
      return TRUE;
    }
}

static void start_request (NatterHub *self, ClientState *cs, Natter__ClientFrame *frame);

/* Starts the waiting requests of @cs that may run now. */
static void
pump (NatterHub *self, ClientState *cs)
{
  g_autoptr(NatterClient) client = NULL;

  if (cs->pumping)
    return;
  cs->pumping = TRUE;
  client = g_object_ref (cs->client);
  while (!g_queue_is_empty (&cs->waiting))
    {
      Natter__ClientFrame *frame = g_queue_peek_head (&cs->waiting);

      if (cs->barrier || (is_barrier (frame) && cs->running > 0))
        break;
      g_queue_pop_head (&cs->waiting);
      start_request (self, cs, frame);
      /* The request may have ended the client. */
      if (natter_hub_lookup_client (self, client) != cs)
        return;
    }
  cs->pumping = FALSE;
}

/**
 * natter_hub_dispatch:
 * @self: a #NatterHub
 * @client: the client the request came from (added with natter_hub_add_client())
 * @frame: (transfer full): the decoded request
 *
 * Handles one request. The natter_hub_reply, and any events it causes, reach @client through
 * natter_client_deliver(), possibly before this function returns.
 */
void
natter_hub_dispatch (NatterHub           *self,
                     NatterClient        *client,
                     Natter__ClientFrame *frame)
{
  ClientState *cs;

  g_return_if_fail (NATTER_IS_HUB (self));
  g_return_if_fail (frame != NULL);

  cs = natter_hub_lookup_client (self, client);
  if (cs == NULL)
    {
      natter_client_frame_free (frame);
      g_return_if_reached ();
    }
  if (g_queue_get_length (&cs->waiting) >= MAX_WAITING_FRAMES)
    {
      natter_hub_send_error (self, client, frame->has_id, frame->id, NATTER_ERROR_RATE_LIMITED,
                  "too many requests waiting; wait for replies", 100);
      natter_client_frame_free (frame);
      return;
    }
  g_queue_push_tail (&cs->waiting, frame);
  pump (self, cs);
}

/* Runs a logged-in client's request (again, after a cluster refresh). */
void
natter_hub_handle_request (Request     *req,
                ClientState *cs)
{
  switch ((int) req->frame->op_case)
    {
    case NATTER__CLIENT_FRAME__OP_JOIN:
      natter_hub_handle_join (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_LEAVE:
      natter_hub_handle_leave (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_SEND:
      natter_hub_handle_send (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_BROADCAST:
      natter_hub_handle_broadcast (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_HISTORY:
      natter_hub_handle_history (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_ROOMS:
      natter_hub_handle_rooms (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_READ:
      natter_hub_handle_read (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_TYPING:
      natter_hub_handle_typing (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_SEARCH:
      natter_hub_handle_search (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_EDIT:
      natter_hub_handle_edit (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_DELETE:
      natter_hub_handle_delete (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_REACT:
      natter_hub_handle_react (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_LOGOUT:
      natter_hub_handle_logout (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_SESSIONS:
      natter_hub_handle_sessions (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_REVOKE:
      natter_hub_handle_revoke (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_PASSWORD:
      natter_hub_handle_password (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_DELETE_ACCOUNT:
      natter_hub_handle_delete_account (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_ADMIN_USERS:
      natter_hub_handle_admin_users (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_ADMIN_DISABLE:
    case NATTER__CLIENT_FRAME__OP_ADMIN_ENABLE:
      natter_hub_handle_admin_set_enabled (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_CREATE:
      natter_hub_handle_create (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_INVITE:
      natter_hub_handle_invite (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_DIRECTORY:
      natter_hub_handle_directory (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_SET_ROLE:
      natter_hub_handle_set_role (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_KICK:
    case NATTER__CLIENT_FRAME__OP_BAN:
    case NATTER__CLIENT_FRAME__OP_UNBAN:
      natter_hub_handle_ban (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_SET_TOPIC:
      natter_hub_handle_set_topic (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_BLOCK:
    case NATTER__CLIENT_FRAME__OP_UNBLOCK:
      natter_hub_handle_block (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_INVITATIONS:
      natter_hub_handle_invitations (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_DECLINE:
      natter_hub_handle_decline (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_SET_NOTIFICATION_LEVEL:
      natter_hub_handle_set_notification_level (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_MODERATION_LOG:
      natter_hub_handle_moderation_log (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_REGISTER:
    case NATTER__CLIENT_FRAME__OP_LOGIN:
    case NATTER__CLIENT_FRAME__OP__NOT_SET:
    default:
      g_assert_not_reached ();
    }
}

static void
start_request (NatterHub           *self,
               ClientState         *cs,
               Natter__ClientFrame *frame)
{
  NatterClient *client = cs->client;
  Request *req;

  self->n_requests++;
  self->in_flight++;
  req = g_new0 (Request, 1);
  req->ref_count = 1;
  req->hub = g_object_ref (self);
  req->client = g_object_ref (client);
  req->frame = frame;
  req->has_id = frame->has_id;
  req->id = frame->id;
  req->barrier = is_barrier (frame);
  cs->running++;
  cs->barrier = req->barrier;

  if (self->draining || !self->started)
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_UNAVAILABLE, "the server is shutting down");
      natter_hub_request_unref (req);
      return;
    }

  if (frame->op_case == NATTER__CLIENT_FRAME__OP__NOT_SET)
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST, "missing operation");
      natter_hub_request_unref (req);
      return;
    }

  if (frame->op_case == NATTER__CLIENT_FRAME__OP_REGISTER ||
      frame->op_case == NATTER__CLIENT_FRAME__OP_LOGIN)
    {
      if (cs->user != NULL || cs->logging_in)
        natter_hub_reply_with_error (req, NATTER_ERROR_CONFLICT, "already logged in");
      else if (frame->op_case == NATTER__CLIENT_FRAME__OP_REGISTER)
        natter_hub_handle_register (req, cs);
      else
        natter_hub_handle_login (req, cs);
      /* Asynchronous handlers hold their own reference. */
      natter_hub_request_unref (req);
      return;
    }

  if (cs->user == NULL)
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_UNAUTHORIZED, "log in first");
      natter_hub_request_unref (req);
      return;
    }

  natter_hub_handle_request (req, cs);
  natter_hub_request_unref (req);
}

/* ---------------------------------------------------------------------------------- */
/* Clients */

/**
 * natter_hub_add_client:
 *
 * Starts tracking @client; it may send requests with natter_hub_dispatch() from now on.
 */
void
natter_hub_add_client (NatterHub    *self,
                       NatterClient *client)
{
  g_return_if_fail (NATTER_IS_HUB (self));
  g_return_if_fail (NATTER_IS_CLIENT (client));
  g_return_if_fail (natter_hub_lookup_client (self, client) == NULL);

  g_hash_table_insert (self->clients, client, natter_hub_client_state_new (client));
}

/**
 * natter_hub_remove_client:
 *
 * Forgets @client: no more events reach it, and requests in flight are answered into
 * the void. Other members see it go offline when it was the account's last session.
 */
void
natter_hub_remove_client (NatterHub    *self,
                          NatterClient *client)
{
  ClientState *cs;
  GHashTableIter iter;
  gpointer value;

  g_return_if_fail (NATTER_IS_HUB (self));

  cs = natter_hub_lookup_client (self, client);
  if (cs == NULL)
    return;

  g_hash_table_iter_init (&iter, cs->subs);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    natter_hub_room_drop_sub (self, ((Sub *) value)->room, cs);

  if (cs->user != NULL)
    {
      g_autofree char *user = g_strdup (cs->user);
      GPtrArray *sessions = g_hash_table_lookup (self->online, user);

      if (sessions != NULL && g_ptr_array_remove_fast (sessions, cs) && sessions->len == 0)
        {
          g_hash_table_remove (self->online, user);
          g_hash_table_steal (self->clients, client);
          g_signal_emit (self, natter_hub_signals[SIGNAL_PRESENCE_CHANGED], 0, user, FALSE);
          if (!g_hash_table_contains (self->online_elsewhere, user))
            natter_hub_send_presence (self, user, FALSE);
          natter_hub_client_state_free (cs);
          return;
        }
    }
  g_hash_table_remove (self->clients, client);
}

/**
 * natter_hub_attach_local:
 *
 * Logs @client in as @user without credentials. Only for front ends that authenticate
 * callers themselves (the D-Bus service acts for the local owner account). The welcome
 * frame is delivered like any natter_hub_reply, without an id.
 */
void
natter_hub_attach_local (NatterHub    *self,
                         NatterClient *client,
                         const char   *user,
                         gboolean      admin)
{
  ClientState *cs;
  Request *req;

  g_return_if_fail (NATTER_IS_HUB (self));
  g_return_if_fail (self->started);

  cs = natter_hub_lookup_client (self, client);
  g_return_if_fail (cs != NULL && cs->user == NULL);

  self->in_flight++;
  req = g_new0 (Request, 1);
  req->ref_count = 1;
  req->hub = g_object_ref (self);
  req->client = g_object_ref (client);
  natter_hub_finish_login (req, user, admin);
  natter_hub_request_unref (req);
}

/* ---------------------------------------------------------------------------------- */
/* Start, drain, metrics */

static void
system_room_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  NatterHub *self = g_task_get_source_object (task);
  GError *error = NULL;
  g_autoptr(NatterRoomRecord) record = natter_store_create_room_finish (NATTER_STORE (source),
                                                                       result, &error);

  if (record == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  natter_hub_add_room (self, record->name, NATTER_ROOM_KIND_SYSTEM, record->topic,
                       record->last_seq);
  self->started = TRUE;
  g_task_return_boolean (task, TRUE);
}

static void
load_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  NatterHub *self = g_task_get_source_object (task);
  GError *error = NULL;
  g_autoptr(NatterStoreSnapshot) snapshot = natter_store_load_finish (NATTER_STORE (source),
                                                                      result, &error);
  GCancellable *cancellable;

  if (snapshot == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  for (guint i = 0; i < snapshot->rooms->len; i++)
    {
      NatterRoomRecord *record = g_ptr_array_index (snapshot->rooms, i);
      Room *room = natter_hub_add_room (self, record->name, record->kind, record->topic,
                                        record->last_seq);

      natter_hub_room_apply_record (room, record);

      for (guint j = 0; j < record->members->len; j++)
        {
          NatterMemberRecord *member = g_ptr_array_index (record->members, j);
          natter_hub_add_member (self, room, member->user, member->read_seq);
        }
    }
  g_debug ("Loaded %u rooms", snapshot->rooms->len);
  cancellable = g_task_get_cancellable (task);
  natter_store_create_room_async (self->store, NATTER_SYSTEM_ROOM, NATTER_ROOM_KIND_SYSTEM,
                                  NULL, cancellable, system_room_cb, g_steal_pointer (&task));
}

/**
 * natter_hub_start_async:
 *
 * Loads rooms and memberships from the store and makes sure the `system` room exists.
 * Requests are refused with `unavailable` until this completes.
 */
void
natter_hub_start_async (NatterHub           *self,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  GTask *task;

  g_return_if_fail (NATTER_IS_HUB (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_hub_start_async);
  natter_store_load_async (self->store, cancellable, load_cb, task);
}

gboolean
natter_hub_start_finish (NatterHub     *self,
                         GAsyncResult  *result,
                         GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * natter_hub_drain_async:
 *
 * From now on new requests get `unavailable`; completes when every request in flight has
 * been answered (sends committed and acknowledged).
 */
void
natter_hub_drain_async (NatterHub           *self,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (NATTER_IS_HUB (self));
  g_return_if_fail (self->drain_task == NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_hub_drain_async);
  self->draining = TRUE;
  if (self->in_flight == 0)
    g_task_return_boolean (task, TRUE);
  else
    self->drain_task = g_steal_pointer (&task);
}

gboolean
natter_hub_drain_finish (NatterHub     *self,
                         GAsyncResult  *result,
                         GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * natter_hub_append_metrics:
 * @out: where to append Prometheus text-format metrics
 */
void
natter_hub_append_metrics (NatterHub *self,
                           GString   *out)
{
  g_return_if_fail (NATTER_IS_HUB (self));

  g_string_append_printf (out,
                          "# HELP natter_clients Connected clients (sessions and local front ends).\n"
                          "# TYPE natter_clients gauge\n"
                          "natter_clients %u\n"
                          "# HELP natter_users_online Accounts with at least one session.\n"
                          "# TYPE natter_users_online gauge\n"
                          "natter_users_online %u\n"
                          "# HELP natter_rooms Rooms known to this node.\n"
                          "# TYPE natter_rooms gauge\n"
                          "natter_rooms %u\n"
                          "# HELP natter_requests_total Requests handled.\n"
                          "# TYPE natter_requests_total counter\n"
                          "natter_requests_total %" G_GUINT64_FORMAT "\n"
                          "# HELP natter_messages_total Messages committed through this node.\n"
                          "# TYPE natter_messages_total counter\n"
                          "natter_messages_total %" G_GUINT64_FORMAT "\n"
                          "# HELP natter_deliveries_total Frames handed to clients.\n"
                          "# TYPE natter_deliveries_total counter\n"
                          "natter_deliveries_total %" G_GUINT64_FORMAT "\n"
                          "# HELP natter_errors_total Error replies by code.\n"
                          "# TYPE natter_errors_total counter\n",
                          g_hash_table_size (self->clients),
                          g_hash_table_size (self->online),
                          g_hash_table_size (self->rooms),
                          self->n_requests, self->n_messages, self->n_deliveries);
  for (guint i = 0; i < NATTER_ERROR_N_CODES; i++)
    g_string_append_printf (out, "natter_errors_total{code=\"%s\"} %" G_GUINT64_FORMAT "\n",
                            natter_error_code_to_string (i), self->n_errors[i]);
  if (self->shared)
    natter_hub_append_shared_metrics (self, out);
  natter_store_append_metrics (self->store, out);
}

NatterStore *
natter_hub_get_store (NatterHub *self)
{
  g_return_val_if_fail (NATTER_IS_HUB (self), NULL);
  return self->store;
}

const NatterConfig *
natter_hub_get_config (NatterHub *self)
{
  g_return_val_if_fail (NATTER_IS_HUB (self), NULL);
  return self->config;
}

/* ---------------------------------------------------------------------------------- */

static void
natter_hub_finalize (GObject *object)
{
  NatterHub *self = NATTER_HUB (object);

  g_clear_pointer (&self->online_elsewhere, g_hash_table_unref);
  g_clear_pointer (&self->clients, g_hash_table_unref);
  g_clear_pointer (&self->online, g_hash_table_unref);
  g_clear_pointer (&self->user_rooms, g_hash_table_unref);
  g_clear_pointer (&self->rooms, g_hash_table_unref);
  g_clear_pointer (&self->user_buckets, natter_buckets_free);
  g_clear_pointer (&self->login_throttle, natter_throttle_free);
  g_clear_pointer (&self->address_throttle, natter_throttle_free);
  g_clear_pointer (&self->password_buckets, natter_buckets_free);
  g_clear_pointer (&self->register_buckets, natter_buckets_free);
  g_clear_pointer (&self->room_buckets, natter_buckets_free);
  g_clear_pointer (&self->invite_buckets, natter_buckets_free);
  g_clear_pointer (&self->directory_buckets, natter_buckets_free);
  g_clear_object (&self->drain_task);
  g_clear_object (&self->store);

  G_OBJECT_CLASS (natter_hub_parent_class)->finalize (object);
}

/* ---------------------------------------------------------------------------------- */
/* The backend of front ends */

static void
natter_hub_backend_add_client (NatterBackend *backend,
                               NatterClient  *client)
{
  natter_hub_add_client (NATTER_HUB (backend), client);
}

static void
natter_hub_backend_remove_client (NatterBackend *backend,
                                  NatterClient  *client)
{
  natter_hub_remove_client (NATTER_HUB (backend), client);
}

static void
natter_hub_backend_dispatch (NatterBackend       *backend,
                             NatterClient        *client,
                             Natter__ClientFrame *frame)
{
  natter_hub_dispatch (NATTER_HUB (backend), client, frame);
}

static void
natter_hub_backend_reply_error (NatterBackend *backend,
                                NatterClient  *client,
                                guint64        request_id,
                                gboolean       has_request_id,
                                const GError  *error)
{
  natter_hub_reply_error (NATTER_HUB (backend), client, request_id, has_request_id, error);
}

/* Local front ends (D-Bus) act as the owner account, an administrator. */
static void
natter_hub_backend_attach_local (NatterBackend *backend,
                                 NatterClient  *client)
{
  NatterHub *self = NATTER_HUB (backend);

  natter_hub_add_client (self, client);
  natter_hub_attach_local (self, client, self->config->owner, TRUE);
}

static void
natter_hub_backend_init (NatterBackendInterface *iface)
{
  iface->add_client = natter_hub_backend_add_client;
  iface->remove_client = natter_hub_backend_remove_client;
  iface->dispatch = natter_hub_backend_dispatch;
  iface->reply_error = natter_hub_backend_reply_error;
  iface->attach_local = natter_hub_backend_attach_local;
}

static void
natter_hub_get_property (GObject    *object,
                         guint       prop_id,
                         GValue     *value,
                         GParamSpec *pspec)
{
  NatterHub *self = NATTER_HUB (object);

  switch (prop_id - PROP_BACKEND_FIRST)
    {
    case NATTER_BACKEND_PROP_MODE:
      g_value_set_string (value, "host");
      break;
    case NATTER_BACKEND_PROP_ACCOUNT:
      g_value_set_string (value, self->config != NULL ? self->config->owner : NULL);
      break;
    case NATTER_BACKEND_PROP_ADMIN:
      g_value_set_boolean (value, TRUE);
      break;
    case NATTER_BACKEND_PROP_NODE:
      g_value_set_string (value, self->config != NULL ? self->config->node_id : NULL);
      break;
    case NATTER_BACKEND_PROP_EPOCH:
      g_value_set_string (value, self->store != NULL ? natter_store_get_epoch (self->store) : NULL);
      break;
    case NATTER_BACKEND_PROP_STATUS:
      g_value_set_string (value, NATTER_BACKEND_STATUS_CONNECTED);
      break;
    case NATTER_BACKEND_PROP_STATUS_MESSAGE:
      g_value_set_string (value, "");
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
natter_hub_class_init (NatterHubClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = natter_hub_get_property;
  object_class->finalize = natter_hub_finalize;
  natter_backend_install_properties (object_class, PROP_BACKEND_FIRST);

  /* What this node's clients did that other nodes must hear of: the cluster
   * (cluster/natter-cluster.c) listens. Pointer arguments are valid during emission. */

  /**
   * NatterHub::message-committed:
   * @message: (type gpointer): the Natter__Message
   *
   * A client of this node sent a message, and it is durable.
   */
  natter_hub_signals[SIGNAL_MESSAGE_COMMITTED] =
    g_signal_new ("message-committed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);

  /**
   * NatterHub::room-event:
   * @room: the room
   * @frame: (type gpointer): the Natter__ServerFrame: typing, a receipt, a `member`
   *   (a role set, or a kick or ban with `by`), a `topic`, or an `invite` naming the
   *   invitee in `user`
   *
   * A client of this node is typing in @room, moved its read marker there, or changed
   * the room.
   */
  natter_hub_signals[SIGNAL_ROOM_EVENT] =
    g_signal_new ("room-event", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_POINTER);

  /**
   * NatterHub::member-changed:
   * @room: the room
   * @user: the account
   * @joined: whether @user joined or left
   *
   * A request on this node changed who is a member of @room: a join or a leave (a kick
   * or ban is a #NatterHub::room-event, which says who did it).
   */
  natter_hub_signals[SIGNAL_MEMBER_CHANGED] =
    g_signal_new ("member-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_STRING,
                  G_TYPE_BOOLEAN);

  /**
   * NatterHub::presence-changed:
   * @user: the account
   * @online: %TRUE when its first session on this node began, %FALSE when its last ended
   */
  natter_hub_signals[SIGNAL_PRESENCE_CHANGED] =
    g_signal_new ("presence-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_BOOLEAN);

  /**
   * NatterHub::room-watched:
   * @room: the room
   *
   * A session of this node reads @room, and none did before.
   */
  natter_hub_signals[SIGNAL_ROOM_WATCHED] =
    g_signal_new ("room-watched", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);

  /**
   * NatterHub::room-unwatched:
   * @room: the room
   *
   * The last session of this node that read @room stopped.
   */
  natter_hub_signals[SIGNAL_ROOM_UNWATCHED] =
    g_signal_new ("room-unwatched", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);

  /**
   * NatterHub::sessions-ended:
   * @user: the account
   * @sessions: (nullable): the ids of the sessions whose tokens were revoked, or %NULL
   *   for all of the account's (disabled or deleted)
   * @reason: why, for the close frame
   *
   * Sessions were ended on this node; their connections elsewhere must close too
   * (natter_hub_receive_sessions_ended()).
   */
  natter_hub_signals[SIGNAL_SESSIONS_ENDED] =
    g_signal_new ("sessions-ended", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_STRV,
                  G_TYPE_STRING);
}

static void
natter_hub_init (NatterHub *self)
{
  self->rooms = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) natter_hub_room_free);
  self->user_rooms = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                            (GDestroyNotify) g_hash_table_unref);
  self->clients = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) natter_hub_client_state_free);
  self->online = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify) g_ptr_array_unref);
  self->online_elsewhere = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

/**
 * natter_hub_new:
 * @store: the history store
 * @config: settings, which must outlive the hub
 *
 * Returns: (transfer full): a new hub; call natter_hub_start_async() before use
 */
NatterHub *
natter_hub_new (NatterStore        *store,
                const NatterConfig *config)
{
  NatterHub *self;

  g_return_val_if_fail (NATTER_IS_STORE (store), NULL);
  g_return_val_if_fail (config != NULL, NULL);

  self = g_object_new (NATTER_TYPE_HUB, NULL);
  self->store = g_object_ref (store);
  self->config = (NatterConfig *) config;
  self->login_throttle = natter_throttle_new (config->login_failures, config->login_throttle_s);
  self->user_buckets = natter_buckets_new (config->rate_per_s * 2, config->rate_burst * 2);
  self->address_throttle = natter_throttle_new (config->address_login_failures,
                                                config->login_throttle_s);
  self->password_buckets = natter_buckets_new (config->password_rate, config->password_burst);
  self->register_buckets = natter_buckets_new (config->registrations_per_hour / 3600.0,
                                               config->registrations_per_hour);
  self->room_buckets = natter_buckets_new (config->rooms_per_hour / 3600.0,
                                           config->rooms_per_hour);
  self->invite_buckets = natter_buckets_new (config->invites_per_hour / 3600.0,
                                             config->invites_per_hour);
  self->directory_buckets = natter_buckets_new (config->directory_per_minute / 60.0,
                                                config->directory_per_minute);
  natter_auth_set_max_pending (config->max_password_queue);
  /* Other nodes write to a shared store too: see natter-hub-remote.c. */
  self->shared = natter_store_is_shared (store);
  return self;
}
