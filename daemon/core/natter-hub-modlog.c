/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-hub"

#include "config.h"

#include "natter-error.h"
#include "natter-hub-private.h"

/* The moderation log of a room (docs/protocol.md, "Moderation log"): kicks, bans,
 * unbans, role and topic changes, as a feed of their own beside the messages. They are
 * not messages with seqs: clients count a room's seqs for resume and unread counts, and
 * outside clients expect every seq to be a message they can show. The moderation rules
 * (natter-hub-moderation.c) add an event once the store has made the change; whoever may
 * read the room's history may read its log. */

#define DEFAULT_LOG_LIMIT 50
#define MAX_LOG_LIMIT     100

static void
logged_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  if (!natter_store_log_moderation_finish (NATTER_STORE (source), result, &error))
    g_warning ("Could not add to the moderation log: %s", error->message);
}

void
natter_hub_log_moderation (NatterHub *self, const char *room, const char *kind,
                           const char *user, const char *by, const char *reason,
                           const char *role, const char *topic)
{
  NatterModerationEvent event = {
    .ts_ms = g_get_real_time () / 1000,
    .kind = (char *) kind,
    .user = (char *) user,
    .by = (char *) by,
    .reason = reason != NULL && *reason != '\0' ? (char *) reason : NULL,
    .role = (char *) role,
    .topic = topic != NULL && *topic != '\0' ? (char *) topic : NULL,
  };

  natter_store_log_moderation_async (self->store, room, &event, NULL, logged_cb, NULL);
}

static void
log_read_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) events = natter_store_moderation_log_finish (NATTER_STORE (source),
                                                                    result, &error);
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__ModerationLogPage page = NATTER__MODERATION_LOG_PAGE__INIT;
  g_autofree Natter__ModerationEvent *items = NULL;
  g_autofree Natter__ModerationEvent **ptrs = NULL;

  if (events == NULL)
    {
      natter_hub_reply_with_gerror (req, error);
      return;
    }
  items = g_new0 (Natter__ModerationEvent, events->len);
  ptrs = g_new0 (Natter__ModerationEvent *, events->len);
  for (guint i = 0; i < events->len; i++)
    {
      NatterModerationEvent *event = g_ptr_array_index (events, i);

      natter__moderation_event__init (&items[i]);
      items[i].has_ts = TRUE;
      items[i].ts = event->ts_ms;
      items[i].kind = event->kind;
      items[i].user = event->user;
      items[i].by = event->by;
      items[i].reason = event->reason;
      items[i].role = event->role;
      items[i].topic = event->topic;
      ptrs[i] = &items[i];
    }
  page.room = req->room;
  page.n_events = events->len;
  page.events = ptrs;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_MODERATION_LOG;
  frame.moderation_log = &page;
  natter_hub_reply (req, &frame);
}

void
natter_hub_handle_moderation_log (Request *req, ClientState *cs)
{
  Natter__ModerationLog *op = req->frame->moderation_log;
  Room *room;

  if (op->has_limit && (op->limit < 1 || op->limit > MAX_LOG_LIMIT))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST,
                                   "moderation_log.limit must be 1 to %u", MAX_LOG_LIMIT);
      return;
    }
  if (op->has_before_ts && op->before_ts <= 0)
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST,
                                   "moderation_log.before_ts must be above 0");
      return;
    }
  /* Whoever may read the room's history, and nobody else, with the same answers. */
  room = natter_hub_room_for_reading (req, cs->user, op->room);
  if (room == NULL)
    return;
  req->room = g_strdup (room->name);
  natter_store_moderation_log_async (req->hub->store, room->name,
                                     op->has_before_ts ? op->before_ts : 0,
                                     op->has_limit ? op->limit : DEFAULT_LOG_LIMIT, NULL,
                                     log_read_cb, natter_hub_request_ref (req));
}
