/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-store.h"

G_BEGIN_DECLS

#define NATTER_TYPE_UPSTREAM_CACHE (natter_upstream_cache_get_type ())
G_DECLARE_FINAL_TYPE (NatterUpstreamCache, natter_upstream_cache, NATTER, UPSTREAM_CACHE, GObject)

/**
 * NatterUpstreamCache:
 *
 * The local copy of what upstream mode has seen of one account on one server: an SQLite
 * #NatterStore (the host's own store code) in the data directory, named
 * `upstream-HASH.db` after the server and the account, beside a small `upstream-HASH.ini`
 * that records the server's store epoch. Nothing secret is kept in either.
 *
 * Messages are appended in each room's seq order from seq 1 without gaps, so the seq the
 * local store assigns is the server's seq; History() and Search() are answered from it
 * while the server is out of reach.
 */

void                 natter_upstream_cache_open_async     (const char            *data_dir,
                                                           const char            *server,
                                                           const char            *user,
                                                           GCancellable          *cancellable,
                                                           GAsyncReadyCallback    callback,
                                                           gpointer               user_data);
NatterUpstreamCache *natter_upstream_cache_open_finish    (GAsyncResult          *result,
                                                           GError               **error);

NatterStore         *natter_upstream_cache_get_store      (NatterUpstreamCache   *self);
const char          *natter_upstream_cache_get_user       (NatterUpstreamCache   *self);
/* The rooms and memberships found at open, for the first to take them. */
NatterStoreSnapshot *natter_upstream_cache_steal_snapshot (NatterUpstreamCache   *self);

/* The server's epoch the cached positions belong to, or %NULL for a new cache. */
const char          *natter_upstream_cache_get_epoch      (NatterUpstreamCache   *self);
void                 natter_upstream_cache_set_epoch      (NatterUpstreamCache   *self,
                                                           const char            *epoch);

/* Writes, queued in order and not waited for (failures are logged). */
void                 natter_upstream_cache_add_room       (NatterUpstreamCache   *self,
                                                           const char            *name,
                                                           const char            *kind,
                                                           const char            *topic);
void                 natter_upstream_cache_add_member     (NatterUpstreamCache   *self,
                                                           const char            *room,
                                                           const char            *user);
void                 natter_upstream_cache_remove_member  (NatterUpstreamCache   *self,
                                                           const char            *room,
                                                           const char            *user);
void                 natter_upstream_cache_append         (NatterUpstreamCache   *self,
                                                           const Natter__Message *message);
void                 natter_upstream_cache_set_read       (NatterUpstreamCache   *self,
                                                           const char            *room,
                                                           guint64                seq);
void                 natter_upstream_cache_set_notification_level (NatterUpstreamCache *self,
                                                                   const char          *room,
                                                                   const char          *level);

/* Flushes and closes the store off the main loop; with @delete, removes its files. */
void                 natter_upstream_cache_close_async    (NatterUpstreamCache   *self,
                                                           gboolean               delete,
                                                           GCancellable          *cancellable,
                                                           GAsyncReadyCallback    callback,
                                                           gpointer               user_data);
gboolean             natter_upstream_cache_close_finish   (NatterUpstreamCache   *self,
                                                           GAsyncResult          *result,
                                                           GError               **error);

G_END_DECLS
