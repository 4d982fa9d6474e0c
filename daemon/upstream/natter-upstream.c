/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-upstream"

#include "config.h"

#include <string.h>

#include "natter-upstream-private.h"

/* NatterUpstream itself: its status, what it tells the front end, the front end's
 * requests, shutdown and the GObject. The link, the rooms, offline answers, the account
 * and TLS are in the natter-upstream-*.c files beside it (natter-upstream-private.h). */

static void natter_upstream_backend_init (NatterBackendInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (NatterUpstream, natter_upstream, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (NATTER_TYPE_BACKEND,
                                                      natter_upstream_backend_init))

enum {
  PROP_0,
  PROP_SERVER,
  PROP_BACKEND_FIRST,
  N_PROPS = PROP_BACKEND_FIRST + NATTER_BACKEND_N_PROPS
};

#define PROP_ACCOUNT        (PROP_BACKEND_FIRST + NATTER_BACKEND_PROP_ACCOUNT)
#define PROP_STATUS         (PROP_BACKEND_FIRST + NATTER_BACKEND_PROP_STATUS)
#define PROP_STATUS_MESSAGE (PROP_BACKEND_FIRST + NATTER_BACKEND_PROP_STATUS_MESSAGE)

static GParamSpec *properties[N_PROPS];

/* ---------------------------------------------------------------------------------- */
/* Small helpers */

void
natter_upstream_wipe_string (char **str)
{
  if (*str != NULL)
    {
      memset (*str, 0, strlen (*str));
      g_clear_pointer (str, g_free);
    }
}

GPtrArray *
natter_upstream_hash_table_values (GHashTable *table)
{
  GPtrArray *values = g_ptr_array_sized_new (g_hash_table_size (table));
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, table);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (values, value);
  return values;
}

Natter__ClientFrame *
natter_upstream_client_frame_new (Natter__ClientFrame__OpCase op)
{
  Natter__ClientFrame *frame = g_new0 (Natter__ClientFrame, 1);

  natter__client_frame__init (frame);
  frame->op_case = op;
  return frame;
}

void
natter_upstream_request_free (UpstreamRequest *req)
{
  g_clear_pointer (&req->frame, natter_client_frame_free);
  g_clear_object (&req->client);
  g_free (req->room);
  g_free (req);
}

const char *
natter_upstream_server_label (NatterUpstream *self)
{
  return self->server != NULL ? self->server : "the server";
}

/* ---------------------------------------------------------------------------------- */
/* Status */

void
natter_upstream_set_status (NatterUpstream *self,
                            const char     *status,
                            const char     *format,
                            ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);

  g_object_freeze_notify (G_OBJECT (self));
  if (g_strcmp0 (self->status_message, message) != 0)
    {
      g_free (self->status_message);
      self->status_message = g_steal_pointer (&message);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATUS_MESSAGE]);
    }
  if (g_strcmp0 (self->status, status) != 0)
    {
      g_message ("Upstream %s: %s", status, self->status_message);
      g_free (self->status);
      self->status = g_strdup (status);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATUS]);
    }
  g_object_thaw_notify (G_OBJECT (self));
}

void
natter_upstream_complete_connect (NatterUpstream *self,
                                  const GError   *error)
{
  g_autoptr(GTask) task = g_steal_pointer (&self->connect_task);

  if (task == NULL)
    return;
  if (error != NULL)
    g_task_return_error (task, g_error_copy (error));
  else
    g_task_return_boolean (task, TRUE);
}

void
natter_upstream_fail_connect (NatterUpstream *self,
                              NatterError     code,
                              const char     *message)
{
  g_autoptr(GError) error = g_error_new_literal (NATTER_ERROR, code, message);

  natter_upstream_complete_connect (self, error);
}

/* ---------------------------------------------------------------------------------- */
/* Talking to the front end */

static void
deliver_to (NatterClient              *client,
            const Natter__ServerFrame *frame)
{
  g_autoptr(NatterEvent) event = NULL;

  if (client == NULL)
    return;
  event = natter_event_new (frame);
  natter_client_deliver (client, event);
}

void
natter_upstream_deliver (NatterUpstream            *self,
                         const Natter__ServerFrame *frame)
{
  deliver_to (self->client, frame);
}

/* Answers a front-end request with @frame, under the request's own id. */
void
natter_upstream_reply (UpstreamRequest     *req,
                       Natter__ServerFrame *frame)
{
  frame->has_id = req->has_client_id;
  frame->id = req->client_id;
  deliver_to (req->client, frame);
}

void
natter_upstream_reply_error (UpstreamRequest *req,
                             NatterError      code,
                             const char      *format,
                             ...)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Error error = NATTER__ERROR__INIT;
  g_autofree char *message = NULL;
  va_list args;

  /* A request without an id (typing) has nobody waiting for an answer. */
  if (!req->has_client_id)
    return;
  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  error.code = (char *) natter_error_code_to_string (code);
  error.message = message;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_ERROR;
  frame.error = &error;
  natter_upstream_reply (req, &frame);
}

void
natter_upstream_deliver_member (NatterUpstream *self,
                                const char     *room,
                                const char     *user,
                                gboolean        joined)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Member member = NATTER__MEMBER__INIT;

  member.room = (char *) room;
  member.user = (char *) user;
  member.has_joined = TRUE;
  member.joined = joined;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_MEMBER;
  frame.member = &member;
  natter_upstream_deliver (self, &frame);
}

/* ---------------------------------------------------------------------------------- */
/* Requests of the front end */

static void
enqueue_send (NatterUpstream  *self,
              UpstreamRequest *req)
{
  if (g_queue_get_length (&self->outbox) >= NATTER_UPSTREAM_QUEUE_MAX)
    {
      natter_upstream_reply_error (req, NATTER_ERROR_UNAVAILABLE,
                                   "Not connected to %s, and %u messages are already waiting "
                                   "to be sent; try again once Status is “connected”",
                                   natter_upstream_server_label (self), NATTER_UPSTREAM_QUEUE_MAX);
      natter_upstream_request_free (req);
      return;
    }
  g_queue_push_tail (&self->outbox, req);
}

/* Forwards @frame to the server when the link is up. Otherwise sends wait for the link
 * (bounded by NATTER_UPSTREAM_QUEUE_MAX, retried with the same client_msg_id), reads are
 * answered from the local copy, and the rest fail with `unavailable`. */
static void
natter_upstream_dispatch (NatterBackend       *backend,
                          NatterClient        *client,
                          Natter__ClientFrame *frame)
{
  NatterUpstream *self = NATTER_UPSTREAM (backend);
  UpstreamRequest *req;

  req = g_new0 (UpstreamRequest, 1);
  req->frame = frame;
  req->client = g_object_ref (client);
  req->has_client_id = frame->has_id;
  req->client_id = frame->id;

  switch ((int) frame->op_case)
    {
    case NATTER__CLIENT_FRAME__OP_LOGIN:
    case NATTER__CLIENT_FRAME__OP_REGISTER:
      natter_upstream_reply_error (req, NATTER_ERROR_BAD_REQUEST,
                                   "In upstream mode natterd logs in by itself: use Connect()");
      natter_upstream_request_free (req);
      return;
    case NATTER__CLIENT_FRAME__OP__NOT_SET:
      natter_upstream_reply_error (req, NATTER_ERROR_BAD_REQUEST, "missing operation");
      natter_upstream_request_free (req);
      return;
    default:
      break;
    }

  if (self->link == LINK_UP)
    {
      natter_upstream_send_request (self, req);
      return;
    }

  switch ((int) frame->op_case)
    {
    case NATTER__CLIENT_FRAME__OP_SEND:
    case NATTER__CLIENT_FRAME__OP_BROADCAST:
      if (self->want_link)
        {
          enqueue_send (self, req);
          return;
        }
      natter_upstream_reply_error (req, NATTER_ERROR_UNAVAILABLE, "Not connected to %s (%s): %s",
                                   natter_upstream_server_label (self), self->status,
                                   self->status_message);
      break;
    case NATTER__CLIENT_FRAME__OP_JOIN:
    case NATTER__CLIENT_FRAME__OP_HISTORY:
    case NATTER__CLIENT_FRAME__OP_SEARCH:
    case NATTER__CLIENT_FRAME__OP_ROOMS:
      natter_upstream_answer_offline (self, req);
      return;
    case NATTER__CLIENT_FRAME__OP_TYPING:
      /* Nobody to tell. */
      break;
    default:
      natter_upstream_reply_error (req, NATTER_ERROR_UNAVAILABLE, "Not connected to %s (%s): %s",
                                   natter_upstream_server_label (self), self->status,
                                   self->status_message);
      break;
    }
  natter_upstream_request_free (req);
}

/* @client, the front end (one at most), gets the account's rooms at once (from the local
 * copy) and everything the server pushes. */
static void
natter_upstream_add_client (NatterBackend *backend,
                            NatterClient  *client)
{
  NatterUpstream *self = NATTER_UPSTREAM (backend);

  g_return_if_fail (self->client == NULL);

  self->client = g_object_ref (client);
  natter_client_set_peer (client, "upstream");
  if (self->cache_ready)
    natter_upstream_deliver_local_welcome (self);
}

static void
natter_upstream_remove_client (NatterBackend *backend,
                               NatterClient  *client)
{
  NatterUpstream *self = NATTER_UPSTREAM (backend);

  if (self->client == client)
    g_clear_object (&self->client);
}

void
natter_upstream_set_account (NatterUpstream *self,
                             const char     *server,
                             const char     *user)
{
  g_object_freeze_notify (G_OBJECT (self));
  if (g_strcmp0 (self->server, server) != 0)
    {
      g_free (self->server);
      self->server = g_strdup (server);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SERVER]);
    }
  if (g_strcmp0 (self->user, user) != 0)
    {
      g_free (self->user);
      self->user = g_strdup (user);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ACCOUNT]);
    }
  g_object_thaw_notify (G_OBJECT (self));
}

/* ---------------------------------------------------------------------------------- */
/* The server URL, and the backend interface */

/* Whether cleartext to @host stays on this machine. */
static gboolean
host_is_loopback (const char *host)
{
  g_autofree char *bare = g_strdup (host);
  g_autoptr(GInetAddress) address = NULL;
  gsize len = strlen (bare);

  if (g_ascii_strcasecmp (bare, "localhost") == 0)
    return TRUE;
  /* An IPv6 literal comes in brackets. */
  if (len > 2 && bare[0] == '[' && bare[len - 1] == ']')
    {
      bare[len - 1] = '\0';
      address = g_inet_address_new_from_string (bare + 1);
    }
  else
    address = g_inet_address_new_from_string (bare);
  return address != NULL && g_inet_address_get_is_loopback (address);
}

gboolean
natter_upstream_validate_url (const char  *url,
                              gboolean     allow_insecure,
                              GError     **error)
{
  g_autoptr(GUri) uri = g_uri_parse (url, SOUP_HTTP_URI_FLAGS, NULL);
  const char *scheme = uri != NULL ? g_uri_get_scheme (uri) : NULL;

  if (uri == NULL || g_uri_get_host (uri) == NULL || *g_uri_get_host (uri) == '\0' ||
      (g_strcmp0 (scheme, "ws") != 0 && g_strcmp0 (scheme, "wss") != 0))
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                   "“%s” is not a WebSocket URL: expected wss://HOST[:PORT]/ws", url);
      return FALSE;
    }
  if (g_uri_get_user (uri) != NULL || g_uri_get_password (uri) != NULL)
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                   "the server URL must not hold credentials: give them to Connect()");
      return FALSE;
    }
  /* Without TLS the password, the session token and every message cross the network
   * readable by anyone on the way: only to this machine, unless the user says so. */
  if (g_str_equal (scheme, "ws") && !allow_insecure && !host_is_loopback (g_uri_get_host (uri)))
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                   "“%s” is not encrypted: the password and the messages would cross the "
                   "network readable by anyone on the way. Use wss://, or, on a network you "
                   "trust, start natterd with --allow-insecure-upstream", url);
      return FALSE;
    }
  return TRUE;
}

static void
natter_upstream_backend_init (NatterBackendInterface *iface)
{
  iface->add_client = natter_upstream_add_client;
  iface->remove_client = natter_upstream_remove_client;
  iface->dispatch = natter_upstream_dispatch;
  iface->connect_async = natter_upstream_connect_async;
  iface->connect_finish = natter_upstream_connect_finish;
  iface->create_account_async = natter_upstream_create_account_async;
  iface->disconnect = natter_upstream_disconnect;
  iface->forget_account_async = natter_upstream_forget_account_async;
  iface->forget_account_finish = natter_upstream_forget_account_finish;
  iface->password_changed_async = natter_upstream_password_changed_async;
  iface->password_changed_finish = natter_upstream_password_changed_finish;
  iface->logged_out_async = natter_upstream_logged_out_async;
  iface->logged_out_finish = natter_upstream_logged_out_finish;
}

/* ---------------------------------------------------------------------------------- */
/* Shutdown */

static void
shutdown_copy_closed_cb (GObject      *source,
                         GAsyncResult *result,
                         gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_upstream_cache_close_finish (NATTER_UPSTREAM_CACHE (source), result, &error))
    g_warning ("Cannot close the local copy of the history: %s", error->message);
  g_task_return_boolean (task, TRUE);
}

/* The link is closed (or given up on): fail what waits, close the copy. The room
 * objects stay until the D-Bus service goes. */
static void
finish_shutdown (NatterUpstream *self)
{
  g_autoptr(GTask) task = g_steal_pointer (&self->shutdown_task);
  g_autoptr(NatterUpstreamCache) cache = g_steal_pointer (&self->cache);

  g_clear_handle_id (&self->close_grace_source, g_source_remove);
  if (self->ws != NULL)
    g_signal_handlers_disconnect_by_data (self->ws, self);
  natter_upstream_link_lost (self, NULL);
  g_cancellable_cancel (self->account_cancellable);
  if (cache != NULL)
    natter_upstream_cache_close_async (cache, FALSE, NULL, shutdown_copy_closed_cb,
                                       g_steal_pointer (&task));
  else
    g_task_return_boolean (task, TRUE);
}

static gboolean
close_grace_cb (gpointer user_data)
{
  NatterUpstream *self = user_data;

  self->close_grace_source = 0;
  finish_shutdown (self);
  return G_SOURCE_REMOVE;
}

static void
shutdown_ws_closed (SoupWebsocketConnection *ws,
                    NatterUpstream          *self)
{
  finish_shutdown (self);
}

/**
 * natter_upstream_shutdown_async:
 *
 * Tells the server goodbye (close code 1001), waiting a moment for its answer, fails
 * the sends still waiting, and closes the local copy.
 */
void
natter_upstream_shutdown_async (NatterUpstream      *self,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (NATTER_IS_UPSTREAM (self));
  g_return_if_fail (self->shutdown_task == NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_upstream_shutdown_async);
  self->shutdown_task = g_steal_pointer (&task);
  self->want_link = FALSE;
  g_clear_handle_id (&self->reconnect_source, g_source_remove);
  natter_upstream_fail_connect (self, NATTER_ERROR_UNAVAILABLE, "natterd is shutting down");
  natter_upstream_set_status (self, NATTER_BACKEND_STATUS_OFFLINE, "natterd is shutting down");

  if (self->ws != NULL && soup_websocket_connection_get_state (self->ws) == SOUP_WEBSOCKET_STATE_OPEN)
    {
      g_signal_handlers_disconnect_by_data (self->ws, self);
      g_signal_connect (self->ws, "closed", G_CALLBACK (shutdown_ws_closed), self);
      g_clear_handle_id (&self->heartbeat_source, g_source_remove);
      soup_websocket_connection_close (self->ws, SOUP_WEBSOCKET_CLOSE_GOING_AWAY,
                                       "natterd is shutting down");
      self->close_grace_source = g_timeout_add (CLOSE_GRACE_MS, close_grace_cb, self);
      return;
    }
  finish_shutdown (self);
}

gboolean
natter_upstream_shutdown_finish (NatterUpstream  *self,
                                 GAsyncResult    *result,
                                 GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---------------------------------------------------------------------------------- */
/* GObject */

static void
natter_upstream_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  NatterUpstream *self = NATTER_UPSTREAM (object);

  if (prop_id == PROP_SERVER)
    {
      g_value_set_string (value, self->server);
      return;
    }
  switch (prop_id - PROP_BACKEND_FIRST)
    {
    case NATTER_BACKEND_PROP_MODE:
      g_value_set_string (value, "upstream");
      break;
    case NATTER_BACKEND_PROP_ACCOUNT:
      g_value_set_string (value, self->user);
      break;
    case NATTER_BACKEND_PROP_ADMIN:
      /* Only the server's welcome can tell. */
      g_value_set_boolean (value, FALSE);
      break;
    case NATTER_BACKEND_PROP_NODE:
    case NATTER_BACKEND_PROP_EPOCH:
      g_value_set_string (value, NULL);
      break;
    case NATTER_BACKEND_PROP_STATUS:
      g_value_set_string (value, self->status);
      break;
    case NATTER_BACKEND_PROP_STATUS_MESSAGE:
      g_value_set_string (value, self->status_message);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
natter_upstream_dispose (GObject *object)
{
  NatterUpstream *self = NATTER_UPSTREAM (object);

  self->want_link = FALSE;
  g_clear_handle_id (&self->reconnect_source, g_source_remove);
  g_clear_handle_id (&self->close_grace_source, g_source_remove);
  if (self->account_cancellable != NULL)
    g_cancellable_cancel (self->account_cancellable);
  if (self->requests != NULL)
    natter_upstream_link_lost (self, NULL);
  g_clear_object (&self->client);
  g_clear_object (&self->cache);
  g_clear_object (&self->session);
  g_clear_object (&self->ca_database);
  g_clear_object (&self->account_cancellable);

  G_OBJECT_CLASS (natter_upstream_parent_class)->dispose (object);
}

static void
natter_upstream_finalize (GObject *object)
{
  NatterUpstream *self = NATTER_UPSTREAM (object);

  natter_upstream_wipe_string (&self->token);
  natter_upstream_wipe_string (&self->password);
  g_free (self->data_dir);
  g_free (self->server);
  g_free (self->user);
  g_free (self->status);
  g_free (self->status_message);
  g_clear_pointer (&self->rooms, g_hash_table_unref);
  g_clear_pointer (&self->left_rooms, g_hash_table_unref);
  g_clear_pointer (&self->requests, g_hash_table_unref);

  G_OBJECT_CLASS (natter_upstream_parent_class)->finalize (object);
}

static void
natter_upstream_class_init (NatterUpstreamClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = natter_upstream_get_property;
  object_class->dispose = natter_upstream_dispose;
  object_class->finalize = natter_upstream_finalize;

  properties[PROP_SERVER] =
    g_param_spec_string ("server", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_property (object_class, PROP_SERVER, properties[PROP_SERVER]);
  natter_backend_install_properties (object_class, PROP_BACKEND_FIRST);
  /* The ones that change, for g_object_notify_by_pspec(). */
  properties[PROP_ACCOUNT] = g_object_class_find_property (object_class, "account");
  properties[PROP_STATUS] = g_object_class_find_property (object_class, "status");
  properties[PROP_STATUS_MESSAGE] = g_object_class_find_property (object_class, "status-message");
}

static void
natter_upstream_init (NatterUpstream *self)
{
  self->rooms = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                       (GDestroyNotify) natter_upstream_room_free);
  self->left_rooms = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->requests = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL,
                                          (GDestroyNotify) natter_upstream_request_free);
  self->next_id = 1;
  self->account_cancellable = g_cancellable_new ();
  self->status = g_strdup (NATTER_BACKEND_STATUS_OFFLINE);
  self->status_message = g_strdup ("");
  g_queue_init (&self->outbox);
  g_queue_init (&self->stashed_frames);
}

/**
 * natter_upstream_new:
 * @config: natterd's settings: `upstream_url` (required), `upstream_user`, `ca_file`,
 *   `data_dir` and the heartbeat (`ping_interval_s`, `ping_timeout_s`)
 * @error: return location for a #GError
 *
 * Returns: (transfer full): the upstream link, not started yet, or %NULL if the
 *   settings are wrong (an invalid URL or user name, an unreadable --ca-file)
 */
NatterUpstream *
natter_upstream_new (const NatterConfig  *config,
                     GError             **error)
{
  g_autoptr(NatterUpstream) self = NULL;
  g_autofree char *user_agent = g_strdup_printf ("natterd/%s", PACKAGE_VERSION);

  g_return_val_if_fail (config != NULL && config->upstream_url != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!natter_upstream_validate_url (config->upstream_url, config->allow_insecure_upstream, error))
    return NULL;
  if (config->upstream_user != NULL && !natter_validate_user_name (config->upstream_user))
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                   "--user must match [a-z0-9_.-]{1,32}");
      return NULL;
    }

  self = g_object_new (NATTER_TYPE_UPSTREAM, NULL);
  if (config->ca_file != NULL)
    {
      g_autoptr(GError) local_error = NULL;

      self->ca_database = g_tls_file_database_new (config->ca_file, &local_error);
      if (self->ca_database == NULL)
        {
          g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                       "cannot read --ca-file %s: %s", config->ca_file, local_error->message);
          return NULL;
        }
    }
  self->allow_insecure = config->allow_insecure_upstream;
  self->data_dir = g_strdup (config->data_dir);
  self->ping_interval_s = config->ping_interval_s;
  self->ping_timeout_s = config->ping_timeout_s;
  self->server = g_strdup (config->upstream_url);
  self->user = g_strdup (config->upstream_user);
  self->session = soup_session_new_with_options ("user-agent", user_agent, NULL);
  return g_steal_pointer (&self);
}
