/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib-object.h>

#include "natter-codec.h"
#include "natter-event.h"

G_BEGIN_DECLS

#define NATTER_TYPE_CLIENT (natter_client_get_type ())
G_DECLARE_DERIVABLE_TYPE (NatterClient, natter_client, NATTER, CLIENT, GObject)

/**
 * NatterClientClass:
 * @deliver: send one server frame to the client. Called on the main loop, in order;
 *   replies carry the request's id, pushed events none. Must not block.
 * @end: (nullable): close the connection with a WebSocket close @code and @reason, for
 *   a session whose token was revoked; front ends without a connection of their own
 *   leave it %NULL.
 *
 * A front end of the hub: a WebSocket session, the D-Bus service's local account, the
 * upstream link. Each is just a client that sends #Natter__ClientFrame requests to the
 * hub and receives #NatterEvent frames back.
 */
struct _NatterClientClass
{
  GObjectClass parent_class;

  void (*deliver) (NatterClient *self,
                   NatterEvent  *event);
  void (*end)     (NatterClient *self,
                   gushort       code,
                   const char   *reason);
};

void        natter_client_deliver     (NatterClient *self,
                                       NatterEvent  *event);

/* The remote address (for per-IP limits), or a label for local front ends. */
const char *natter_client_get_peer    (NatterClient *self);
void        natter_client_set_peer    (NatterClient *self,
                                       const char   *peer);
/* The client program as it named itself (a WebSocket handshake's User-Agent), if it did. */
const char *natter_client_get_agent   (NatterClient *self);
void        natter_client_set_agent   (NatterClient *self,
                                       const char   *agent);
void        natter_client_end         (NatterClient *self,
                                       gushort       code,
                                       const char   *reason);

G_END_DECLS
