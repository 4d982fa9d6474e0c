/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-seq-order"

#include "config.h"

#include "natter-seq-order.h"
#include "natter-store.h"

struct _NatterSeqOrder
{
  const NatterSeqOrderPolicy *policy;     /* (unowned) static */
  gpointer                    user_data;  /* (unowned) */
  guint64                     cursor;     /* the last seq passed on (or given up) */
  guint64                     known;      /* the highest seq known to exist */
  GTree                      *held;       /* (owned) &seq → Natter__Message * (owned) */
  guint                       gap_source;
  gboolean                    fetching;
};

static gint
compare_seq (gconstpointer a,
             gconstpointer b,
             gpointer      user_data)
{
  guint64 x = *(const guint64 *) a, y = *(const guint64 *) b;

  return x < y ? -1 : x > y;
}

/**
 * natter_seq_order_new:
 * @policy: how gaps are filled; must outlive the order (a static)
 * @cursor: the last seq already passed on
 * @user_data: for @policy's callbacks
 *
 * Returns: (transfer full): a new #NatterSeqOrder
 */
NatterSeqOrder *
natter_seq_order_new (const NatterSeqOrderPolicy *policy,
                      guint64                     cursor,
                      gpointer                    user_data)
{
  NatterSeqOrder *self;

  g_return_val_if_fail (policy != NULL && policy->release != NULL && policy->fetch != NULL,
                        NULL);

  self = g_new0 (NatterSeqOrder, 1);
  self->policy = policy;
  self->user_data = user_data;
  self->cursor = self->known = cursor;
  self->held = g_tree_new_full (compare_seq, NULL, NULL, (GDestroyNotify) natter_message_free);
  return self;
}

void
natter_seq_order_free (NatterSeqOrder *self)
{
  if (self == NULL)
    return;
  g_clear_handle_id (&self->gap_source, g_source_remove);
  g_tree_unref (self->held);
  g_free (self);
}

guint64
natter_seq_order_get_cursor (NatterSeqOrder *self)
{
  return self->cursor;
}

void
natter_seq_order_set_cursor (NatterSeqOrder *self,
                             guint64         seq)
{
  self->cursor = seq;
}

guint64
natter_seq_order_get_known (NatterSeqOrder *self)
{
  return self->known;
}

void
natter_seq_order_note_known (NatterSeqOrder *self,
                             guint64         seq)
{
  self->known = MAX (self->known, seq);
}

/* Passes on the held messages that now follow without a gap, and forgets those that
 * were passed on meanwhile from elsewhere (a fetched page). */
static void
release_held (NatterSeqOrder *self)
{
  while (g_tree_nnodes (self->held) > 0)
    {
      GTreeNode *first = g_tree_node_first (self->held);
      guint64 seq = *(guint64 *) g_tree_node_key (first);
      g_autoptr(Natter__Message) next = NULL;

      if (seq > self->cursor + 1)
        break;
      next = g_tree_node_value (first);
      g_tree_steal (self->held, &seq);
      if (seq <= self->cursor)
        continue;
      self->cursor = seq;
      self->policy->release (next, self->user_data);
    }
  if (g_tree_nnodes (self->held) == 0)
    g_clear_handle_id (&self->gap_source, g_source_remove);
}

static gboolean
gap_timeout_cb (gpointer user_data)
{
  NatterSeqOrder *self = user_data;

  self->gap_source = 0;
  natter_seq_order_catch_up (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_fetch (NatterSeqOrder *self,
                guint           delay_ms)
{
  if (self->gap_source != 0 || self->fetching)
    return;
  self->gap_source = g_timeout_add (delay_ms, gap_timeout_cb, self);
}

/**
 * natter_seq_order_catch_up:
 * @self: a #NatterSeqOrder
 *
 * Fetches what follows the cursor now, if something is known to be missing and no
 * fetch is on its way: for when the owner learns that the source is ahead.
 */
void
natter_seq_order_catch_up (NatterSeqOrder *self)
{
  if (self->fetching || self->cursor >= self->known)
    return;
  g_clear_handle_id (&self->gap_source, g_source_remove);
  self->fetching = TRUE;
  if (!self->policy->fetch (self->cursor, self->user_data))
    self->fetching = FALSE;
}

static void
hold (NatterSeqOrder        *self,
      const Natter__Message *message)
{
  Natter__Message *copy;

  if (self->policy->max_held > 0 && g_tree_nnodes (self->held) >= self->policy->max_held)
    return;
  if (g_tree_lookup (self->held, &message->seq) != NULL)
    return;
  copy = natter_message_copy (message);
  g_tree_insert (self->held, &copy->seq, copy);
}

/**
 * natter_seq_order_feed:
 * @self: a #NatterSeqOrder
 * @message: a message of the room, in whatever order it came (copied if held)
 *
 * Passes @message on if it is the next one, with whatever was held behind it; holds it
 * if seqs before it are missing (and has them fetched, at once or after the policy's
 * hold); ignores it if it was passed on before.
 */
void
natter_seq_order_feed (NatterSeqOrder        *self,
                       const Natter__Message *message)
{
  g_return_if_fail (message != NULL);

  natter_seq_order_note_known (self, message->seq);
  if (message->seq <= self->cursor)
    return;
  if (message->seq > self->cursor + 1)
    {
      hold (self, message);
      if (self->policy->hold_ms > 0)
        schedule_fetch (self, self->policy->hold_ms);
      else
        natter_seq_order_catch_up (self);
      return;
    }

  self->cursor = message->seq;
  self->policy->release (message, self->user_data);
  release_held (self);
  if (self->policy->hold_ms == 0)
    natter_seq_order_catch_up (self);
}

/* Nothing fills the gap before the first held message (or up to the highest known
 * seq): go on after it rather than hold the room's messages forever. */
static void
skip_gap (NatterSeqOrder *self)
{
  guint64 last_missing = self->known;

  if (g_tree_nnodes (self->held) > 0)
    last_missing = *(guint64 *) g_tree_node_key (g_tree_node_first (self->held)) - 1;
  self->policy->lost (self->cursor + 1, last_missing, self->user_data);
  self->cursor = last_missing;
  release_held (self);
}

/**
 * natter_seq_order_fetched:
 * @self: a #NatterSeqOrder
 * @messages: (array length=n_messages): the answer to the policy's fetch, in seq order
 * @n_messages: how many
 *
 * Passes the page on and decides what next: the next page while it brings something
 * and more is missing; otherwise the policy's answer to a gap the source cannot fill.
 */
void
natter_seq_order_fetched (NatterSeqOrder          *self,
                          Natter__Message * const *messages,
                          gsize                    n_messages)
{
  guint64 before = self->cursor;

  /* Still fetching while the page is fed: no second request for the same seqs. */
  for (gsize i = 0; i < n_messages; i++)
    natter_seq_order_feed (self, messages[i]);
  self->fetching = FALSE;

  if (self->cursor >= self->known)
    return;
  if (self->cursor > before)
    natter_seq_order_catch_up (self);
  else if (self->policy->lost != NULL)
    {
      skip_gap (self);
      natter_seq_order_catch_up (self);
    }
  else if (g_tree_nnodes (self->held) > 0)
    schedule_fetch (self, self->policy->hold_ms);
}

/**
 * natter_seq_order_fetch_failed:
 * @self: a #NatterSeqOrder
 *
 * The policy's fetch got no answer (an error, the source away): asks again after the
 * policy's retry delay, if it has one.
 */
void
natter_seq_order_fetch_failed (NatterSeqOrder *self)
{
  self->fetching = FALSE;
  if (self->policy->retry_ms > 0 && self->cursor < self->known)
    schedule_fetch (self, self->policy->retry_ms);
}

void
natter_seq_order_reset (NatterSeqOrder *self)
{
  self->fetching = FALSE;
  g_clear_handle_id (&self->gap_source, g_source_remove);
}

void
natter_seq_order_drop_held (NatterSeqOrder *self)
{
  g_clear_handle_id (&self->gap_source, g_source_remove);
  g_tree_remove_all (self->held);
}
