/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-backend.h"

G_BEGIN_DECLS

#define NATTER_TYPE_DBUS_CLIENT (natter_dbus_client_get_type ())
G_DECLARE_FINAL_TYPE (NatterDBusClient, natter_dbus_client, NATTER, DBUS_CLIENT, NatterClient)

/**
 * NatterDBusClient:
 *
 * The backend's view of the D-Bus front end: one #NatterClient, attached as the local
 * account, through which every D-Bus caller acts. Requests are matched to their replies
 * by id and completed as #GTask<!-- -->s; pushed events (messages, presence, members,
 * typing, receipts, the welcome) are emitted as #NatterDBusClient::event. Whether the
 * backend is the hub or the link to a remote server makes no difference to it.
 *
 * Signals:
 * - `event` (NatterEvent *event): a frame that answers no request of this client.
 */

NatterDBusClient *natter_dbus_client_new            (NatterBackend        *backend);

void              natter_dbus_client_request_async  (NatterDBusClient     *self,
                                                     Natter__ClientFrame  *frame,
                                                     GCancellable         *cancellable,
                                                     GAsyncReadyCallback   callback,
                                                     gpointer              user_data);
NatterEvent      *natter_dbus_client_request_finish (NatterDBusClient     *self,
                                                     GAsyncResult         *result,
                                                     GError              **error);

void              natter_dbus_client_send           (NatterDBusClient     *self,
                                                     Natter__ClientFrame  *frame);

G_END_DECLS
