/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct
{
  guint max_connections;   /* accepted sockets at once, upgraded or not */
  guint max_per_address;   /* sockets of one address not yet upgraded */
  guint header_timeout_s;  /* from accept until the request is read */
  /* (nullable) GInetAddressMask: peers that may name the client they stand for */
  GPtrArray *trusted_proxies;
} NatterListenerLimits;

#define NATTER_TYPE_LISTENER (natter_listener_get_type ())
G_DECLARE_FINAL_TYPE (NatterListener, natter_listener, NATTER, LISTENER, GObject)

/**
 * NatterListener:
 *
 * Accepts connections on a listening socket for the HTTP server, within bounds: at most
 * `max_connections` accepted sockets at once (past it, accepting pauses and connections
 * wait in the kernel's backlog), at most `max_per_address` sockets of one address not yet
 * upgraded to a WebSocket (more are closed at once), and each of them must have sent its
 * request within `header_timeout_s`. Failing to accept (out of descriptors) pauses
 * accepting for a moment, never for good. A connection from a trusted proxy may start
 * with a PROXY protocol v2 header: it then counts, and is handed on, as its client's.
 *
 * Signals:
 * - `connection` (GIOStream *stream, GSocketAddress *local, GSocketAddress *remote): a
 *   new connection, for soup_server_accept_iostream(); TLS is already negotiated.
 */
NatterListener *natter_listener_new             (GSocket                    *socket,
                                                 const NatterListenerLimits *limits,
                                                 GTlsCertificate            *certificate);
void            natter_listener_stop            (NatterListener             *self);
void            natter_listener_request_read    (NatterListener             *self,
                                                 GSocketAddress             *remote);
GSocket        *natter_listener_upgraded        (NatterListener             *self,
                                                 GSocketAddress             *remote);
guint           natter_listener_get_n_connections (NatterListener           *self);
gboolean        natter_listener_is_trusted      (NatterListener             *self,
                                                 GInetAddress               *address);

G_END_DECLS
