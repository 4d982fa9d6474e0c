/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <libsoup/soup.h>

#include "natter-hub.h"

G_BEGIN_DECLS

#define NATTER_TYPE_SERVER (natter_server_get_type ())
G_DECLARE_FINAL_TYPE (NatterServer, natter_server, NATTER, SERVER, GObject)

/**
 * NatterServer:
 *
 * The HTTP side of natterd: the WebSocket endpoint `/ws`, the web app at `/`, and
 * `/healthz`, `/readyz` and `/metrics` for operators.
 */
NatterServer *natter_server_new      (NatterHub     *hub,
                                      GError       **error);
/* Listens on the configured address; returns the bound port (useful with port 0). */
gboolean      natter_server_listen   (NatterServer  *self,
                                      guint16       *out_port,
                                      GError       **error);
/* Answers /readyz with 503 and refuses new WebSockets; sessions go on. */
void          natter_server_begin_drain (NatterServer *self);
/* Refuses new WebSockets and closes every session with 1001. */
void          natter_server_shutdown (NatterServer  *self);
guint         natter_server_get_n_sessions (NatterServer *self);

/* A readiness check beyond the hub's own (e.g. database and Redis reachable). */
typedef gboolean (*NatterReadyFunc) (gpointer user_data, GString *why_not);
void          natter_server_add_ready_check (NatterServer    *self,
                                             NatterReadyFunc  func,
                                             gpointer         user_data);
/* More of /metrics, after the hub's (e.g. a cluster node's). */
typedef void (*NatterMetricsFunc) (gpointer user_data, GString *out);
void          natter_server_add_metrics     (NatterServer      *self,
                                             NatterMetricsFunc  func,
                                             gpointer           user_data);

G_END_DECLS
