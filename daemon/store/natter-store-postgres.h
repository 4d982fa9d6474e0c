/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-store.h"

G_BEGIN_DECLS

#define NATTER_TYPE_STORE_POSTGRES (natter_store_postgres_get_type ())
G_DECLARE_FINAL_TYPE (NatterStorePostgres, natter_store_postgres, NATTER, STORE_POSTGRES, GObject)

/**
 * NatterStorePostgres:
 *
 * The PostgreSQL implementation of #NatterStore, for clusters: every node of a cluster
 * opens the same database, which is the shared history and the per-room sequencer.
 *
 * Each operation runs on one of a few worker threads, each with its own connection, so
 * the main loop never waits for the database. Operations on one room always go to the
 * same worker, so they run in the order they were issued; consecutive sends queued on a
 * worker are committed in one transaction.
 */

#define NATTER_STORE_POSTGRES_DEFAULT_WORKERS 4

NatterStore *natter_store_postgres_new       (const char  *conninfo,
                                              GError     **error);
NatterStore *natter_store_postgres_new_full  (const char  *conninfo,
                                              const char  *text_search_config,
                                              guint        n_workers,
                                              GError     **error);

const char  *natter_store_postgres_get_text_search_config (NatterStorePostgres *self);

G_END_DECLS
