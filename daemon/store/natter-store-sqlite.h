/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-store.h"

G_BEGIN_DECLS

typedef enum {
  NATTER_DURABILITY_NORMAL, /* WAL, synchronous=NORMAL: survives a killed process */
  NATTER_DURABILITY_FULL,   /* WAL, synchronous=FULL: survives power loss */
} NatterDurability;

#define NATTER_TYPE_STORE_SQLITE (natter_store_sqlite_get_type ())
G_DECLARE_FINAL_TYPE (NatterStoreSqlite, natter_store_sqlite, NATTER, STORE_SQLITE, GObject)

/**
 * NatterStoreSqlite:
 *
 * The embedded implementation of #NatterStore: one SQLite file in WAL mode. Writes are
 * group-committed by one writer thread, reads run on reader threads with their own
 * connections, and checkpoints on a thread of their own; the caller's main context
 * never waits for the disk.
 */

NatterStore *natter_store_sqlite_new (const char        *path,
                                      NatterDurability   durability,
                                      GError           **error);

gboolean     natter_store_sqlite_backup (const char      *path,
                                         const char      *dest,
                                         GError         **error);

GPtrArray   *natter_store_sqlite_query_plans (const char  *path,
                                              GError     **error);

G_END_DECLS
