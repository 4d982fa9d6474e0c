/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "test-throttle"

#include "config.h"

#include "natter-throttle.h"

/* Token buckets: what limits typing, reads, logins and registrations per address or
 * account. */

static void
test_bucket_burst_then_rate (void)
{
  NatterBucket bucket = { 0, };
  guint retry_after_ms = 0;

  for (guint i = 0; i < 3; i++)
    g_assert_true (natter_bucket_take (&bucket, 0.5, 3, &retry_after_ms));
  g_assert_false (natter_bucket_take (&bucket, 0.5, 3, &retry_after_ms));
  /* One token every two seconds. */
  g_assert_cmpuint (retry_after_ms, >, 0);
  g_assert_cmpuint (retry_after_ms, <=, 2001);

  natter_bucket_give_back (&bucket);
  g_assert_true (natter_bucket_take (&bucket, 0.5, 3, &retry_after_ms));
}

static void
test_buckets_per_key (void)
{
  g_autoptr(NatterBuckets) buckets = natter_buckets_new (0.001, 2);
  guint retry_after_ms = 0;

  g_assert_true (natter_buckets_take (buckets, "127.0.0.2", &retry_after_ms));
  g_assert_true (natter_buckets_take (buckets, "127.0.0.2", &retry_after_ms));
  g_assert_false (natter_buckets_take (buckets, "127.0.0.2", &retry_after_ms));
  /* Another key has a bucket of its own. */
  g_assert_true (natter_buckets_take (buckets, "127.0.0.3", &retry_after_ms));
  natter_buckets_give_back (buckets, "127.0.0.2");
  g_assert_true (natter_buckets_take (buckets, "127.0.0.2", &retry_after_ms));
}

/* Many keys, each used once (an attacker cycling through addresses or names): buckets
 * that filled up again are swept, so the table stays bounded. */
static void
test_buckets_bounded (void)
{
  g_autoptr(NatterBuckets) buckets = natter_buckets_new (1e9, 1);
  guint retry_after_ms = 0;

  for (guint i = 0; i < 50000; i++)
    {
      g_autofree char *key = g_strdup_printf ("key-%u", i);

      g_assert_true (natter_buckets_take (buckets, key, &retry_after_ms));
    }
  g_assert_cmpuint (natter_buckets_get_size (buckets), <=, 4097);
}

/* Failures: after the limit, a key waits; a success clears it; other keys are free. */
static void
test_throttle (void)
{
  g_autoptr(NatterThrottle) throttle = natter_throttle_new (2, 60);
  guint retry_after_ms = 0;

  g_assert_true (natter_throttle_check (throttle, "alice\x1f" "127.0.0.2", &retry_after_ms));
  natter_throttle_failure (throttle, "alice\x1f" "127.0.0.2");
  natter_throttle_failure (throttle, "alice\x1f" "127.0.0.2");
  g_assert_false (natter_throttle_check (throttle, "alice\x1f" "127.0.0.2", &retry_after_ms));
  g_assert_cmpuint (retry_after_ms, >, 59000);
  g_assert_true (natter_throttle_check (throttle, "alice\x1f" "127.0.0.3", &retry_after_ms));
  natter_throttle_success (throttle, "alice\x1f" "127.0.0.2");
  g_assert_true (natter_throttle_check (throttle, "alice\x1f" "127.0.0.2", &retry_after_ms));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/throttle/bucket/burst-then-rate", test_bucket_burst_then_rate);
  g_test_add_func ("/throttle/buckets/per-key", test_buckets_per_key);
  g_test_add_func ("/throttle/buckets/bounded", test_buckets_bounded);
  g_test_add_func ("/throttle/failures", test_throttle);

  return g_test_run ();
}
