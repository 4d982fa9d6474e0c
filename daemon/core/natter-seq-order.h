/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "natter-codec.h"

G_BEGIN_DECLS

/**
 * NatterSeqOrderPolicy:
 * @release: passes on the next message, strictly in seq order and once each; the
 *   order's cursor is already at its seq
 * @fetch: asks the source for the messages after @after_seq. Returns %FALSE when it
 *   cannot now (natter_seq_order_catch_up() asks again); otherwise the owner hands the
 *   answer to natter_seq_order_fetched() or natter_seq_order_fetch_failed()
 * @lost: (nullable): a fetch brought nothing while seqs @first to @last are known to be
 *   missing: the source lost them. With @lost set the order goes on after them; without,
 *   it asks again every @hold_ms while later messages wait
 * @hold_ms: how long a later message waits for the gap before it before the gap is
 *   fetched; 0 fetches whatever is missing at once
 * @retry_ms: when to ask again after a failed fetch; 0 waits for the next message or
 *   natter_seq_order_catch_up()
 * @max_held: later messages held at most; beyond, they are dropped and fetched again
 *   with the gap; 0 for no limit
 *
 * How one owner of #NatterSeqOrder<!-- -->s (the hub, the upstream link) fills gaps.
 */
typedef struct
{
  void     (*release) (const Natter__Message *message,
                       gpointer               user_data);
  gboolean (*fetch)   (guint64                after_seq,
                       gpointer               user_data);
  void     (*lost)    (guint64                first,
                       guint64                last,
                       gpointer               user_data);
  guint      hold_ms;
  guint      retry_ms;
  guint      max_held;
} NatterSeqOrderPolicy;

/**
 * NatterSeqOrder:
 *
 * One room's messages, passed on in seq order without gaps or duplicates, whatever
 * order they arrive in. The cursor is the last seq passed on; an older or repeated seq
 * is ignored, a later one is held until the gap before it is filled, by the messages
 * themselves arriving or by a fetch from the source (the store, the remote server).
 * Callbacks run from natter_seq_order_feed() and friends and from a timer on the
 * thread-default main context; they must not free the order.
 */
typedef struct _NatterSeqOrder NatterSeqOrder;

NatterSeqOrder *natter_seq_order_new           (const NatterSeqOrderPolicy *policy,
                                                guint64                     cursor,
                                                gpointer                    user_data);
void            natter_seq_order_free          (NatterSeqOrder             *self);

guint64         natter_seq_order_get_cursor    (NatterSeqOrder             *self);
/* Moves the cursor without passing anything on: for a room nobody reads. */
void            natter_seq_order_set_cursor    (NatterSeqOrder             *self,
                                                guint64                     seq);
/* The highest seq known to exist. */
guint64         natter_seq_order_get_known     (NatterSeqOrder             *self);
void            natter_seq_order_note_known    (NatterSeqOrder             *self,
                                                guint64                     seq);

void            natter_seq_order_feed          (NatterSeqOrder             *self,
                                                const Natter__Message      *message);
void            natter_seq_order_catch_up      (NatterSeqOrder             *self);
void            natter_seq_order_fetched       (NatterSeqOrder             *self,
                                                Natter__Message * const    *messages,
                                                gsize                       n_messages);
void            natter_seq_order_fetch_failed  (NatterSeqOrder             *self);

/* The source went away: a fetch in flight will not be answered, and nothing is asked
 * until natter_seq_order_catch_up() or the next message. Held messages stay. */
void            natter_seq_order_reset         (NatterSeqOrder             *self);
/* Nobody reads the room any more: forgets the held messages. */
void            natter_seq_order_drop_held     (NatterSeqOrder             *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterSeqOrder, natter_seq_order_free)

G_END_DECLS
