/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-dbus"

#include "config.h"

#include <string.h>

#include "natter-dbus-account.h"
#include "natter-dbus-service.h"
#include "natter-dbus-util.h"
#include "natter-error.h"

/* The account's own sessions and password, and what administrators do to accounts:
 * Sessions(), RevokeSession(), ChangePassword(), LogOut(), Users() and
 * SetUserDisabled() of the root object. Each is the wire request of the same name
 * (docs/protocol.md, "Accounts and sessions") made as the local account, so the hub
 * answers for the owner account and the upstream link for natterd's own session on
 * the server. After a password change or a logout the backend gets to follow it: the
 * upstream link replaces or forgets what it keeps in the Secret Service. */

#define DEFAULT_USERS 100
#define MAX_USERS     500
/* The most a server lists at once (docs/protocol.md, `admin_users`). */
#define SERVER_MAX_USERS 100

static void
request (NatterDBusChat        *iface,
         GDBusMethodInvocation *invocation,
         Natter__ClientFrame   *frame,
         GAsyncReadyCallback    callback)
{
  NatterDBusService *self = NATTER_DBUS_SERVICE (iface);

  natter_dbus_client_request_async (natter_dbus_service_get_client (self), frame, NULL, callback,
                                    natter_dbus_call_new (self, invocation));
}

/* The replies that are only `ok`. */
/* ---------------------------------------------------------------------------------- */
/* Sessions(), RevokeSession() */

static void
sessions_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(NatterDBusCall) call = user_data;
  g_autoptr(NatterEvent) event = natter_dbus_call_finish_request (call, source, result,
                                                                  NATTER__SERVER_FRAME__EVENT_SESSION_LIST);
  const Natter__SessionList *list;
  GVariantBuilder builder;

  if (event == NULL)
    return;
  list = natter_event_get_frame (event)->session_list;
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(sxxsb)"));
  for (gsize i = 0; i < list->n_sessions; i++)
    {
      const Natter__SessionInfo *s = list->sessions[i];

      if (s->id == NULL)
        continue;
      g_variant_builder_add (&builder, "(sxxsb)", s->id, s->created_ts, s->last_seen_ts,
                             s->agent != NULL ? s->agent : "", s->current);
    }
  natter_dbus_chat_complete_sessions (NATTER_DBUS_CHAT (call->self), call->invocation,
                                      g_variant_builder_end (&builder));
}

static gboolean
handle_sessions (NatterDBusChat        *iface,
                 GDBusMethodInvocation *invocation)
{
  Natter__ClientFrame *frame = natter_dbus_client_frame_new ();

  frame->op_case = NATTER__CLIENT_FRAME__OP_SESSIONS;
  frame->sessions = g_new0 (Natter__Sessions, 1);
  natter__sessions__init (frame->sessions);
  request (iface, invocation, frame, sessions_cb);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_revoke_session (NatterDBusChat        *iface,
                       GDBusMethodInvocation *invocation,
                       const char            *id)
{
  Natter__ClientFrame *frame = natter_dbus_client_frame_new ();

  frame->op_case = NATTER__CLIENT_FRAME__OP_REVOKE;
  frame->revoke = g_new0 (Natter__Revoke, 1);
  natter__revoke__init (frame->revoke);
  frame->revoke->session = g_strdup (id);
  request (iface, invocation, frame, natter_dbus_call_return_ok_cb);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---------------------------------------------------------------------------------- */
/* ChangePassword(), LogOut() */

static void
password_followed_cb (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  g_autoptr(NatterDBusCall) call = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_backend_password_changed_finish (NATTER_BACKEND (source), result, &error))
    g_dbus_method_invocation_return_gerror (call->invocation, error);
  else
    g_dbus_method_invocation_return_value (call->invocation, NULL);
}

static void
logout_followed_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(NatterDBusCall) call = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_backend_logged_out_finish (NATTER_BACKEND (source), result, &error))
    g_dbus_method_invocation_return_gerror (call->invocation, error);
  else
    g_dbus_method_invocation_return_value (call->invocation, NULL);
}

/* The new password waits here, wiped when the call is answered. */
typedef struct
{
  NatterDBusCall *call;      /* (owned) */
  char           *password;  /* (owned) */
} PasswordCall;

static void
password_call_free (PasswordCall *data)
{
  g_clear_pointer (&data->call, natter_dbus_call_free);
  if (data->password != NULL)
    memset (data->password, 0, strlen (data->password));
  g_free (data->password);
  g_free (data);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PasswordCall, password_call_free)

static void
password_changed_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(PasswordCall) data = user_data;
  g_autoptr(NatterEvent) event = natter_dbus_call_finish_request (data->call, source, result,
                                                                  NATTER__SERVER_FRAME__EVENT_OK);
  NatterDBusService *self;

  if (event == NULL)
    return;
  self = data->call->self;
  natter_backend_password_changed_async (natter_dbus_service_get_backend (self), data->password,
                                         NULL, password_followed_cb, g_steal_pointer (&data->call));
}

static gboolean
handle_change_password (NatterDBusChat        *iface,
                        GDBusMethodInvocation *invocation,
                        const char            *old,
                        const char            *new)
{
  NatterDBusService *self = NATTER_DBUS_SERVICE (iface);
  Natter__ClientFrame *frame = natter_dbus_client_frame_new ();
  PasswordCall *data = g_new0 (PasswordCall, 1);

  frame->op_case = NATTER__CLIENT_FRAME__OP_PASSWORD;
  frame->password = g_new0 (Natter__Password, 1);
  natter__password__init (frame->password);
  frame->password->old = g_strdup (old);
  frame->password->new_ = g_strdup (new);
  data->call = natter_dbus_call_new (self, invocation);
  data->password = g_strdup (new);
  natter_dbus_client_request_async (natter_dbus_service_get_client (self), frame, NULL,
                                    password_changed_cb, data);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
logged_out_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(NatterDBusCall) call = user_data;
  g_autoptr(NatterEvent) event = natter_dbus_call_finish_request (call, source, result,
                                                                  NATTER__SERVER_FRAME__EVENT_OK);
  NatterDBusService *self = call->self;

  if (event == NULL)
    return;
  natter_backend_logged_out_async (natter_dbus_service_get_backend (self), NULL,
                                   logout_followed_cb, g_steal_pointer (&call));
}

static gboolean
handle_log_out (NatterDBusChat        *iface,
                GDBusMethodInvocation *invocation,
                gboolean               all)
{
  Natter__ClientFrame *frame = natter_dbus_client_frame_new ();

  frame->op_case = NATTER__CLIENT_FRAME__OP_LOGOUT;
  frame->logout = g_new0 (Natter__Logout, 1);
  natter__logout__init (frame->logout);
  frame->logout->has_all = all;
  frame->logout->all = all;
  request (iface, invocation, frame, logged_out_cb);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---------------------------------------------------------------------------------- */
/* Users(), SetUserDisabled() */

static void
users_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(NatterDBusCall) call = user_data;
  g_autoptr(NatterEvent) event = natter_dbus_call_finish_request (call, source, result,
                                                                  NATTER__SERVER_FRAME__EVENT_USER_LIST);
  const Natter__UserList *list;
  GVariantBuilder builder;

  if (event == NULL)
    return;
  list = natter_event_get_frame (event)->user_list;
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(sbbx)"));
  for (gsize i = 0; i < list->n_users; i++)
    {
      const Natter__UserInfo *u = list->users[i];

      if (u->user != NULL)
        g_variant_builder_add (&builder, "(sbbx)", u->user, u->admin, u->disabled, u->created_ts);
    }
  natter_dbus_chat_complete_users (NATTER_DBUS_CHAT (call->self), call->invocation,
                                   g_variant_builder_end (&builder));
}

static gboolean
handle_users (NatterDBusChat        *iface,
              GDBusMethodInvocation *invocation,
              const char            *query,
              guint                  limit)
{
  Natter__ClientFrame *frame;

  if (limit > MAX_USERS)
    {
      g_dbus_method_invocation_return_error (invocation, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                                             "limit must be 1 to %u, or 0 for %u", MAX_USERS,
                                             DEFAULT_USERS);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  frame = natter_dbus_client_frame_new ();
  frame->op_case = NATTER__CLIENT_FRAME__OP_ADMIN_USERS;
  frame->admin_users = g_new0 (Natter__AdminUsers, 1);
  natter__admin_users__init (frame->admin_users);
  frame->admin_users->query = *query != '\0' ? g_strdup (query) : NULL;
  /* "At most": a server lists no more than its own maximum at once. */
  frame->admin_users->has_limit = TRUE;
  frame->admin_users->limit = MIN (limit > 0 ? limit : DEFAULT_USERS, SERVER_MAX_USERS);
  request (iface, invocation, frame, users_cb);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_set_user_disabled (NatterDBusChat        *iface,
                          GDBusMethodInvocation *invocation,
                          const char            *user,
                          gboolean               disabled)
{
  Natter__ClientFrame *frame = natter_dbus_client_frame_new ();
  Natter__AdminUser *op = g_new0 (Natter__AdminUser, 1);

  natter__admin_user__init (op);
  op->user = g_strdup (user);
  if (disabled)
    {
      frame->op_case = NATTER__CLIENT_FRAME__OP_ADMIN_DISABLE;
      frame->admin_disable = op;
    }
  else
    {
      frame->op_case = NATTER__CLIENT_FRAME__OP_ADMIN_ENABLE;
      frame->admin_enable = op;
    }
  request (iface, invocation, frame, natter_dbus_call_return_ok_cb);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/**
 * natter_dbus_account_iface_init:
 * @iface: the root interface that #NatterDBusService implements
 *
 * Fills in the handlers of the account's sessions, password and administration.
 */
void
natter_dbus_account_iface_init (NatterDBusChatIface *iface)
{
  iface->handle_sessions = handle_sessions;
  iface->handle_revoke_session = handle_revoke_session;
  iface->handle_change_password = handle_change_password;
  iface->handle_log_out = handle_log_out;
  iface->handle_users = handle_users;
  iface->handle_set_user_disabled = handle_set_user_disabled;
}
