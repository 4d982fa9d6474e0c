/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-backend.h"
#include "natter-config.h"

G_BEGIN_DECLS

/* Sends of the front end waiting for the link, at most. */
#define NATTER_UPSTREAM_QUEUE_MAX 100

#define NATTER_TYPE_UPSTREAM (natter_upstream_get_type ())
G_DECLARE_FINAL_TYPE (NatterUpstream, natter_upstream, NATTER, UPSTREAM, GObject)

/**
 * NatterUpstream:
 *
 * Upstream mode (`natterd --upstream wss://host/ws`): a WebSocket client, speaking
 * `natter.v1.proto`, of a remote natterd, on behalf of one account. It is the
 * #NatterBackend of that mode: it takes the same #Natter__ClientFrame requests as the hub,
 * and replies and events reach the front end's #NatterClient in the same way, so the
 * D-Bus objects do not depend on where the account lives. Its front end (one at most)
 * acts as that account.
 *
 * It logs in with a session token (or a password) from the Secret Service, mirrors the
 * account's rooms into a local #NatterUpstreamCache, resumes every room from its last
 * seen seq after a reconnect (so the front end gets each message once, in order), queues
 * sends while the link is down, and answers History and Search from the cache while
 * offline. natter_backend_connect_async(), natter_backend_disconnect() and
 * natter_backend_forget_account_async() change the account or the link.
 *
 * Properties: those of #NatterBackend (`mode` is "upstream", `account` the account on
 * the server, `status` follows the link) and `server`, the server's WebSocket URL.
 */

NatterUpstream *natter_upstream_new                   (const NatterConfig   *config,
                                                       GError              **error);

void            natter_upstream_start                 (NatterUpstream       *self);

/* Closes the link politely and the cache; requests still waiting fail. */
void            natter_upstream_shutdown_async        (NatterUpstream       *self,
                                                       GCancellable         *cancellable,
                                                       GAsyncReadyCallback   callback,
                                                       gpointer              user_data);
gboolean        natter_upstream_shutdown_finish       (NatterUpstream       *self,
                                                       GAsyncResult         *result,
                                                       GError              **error);

G_END_DECLS
