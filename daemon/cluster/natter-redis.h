/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define NATTER_TYPE_REDIS (natter_redis_get_type ())
G_DECLARE_FINAL_TYPE (NatterRedis, natter_redis, NATTER, REDIS, GObject)

/**
 * NatterRedis:
 *
 * Live fan-out between the nodes of a cluster over Redis pub/sub: one connection
 * publishes, one subscribes. Each room has the channel `natter:room:<name>`; presence and
 * other events for everyone use `natter:broadcast`. A payload travels with the id of the
 * node that published it, and a node never receives its own publishes back.
 *
 * Redis is an accelerator, not the source of truth: a publish while Redis is away is
 * dropped (natter_redis_publish() says so), and a subscriber that reconnects has missed
 * whatever was published meanwhile. Nodes catch up from the store; the `connected`
 * property going back to %TRUE is the moment to do so.
 *
 * Both connections reconnect by themselves with a jittered exponential backoff. A
 * heartbeat the node publishes to itself every second checks the subscription end to
 * end; a subscriber that stops hearing it is reconnected.
 *
 * Signals:
 * - `message` (const char *room, const char *origin_node, GBytes *payload): a payload
 *   another node published; @room is %NULL for the broadcast channel.
 *
 * Properties:
 * - `connected` (gboolean, read-only, notifies): both connections are up and subscribed.
 */

NatterRedis *natter_redis_new             (const char  *uri,
                                           const char  *node_id,
                                           GError     **error);

const char  *natter_redis_get_node_id     (NatterRedis *self);
gboolean     natter_redis_get_connected   (NatterRedis *self);

gboolean     natter_redis_publish         (NatterRedis *self,
                                           const char  *room,
                                           GBytes      *payload);

void         natter_redis_subscribe_room   (NatterRedis *self,
                                            const char  *room);
void         natter_redis_unsubscribe_room (NatterRedis *self,
                                            const char  *room);
gboolean     natter_redis_is_subscribed    (NatterRedis *self,
                                            const char  *room);

void         natter_redis_append_metrics  (NatterRedis *self,
                                           GString     *out);

G_END_DECLS
