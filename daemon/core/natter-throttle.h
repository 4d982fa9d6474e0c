/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * NatterThrottle:
 *
 * Counts failures per key (an account name) and, after @max_failures in a row, refuses
 * further attempts until @penalty_s seconds have passed since the last failure. A success
 * clears the key. Keeps online password guessing to a few tries a minute per account,
 * whoever makes them, while Argon2id keeps offline guessing slow.
 */
typedef struct _NatterThrottle NatterThrottle;

NatterThrottle *natter_throttle_new     (guint           max_failures,
                                         guint           penalty_s);
void            natter_throttle_free    (NatterThrottle *self);
/* Returns FALSE, with when to retry, while @key is throttled. */
gboolean        natter_throttle_check   (NatterThrottle *self,
                                         const char     *key,
                                         guint          *retry_after_ms);
void            natter_throttle_failure (NatterThrottle *self,
                                         const char     *key);
void            natter_throttle_success (NatterThrottle *self,
                                         const char     *key);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterThrottle, natter_throttle_free)

G_END_DECLS
