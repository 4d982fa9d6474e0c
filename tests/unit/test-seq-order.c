/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "test-seq-order"

#include "config.h"

#include "natter-seq-order.h"
#include "natter-store.h"

/* One room's deliveries as the hub and the upstream link see them: what was released,
 * what was fetched, what was given up. */
typedef struct
{
  GArray  *released;   /* (owned) guint64 */
  GArray  *fetches;    /* (owned) guint64: the after_seq of each fetch */
  guint64  lost_first;
  guint64  lost_last;
  gboolean can_fetch;
} Fixture;

static void
on_release (const Natter__Message *message,
            gpointer               user_data)
{
  Fixture *fixture = user_data;

  g_array_append_val (fixture->released, message->seq);
}

static gboolean
on_fetch (guint64  after_seq,
          gpointer user_data)
{
  Fixture *fixture = user_data;

  if (!fixture->can_fetch)
    return FALSE;
  g_array_append_val (fixture->fetches, after_seq);
  return TRUE;
}

static void
on_lost (guint64  first,
         guint64  last,
         gpointer user_data)
{
  Fixture *fixture = user_data;

  fixture->lost_first = first;
  fixture->lost_last = last;
}

/* The hub's: a gap waits, and is never given up. */
static const NatterSeqOrderPolicy hold_policy = {
  .release = on_release,
  .fetch = on_fetch,
  .hold_ms = 20,
  .retry_ms = 20,
};

/* The upstream link's: a gap is fetched at once, and skipped if the source lost it. */
static const NatterSeqOrderPolicy at_once_policy = {
  .release = on_release,
  .fetch = on_fetch,
  .lost = on_lost,
  .max_held = 2,
};

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  fixture->released = g_array_new (FALSE, FALSE, sizeof (guint64));
  fixture->fetches = g_array_new (FALSE, FALSE, sizeof (guint64));
  fixture->can_fetch = TRUE;
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  g_array_unref (fixture->released);
  g_array_unref (fixture->fetches);
}

static Natter__Message *
message_new (guint64 seq)
{
  g_autofree char *body = g_strdup_printf ("message %" G_GUINT64_FORMAT, seq);

  return natter_message_new ("general", seq, 0, "alice", body, NULL, NULL);
}

static void
feed (NatterSeqOrder *order,
      guint64         seq)
{
  g_autoptr(Natter__Message) message = message_new (seq);

  natter_seq_order_feed (order, message);
}

static void
fetched (NatterSeqOrder *order,
         guint64         first,
         guint64         last)
{
  g_autoptr(GPtrArray) page = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_message_free);

  for (guint64 seq = first; seq <= last && first > 0; seq++)
    g_ptr_array_add (page, message_new (seq));
  natter_seq_order_fetched (order, (Natter__Message * const *) page->pdata, page->len);
}

static void
assert_seqs (GArray        *seqs,
             const guint64 *expected,
             guint          n_expected)
{
  g_assert_cmpuint (seqs->len, ==, n_expected);
  for (guint i = 0; i < n_expected; i++)
    g_assert_cmpuint (g_array_index (seqs, guint64, i), ==, expected[i]);
}

static void
wait_for_fetches (Fixture *fixture,
                  guint    n)
{
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

  while (fixture->fetches->len < n && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (fixture->fetches->len, ==, n);
}

static void
test_in_order_once (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(NatterSeqOrder) order = natter_seq_order_new (&hold_policy, 3, fixture);
  const guint64 expected[] = { 4, 5, 6 };

  feed (order, 2);
  feed (order, 4);
  feed (order, 4);
  feed (order, 6);
  feed (order, 5);
  feed (order, 6);
  assert_seqs (fixture->released, expected, G_N_ELEMENTS (expected));
  g_assert_cmpuint (natter_seq_order_get_cursor (order), ==, 6);
  g_assert_cmpuint (natter_seq_order_get_known (order), ==, 6);
  g_assert_cmpuint (fixture->fetches->len, ==, 0);
}

static void
test_gap_held_then_backfilled (Fixture       *fixture,
                               gconstpointer  data)
{
  g_autoptr(NatterSeqOrder) order = natter_seq_order_new (&hold_policy, 0, fixture);
  const guint64 after[] = { 0 };
  const guint64 expected[] = { 1, 2, 3, 4 };

  feed (order, 3);
  feed (order, 4);
  g_assert_cmpuint (fixture->released->len, ==, 0);
  /* Nothing is asked before the hold is over. */
  g_assert_cmpuint (fixture->fetches->len, ==, 0);
  wait_for_fetches (fixture, 1);
  assert_seqs (fixture->fetches, after, G_N_ELEMENTS (after));

  fetched (order, 1, 2);
  assert_seqs (fixture->released, expected, G_N_ELEMENTS (expected));
}

static void
test_gap_filled_in_time_is_not_fetched (Fixture       *fixture,
                                        gconstpointer  data)
{
  g_autoptr(NatterSeqOrder) order = natter_seq_order_new (&hold_policy, 0, fixture);
  const guint64 expected[] = { 1, 2 };
  gint64 until = g_get_monotonic_time () + 100 * 1000;

  feed (order, 2);
  feed (order, 1);
  assert_seqs (fixture->released, expected, G_N_ELEMENTS (expected));
  while (g_get_monotonic_time () < until)
    g_main_context_iteration (NULL, FALSE);
  g_assert_cmpuint (fixture->fetches->len, ==, 0);
}

static void
test_failed_fetch_is_retried (Fixture       *fixture,
                              gconstpointer  data)
{
  g_autoptr(NatterSeqOrder) order = natter_seq_order_new (&hold_policy, 0, fixture);

  feed (order, 2);
  wait_for_fetches (fixture, 1);
  natter_seq_order_fetch_failed (order);
  wait_for_fetches (fixture, 2);
  /* An empty page keeps the later message waiting and asks again: the store has every
   * committed message. */
  fetched (order, 0, 0);
  wait_for_fetches (fixture, 3);
  g_assert_cmpuint (fixture->released->len, ==, 0);
  g_assert_cmpuint (fixture->lost_last, ==, 0);
}

static void
test_at_once_and_paged (Fixture       *fixture,
                        gconstpointer  data)
{
  g_autoptr(NatterSeqOrder) order = natter_seq_order_new (&at_once_policy, 0, fixture);
  const guint64 fetches[] = { 0, 2 };
  const guint64 expected[] = { 1, 2, 3, 4, 5 };

  natter_seq_order_note_known (order, 5);
  natter_seq_order_catch_up (order);
  /* One fetch at a time. */
  feed (order, 4);
  fetched (order, 1, 2);
  fetched (order, 3, 5);
  assert_seqs (fixture->fetches, fetches, G_N_ELEMENTS (fetches));
  assert_seqs (fixture->released, expected, G_N_ELEMENTS (expected));
}

static void
test_lost_gap_is_skipped (Fixture       *fixture,
                          gconstpointer  data)
{
  g_autoptr(NatterSeqOrder) order = natter_seq_order_new (&at_once_policy, 1, fixture);
  const guint64 expected[] = { 5, 6 };

  feed (order, 5);
  feed (order, 6);
  /* Beyond max_held: dropped, to be fetched again with the gap. */
  feed (order, 8);
  g_assert_cmpuint (fixture->fetches->len, ==, 1);
  fetched (order, 0, 0);
  g_assert_cmpuint (fixture->lost_first, ==, 2);
  g_assert_cmpuint (fixture->lost_last, ==, 4);
  assert_seqs (fixture->released, expected, G_N_ELEMENTS (expected));
  /* The rest is asked for at once. */
  g_assert_cmpuint (fixture->fetches->len, ==, 2);
  g_assert_cmpuint (g_array_index (fixture->fetches, guint64, 1), ==, 6);
}

static void
test_no_fetch_while_source_away (Fixture       *fixture,
                                 gconstpointer  data)
{
  g_autoptr(NatterSeqOrder) order = natter_seq_order_new (&at_once_policy, 0, fixture);
  const guint64 expected[] = { 1, 2, 3 };

  fixture->can_fetch = FALSE;
  feed (order, 3);
  g_assert_cmpuint (fixture->fetches->len, ==, 0);
  fixture->can_fetch = TRUE;
  natter_seq_order_catch_up (order);
  g_assert_cmpuint (fixture->fetches->len, ==, 1);
  /* The source went away before it answered: the held message stays for the next try. */
  natter_seq_order_reset (order);
  natter_seq_order_catch_up (order);
  g_assert_cmpuint (fixture->fetches->len, ==, 2);
  fetched (order, 1, 2);
  assert_seqs (fixture->released, expected, G_N_ELEMENTS (expected));
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/seq-order/in-order-once", test_in_order_once);
  ADD ("/seq-order/gap-held-then-backfilled", test_gap_held_then_backfilled);
  ADD ("/seq-order/gap-filled-in-time-is-not-fetched", test_gap_filled_in_time_is_not_fetched);
  ADD ("/seq-order/failed-fetch-is-retried", test_failed_fetch_is_retried);
  ADD ("/seq-order/at-once-and-paged", test_at_once_and_paged);
  ADD ("/seq-order/lost-gap-is-skipped", test_lost_gap_is_skipped);
  ADD ("/seq-order/no-fetch-while-source-away", test_no_fetch_while_source_away);
#undef ADD

  return g_test_run ();
}
