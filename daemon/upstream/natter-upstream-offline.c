/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-upstream"

#include "config.h"

#include <stdlib.h>

#include "natter-upstream-private.h"

/* Answers from the local copy while the link is down: joins, room lists, history and
 * search. */

static int
compare_strings (gconstpointer a,
                 gconstpointer b)
{
  return g_strcmp0 (*(const char * const *) a, *(const char * const *) b);
}

static void
reply_gerror (UpstreamRequest *req,
              const GError    *error)
{
  natter_upstream_reply_error (req, natter_error_code_for (error), "%s", error->message);
}

static void
offline_joined (NatterUpstream  *self,
                UpstreamRequest *req)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Joined joined = NATTER__JOINED__INIT;
  g_autofree char **members = NULL;
  g_autoptr(GPtrArray) owners = g_ptr_array_new ();
  g_autoptr(GPtrArray) moderators = g_ptr_array_new ();
  const char *name = req->frame->join->room;
  UpstreamRoom *room = name != NULL ? g_hash_table_lookup (self->rooms, name) : NULL;
  guint n;

  if (room == NULL)
    {
      natter_upstream_reply_error (req, NATTER_ERROR_UNAVAILABLE,
                                   "Not connected to %s: rooms can only be joined online",
                                   natter_upstream_server_label (self));
      return;
    }
  members = (char **) g_hash_table_get_keys_as_array (room->members, &n);
  qsort (members, n, sizeof (char *), compare_strings);
  joined.room = room->name;
  joined.has_last_seq = TRUE;
  joined.last_seq = natter_upstream_room_seen (room);
  joined.kind = room->kind;
  joined.topic = room->topic;
  joined.has_private_ = TRUE;
  joined.private_ = room->is_private;
  joined.role = room->role;
  joined.notification_level = room->notification_level;
  /* Nobody is known to be online while we are not. */
  if (!g_str_equal (room->kind, NATTER_ROOM_KIND_SYSTEM))
    {
      joined.members = members;
      joined.n_members = n;
      natter_upstream_room_roles (room, owners, moderators);
      joined.owners = (char **) owners->pdata;
      joined.n_owners = owners->len;
      joined.moderators = (char **) moderators->pdata;
      joined.n_moderators = moderators->len;
    }
  frame.event_case = NATTER__SERVER_FRAME__EVENT_JOINED;
  frame.joined = &joined;
  natter_upstream_reply (req, &frame);
}

static void
offline_room_list (NatterUpstream  *self,
                   UpstreamRequest *req)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__RoomList list = NATTER__ROOM_LIST__INIT;
  g_autofree Natter__RoomInfo *storage = NULL;
  g_autofree Natter__RoomInfo **ptrs = NULL;

  ptrs = natter_upstream_local_room_infos (self, &list.n_rooms, &storage);
  list.rooms = ptrs;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_ROOM_LIST;
  frame.room_list = &list;
  natter_upstream_reply (req, &frame);
}

static void
offline_history_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(UpstreamRequest) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterHistoryResult) history = natter_store_history_finish (NATTER_STORE (source),
                                                                         result, &error);
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__HistoryPage page = NATTER__HISTORY_PAGE__INIT;

  if (history == NULL)
    {
      reply_gerror (req, error);
      return;
    }
  page.room = req->frame->history->room;
  page.messages = (Natter__Message **) history->messages->pdata;
  page.n_messages = history->messages->len;
  page.has_has_more = TRUE;
  page.has_more = history->has_more;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_HISTORY;
  frame.history = &page;
  natter_upstream_reply (req, &frame);
}

static void
offline_search_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(UpstreamRequest) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) messages = natter_store_search_finish (NATTER_STORE (source), result,
                                                              &error);
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__SearchResults results = NATTER__SEARCH_RESULTS__INIT;

  if (messages == NULL)
    {
      reply_gerror (req, error);
      return;
    }
  results.messages = (Natter__Message **) messages->pdata;
  results.n_messages = messages->len;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_SEARCH_RESULTS;
  frame.search_results = &results;
  natter_upstream_reply (req, &frame);
}

/* Answers a read request from the local copy. Takes ownership of @req. */
void
natter_upstream_answer_offline (NatterUpstream  *self,
                                UpstreamRequest *req)
{
  g_autoptr(UpstreamRequest) owned = req;
  NatterStore *store = self->cache != NULL ? natter_upstream_cache_get_store (self->cache) : NULL;

  switch ((int) req->frame->op_case)
    {
    case NATTER__CLIENT_FRAME__OP_JOIN:
      offline_joined (self, req);
      return;
    case NATTER__CLIENT_FRAME__OP_ROOMS:
      offline_room_list (self, req);
      return;
    default:
      break;
    }

  if (store == NULL)
    {
      natter_upstream_reply_error (req, NATTER_ERROR_UNAVAILABLE,
                                   "Not connected to %s, and there is no local "
                                   "copy of the history", natter_upstream_server_label (self));
      return;
    }

  if (req->frame->op_case == NATTER__CLIENT_FRAME__OP_HISTORY)
    {
      const Natter__History *op = req->frame->history;
      NatterHistoryQuery query = { 0, };

      if (op->room == NULL || g_hash_table_lookup (self->rooms, op->room) == NULL)
        {
          natter_upstream_reply_error (req, NATTER_ERROR_NOT_FOUND,
                                       "No room “%s” in the local copy",
                                       op->room != NULL ? op->room : "");
          return;
        }
      if (op->has_limit && (op->limit < 1 || op->limit > HISTORY_PAGE_MAX))
        {
          natter_upstream_reply_error (req, NATTER_ERROR_BAD_REQUEST,
                                       "history.limit must be 1 to %u", HISTORY_PAGE_MAX);
          return;
        }
      query.has_before = op->has_before_seq;
      query.before_seq = op->before_seq;
      query.has_after = op->has_after_seq;
      query.after_seq = op->after_seq;
      query.limit = op->has_limit ? op->limit : HISTORY_DEFAULT;
      natter_store_history_async (store, op->room, &query, NULL, offline_history_cb,
                                  g_steal_pointer (&owned));
      return;
    }

  if (req->frame->op_case == NATTER__CLIENT_FRAME__OP_SEARCH)
    {
      const Natter__Search *op = req->frame->search;

      if (op->query == NULL || *op->query == '\0' || g_utf8_strlen (op->query, -1) > 256)
        {
          natter_upstream_reply_error (req, NATTER_ERROR_BAD_REQUEST,
                                       "search.query must be 1 to 256 characters");
          return;
        }
      if (op->has_limit && (op->limit < 1 || op->limit > SEARCH_MAX))
        {
          natter_upstream_reply_error (req, NATTER_ERROR_BAD_REQUEST,
                                       "search.limit must be 1 to %u", SEARCH_MAX);
          return;
        }
      natter_store_search_async (store, self->user, op->query, op->room,
                                 op->has_limit ? op->limit : SEARCH_DEFAULT, NULL,
                                 offline_search_cb, g_steal_pointer (&owned));
      return;
    }

  natter_upstream_reply_error (req, NATTER_ERROR_UNAVAILABLE, "Not connected to %s",
                               natter_upstream_server_label (self));
}
