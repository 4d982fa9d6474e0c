/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-backend.h"
#include "natter-client.h"
#include "natter-config.h"
#include "natter-store.h"

G_BEGIN_DECLS

#define NATTER_TYPE_HUB (natter_hub_get_type ())
G_DECLARE_FINAL_TYPE (NatterHub, natter_hub, NATTER, HUB, GObject)

/**
 * NatterHub:
 *
 * The single owner of rooms, memberships and clients on a node, and the only place that
 * decides who receives what. It is the #NatterBackend of host mode: every front end
 * (WebSocket sessions, D-Bus) is a #NatterClient that hands #Natter__ClientFrame requests
 * to natter_backend_dispatch() and gets replies and events through natter_client_deliver().
 *
 * On a shared store (natter_store_is_shared(): a cluster's PostgreSQL) the hub catches up
 * with what other nodes write. Hearing other nodes live is not the hub's business: the
 * cluster (cluster/natter-cluster.c) stands beside it, listens to its signals for what
 * this node's clients do, and hands in what other nodes did through the
 * natter_hub_receive_*() functions.
 *
 * Signals (what this node's clients did; pointer arguments valid during emission):
 * - `message-committed` (Natter__Message *message): a message sent here is durable.
 * - `room-event` (const char *room, Natter__ServerFrame *frame): typing or a receipt.
 * - `member-changed` (const char *room, const char *user, gboolean joined).
 * - `presence-changed` (const char *user, gboolean online): the first session of @user
 *   on this node began, or its last one ended.
 * - `room-watched`, `room-unwatched` (const char *room): a room gained its first reader
 *   on this node, or lost its last.
 */

NatterHub   *natter_hub_new              (NatterStore          *store,
                                          const NatterConfig   *config);
NatterStore *natter_hub_get_store        (NatterHub            *self);
const NatterConfig *natter_hub_get_config (NatterHub           *self);

/* Loads rooms and memberships and makes sure the `system` room exists. */
void         natter_hub_start_async      (NatterHub            *self,
                                          GCancellable         *cancellable,
                                          GAsyncReadyCallback   callback,
                                          gpointer              user_data);
gboolean     natter_hub_start_finish     (NatterHub            *self,
                                          GAsyncResult         *result,
                                          GError              **error);

void         natter_hub_add_client       (NatterHub            *self,
                                          NatterClient         *client);
void         natter_hub_remove_client    (NatterHub            *self,
                                          NatterClient         *client);

/* Handles one request; the reply (and any events) reach @client through
 * natter_client_deliver(). Takes ownership of @frame. */
void         natter_hub_dispatch         (NatterHub            *self,
                                          NatterClient         *client,
                                          Natter__ClientFrame  *frame);

/* Replies to a frame that could not be decoded: an error with @request_id, if known. */
void         natter_hub_reply_error      (NatterHub            *self,
                                          NatterClient         *client,
                                          guint64               request_id,
                                          gboolean              has_request_id,
                                          const GError         *error);

/* Logs @client in as @user without a password: for trusted local front ends (D-Bus). */
void         natter_hub_attach_local     (NatterHub            *self,
                                          NatterClient         *client,
                                          const char           *user,
                                          gboolean              admin);

/* Creates an account (hashing off the main loop). Fails with NATTER_ERROR_CONFLICT. */
void         natter_hub_create_user_async  (NatterHub          *self,
                                            const char         *user,
                                            const char         *password,
                                            NatterAccountFlags  flags,
                                            GCancellable       *cancellable,
                                            GAsyncReadyCallback callback,
                                            gpointer            user_data);
gboolean     natter_hub_create_user_finish (NatterHub          *self,
                                            GAsyncResult       *result,
                                            GError            **error);

/* Counters for /metrics. */
void         natter_hub_append_metrics   (NatterHub            *self,
                                          GString              *out);

/* Refuses new requests with `unavailable`; the callback runs once every request in
 * flight was answered. */
void         natter_hub_drain_async      (NatterHub            *self,
                                          GCancellable         *cancellable,
                                          GAsyncReadyCallback   callback,
                                          gpointer              user_data);
gboolean     natter_hub_drain_finish     (NatterHub            *self,
                                          GAsyncResult         *result,
                                          GError              **error);

/* What other nodes of a cluster did, and what the cluster needs to know to tell them:
 * natter-hub-remote.c. */
void         natter_hub_receive_message  (NatterHub                 *self,
                                          const Natter__Message     *message);
void         natter_hub_receive_room_event (NatterHub               *self,
                                            const char              *room,
                                            const Natter__ServerFrame *frame);
void         natter_hub_receive_joined   (NatterHub                 *self,
                                          const Natter__Joined      *joined);
void         natter_hub_receive_left     (NatterHub                 *self,
                                          const char                *room,
                                          const char                *user);
void         natter_hub_receive_sessions_ended (NatterHub           *self,
                                                const char          *user,
                                                const char * const  *sessions,
                                                const char          *reason);
void         natter_hub_set_online_elsewhere (NatterHub             *self,
                                              const char            *user,
                                              gboolean               online);
void         natter_hub_apply_last_seqs  (NatterHub                 *self,
                                          GHashTable                *seqs);
void         natter_hub_reload_rooms     (NatterHub                 *self);
GPtrArray   *natter_hub_list_watched_rooms (NatterHub               *self);
GPtrArray   *natter_hub_list_online_users  (NatterHub               *self);
gboolean     natter_hub_describe_room    (NatterHub                 *self,
                                          const char                *name,
                                          const char               **out_kind,
                                          const char               **out_topic,
                                          guint64                   *out_last_seq);
gboolean     natter_hub_describe_room_roles (NatterHub              *self,
                                             const char             *name,
                                             const char * const     *users,
                                             gboolean               *out_private,
                                             GPtrArray              *owners,
                                             GPtrArray              *moderators);

gboolean     natter_validate_user_name   (const char           *name);
gboolean     natter_validate_room_name   (const char           *name);
char        *natter_dm_room_name         (const char           *a,
                                          const char           *b);

G_END_DECLS
