/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-client.h"

G_BEGIN_DECLS

/* Values of #NatterBackend:status. */
#define NATTER_BACKEND_STATUS_CONNECTED         "connected"
#define NATTER_BACKEND_STATUS_CONNECTING        "connecting"
#define NATTER_BACKEND_STATUS_RECONNECTING      "reconnecting"
#define NATTER_BACKEND_STATUS_OFFLINE           "offline"
#define NATTER_BACKEND_STATUS_AUTH_FAILED       "auth-failed"
#define NATTER_BACKEND_STATUS_CERTIFICATE_ERROR "certificate-error"

#define NATTER_TYPE_BACKEND (natter_backend_get_type ())
G_DECLARE_INTERFACE (NatterBackend, natter_backend, NATTER, BACKEND, GObject)

/**
 * NatterBackendInterface:
 * @add_client: @client will send requests and receive replies and events; it logs in
 *   itself, with a `login` request
 * @remove_client: @client is gone; nothing is delivered to it any more
 * @dispatch: handles one request (taking ownership of the frame); the reply, and any
 *   events, reach the client through natter_client_deliver()
 * @reply_error: answers a frame that could not be decoded; the default delivers an
 *   `error` frame to the client
 * @attach_local: adds a trusted local front end (D-Bus) that acts as
 *   #NatterBackend:account without a password; the default is @add_client, for
 *   backends whose every client acts as that account
 * @connect_async: (nullable): signs in to a remote server; only a backend whose account
 *   lives elsewhere has it
 * @connect_finish: (nullable): finishes @connect_async
 * @create_account_async: (nullable): as @connect_async, but first creates the account
 *   on the remote server (its `register`); finished with @connect_finish
 * @disconnect: (nullable): closes the link to the remote server and stays offline
 * @forget_account_async: (nullable): signs out and forgets the account's secrets and
 *   local copy
 * @forget_account_finish: (nullable): finishes @forget_account_async
 * @password_changed_async: (nullable): the account's password is now the one given (a
 *   `password` request succeeded): a backend that keeps credentials updates them
 * @password_changed_finish: (nullable): finishes @password_changed_async
 * @logged_out_async: (nullable): the account's session ended (a `logout` request
 *   succeeded): a backend signed in elsewhere forgets the account and goes offline
 * @logged_out_finish: (nullable): finishes @logged_out_async
 *
 * What front ends talk to: the hub (natterd hosts the accounts) or the upstream link
 * (natterd mirrors one account of a remote server). Both take the same
 * #Natter__ClientFrame requests and answer with the same frames, so a WebSocket session
 * or the D-Bus service never asks which one it has.
 *
 * Properties (read-only; front ends show them as they are):
 * - `mode` (string): "host" or "upstream"
 * - `account` (string, nullable): the account local front ends act as; %NULL while
 *   none is known
 * - `admin` (boolean): whether that account is known to be an administrator before its
 *   `welcome` says so
 * - `node` (string, nullable): the name of the node that answers, if known before the
 *   `welcome`
 * - `epoch` (string, nullable): the store's epoch, if known before the `welcome`
 * - `status` (string): one of the NATTER_BACKEND_STATUS_* strings; a hub is always
 *   connected
 * - `status-message` (string): the status in a sentence for people, never holding a
 *   secret
 */
struct _NatterBackendInterface
{
  GTypeInterface parent_iface;

  void     (*add_client)            (NatterBackend        *self,
                                     NatterClient         *client);
  void     (*remove_client)         (NatterBackend        *self,
                                     NatterClient         *client);
  void     (*dispatch)              (NatterBackend        *self,
                                     NatterClient         *client,
                                     Natter__ClientFrame  *frame);
  void     (*reply_error)           (NatterBackend        *self,
                                     NatterClient         *client,
                                     guint64               request_id,
                                     gboolean              has_request_id,
                                     const GError         *error);
  void     (*attach_local)          (NatterBackend        *self,
                                     NatterClient         *client);

  void     (*connect_async)         (NatterBackend        *self,
                                     const char           *url,
                                     const char           *user,
                                     const char           *password,
                                     gboolean              remember,
                                     GCancellable         *cancellable,
                                     GAsyncReadyCallback   callback,
                                     gpointer              user_data);
  gboolean (*connect_finish)        (NatterBackend        *self,
                                     GAsyncResult         *result,
                                     GError              **error);
  void     (*create_account_async)  (NatterBackend        *self,
                                     const char           *url,
                                     const char           *user,
                                     const char           *password,
                                     gboolean              remember,
                                     GCancellable         *cancellable,
                                     GAsyncReadyCallback   callback,
                                     gpointer              user_data);
  gboolean (*disconnect)            (NatterBackend        *self,
                                     GError              **error);
  void     (*forget_account_async)  (NatterBackend        *self,
                                     GCancellable         *cancellable,
                                     GAsyncReadyCallback   callback,
                                     gpointer              user_data);
  gboolean (*forget_account_finish) (NatterBackend        *self,
                                     GAsyncResult         *result,
                                     GError              **error);
  void     (*password_changed_async) (NatterBackend       *self,
                                      const char          *password,
                                      GCancellable        *cancellable,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data);
  gboolean (*password_changed_finish) (NatterBackend      *self,
                                       GAsyncResult       *result,
                                       GError            **error);
  void     (*logged_out_async)      (NatterBackend        *self,
                                     GCancellable         *cancellable,
                                     GAsyncReadyCallback   callback,
                                     gpointer              user_data);
  gboolean (*logged_out_finish)     (NatterBackend        *self,
                                     GAsyncResult         *result,
                                     GError              **error);
};

/* The ids an implementation passes to natter_backend_install_properties() hands out,
 * counted from its first one. */
typedef enum
{
  NATTER_BACKEND_PROP_MODE,
  NATTER_BACKEND_PROP_ACCOUNT,
  NATTER_BACKEND_PROP_ADMIN,
  NATTER_BACKEND_PROP_NODE,
  NATTER_BACKEND_PROP_EPOCH,
  NATTER_BACKEND_PROP_STATUS,
  NATTER_BACKEND_PROP_STATUS_MESSAGE,
  NATTER_BACKEND_N_PROPS
} NatterBackendProperty;

guint        natter_backend_install_properties   (GObjectClass         *object_class,
                                                  guint                 first_prop_id);

void         natter_backend_add_client           (NatterBackend        *self,
                                                  NatterClient         *client);
void         natter_backend_remove_client        (NatterBackend        *self,
                                                  NatterClient         *client);
void         natter_backend_dispatch             (NatterBackend        *self,
                                                  NatterClient         *client,
                                                  Natter__ClientFrame  *frame);
void         natter_backend_reply_error          (NatterBackend        *self,
                                                  NatterClient         *client,
                                                  guint64               request_id,
                                                  gboolean              has_request_id,
                                                  const GError         *error);
void         natter_backend_attach_local         (NatterBackend        *self,
                                                  NatterClient         *client);

void         natter_backend_connect_async        (NatterBackend        *self,
                                                  const char           *url,
                                                  const char           *user,
                                                  const char           *password,
                                                  gboolean              remember,
                                                  GCancellable         *cancellable,
                                                  GAsyncReadyCallback   callback,
                                                  gpointer              user_data);
gboolean     natter_backend_connect_finish       (NatterBackend        *self,
                                                  GAsyncResult         *result,
                                                  GError              **error);
void         natter_backend_create_account_async (NatterBackend        *self,
                                                  const char           *url,
                                                  const char           *user,
                                                  const char           *password,
                                                  gboolean              remember,
                                                  GCancellable         *cancellable,
                                                  GAsyncReadyCallback   callback,
                                                  gpointer              user_data);
gboolean     natter_backend_create_account_finish (NatterBackend       *self,
                                                   GAsyncResult        *result,
                                                   GError             **error);
gboolean     natter_backend_disconnect           (NatterBackend        *self,
                                                  GError              **error);
void         natter_backend_forget_account_async (NatterBackend        *self,
                                                  GCancellable         *cancellable,
                                                  GAsyncReadyCallback   callback,
                                                  gpointer              user_data);
gboolean     natter_backend_forget_account_finish (NatterBackend       *self,
                                                   GAsyncResult        *result,
                                                   GError             **error);
void         natter_backend_password_changed_async (NatterBackend       *self,
                                                    const char          *password,
                                                    GCancellable        *cancellable,
                                                    GAsyncReadyCallback  callback,
                                                    gpointer             user_data);
gboolean     natter_backend_password_changed_finish (NatterBackend      *self,
                                                     GAsyncResult       *result,
                                                     GError            **error);
void         natter_backend_logged_out_async     (NatterBackend        *self,
                                                  GCancellable         *cancellable,
                                                  GAsyncReadyCallback   callback,
                                                  gpointer              user_data);
gboolean     natter_backend_logged_out_finish    (NatterBackend        *self,
                                                  GAsyncResult         *result,
                                                  GError              **error);

G_END_DECLS
