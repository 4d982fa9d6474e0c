/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-client.h"
#include "natter-hub.h"
#include "natter-upstream.h"

G_BEGIN_DECLS

#define NATTER_TYPE_DBUS_CLIENT (natter_dbus_client_get_type ())
G_DECLARE_FINAL_TYPE (NatterDBusClient, natter_dbus_client, NATTER, DBUS_CLIENT, NatterClient)

/**
 * NatterDBusClient:
 *
 * The hub's view of the D-Bus front end: one #NatterClient, logged in as the local owner
 * account, through which every D-Bus caller acts. Requests are matched to their replies
 * by id and completed as #GTask<!-- -->s; pushed events (messages, presence, members,
 * typing, receipts, the welcome) are emitted as #NatterDBusClient::event.
 *
 * In upstream mode the same client talks to a #NatterUpstream instead of the hub: it
 * speaks the same frames, to the remote server the account lives on.
 *
 * Signals:
 * - `event` (NatterEvent *event): a frame that answers no request of this client.
 */

NatterDBusClient *natter_dbus_client_new              (NatterHub            *hub);
NatterDBusClient *natter_dbus_client_new_for_upstream (NatterUpstream       *upstream);

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
