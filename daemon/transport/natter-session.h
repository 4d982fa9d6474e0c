/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-backend.h"
#include "natter-config.h"

G_BEGIN_DECLS

#define NATTER_TYPE_SESSION (natter_session_get_type ())
G_DECLARE_FINAL_TYPE (NatterSession, natter_session, NATTER, SESSION, NatterClient)

/**
 * NatterSession:
 *
 * One WebSocket connection: decodes frames with the negotiated codec, hands requests to
 * the backend, sends replies and events, and keeps the heartbeat. Emits `closed` once the
 * connection is gone.
 */
NatterSession *natter_session_new       (NatterBackend           *backend,
                                         const NatterConfig      *config,
                                         GIOStream               *stream,
                                         GSocket                 *socket,
                                         NatterCodec              codec,
                                         const char              *peer);
void           natter_session_heartbeat (NatterSession           *self,
                                         gint64                   now);
/* Closes the connection with 1001 (going away), for shutdown. */
void           natter_session_shutdown  (NatterSession           *self);

G_END_DECLS
