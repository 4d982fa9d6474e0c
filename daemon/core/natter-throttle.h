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
/* Takes back one failure counted ahead of an attempt that then succeeded, without
 * clearing the others. */
void            natter_throttle_forgive (NatterThrottle *self,
                                         const char     *key);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterThrottle, natter_throttle_free)

/**
 * NatterBucket:
 *
 * A token bucket: @burst tokens at first, refilled at @rate per second up to @burst;
 * each action takes one. Zero-initialised means full.
 */
typedef struct {
  double tokens;
  gint64 at;      /* monotonic µs of the last take, 0 before the first */
} NatterBucket;

/* Returns FALSE, with when one token will be there, when the bucket is empty. */
gboolean        natter_bucket_take      (NatterBucket   *bucket,
                                         double          rate,
                                         double          burst,
                                         guint          *retry_after_ms);
/* Returns a token taken for an action that did not happen after all. */
void            natter_bucket_give_back (NatterBucket   *bucket);

/**
 * NatterBuckets:
 *
 * A token bucket per key (an address, an account), all with the same rate and burst.
 * Buckets that have filled up again are swept when the table grows, so many keys cannot
 * grow memory without bound.
 */
typedef struct _NatterBuckets NatterBuckets;

NatterBuckets  *natter_buckets_new       (double          rate,
                                          double          burst);
void            natter_buckets_free      (NatterBuckets  *self);
gboolean        natter_buckets_take      (NatterBuckets  *self,
                                          const char     *key,
                                          guint          *retry_after_ms);
void            natter_buckets_give_back (NatterBuckets  *self,
                                          const char     *key);
guint           natter_buckets_get_size  (NatterBuckets  *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterBuckets, natter_buckets_free)

G_END_DECLS
