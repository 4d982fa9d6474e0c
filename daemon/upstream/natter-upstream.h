/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-client.h"
#include "natter-config.h"

G_BEGIN_DECLS

/* Values of the Status property in upstream mode. */
#define NATTER_UPSTREAM_STATUS_CONNECTED         "connected"
#define NATTER_UPSTREAM_STATUS_CONNECTING        "connecting"
#define NATTER_UPSTREAM_STATUS_RECONNECTING      "reconnecting"
#define NATTER_UPSTREAM_STATUS_OFFLINE           "offline"
#define NATTER_UPSTREAM_STATUS_AUTH_FAILED       "auth-failed"
#define NATTER_UPSTREAM_STATUS_CERTIFICATE_ERROR "certificate-error"

/* D-Bus sends waiting for the link, at most. */
#define NATTER_UPSTREAM_QUEUE_MAX 100

#define NATTER_TYPE_UPSTREAM (natter_upstream_get_type ())
G_DECLARE_FINAL_TYPE (NatterUpstream, natter_upstream, NATTER, UPSTREAM, GObject)

/**
 * NatterUpstream:
 *
 * Upstream mode (`natterd --upstream wss://host/ws`): a WebSocket client, speaking
 * `natter.v1.proto`, of a remote natterd, on behalf of one account. It is what the
 * D-Bus front end talks to instead of the hub: natter_upstream_dispatch() takes the same
 * #Natter__ClientFrame requests as natter_hub_dispatch(), and replies and events reach
 * the front end's #NatterClient in the same way, so the D-Bus objects do not depend on
 * where the account lives.
 *
 * It logs in with a session token (or a password) from the Secret Service, mirrors the
 * account's rooms into a local #NatterUpstreamCache, resumes every room from its last
 * seen seq after a reconnect (so the front end gets each message once, in order), queues
 * sends while the link is down, and answers History and Search from the cache while
 * offline.
 *
 * Properties: `status` (one of the NATTER_UPSTREAM_STATUS_* strings), `status-message`
 * (a sentence for people: why the link is down), `server`, `user`.
 */

NatterUpstream *natter_upstream_new                   (const NatterConfig   *config,
                                                       GError              **error);

void            natter_upstream_start                 (NatterUpstream       *self);

const char     *natter_upstream_get_status            (NatterUpstream       *self);
const char     *natter_upstream_get_status_message    (NatterUpstream       *self);
const char     *natter_upstream_get_server            (NatterUpstream       *self);
const char     *natter_upstream_get_user              (NatterUpstream       *self);

/* The front end (one at most), as with natter_hub_add_client(). */
void            natter_upstream_add_client            (NatterUpstream       *self,
                                                       NatterClient         *client);
void            natter_upstream_remove_client         (NatterUpstream       *self,
                                                       NatterClient         *client);
/* Takes ownership of @frame; the reply reaches @client through natter_client_deliver(). */
void            natter_upstream_dispatch              (NatterUpstream       *self,
                                                       NatterClient         *client,
                                                       Natter__ClientFrame  *frame);

void            natter_upstream_connect_async         (NatterUpstream       *self,
                                                       const char           *url,
                                                       const char           *user,
                                                       const char           *password,
                                                       gboolean              remember,
                                                       GCancellable         *cancellable,
                                                       GAsyncReadyCallback   callback,
                                                       gpointer              user_data);
gboolean        natter_upstream_connect_finish        (NatterUpstream       *self,
                                                       GAsyncResult         *result,
                                                       GError              **error);

void            natter_upstream_disconnect            (NatterUpstream       *self);

void            natter_upstream_forget_account_async  (NatterUpstream       *self,
                                                       GCancellable         *cancellable,
                                                       GAsyncReadyCallback   callback,
                                                       gpointer              user_data);
gboolean        natter_upstream_forget_account_finish (NatterUpstream       *self,
                                                       GAsyncResult         *result,
                                                       GError              **error);

/* Closes the link politely and the cache; requests still waiting fail. */
void            natter_upstream_shutdown_async        (NatterUpstream       *self,
                                                       GCancellable         *cancellable,
                                                       GAsyncReadyCallback   callback,
                                                       gpointer              user_data);
gboolean        natter_upstream_shutdown_finish       (NatterUpstream       *self,
                                                       GAsyncResult         *result,
                                                       GError              **error);

G_END_DECLS
