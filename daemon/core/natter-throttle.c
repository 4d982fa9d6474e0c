/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-throttle"

#include "config.h"

#include "natter-throttle.h"

/* Entries are swept when the table grows past this, so guessing at many names cannot
 * grow memory without bound. */
#define SWEEP_AT 4096

typedef struct
{
  guint  failures;
  gint64 last_failure;  /* monotonic µs */
} Entry;

struct _NatterThrottle
{
  GHashTable *entries;  /* (owned) key → Entry * */
  guint       max_failures;
  gint64      penalty_us;
};

NatterThrottle *
natter_throttle_new (guint max_failures,
                     guint penalty_s)
{
  NatterThrottle *self = g_new0 (NatterThrottle, 1);

  self->entries = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->max_failures = MAX (max_failures, 1);
  self->penalty_us = (gint64) penalty_s * G_USEC_PER_SEC;
  return self;
}

void
natter_throttle_free (NatterThrottle *self)
{
  if (self == NULL)
    return;
  g_hash_table_unref (self->entries);
  g_free (self);
}

static gboolean
expired (NatterThrottle *self, Entry *entry, gint64 now)
{
  return now - entry->last_failure >= self->penalty_us;
}

gboolean
natter_throttle_check (NatterThrottle *self,
                       const char     *key,
                       guint          *retry_after_ms)
{
  Entry *entry = g_hash_table_lookup (self->entries, key);
  gint64 now = g_get_monotonic_time ();

  if (entry == NULL || entry->failures < self->max_failures)
    return TRUE;
  if (expired (self, entry, now))
    {
      g_hash_table_remove (self->entries, key);
      return TRUE;
    }
  *retry_after_ms = (guint) ((self->penalty_us - (now - entry->last_failure)) / 1000) + 1;
  return FALSE;
}

void
natter_throttle_failure (NatterThrottle *self,
                         const char     *key)
{
  Entry *entry = g_hash_table_lookup (self->entries, key);
  gint64 now = g_get_monotonic_time ();

  if (g_hash_table_size (self->entries) >= SWEEP_AT)
    {
      GHashTableIter iter;
      gpointer value;

      g_hash_table_iter_init (&iter, self->entries);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        if (expired (self, value, now))
          g_hash_table_iter_remove (&iter);
      entry = g_hash_table_lookup (self->entries, key);
    }
  if (entry == NULL)
    {
      entry = g_new0 (Entry, 1);
      g_hash_table_insert (self->entries, g_strdup (key), entry);
    }
  else if (expired (self, entry, now))
    entry->failures = 0;
  entry->failures++;
  entry->last_failure = now;
}

void
natter_throttle_success (NatterThrottle *self,
                         const char     *key)
{
  g_hash_table_remove (self->entries, key);
}

void
natter_throttle_forgive (NatterThrottle *self,
                         const char     *key)
{
  Entry *entry = g_hash_table_lookup (self->entries, key);

  if (entry != NULL && entry->failures > 0 && --entry->failures == 0)
    g_hash_table_remove (self->entries, key);
}

/* ---------------------------------------------------------------------------------- */
/* Token buckets */

static double
bucket_level (NatterBucket *bucket, double rate, double burst, gint64 now)
{
  if (bucket->at == 0)
    return burst;
  return MIN (burst, bucket->tokens + (now - bucket->at) / 1e6 * rate);
}

gboolean
natter_bucket_take (NatterBucket *bucket,
                    double        rate,
                    double        burst,
                    guint        *retry_after_ms)
{
  gint64 now = g_get_monotonic_time ();

  bucket->tokens = bucket_level (bucket, rate, burst, now);
  bucket->at = now;
  if (bucket->tokens >= 1.0)
    {
      bucket->tokens -= 1.0;
      return TRUE;
    }
  *retry_after_ms = (guint) ((1.0 - bucket->tokens) / rate * 1000.0) + 1;
  return FALSE;
}

void
natter_bucket_give_back (NatterBucket *bucket)
{
  bucket->tokens += 1.0;
}

struct _NatterBuckets
{
  GHashTable *buckets;  /* (owned) key → NatterBucket * */
  double      rate;
  double      burst;
};

NatterBuckets *
natter_buckets_new (double rate,
                    double burst)
{
  NatterBuckets *self = g_new0 (NatterBuckets, 1);

  self->buckets = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->rate = rate;
  self->burst = MAX (burst, 1.0);
  return self;
}

void
natter_buckets_free (NatterBuckets *self)
{
  if (self == NULL)
    return;
  g_hash_table_unref (self->buckets);
  g_free (self);
}

/* A full bucket is the same as none. */
static void
sweep_full (NatterBuckets *self, gint64 now)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->buckets);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (bucket_level (value, self->rate, self->burst, now) >= self->burst)
      g_hash_table_iter_remove (&iter);
}

gboolean
natter_buckets_take (NatterBuckets *self,
                     const char    *key,
                     guint         *retry_after_ms)
{
  NatterBucket *bucket = g_hash_table_lookup (self->buckets, key);

  if (bucket == NULL)
    {
      if (g_hash_table_size (self->buckets) >= SWEEP_AT)
        sweep_full (self, g_get_monotonic_time ());
      bucket = g_new0 (NatterBucket, 1);
      g_hash_table_insert (self->buckets, g_strdup (key), bucket);
    }
  return natter_bucket_take (bucket, self->rate, self->burst, retry_after_ms);
}

void
natter_buckets_give_back (NatterBuckets *self,
                          const char    *key)
{
  NatterBucket *bucket = g_hash_table_lookup (self->buckets, key);

  if (bucket != NULL)
    natter_bucket_give_back (bucket);
}

guint
natter_buckets_get_size (NatterBuckets *self)
{
  return g_hash_table_size (self->buckets);
}
