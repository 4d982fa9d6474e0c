/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-backend"

#include "config.h"

#include "natter-backend.h"
#include "natter-error.h"

G_DEFINE_INTERFACE (NatterBackend, natter_backend, G_TYPE_OBJECT)

/* What a hosting natterd answers to the calls of upstream mode. */
#define NOT_UPSTREAM_MESSAGE \
  "natterd hosts the account itself: Connect(), Disconnect() and ForgetAccount() are for " \
  "upstream mode (natterd --upstream URL)"

static const char * const property_names[NATTER_BACKEND_N_PROPS] = {
  [NATTER_BACKEND_PROP_MODE] = "mode",
  [NATTER_BACKEND_PROP_ACCOUNT] = "account",
  [NATTER_BACKEND_PROP_ADMIN] = "admin",
  [NATTER_BACKEND_PROP_NODE] = "node",
  [NATTER_BACKEND_PROP_EPOCH] = "epoch",
  [NATTER_BACKEND_PROP_STATUS] = "status",
  [NATTER_BACKEND_PROP_STATUS_MESSAGE] = "status-message",
};

static void
natter_backend_real_reply_error (NatterBackend *self,
                                 NatterClient  *client,
                                 guint64        request_id,
                                 gboolean       has_request_id,
                                 const GError  *error)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Error reply = NATTER__ERROR__INIT;
  g_autoptr(NatterEvent) event = NULL;

  reply.code = (char *) natter_error_code_to_string (natter_error_code_for (error));
  reply.message = error->message;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_ERROR;
  frame.error = &reply;
  frame.has_id = has_request_id;
  frame.id = request_id;
  event = natter_event_new (&frame);
  natter_client_deliver (client, event);
}

static void
natter_backend_real_attach_local (NatterBackend *self,
                                  NatterClient  *client)
{
  natter_backend_add_client (self, client);
}

static void
natter_backend_default_init (NatterBackendInterface *iface)
{
  iface->reply_error = natter_backend_real_reply_error;
  iface->attach_local = natter_backend_real_attach_local;

  g_object_interface_install_property (iface,
    g_param_spec_string ("mode", NULL, NULL, "host",
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_interface_install_property (iface,
    g_param_spec_string ("account", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));
  g_object_interface_install_property (iface,
    g_param_spec_boolean ("admin", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_interface_install_property (iface,
    g_param_spec_string ("node", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_interface_install_property (iface,
    g_param_spec_string ("epoch", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_interface_install_property (iface,
    g_param_spec_string ("status", NULL, NULL, NATTER_BACKEND_STATUS_CONNECTED,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));
  g_object_interface_install_property (iface,
    g_param_spec_string ("status-message", NULL, NULL, "",
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));
}

/**
 * natter_backend_install_properties:
 * @object_class: the class of an implementation
 * @first_prop_id: the id to give #NatterBackend's first property
 *
 * Overrides the interface's properties in @object_class, in #NatterBackendProperty
 * order from @first_prop_id, so its get_property() handles `prop_id - first_prop_id`.
 *
 * Returns: the first id after them
 */
guint
natter_backend_install_properties (GObjectClass *object_class,
                                   guint         first_prop_id)
{
  for (guint i = 0; i < NATTER_BACKEND_N_PROPS; i++)
    g_object_class_override_property (object_class, first_prop_id + i, property_names[i]);
  return first_prop_id + NATTER_BACKEND_N_PROPS;
}

void
natter_backend_add_client (NatterBackend *self,
                           NatterClient  *client)
{
  g_return_if_fail (NATTER_IS_BACKEND (self));
  g_return_if_fail (NATTER_IS_CLIENT (client));

  NATTER_BACKEND_GET_IFACE (self)->add_client (self, client);
}

void
natter_backend_remove_client (NatterBackend *self,
                              NatterClient  *client)
{
  g_return_if_fail (NATTER_IS_BACKEND (self));
  g_return_if_fail (NATTER_IS_CLIENT (client));

  NATTER_BACKEND_GET_IFACE (self)->remove_client (self, client);
}

/**
 * natter_backend_dispatch:
 * @self: a #NatterBackend
 * @client: the client that asks (added before)
 * @frame: (transfer full): the request
 *
 * Handles one request; the reply, and any events, reach @client through
 * natter_client_deliver(), maybe before this returns.
 */
void
natter_backend_dispatch (NatterBackend       *self,
                         NatterClient        *client,
                         Natter__ClientFrame *frame)
{
  g_return_if_fail (NATTER_IS_BACKEND (self));
  g_return_if_fail (NATTER_IS_CLIENT (client));
  g_return_if_fail (frame != NULL);

  NATTER_BACKEND_GET_IFACE (self)->dispatch (self, client, frame);
}

/**
 * natter_backend_reply_error:
 * @self: a #NatterBackend
 * @client: the client whose frame could not be decoded
 * @request_id: the frame's id, if @has_request_id
 * @has_request_id: whether the id could be read
 * @error: why the frame was refused (a #NATTER_ERROR)
 */
void
natter_backend_reply_error (NatterBackend *self,
                            NatterClient  *client,
                            guint64        request_id,
                            gboolean       has_request_id,
                            const GError  *error)
{
  g_return_if_fail (NATTER_IS_BACKEND (self));
  g_return_if_fail (NATTER_IS_CLIENT (client));
  g_return_if_fail (error != NULL);

  NATTER_BACKEND_GET_IFACE (self)->reply_error (self, client, request_id, has_request_id, error);
}

/**
 * natter_backend_attach_local:
 * @self: a #NatterBackend
 * @client: a trusted local front end
 *
 * Adds @client acting as #NatterBackend:account, without a password: it gets that
 * account's `welcome`, with its rooms, as soon as the backend has it.
 */
void
natter_backend_attach_local (NatterBackend *self,
                             NatterClient  *client)
{
  g_return_if_fail (NATTER_IS_BACKEND (self));
  g_return_if_fail (NATTER_IS_CLIENT (client));

  NATTER_BACKEND_GET_IFACE (self)->attach_local (self, client);
}

/**
 * natter_backend_connect_async:
 * @self: a #NatterBackend
 * @url: the server's WebSocket URL, or "" for the current one
 * @user: the account, or "" for the current one
 * @password: the password, or "" to use the session token or the Secret Service
 * @remember: keep the session token in the Secret Service
 * @cancellable: (nullable): a #GCancellable
 * @callback: called once logged in, or with the first failure
 * @user_data: data for @callback
 *
 * Signs in to a remote server. A backend that hosts its accounts fails with
 * %NATTER_ERROR_BAD_REQUEST.
 */
void
natter_backend_connect_async (NatterBackend       *self,
                              const char          *url,
                              const char          *user,
                              const char          *password,
                              gboolean             remember,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  NatterBackendInterface *iface;

  g_return_if_fail (NATTER_IS_BACKEND (self));

  iface = NATTER_BACKEND_GET_IFACE (self);
  if (iface->connect_async == NULL)
    {
      g_task_report_new_error (self, callback, user_data, natter_backend_connect_async,
                               NATTER_ERROR, NATTER_ERROR_BAD_REQUEST, NOT_UPSTREAM_MESSAGE);
      return;
    }
  iface->connect_async (self, url, user, password, remember, cancellable, callback, user_data);
}

gboolean
natter_backend_connect_finish (NatterBackend  *self,
                               GAsyncResult   *result,
                               GError        **error)
{
  g_return_val_if_fail (NATTER_IS_BACKEND (self), FALSE);

  if (g_async_result_is_tagged (result, natter_backend_connect_async))
    return g_task_propagate_boolean (G_TASK (result), error);
  return NATTER_BACKEND_GET_IFACE (self)->connect_finish (self, result, error);
}

/**
 * natter_backend_create_account_async:
 * @self: a #NatterBackend
 * @url: the server's WebSocket URL, or "" for the current one
 * @user: the new account's name
 * @password: its password
 * @remember: keep the session token in the Secret Service
 * @cancellable: (nullable): a #GCancellable
 * @callback: called once the account exists and is logged in, or with the first failure
 * @user_data: data for @callback
 *
 * Creates an account on a remote server and signs in to it, as
 * natter_backend_connect_async() does for an existing one. A backend that hosts its
 * accounts fails with %NATTER_ERROR_BAD_REQUEST.
 */
void
natter_backend_create_account_async (NatterBackend       *self,
                                     const char          *url,
                                     const char          *user,
                                     const char          *password,
                                     gboolean             remember,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data)
{
  NatterBackendInterface *iface;

  g_return_if_fail (NATTER_IS_BACKEND (self));

  iface = NATTER_BACKEND_GET_IFACE (self);
  if (iface->create_account_async == NULL)
    {
      g_task_report_new_error (self, callback, user_data, natter_backend_create_account_async,
                               NATTER_ERROR, NATTER_ERROR_BAD_REQUEST, NOT_UPSTREAM_MESSAGE);
      return;
    }
  iface->create_account_async (self, url, user, password, remember, cancellable, callback,
                               user_data);
}

gboolean
natter_backend_create_account_finish (NatterBackend  *self,
                                      GAsyncResult   *result,
                                      GError        **error)
{
  g_return_val_if_fail (NATTER_IS_BACKEND (self), FALSE);

  if (g_async_result_is_tagged (result, natter_backend_create_account_async))
    return g_task_propagate_boolean (G_TASK (result), error);
  return NATTER_BACKEND_GET_IFACE (self)->connect_finish (self, result, error);
}

/**
 * natter_backend_disconnect:
 * @self: a #NatterBackend
 * @error: return location for a #NATTER_ERROR
 *
 * Closes the link to the remote server and stays offline until
 * natter_backend_connect_async(). A backend that hosts its accounts fails with
 * %NATTER_ERROR_BAD_REQUEST.
 */
gboolean
natter_backend_disconnect (NatterBackend  *self,
                           GError        **error)
{
  NatterBackendInterface *iface;

  g_return_val_if_fail (NATTER_IS_BACKEND (self), FALSE);

  iface = NATTER_BACKEND_GET_IFACE (self);
  if (iface->disconnect == NULL)
    {
      g_set_error_literal (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST, NOT_UPSTREAM_MESSAGE);
      return FALSE;
    }
  return iface->disconnect (self, error);
}

/**
 * natter_backend_forget_account_async:
 * @self: a #NatterBackend
 * @cancellable: (nullable): a #GCancellable
 * @callback: called once the account's secrets are gone
 * @user_data: data for @callback
 *
 * Signs out of the remote server and forgets the account: its secrets and its local
 * copy. A backend that hosts its accounts fails with %NATTER_ERROR_BAD_REQUEST.
 */
void
natter_backend_forget_account_async (NatterBackend       *self,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data)
{
  NatterBackendInterface *iface;

  g_return_if_fail (NATTER_IS_BACKEND (self));

  iface = NATTER_BACKEND_GET_IFACE (self);
  if (iface->forget_account_async == NULL)
    {
      g_task_report_new_error (self, callback, user_data, natter_backend_forget_account_async,
                               NATTER_ERROR, NATTER_ERROR_BAD_REQUEST, NOT_UPSTREAM_MESSAGE);
      return;
    }
  iface->forget_account_async (self, cancellable, callback, user_data);
}

gboolean
natter_backend_forget_account_finish (NatterBackend  *self,
                                      GAsyncResult   *result,
                                      GError        **error)
{
  g_return_val_if_fail (NATTER_IS_BACKEND (self), FALSE);

  if (g_async_result_is_tagged (result, natter_backend_forget_account_async))
    return g_task_propagate_boolean (G_TASK (result), error);
  return NATTER_BACKEND_GET_IFACE (self)->forget_account_finish (self, result, error);
}

/**
 * natter_backend_password_changed_async:
 * @self: a #NatterBackend
 * @password: the account's new password
 * @cancellable: (nullable): a #GCancellable
 * @callback: called once the backend's credentials follow the new password
 * @user_data: data for @callback
 *
 * Tells the backend that a `password` request of its local front end succeeded. A
 * backend signed in to a remote server replaces the credentials it keeps (its session
 * token in the Secret Service); one that hosts its accounts has nothing to do.
 */
void
natter_backend_password_changed_async (NatterBackend       *self,
                                       const char          *password,
                                       GCancellable        *cancellable,
                                       GAsyncReadyCallback  callback,
                                       gpointer             user_data)
{
  NatterBackendInterface *iface;

  g_return_if_fail (NATTER_IS_BACKEND (self));
  g_return_if_fail (password != NULL);

  iface = NATTER_BACKEND_GET_IFACE (self);
  if (iface->password_changed_async == NULL)
    {
      g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

      g_task_set_source_tag (task, natter_backend_password_changed_async);
      g_task_return_boolean (task, TRUE);
      return;
    }
  iface->password_changed_async (self, password, cancellable, callback, user_data);
}

gboolean
natter_backend_password_changed_finish (NatterBackend  *self,
                                        GAsyncResult   *result,
                                        GError        **error)
{
  g_return_val_if_fail (NATTER_IS_BACKEND (self), FALSE);

  if (g_async_result_is_tagged (result, natter_backend_password_changed_async))
    return g_task_propagate_boolean (G_TASK (result), error);
  return NATTER_BACKEND_GET_IFACE (self)->password_changed_finish (self, result, error);
}

/**
 * natter_backend_logged_out_async:
 * @self: a #NatterBackend
 * @cancellable: (nullable): a #GCancellable
 * @callback: called once the backend let go of the account
 * @user_data: data for @callback
 *
 * Tells the backend that a `logout` request of its local front end succeeded: its own
 * session ended. A backend signed in to a remote server forgets the account (its
 * secrets and local copy) and goes offline; one that hosts its accounts has nothing
 * to do.
 */
void
natter_backend_logged_out_async (NatterBackend       *self,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  NatterBackendInterface *iface;

  g_return_if_fail (NATTER_IS_BACKEND (self));

  iface = NATTER_BACKEND_GET_IFACE (self);
  if (iface->logged_out_async == NULL)
    {
      g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

      g_task_set_source_tag (task, natter_backend_logged_out_async);
      g_task_return_boolean (task, TRUE);
      return;
    }
  iface->logged_out_async (self, cancellable, callback, user_data);
}

gboolean
natter_backend_logged_out_finish (NatterBackend  *self,
                                  GAsyncResult   *result,
                                  GError        **error)
{
  g_return_val_if_fail (NATTER_IS_BACKEND (self), FALSE);

  if (g_async_result_is_tagged (result, natter_backend_logged_out_async))
    return g_task_propagate_boolean (G_TASK (result), error);
  return NATTER_BACKEND_GET_IFACE (self)->logged_out_finish (self, result, error);
}
