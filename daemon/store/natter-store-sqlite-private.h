/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "natter-store-sqlite.h"

G_BEGIN_DECLS

/* The schema version natter_store_sqlite_new() migrates to. */
guint        natter_store_sqlite_get_latest_schema_version (void);

/* For tests: migrate only up to @schema_version (0 means the latest) and wait at most
 * @busy_timeout_ms for another connection's lock. */
NatterStore *natter_store_sqlite_new_full (const char        *path,
                                           NatterDurability   durability,
                                           guint              schema_version,
                                           guint              busy_timeout_ms,
                                           GError           **error);

G_END_DECLS
