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
 * @close: end the client's connection with a WebSocket close code and a reason
 *   (the hub calls it for limits it enforces itself).
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
  void (*close)   (NatterClient *self,
                   gushort       code,
                   const char   *reason);
};

void        natter_client_deliver     (NatterClient *self,
                                       NatterEvent  *event);
void        natter_client_close       (NatterClient *self,
                                       gushort       code,
                                       const char   *reason);

/* Set by the hub on login; NULL before. */
const char *natter_client_get_user    (NatterClient *self);
gboolean    natter_client_get_admin   (NatterClient *self);
void        natter_client_set_account (NatterClient *self,
                                       const char   *user,
                                       gboolean      admin);
/* The remote address (for per-IP limits), or a label for local front ends. */
const char *natter_client_get_peer    (NatterClient *self);
void        natter_client_set_peer    (NatterClient *self,
                                       const char   *peer);

G_END_DECLS
