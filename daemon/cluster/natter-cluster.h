/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib-object.h>

#include "natter-hub.h"
#include "natter-redis.h"

G_BEGIN_DECLS

#define NATTER_TYPE_CLUSTER (natter_cluster_get_type ())
G_DECLARE_FINAL_TYPE (NatterCluster, natter_cluster, NATTER, CLUSTER, GObject)

/**
 * NatterCluster:
 *
 * What makes a hub on a shared store one node of a cluster (docs/cluster.md). It stands
 * beside the hub: it hears what this node's clients do through the hub's signals and
 * tells the other nodes over Redis; it hands what other nodes did to the hub's public
 * API; and it keeps the node caught up with the store when Redis loses something.
 */

NatterCluster *natter_cluster_new            (NatterHub     *hub,
                                              NatterRedis   *redis,
                                              const char    *node_id);
void           natter_cluster_start          (NatterCluster *self);
void           natter_cluster_append_metrics (NatterCluster *self,
                                              GString       *out);

G_END_DECLS
