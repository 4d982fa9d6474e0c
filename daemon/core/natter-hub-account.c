/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-hub"

#include "config.h"

#include <string.h>

#include "natter-auth.h"
#include "natter-error.h"
#include "natter-hub-private.h"

/* An account's own sessions and password, deleting it, and what administrators do to
 * accounts. Ending a session is two things: the store forgets its token (the truth for
 * every later login, on every node), and the connections that use it close with 1008,
 * here and, through the hub's "sessions-ended" signal, on the other nodes. */

#define CLOSE_POLICY   1008
#define MAX_USER_LIST  100
#define DEFAULT_USER_LIST 50

/* ---------------------------------------------------------------------------------- */
/* Ending sessions */

void
natter_hub_close_sessions (NatterHub          *self,
                           const char         *user,
                           const char * const *sessions,
                           ClientState        *except,
                           const char         *reason)
{
  GPtrArray *online = g_hash_table_lookup (self->online, user);
  g_autoptr(GPtrArray) closing = g_ptr_array_new_with_free_func (g_object_unref);

  if (online == NULL)
    return;
  /* Collected first: a client may leave the list while it closes. */
  for (guint i = 0; i < online->len; i++)
    {
      ClientState *cs = g_ptr_array_index (online, i);

      if (cs == except)
        continue;
      if (sessions == NULL ||
          (cs->session != NULL && g_strv_contains (sessions, cs->session)))
        g_ptr_array_add (closing, g_object_ref (cs->client));
    }
  for (guint i = 0; i < closing->len; i++)
    natter_client_end (g_ptr_array_index (closing, i), CLOSE_POLICY, reason);
}

/* Sessions of @user ended here: close them here, and tell the other nodes. */
static void
end_sessions (NatterHub          *self,
              const char         *user,
              const char * const *sessions,
              ClientState        *except,
              const char         *reason)
{
  natter_hub_close_sessions (self, user, sessions, except, reason);
  g_signal_emit (self, natter_hub_signals[SIGNAL_SESSIONS_ENDED], 0, user, sessions, reason);
}

/* The client may have gone while the store worked. */
static ClientState *
requester (Request *req)
{
  return natter_hub_lookup_client (req->hub, req->client);
}

/* ---------------------------------------------------------------------------------- */
/* logout, sessions, revoke */

static void
logout_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) ended = natter_store_revoke_tokens_finish (NATTER_STORE (source), result,
                                                          &error);

  /* Logging out twice, or after the session was revoked, is still logged out. */
  if (ended == NULL && !g_error_matches (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND))
    {
      natter_hub_reply_with_gerror (req, error);
      return;
    }
  natter_hub_reply_ok (req);
  if (ended != NULL && ended[0] != NULL)
    end_sessions (req->hub, req->user, (const char * const *) ended, requester (req),
                  "logged out");
}

void
natter_hub_handle_logout (Request *req, ClientState *cs)
{
  Natter__Logout *op = req->frame->logout;
  gboolean all = op->has_all && op->all;

  if (!all && cs->session == NULL)
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST,
                                   "this connection has no session to log out of; "
                                   "use all: true");
      return;
    }
  req->user = g_strdup (cs->user);
  natter_store_revoke_tokens_async (req->hub->store, cs->user, all ? NULL : cs->session, NULL,
                                    NULL, logout_done_cb, natter_hub_request_ref (req));
}

static void
sessions_listed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) sessions = natter_store_list_sessions_finish (NATTER_STORE (source),
                                                                     result, &error);
  ClientState *cs = requester (req);
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__SessionList list = NATTER__SESSION_LIST__INIT;
  g_autofree Natter__SessionInfo *infos = NULL;
  g_autofree Natter__SessionInfo **ptrs = NULL;

  if (sessions == NULL)
    {
      natter_hub_reply_with_gerror (req, error);
      return;
    }
  infos = g_new0 (Natter__SessionInfo, sessions->len);
  ptrs = g_new0 (Natter__SessionInfo *, sessions->len);
  for (guint i = 0; i < sessions->len; i++)
    {
      NatterSessionRecord *session = g_ptr_array_index (sessions, i);
      Natter__SessionInfo *info = &infos[i];

      natter__session_info__init (info);
      info->id = session->id;
      info->has_created_ts = TRUE;
      info->created_ts = session->created_ts;
      info->has_last_seen_ts = TRUE;
      info->last_seen_ts = session->last_seen_ts;
      info->agent = session->agent;
      info->has_current = TRUE;
      info->current = cs != NULL && g_strcmp0 (cs->session, session->id) == 0;
      ptrs[i] = info;
    }
  list.n_sessions = sessions->len;
  list.sessions = ptrs;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_SESSION_LIST;
  frame.session_list = &list;
  natter_hub_reply (req, &frame);
}

void
natter_hub_handle_sessions (Request *req, ClientState *cs)
{
  natter_store_list_sessions_async (req->hub->store, cs->user, natter_hub_now_ms (), NULL,
                                    sessions_listed_cb, natter_hub_request_ref (req));
}

static gboolean
is_session_id (const char *id)
{
  if (id == NULL || strlen (id) != NATTER_SESSION_ID_CHARS)
    return FALSE;
  for (const char *p = id; *p != '\0'; p++)
    if (!g_ascii_isxdigit (*p) || g_ascii_isupper (*p))
      return FALSE;
  return TRUE;
}

static void
revoked_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) ended = natter_store_revoke_tokens_finish (NATTER_STORE (source), result,
                                                          &error);

  if (ended == NULL)
    {
      /* Another account's session is as unknown as one that never was. */
      if (g_error_matches (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND))
        natter_hub_reply_with_error (req, NATTER_ERROR_NOT_FOUND, "no session “%s”",
                                     req->frame->revoke->session);
      else
        natter_hub_reply_with_gerror (req, error);
      return;
    }
  /* The answer first: the asking connection may be one that closes. */
  natter_hub_reply_ok (req);
  end_sessions (req->hub, req->user, (const char * const *) ended, NULL, "session revoked");
}

void
natter_hub_handle_revoke (Request *req, ClientState *cs)
{
  Natter__Revoke *op = req->frame->revoke;

  if (!is_session_id (op->session))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST,
                                   "session must be an id from session_list");
      return;
    }
  req->user = g_strdup (cs->user);
  natter_store_revoke_tokens_async (req->hub->store, cs->user, op->session, NULL, NULL,
                                    revoked_cb, natter_hub_request_ref (req));
}

/* ---------------------------------------------------------------------------------- */
/* password, delete_account */

static gboolean
check_new_password (Request *req, const char *password)
{
  gsize len = password != NULL ? strlen (password) : 0;

  if (len < MIN_PASSWORD_BYTES || len > MAX_PASSWORD_BYTES)
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST,
                                   "new password must be %u to %u bytes long",
                                   MIN_PASSWORD_BYTES, MAX_PASSWORD_BYTES);
      return FALSE;
    }
  return TRUE;
}

static void
password_stored_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) ended = natter_store_set_password_finish (NATTER_STORE (source), result,
                                                         &error);

  if (ended == NULL)
    {
      natter_hub_reply_with_gerror (req, error);
      return;
    }
  natter_hub_reply_ok (req);
  if (ended[0] != NULL)
    end_sessions (req->hub, req->user, (const char * const *) ended, requester (req),
                  "password changed");
}

static void
password_hashed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *hash = natter_auth_hash_password_finish (result, &error);
  ClientState *cs = requester (req);

  if (hash == NULL)
    {
      natter_hub_reply_with_gerror (req, error);
      return;
    }
  /* The asking session stays; if its connection is gone, it stays too (its token is
   * with a client that knows the new password). */
  natter_store_set_password_async (req->hub->store, req->user, hash,
                                   cs != NULL ? cs->session : req->token, NULL,
                                   password_stored_cb, natter_hub_request_ref (req));
}

static void
password_verified (Request *req)
{
  natter_auth_hash_password_async (req->frame->password->new_, NULL, password_hashed_cb,
                                   natter_hub_request_ref (req));
}

void
natter_hub_handle_password (Request *req, ClientState *cs)
{
  Natter__Password *op = req->frame->password;

  if (op->old == NULL)
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST, "password needs old and new");
      return;
    }
  if (!check_new_password (req, op->new_))
    return;
  if (strlen (op->old) > MAX_PASSWORD_BYTES)
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_UNAUTHORIZED, "invalid user name or password");
      return;
    }
  /* Kept for when the connection goes before the store answers. */
  req->token = g_strdup (cs->session);
  natter_hub_check_password (req, cs, cs->user, op->old, password_verified);
}

static void
account_deleted_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) ended = natter_store_set_account_state_finish (NATTER_STORE (source), result,
                                                              &error);

  if (ended == NULL)
    {
      natter_hub_reply_with_gerror (req, error);
      return;
    }
  natter_hub_reply_ok (req);
  end_sessions (req->hub, req->user, NULL, NULL, "account deleted");
}

static void
delete_verified (Request *req)
{
  /* D-Bus callers act as the owner account: it goes only with natterd's own data. */
  if (req->owner)
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_FORBIDDEN,
                                   "the local owner account cannot be deleted");
      return;
    }
  natter_store_set_account_state_async (req->hub->store, req->user, NATTER_ACCOUNT_DELETED,
                                        NULL, account_deleted_cb, natter_hub_request_ref (req));
}

void
natter_hub_handle_delete_account (Request *req, ClientState *cs)
{
  Natter__DeleteAccount *op = req->frame->delete_account;

  if (op->password == NULL)
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST,
                                   "delete_account needs the account's password");
      return;
    }
  if (strlen (op->password) > MAX_PASSWORD_BYTES)
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_UNAUTHORIZED, "invalid user name or password");
      return;
    }
  natter_hub_check_password (req, cs, cs->user, op->password, delete_verified);
}

/* ---------------------------------------------------------------------------------- */
/* Administrators */

static gboolean
require_admin (Request *req, ClientState *cs)
{
  if (cs->admin)
    return TRUE;
  natter_hub_reply_with_error (req, NATTER_ERROR_FORBIDDEN, "administrators only");
  return FALSE;
}

static void
users_listed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) users = natter_store_list_users_finish (NATTER_STORE (source), result,
                                                               &error);
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__UserList list = NATTER__USER_LIST__INIT;
  g_autofree Natter__UserInfo *infos = NULL;
  g_autofree Natter__UserInfo **ptrs = NULL;

  if (users == NULL)
    {
      natter_hub_reply_with_gerror (req, error);
      return;
    }
  infos = g_new0 (Natter__UserInfo, users->len);
  ptrs = g_new0 (Natter__UserInfo *, users->len);
  for (guint i = 0; i < users->len; i++)
    {
      NatterUserRecord *user = g_ptr_array_index (users, i);
      Natter__UserInfo *info = &infos[i];

      natter__user_info__init (info);
      info->user = user->name;
      info->has_admin = TRUE;
      info->admin = user->admin;
      info->has_disabled = TRUE;
      info->disabled = user->disabled;
      info->has_created_ts = TRUE;
      info->created_ts = user->created_ts;
      ptrs[i] = info;
    }
  list.n_users = users->len;
  list.users = ptrs;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_USER_LIST;
  frame.user_list = &list;
  natter_hub_reply (req, &frame);
}

/* Part of a user name: the characters names may have, and no longer than one. */
static gboolean
is_name_part (const char *query)
{
  gsize len = strlen (query);

  if (len == 0 || len > 32)
    return FALSE;
  for (const char *p = query; *p != '\0'; p++)
    if (!(g_ascii_islower (*p) || g_ascii_isdigit (*p) || *p == '_' || *p == '.' || *p == '-'))
      return FALSE;
  return TRUE;
}

void
natter_hub_handle_admin_users (Request *req, ClientState *cs)
{
  Natter__AdminUsers *op = req->frame->admin_users;
  guint limit = op->has_limit ? op->limit : DEFAULT_USER_LIST;

  if (!require_admin (req, cs))
    return;
  if (op->query != NULL && !is_name_part (op->query))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST,
                                   "query must be part of a user name ([a-z0-9_.-]{1,32})");
      return;
    }
  if (limit < 1 || limit > MAX_USER_LIST)
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST, "limit must be 1 to %u",
                                   MAX_USER_LIST);
      return;
    }
  natter_store_list_users_async (req->hub->store, op->query, limit, NULL, users_listed_cb,
                                 natter_hub_request_ref (req));
}

static void
account_state_set_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) ended = natter_store_set_account_state_finish (NATTER_STORE (source), result,
                                                              &error);

  if (ended == NULL)
    {
      if (g_error_matches (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND))
        natter_hub_reply_with_error (req, NATTER_ERROR_NOT_FOUND, "no user “%s”", req->user);
      else
        natter_hub_reply_with_gerror (req, error);
      return;
    }
  natter_hub_reply_ok (req);
  if (req->frame->op_case == NATTER__CLIENT_FRAME__OP_ADMIN_DISABLE)
    end_sessions (req->hub, req->user, NULL, NULL, "account disabled");
}

void
natter_hub_handle_admin_set_enabled (Request *req, ClientState *cs)
{
  gboolean disable = req->frame->op_case == NATTER__CLIENT_FRAME__OP_ADMIN_DISABLE;
  Natter__AdminUser *op = disable ? req->frame->admin_disable : req->frame->admin_enable;

  if (!require_admin (req, cs))
    return;
  if (!natter_validate_user_name (op->user))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST,
                                   "user name must match [a-z0-9_.-]{1,32}");
      return;
    }
  /* A server with its only administrator locked out needs the command line. */
  if (disable && g_str_equal (op->user, cs->user))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_FORBIDDEN,
                                   "administrators cannot disable their own account");
      return;
    }
  req->user = g_strdup (op->user);
  natter_store_set_account_state_async (req->hub->store, op->user,
                                        disable ? NATTER_ACCOUNT_DISABLED
                                                : NATTER_ACCOUNT_ENABLED,
                                        NULL, account_state_set_cb,
                                        natter_hub_request_ref (req));
}
