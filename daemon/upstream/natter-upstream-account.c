/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-upstream"

#include "config.h"

#include "natter-upstream-private.h"

/* Which account: finding it and its credentials in the Secret Service, opening and
 * closing its local copy, and Connect(), Disconnect() and ForgetAccount(). */

/* ---------------------------------------------------------------------------------- */
/* The account: credentials and the local copy */

static void
password_found_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(NatterUpstream) self = user_data;
  g_autoptr(GError) error = NULL;
  char *password = natter_account_secret_lookup_finish (result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (error != NULL)
    g_warning ("Cannot read the Secret Service: %s", error->message);
  if (password != NULL)
    {
      natter_upstream_wipe_string (&self->password);
      self->password = g_strdup (password);
      secret_password_free (password);
      self->remember = TRUE;
    }
  self->keyring_checked = TRUE;
  natter_upstream_proceed (self);
}

static void
token_found_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(NatterUpstream) self = user_data;
  g_autoptr(GError) error = NULL;
  char *token = natter_account_secret_lookup_finish (result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (error != NULL)
    {
      g_warning ("Cannot read the Secret Service: %s", error->message);
      self->keyring_checked = TRUE;
      natter_upstream_proceed (self);
      return;
    }
  if (token == NULL)
    {
      natter_account_secret_lookup_async (self->server, self->user, NATTER_SECRET_PASSWORD,
                                          self->account_cancellable, password_found_cb,
                                          g_object_ref (self));
      return;
    }
  natter_upstream_wipe_string (&self->token);
  self->token = g_strdup (token);
  secret_password_free (token);
  self->remember = TRUE;
  self->keyring_checked = TRUE;
  natter_upstream_proceed (self);
}

/* Moves towards a link: once the local copy is open and credentials are known. */
void
natter_upstream_proceed (NatterUpstream *self)
{
  if (!self->want_link || !self->cache_ready || self->link != LINK_DOWN ||
      self->reconnect_source != 0)
    return;
  if (self->token == NULL && self->password == NULL)
    {
      if (!self->keyring_checked)
        {
          self->keyring_checked = TRUE;
          natter_account_secret_lookup_async (self->server, self->user, NATTER_SECRET_TOKEN,
                                              self->account_cancellable, token_found_cb,
                                              g_object_ref (self));
          return;
        }
      self->want_link = FALSE;
      natter_upstream_set_status (self, NATTER_BACKEND_STATUS_OFFLINE,
                                  "No saved sign-in for %s on %s: sign in again with your "
                                  "password", self->user, self->server);
      natter_upstream_fail_connect (self, NATTER_ERROR_UNAUTHORIZED, self->status_message);
      return;
    }
  if (g_strcmp0 (self->status, NATTER_BACKEND_STATUS_RECONNECTING) != 0)
    natter_upstream_set_status (self, NATTER_BACKEND_STATUS_CONNECTING, "Connecting to %s as %s",
                                self->server, self->user);
  natter_upstream_begin_attempt (self);
}

static void
cache_opened_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(NatterUpstream) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterUpstreamCache) cache = natter_upstream_cache_open_finish (result, &error);
  g_autoptr(NatterStoreSnapshot) snapshot = NULL;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  /* Opened for an account that is not the current one any more. */
  if (cache != NULL && g_strcmp0 (natter_upstream_cache_get_user (cache), self->user) != 0)
    {
      natter_upstream_cache_close_async (cache, FALSE, NULL, NULL, NULL);
      return;
    }
  if (cache == NULL)
    g_warning ("No local copy of the history: %s", error->message);
  self->cache = g_steal_pointer (&cache);
  self->cache_ready = TRUE;

  snapshot = self->cache != NULL ? natter_upstream_cache_steal_snapshot (self->cache) : NULL;
  for (guint i = 0; snapshot != NULL && i < snapshot->rooms->len; i++)
    {
      const NatterRoomRecord *record = g_ptr_array_index (snapshot->rooms, i);
      gboolean member = g_str_equal (record->kind, NATTER_ROOM_KIND_SYSTEM);
      UpstreamRoom *room;

      for (guint j = 0; j < record->members->len && !member; j++)
        member = g_str_equal (((NatterMemberRecord *) g_ptr_array_index (record->members, j))->user,
                              self->user);
      if (!member)
        {
          g_hash_table_insert (self->left_rooms, g_strdup (record->name),
                               g_memdup2 (&record->last_seq, sizeof record->last_seq));
          continue;
        }
      room = natter_upstream_room_new (self, record->name, record->kind, record->last_seq);
      room->topic = g_strdup (record->topic);
      for (guint j = 0; j < record->members->len; j++)
        {
          const NatterMemberRecord *m = g_ptr_array_index (record->members, j);

          g_hash_table_add (room->members, g_strdup (m->user));
          if (g_str_equal (m->user, self->user))
            {
              room->read_seq = m->read_seq;
              room->notification_level =
                g_strdup (natter_notification_level_to_string (m->notification_level));
            }
        }
      g_hash_table_insert (self->rooms, room->name, room);
    }

  if (self->stashed_welcome != NULL)
    {
      /* After a new epoch: carry on with the welcome that started it. */
      Natter__ServerFrame *welcome = g_steal_pointer (&self->stashed_welcome);
      g_autoptr(GQueue) frames = g_queue_copy (&self->stashed_frames);
      Natter__ServerFrame *frame;

      g_queue_clear (&self->stashed_frames);
      if (self->cache != NULL && welcome->welcome->epoch != NULL)
        natter_upstream_cache_set_epoch (self->cache, welcome->welcome->epoch);
      natter_upstream_continue_welcome (self, welcome);
      natter_server_frame_free (welcome);
      while ((frame = g_queue_pop_head (frames)) != NULL)
        natter_upstream_handle_frame (self, frame);
      return;
    }
  natter_upstream_deliver_local_welcome (self);
  natter_upstream_proceed (self);
}

void
natter_upstream_open_cache (NatterUpstream *self)
{
  self->cache_ready = FALSE;
  natter_upstream_cache_open_async (self->data_dir, self->server, self->user,
                                    self->account_cancellable, cache_opened_cb,
                                    g_object_ref (self));
}

static void
cache_closed_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_upstream_cache_close_finish (NATTER_UPSTREAM_CACHE (source), result, &error))
    {
      if (task != NULL)
        g_task_return_error (task, g_steal_pointer (&error));
      else
        g_warning ("Cannot close the local copy of the history: %s", error->message);
      return;
    }
  if (task != NULL)
    g_task_return_boolean (task, TRUE);
}

/* Stops the link (without reconnecting) and forgets everything about the current
 * account but its stored secrets; with @delete, its local copy goes too. @task, if any,
 * completes when the copy is closed. */
static void
leave_account (NatterUpstream *self,
               gboolean        delete,
               GTask          *task)
{
  g_autoptr(NatterUpstreamCache) cache = g_steal_pointer (&self->cache);

  self->want_link = FALSE;
  g_clear_handle_id (&self->reconnect_source, g_source_remove);
  natter_upstream_link_lost (self, NULL);
  natter_upstream_drop_all_rooms (self);
  g_cancellable_cancel (self->account_cancellable);
  g_clear_object (&self->account_cancellable);
  self->account_cancellable = g_cancellable_new ();
  natter_upstream_wipe_string (&self->token);
  natter_upstream_wipe_string (&self->password);
  self->keyring_checked = FALSE;
  self->remember = FALSE;
  self->forget_on_login = FALSE;
  self->cache_ready = FALSE;
  if (cache != NULL)
    natter_upstream_cache_close_async (cache, delete, NULL, cache_closed_cb,
                                       task != NULL ? g_object_ref (task) : NULL);
  else if (task != NULL)
    g_task_return_boolean (task, TRUE);
}

static void
found_user_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(NatterUpstream) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *user = natter_account_secret_find_user_finish (result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) || self->user != NULL)
    return;
  if (user == NULL)
    {
      self->want_link = FALSE;
      natter_upstream_set_status (self, NATTER_BACKEND_STATUS_OFFLINE,
                                  "No account for %s in the Secret Service%s%s: call Connect()",
                                  self->server, error != NULL ? ": " : "",
                                  error != NULL ? error->message : "");
      return;
    }
  natter_upstream_set_account (self, self->server, user);
  natter_upstream_open_cache (self);
}

/**
 * natter_upstream_start:
 *
 * Begins with the configured server and account: looks the account up in the Secret
 * Service if none was given, opens its local copy (the front end sees the cached rooms
 * at once), then connects with the stored credentials. Never blocks.
 */
void
natter_upstream_start (NatterUpstream *self)
{
  g_return_if_fail (NATTER_IS_UPSTREAM (self));

  self->want_link = TRUE;
  if (self->user == NULL)
    {
      natter_upstream_set_status (self, NATTER_BACKEND_STATUS_CONNECTING,
                                  "Looking for an account of %s in the Secret Service",
                                  self->server);
      natter_account_secret_find_user_async (self->server, self->account_cancellable,
                                             found_user_cb, g_object_ref (self));
      return;
    }
  natter_upstream_set_status (self, NATTER_BACKEND_STATUS_CONNECTING, "Connecting to %s as %s",
                              self->server, self->user);
  natter_upstream_open_cache (self);
}

/* ---------------------------------------------------------------------------------- */
/* Connect(), Disconnect(), ForgetAccount() */

/* Connects (again) as @user on @url ("" for the current ones). Another account's rooms
 * go away first. With a @password, @remember %FALSE removes what was stored for the
 * account. Completes once logged in, or with the first failure: NATTER_ERROR_UNAUTHORIZED
 * (credentials refused or missing), NATTER_ERROR_UNAVAILABLE (server out of reach, which
 * keeps being retried, or a refused certificate), NATTER_ERROR_BAD_REQUEST. */
static void
connect_account (NatterUpstream      *self,
                 const char          *url,
                 const char          *user,
                 const char          *password,
                 gboolean             remember,
                 gboolean             create,
                 GCancellable        *cancellable,
                 GAsyncReadyCallback  callback,
                 gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  const char *server;

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_upstream_connect_async);
  if (create && (password == NULL || *password == '\0'))
    {
      g_task_return_new_error (task, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                               "a new account needs a password");
      return;
    }

  server = url != NULL && *url != '\0' ? url : self->server;
  if (user == NULL || *user == '\0')
    user = self->user;
  if (server == NULL || !natter_upstream_validate_url (server, self->allow_insecure, &error))
    {
      if (error == NULL)
        g_set_error (&error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST, "no server URL given");
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (user == NULL || !natter_validate_user_name (user))
    {
      g_task_return_new_error (task, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                               "user name must match [a-z0-9_.-]{1,32}");
      return;
    }
  if (self->shutdown_task != NULL)
    {
      g_task_return_new_error (task, NATTER_ERROR, NATTER_ERROR_UNAVAILABLE,
                               "natterd is shutting down");
      return;
    }

  natter_upstream_fail_connect (self, NATTER_ERROR_UNAVAILABLE, "replaced by another Connect()");
  if (g_strcmp0 (server, self->server) != 0 || g_strcmp0 (user, self->user) != 0)
    {
      g_autofree char *new_server = g_strdup (server);
      g_autofree char *new_user = g_strdup (user);

      leave_account (self, FALSE, NULL);
      natter_upstream_set_account (self, new_server, new_user);
      natter_upstream_open_cache (self);
    }
  else
    {
      /* The same account: a fresh link, keeping the rooms and what waits to be sent
       * (the link is still wanted, so natter_upstream_link_lost() keeps the queue). */
      self->want_link = TRUE;
      g_clear_handle_id (&self->reconnect_source, g_source_remove);
      natter_upstream_link_lost (self, NULL);
      self->keyring_checked = FALSE;
    }

  if (password != NULL && *password != '\0')
    {
      natter_upstream_wipe_string (&self->token);
      natter_upstream_wipe_string (&self->password);
      self->password = g_strdup (password);
      self->remember = remember;
      self->forget_on_login = !remember;
    }
  else if (remember)
    self->remember = TRUE;
  self->register_first = create;

  self->want_link = TRUE;
  self->attempt = 0;
  self->connect_task = g_steal_pointer (&task);
  natter_upstream_set_status (self, NATTER_BACKEND_STATUS_CONNECTING, "Connecting to %s as %s",
                              self->server, self->user);
  natter_upstream_proceed (self);
}

void
natter_upstream_connect_async (NatterBackend       *backend,
                               const char          *url,
                               const char          *user,
                               const char          *password,
                               gboolean             remember,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  connect_account (NATTER_UPSTREAM (backend), url, user, password, remember, FALSE, cancellable,
                   callback, user_data);
}

/* As Connect(), with a `register` of @user and @password first: the server creates the
 * account and welcomes it as a login would. Fails with the server's error, such as
 * NATTER_ERROR_CONFLICT for a name that is taken. */
void
natter_upstream_create_account_async (NatterBackend       *backend,
                                      const char          *url,
                                      const char          *user,
                                      const char          *password,
                                      gboolean             remember,
                                      GCancellable        *cancellable,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data)
{
  connect_account (NATTER_UPSTREAM (backend), url, user, password, remember, TRUE, cancellable,
                   callback, user_data);
}

gboolean
natter_upstream_connect_finish (NatterBackend  *self,
                                GAsyncResult   *result,
                                GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == natter_upstream_connect_async,
                        FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* Closes the link and stays offline (History and Search keep working from the local
 * copy) until Connect(). */
gboolean
natter_upstream_disconnect (NatterBackend  *backend,
                            GError        **error)
{
  NatterUpstream *self = NATTER_UPSTREAM (backend);

  self->want_link = FALSE;
  g_clear_handle_id (&self->reconnect_source, g_source_remove);
  natter_upstream_set_status (self, NATTER_BACKEND_STATUS_OFFLINE,
                              "Disconnected from %s: call Connect() to connect again",
                              natter_upstream_server_label (self));
  natter_upstream_fail_connect (self, NATTER_ERROR_UNAVAILABLE, "cancelled by Disconnect()");
  natter_upstream_link_lost (self, NULL);
  return TRUE;
}

typedef struct
{
  char *server;  /* (owned) */
  char *user;    /* (owned) */
} ForgetData;

static void
forget_data_free (ForgetData *data)
{
  g_free (data->server);
  g_free (data->user);
  g_free (data);
}

static void
forget_cleared_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_account_secret_clear_finish (result, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_task_return_boolean (task, TRUE);
}

static void
forget_copy_closed_cb (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  ForgetData *data = g_task_get_task_data (task);

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    g_warning ("Cannot remove the local copy of the history: %s", error->message);
  natter_account_secret_clear_async (data->server, data->user, NULL, forget_cleared_cb,
                                     g_object_ref (task));
}

/* Disconnects, removes the account's secrets from the Secret Service and deletes its
 * local copy of the history; the rooms go away. Completes once the secrets are gone. */
void
natter_upstream_forget_account_async (NatterBackend       *backend,
                                      GCancellable        *cancellable,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data)
{
  NatterUpstream *self = NATTER_UPSTREAM (backend);
  g_autoptr(GTask) task = NULL;
  g_autoptr(GTask) closed = NULL;
  ForgetData *data;

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_upstream_forget_account_async);
  if (self->server == NULL || self->user == NULL)
    {
      g_task_return_new_error (task, NATTER_ERROR, NATTER_ERROR_NOT_FOUND, "no account to forget");
      return;
    }
  data = g_new0 (ForgetData, 1);
  data->server = g_strdup (self->server);
  data->user = g_strdup (self->user);
  g_task_set_task_data (task, data, (GDestroyNotify) forget_data_free);

  natter_upstream_fail_connect (self, NATTER_ERROR_UNAVAILABLE, "cancelled by ForgetAccount()");
  closed = g_task_new (self, NULL, forget_copy_closed_cb, g_steal_pointer (&task));
  natter_upstream_set_status (self, NATTER_BACKEND_STATUS_OFFLINE, "No account: call Connect()");
  leave_account (self, TRUE, closed);
  natter_upstream_set_account (self, self->server, NULL);
}

gboolean
natter_upstream_forget_account_finish (NatterBackend  *self,
                                       GAsyncResult   *result,
                                       GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---------------------------------------------------------------------------------- */
/* After ChangePassword() and LogOut() */

/* A password the user keeps in the Secret Service as a fallback for an expired token:
 * replaced by the new one, so that the fallback still works. */
typedef struct
{
  char *server;    /* (owned) */
  char *user;      /* (owned) */
  char *password;  /* (owned) wiped when freed */
} StoredPassword;

static void
stored_password_free (StoredPassword *data)
{
  g_free (data->server);
  g_free (data->user);
  natter_upstream_wipe_string (&data->password);
  g_free (data);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (StoredPassword, stored_password_free)

static void
password_replaced_cb (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!natter_account_secret_store_finish (result, &error))
    g_warning ("Cannot keep the new password in the Secret Service: %s", error->message);
}

static void
stored_password_found_cb (GObject      *source,
                          GAsyncResult *result,
                          gpointer      user_data)
{
  g_autoptr(StoredPassword) data = user_data;
  g_autoptr(GError) error = NULL;
  char *old = natter_account_secret_lookup_finish (result, &error);

  if (error != NULL)
    g_warning ("Cannot read the Secret Service: %s", error->message);
  if (old == NULL)
    return;
  secret_password_free (old);
  natter_account_secret_store_async (data->server, data->user, NATTER_SECRET_PASSWORD,
                                     data->password, NULL, password_replaced_cb, NULL);
}

/* The session of the old password ended (or the server could not end it): a new one
 * with the new password, whose token the welcome keeps. */
static void
old_session_ended (NatterUpstream      *self,
                   UpstreamRequest     *req,
                   Natter__ServerFrame *frame)
{
  if (frame->event_case != NATTER__SERVER_FRAME__EVENT_OK)
    g_message ("%s kept the session of the old password: %s", natter_upstream_server_label (self),
               frame->event_case == NATTER__SERVER_FRAME__EVENT_ERROR &&
               frame->error->message != NULL ? frame->error->message : "unexpected reply");
  self->want_link = TRUE;
  g_clear_handle_id (&self->reconnect_source, g_source_remove);
  natter_upstream_link_lost (self, NULL);
  natter_upstream_proceed (self);
}

/* ChangePassword() succeeded on the server, which kept natterd's session. Its token is
 * what a stolen keyring would give away, so natterd ends that session and signs in
 * again with the new password: the Secret Service then holds the new session's token
 * (when it held one before). Completes once signed in again. */
void
natter_upstream_password_changed_async (NatterBackend       *backend,
                                        const char          *password,
                                        GCancellable        *cancellable,
                                        GAsyncReadyCallback  callback,
                                        gpointer             user_data)
{
  NatterUpstream *self = NATTER_UPSTREAM (backend);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  Natter__ClientFrame *frame;

  g_task_set_source_tag (task, natter_upstream_password_changed_async);
  if (self->user == NULL || (self->link != LINK_UP && !self->want_link))
    {
      g_task_return_new_error (task, NATTER_ERROR, NATTER_ERROR_UNAVAILABLE,
                               "The password was changed, but natterd is offline: connect with the new password");
      return;
    }
  if (self->remember)
    {
      StoredPassword *data = g_new0 (StoredPassword, 1);

      data->server = g_strdup (self->server);
      data->user = g_strdup (self->user);
      data->password = g_strdup (password);
      natter_account_secret_lookup_async (self->server, self->user, NATTER_SECRET_PASSWORD, NULL,
                                          stored_password_found_cb, data);
    }

  natter_upstream_fail_connect (self, NATTER_ERROR_UNAVAILABLE, "replaced by ChangePassword()");
  natter_upstream_wipe_string (&self->token);
  natter_upstream_wipe_string (&self->password);
  self->password = g_strdup (password);
  self->connect_task = g_steal_pointer (&task);
  /* Offline for now, the next attempt signs in with the new password. */
  if (self->link != LINK_UP)
    return;
  frame = natter_upstream_client_frame_new (NATTER__CLIENT_FRAME__OP_LOGOUT);
  frame->logout = g_new0 (Natter__Logout, 1);
  natter__logout__init (frame->logout);
  natter_upstream_send_own_request (self, frame, NULL, old_session_ended);
}

gboolean
natter_upstream_password_changed_finish (NatterBackend  *self,
                                         GAsyncResult   *result,
                                         GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
logged_out_forgotten_cb (GObject      *source,
                         GAsyncResult *result,
                         gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_upstream_forget_account_finish (NATTER_BACKEND (source), result, &error))
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

/* LogOut(): the server ended natterd's session; nothing of the account stays here. */
void
natter_upstream_logged_out_async (NatterBackend       *backend,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  NatterUpstream *self = NATTER_UPSTREAM (backend);
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  g_autofree char *server = g_strdup (natter_upstream_server_label (self));

  g_task_set_source_tag (task, natter_upstream_logged_out_async);
  natter_upstream_forget_account_async (backend, NULL, logged_out_forgotten_cb, task);
  natter_upstream_set_status (self, NATTER_BACKEND_STATUS_OFFLINE, "Logged out of %s", server);
}

gboolean
natter_upstream_logged_out_finish (NatterBackend  *self,
                                   GAsyncResult   *result,
                                   GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}
