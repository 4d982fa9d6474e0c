/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-store"

#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "natter-error.h"
#include "natter-store.h"

G_DEFINE_INTERFACE (NatterStore, natter_store, G_TYPE_OBJECT)

static void
natter_store_default_init (NatterStoreInterface *iface)
{
}

#define STORE_IFACE(self) NATTER_STORE_GET_IFACE (self)

const char *
natter_store_get_epoch (NatterStore *self)
{
  g_return_val_if_fail (NATTER_IS_STORE (self), NULL);
  return STORE_IFACE (self)->get_epoch (self);
}

/**
 * natter_store_close:
 * @self: a #NatterStore
 *
 * Waits for every queued write to commit, then closes the database. Called once, at
 * shutdown, after the main loop stopped accepting work.
 */
void
natter_store_close (NatterStore *self)
{
  g_return_if_fail (NATTER_IS_STORE (self));
  if (STORE_IFACE (self)->close != NULL)
    STORE_IFACE (self)->close (self);
}

gboolean
natter_store_is_shared (NatterStore *self)
{
  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);
  return STORE_IFACE (self)->is_shared != NULL && STORE_IFACE (self)->is_shared (self);
}

gboolean
natter_store_is_ready (NatterStore *self)
{
  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);
  return STORE_IFACE (self)->is_ready == NULL || STORE_IFACE (self)->is_ready (self);
}

void
natter_store_append_metrics (NatterStore *self, GString *out)
{
  g_return_if_fail (NATTER_IS_STORE (self));
  if (STORE_IFACE (self)->append_metrics != NULL)
    STORE_IFACE (self)->append_metrics (self, out);
}

static gboolean
check_task (NatterStore *self, GAsyncResult *result)
{
  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return TRUE;
}

void
natter_store_load_async (NatterStore *self, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (NATTER_IS_STORE (self));
  STORE_IFACE (self)->load_async (self, cancellable, callback, user_data);
}

NatterStoreSnapshot *
natter_store_load_finish (NatterStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (check_task (self, result), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
natter_store_create_user_async (NatterStore *self, const char *name, const char *password_hash,
                                NatterAccountFlags flags, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (NATTER_IS_STORE (self));
  STORE_IFACE (self)->create_user_async (self, name, password_hash, flags, cancellable,
                                         callback, user_data);
}

gboolean
natter_store_create_user_finish (NatterStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (check_task (self, result), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
natter_store_get_user_async (NatterStore *self, const char *name, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (NATTER_IS_STORE (self));
  STORE_IFACE (self)->get_user_async (self, name, cancellable, callback, user_data);
}

NatterUserRecord *
natter_store_get_user_finish (NatterStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (check_task (self, result), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
natter_store_create_token_async (NatterStore *self, const char *user, const char *token_hash,
                                 gint64 expires_at_ms, const char *agent,
                                 GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data)
{
  g_return_if_fail (NATTER_IS_STORE (self));
  STORE_IFACE (self)->create_token_async (self, user, token_hash, expires_at_ms, agent,
                                          cancellable, callback, user_data);
}

gboolean
natter_store_create_token_finish (NatterStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (check_task (self, result), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
natter_store_lookup_token_async (NatterStore *self, const char *token_hash, gint64 now_ms,
                                 GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data)
{
  g_return_if_fail (NATTER_IS_STORE (self));
  STORE_IFACE (self)->lookup_token_async (self, token_hash, now_ms, cancellable, callback,
                                          user_data);
}

char *
natter_store_lookup_token_finish (NatterStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (check_task (self, result), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
natter_store_list_sessions_async (NatterStore *self, const char *user, gint64 now_ms,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data)
{
  g_return_if_fail (NATTER_IS_STORE (self));
  STORE_IFACE (self)->list_sessions_async (self, user, now_ms, cancellable, callback, user_data);
}

GPtrArray *
natter_store_list_sessions_finish (NatterStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (check_task (self, result), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
natter_store_revoke_tokens_async (NatterStore *self, const char *user, const char *session,
                                  const char *keep, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (NATTER_IS_STORE (self));
  STORE_IFACE (self)->revoke_tokens_async (self, user, session, keep, cancellable, callback,
                                           user_data);
}

GStrv
natter_store_revoke_tokens_finish (NatterStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (check_task (self, result), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
natter_store_set_password_async (NatterStore *self, const char *user, const char *password_hash,
                                 const char *keep, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (NATTER_IS_STORE (self));
  STORE_IFACE (self)->set_password_async (self, user, password_hash, keep, cancellable,
                                          callback, user_data);
}

GStrv
natter_store_set_password_finish (NatterStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (check_task (self, result), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
natter_store_set_account_state_async (NatterStore *self, const char *user,
                                      NatterAccountState state, GCancellable *cancellable,
                                      GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (NATTER_IS_STORE (self));
  STORE_IFACE (self)->set_account_state_async (self, user, state, cancellable, callback,
                                               user_data);
}

GStrv
natter_store_set_account_state_finish (NatterStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (check_task (self, result), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
natter_store_list_users_async (NatterStore *self, const char *query, guint limit,
                               GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer user_data)
{
  g_return_if_fail (NATTER_IS_STORE (self));
  STORE_IFACE (self)->list_users_async (self, query, limit, cancellable, callback, user_data);
}

GPtrArray *
natter_store_list_users_finish (NatterStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (check_task (self, result), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
natter_store_moderate_async (NatterStore *self, const NatterModeration *change,
                             GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data)
{
  g_return_if_fail (NATTER_IS_STORE (self));
  g_return_if_fail (change != NULL && change->user != NULL);
  STORE_IFACE (self)->moderate_async (self, change, cancellable, callback, user_data);
}

gboolean
natter_store_moderate_finish (NatterStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (check_task (self, result), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
natter_store_list_blocks_async (NatterStore *self, const char *user,
                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data)
{
  g_return_if_fail (NATTER_IS_STORE (self));
  g_return_if_fail (user != NULL);
  STORE_IFACE (self)->list_blocks_async (self, user, cancellable, callback, user_data);
}

GStrv
natter_store_list_blocks_finish (NatterStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (check_task (self, result), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
natter_store_directory_async (NatterStore *self, const char *query, guint limit,
                              GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data)
{
  g_return_if_fail (NATTER_IS_STORE (self));
  STORE_IFACE (self)->directory_async (self, query, limit, cancellable, callback, user_data);
}

GPtrArray *
natter_store_directory_finish (NatterStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (check_task (self, result), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
natter_store_list_invitations_async (NatterStore *self, const char *user,
                                     GCancellable *cancellable, GAsyncReadyCallback callback,
                                     gpointer user_data)
{
  g_return_if_fail (NATTER_IS_STORE (self));
  g_return_if_fail (user != NULL);
  STORE_IFACE (self)->list_invitations_async (self, user, cancellable, callback, user_data);
}

GPtrArray *
natter_store_list_invitations_finish (NatterStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (check_task (self, result), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
natter_store_log_moderation_async (NatterStore *self, const char *room,
                                   const NatterModerationEvent *event,
                                   GCancellable *cancellable, GAsyncReadyCallback callback,
                                   gpointer user_data)
{
  g_return_if_fail (NATTER_IS_STORE (self));
  g_return_if_fail (room != NULL && event != NULL);
  STORE_IFACE (self)->log_moderation_async (self, room, event, cancellable, callback, user_data);
}

gboolean
natter_store_log_moderation_finish (NatterStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (check_task (self, result), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
natter_store_moderation_log_async (NatterStore *self, const char *room, gint64 before_ts_ms,
                                   guint limit, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (NATTER_IS_STORE (self));
  g_return_if_fail (room != NULL);
  STORE_IFACE (self)->moderation_log_async (self, room, before_ts_ms, limit, cancellable,
                                            callback, user_data);
}

GPtrArray *
natter_store_moderation_log_finish (NatterStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (check_task (self, result), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
natter_store_create_room_async (NatterStore *self, const char *name, const char *kind,
                                const char *topic, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (NATTER_IS_STORE (self));
  STORE_IFACE (self)->create_room_async (self, name, kind, topic, cancellable, callback,
                                         user_data);
}

NatterRoomRecord *
natter_store_create_room_finish (NatterStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (check_task (self, result), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
natter_store_get_room_async (NatterStore *self, const char *name, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (NATTER_IS_STORE (self));
  STORE_IFACE (self)->get_room_async (self, name, cancellable, callback, user_data);
}

NatterRoomRecord *
natter_store_get_room_finish (NatterStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (check_task (self, result), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
natter_store_add_member_async (NatterStore *self, const char *room, const char *user,
                               GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer user_data)
{
  g_return_if_fail (NATTER_IS_STORE (self));
  STORE_IFACE (self)->add_member_async (self, room, user, cancellable, callback, user_data);
}

gboolean
natter_store_add_member_finish (NatterStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (check_task (self, result), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
natter_store_remove_member_async (NatterStore *self, const char *room, const char *user,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data)
{
  g_return_if_fail (NATTER_IS_STORE (self));
  STORE_IFACE (self)->remove_member_async (self, room, user, cancellable, callback, user_data);
}

gboolean
natter_store_remove_member_finish (NatterStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (check_task (self, result), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
natter_store_append_message_async (NatterStore *self, const char *room, const char *sender,
                                   const char *body, const char *client_msg_id,
                                   const char *kind, gint64 ts_ms, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (NATTER_IS_STORE (self));
  STORE_IFACE (self)->append_message_async (self, room, sender, body, client_msg_id, kind,
                                            ts_ms, cancellable, callback, user_data);
}

NatterAppendResult *
natter_store_append_message_finish (NatterStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (check_task (self, result), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
natter_store_change_message_async (NatterStore *self, const NatterMessageChange *change,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (NATTER_IS_STORE (self));
  g_return_if_fail (change != NULL);
  STORE_IFACE (self)->change_message_async (self, change, cancellable, callback, user_data);
}

NatterAppendResult *
natter_store_change_message_finish (NatterStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (check_task (self, result), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
natter_store_history_async (NatterStore *self, const char *room,
                            const NatterHistoryQuery *query, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (NATTER_IS_STORE (self));
  g_return_if_fail (query != NULL);
  STORE_IFACE (self)->history_async (self, room, query, cancellable, callback, user_data);
}

NatterHistoryResult *
natter_store_history_finish (NatterStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (check_task (self, result), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
natter_store_set_read_async (NatterStore *self, const char *room, const char *user, guint64 seq,
                             GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data)
{
  g_return_if_fail (NATTER_IS_STORE (self));
  STORE_IFACE (self)->set_read_async (self, room, user, seq, cancellable, callback, user_data);
}

gboolean
natter_store_set_read_finish (NatterStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (check_task (self, result), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
natter_store_set_notification_level_async (NatterStore *self, const char *room, const char *user,
                                           NatterNotificationLevel level,
                                           GCancellable *cancellable, GAsyncReadyCallback callback,
                                           gpointer user_data)
{
  g_return_if_fail (NATTER_IS_STORE (self));
  STORE_IFACE (self)->set_notification_level_async (self, room, user, level, cancellable,
                                                    callback, user_data);
}

gboolean
natter_store_set_notification_level_finish (NatterStore *self, GAsyncResult *result,
                                            GError **error)
{
  g_return_val_if_fail (check_task (self, result), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
natter_store_search_async (NatterStore *self, const char *user, const char *query,
                           const char *room, guint limit, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (NATTER_IS_STORE (self));
  STORE_IFACE (self)->search_async (self, user, query, room, limit, cancellable, callback,
                                    user_data);
}

GPtrArray *
natter_store_search_finish (NatterStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (check_task (self, result), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* Records. Messages are allocated with malloc-compatible g_malloc so that
 * protobuf_c_message_free_unpacked(…, NULL) and the codecs can treat them like any
 * unpacked message. */

Natter__Message *
natter_message_new (const char *room, guint64 seq, gint64 ts, const char *sender,
                    const char *body, const char *client_msg_id, const char *kind)
{
  Natter__Message *message = g_malloc (sizeof *message);

  natter__message__init (message);
  message->room = g_strdup (room);
  message->has_seq = TRUE;
  message->seq = seq;
  message->has_ts = TRUE;
  message->ts = ts;
  message->sender = g_strdup (sender);
  message->body = g_strdup (body);
  message->client_msg_id = g_strdup (client_msg_id);
  message->kind = g_strdup (kind);
  return message;
}

/* Through the wire format, so that every field, repeated ones too, is copied. */
Natter__Message *
natter_message_copy (const Natter__Message *message)
{
  gsize len = natter__message__get_packed_size (message);
  g_autofree guint8 *buf = g_malloc (MAX (len, 1));

  natter__message__pack (message, buf);
  return natter__message__unpack (NULL, len, buf);
}

void
natter_message_free (Natter__Message *message)
{
  if (message != NULL)
    protobuf_c_message_free_unpacked (&message->base, NULL);
}

void
natter_message_set_refs (Natter__Message *message, gboolean has_target, guint64 target,
                         gint64 edited_ts, gboolean has_active, gboolean active)
{
  gboolean is_change = g_strcmp0 (message->kind, NATTER_MESSAGE_KIND_EDIT) == 0 ||
                       g_strcmp0 (message->kind, NATTER_MESSAGE_KIND_DELETE) == 0 ||
                       g_strcmp0 (message->kind, NATTER_MESSAGE_KIND_REACTION) == 0;

  if (has_target && is_change)
    {
      message->has_target_seq = TRUE;
      message->target_seq = target;
    }
  else if (has_target)
    {
      message->has_reply_to = TRUE;
      message->reply_to = target;
    }
  if (edited_ts != 0)
    {
      message->has_edited_ts = TRUE;
      message->edited_ts = edited_ts;
    }
  if (has_active)
    {
      message->has_active = TRUE;
      message->active = active;
    }
}

void
natter_message_add_reaction (Natter__Message *message, const char *emoji, const char *user)
{
  Natter__Reaction *reaction = NULL;

  if (message->n_reactions > 0 &&
      g_strcmp0 (message->reactions[message->n_reactions - 1]->emoji, emoji) == 0)
    reaction = message->reactions[message->n_reactions - 1];
  else
    {
      reaction = g_malloc (sizeof *reaction);
      natter__reaction__init (reaction);
      reaction->emoji = g_strdup (emoji);
      message->reactions = g_realloc_n (message->reactions, message->n_reactions + 1,
                                        sizeof *message->reactions);
      message->reactions[message->n_reactions++] = reaction;
    }
  reaction->users = g_realloc_n (reaction->users, reaction->n_users + 1,
                                 sizeof *reaction->users);
  reaction->users[reaction->n_users++] = g_strdup (user);
}

static gint
compare_reaction_pairs (gconstpointer a, gconstpointer b, gpointer user_data)
{
  const char * const *x = a, * const *y = b;
  int order = strcmp (x[0], y[0]);

  return order != 0 ? order : strcmp (x[1], y[1]);
}

/**
 * natter_message_apply_change:
 * @target: a message in its current state
 * @change: an edit, deletion or reaction of @target (kind NATTER_MESSAGE_KIND_EDIT, _DELETE
 *   or _REACTION)
 *
 * What a front end that keeps copies of messages does with a change as it comes, so that
 * its copy reads as `history` would: an edit brings the new body, its time as edited_ts and
 * its mentions; a deletion leaves kind NATTER_MESSAGE_KIND_DELETED without body, mentions
 * or reactions; a reaction adds or takes back the sender's emoji. Reactions are listed as
 * the stores list them: by emoji, then by user (bytewise).
 *
 * Returns: (transfer full): @target as @change leaves it
 */
Natter__Message *
natter_message_apply_change (const Natter__Message *target, const Natter__Message *change)
{
  Natter__Message next = *target;
  g_autoptr(Natter__Message) scratch = NULL;

  g_return_val_if_fail (target != NULL, NULL);
  g_return_val_if_fail (change != NULL, NULL);

  if (g_strcmp0 (change->kind, NATTER_MESSAGE_KIND_EDIT) == 0)
    {
      next.body = change->body;
      next.has_edited_ts = TRUE;
      next.edited_ts = change->ts;
      next.n_mentions = change->n_mentions;
      next.mentions = change->mentions;
    }
  else if (g_strcmp0 (change->kind, NATTER_MESSAGE_KIND_DELETE) == 0)
    {
      next.body = (char *) "";
      next.kind = (char *) NATTER_MESSAGE_KIND_DELETED;
      next.has_edited_ts = FALSE;
      next.edited_ts = 0;
      next.n_mentions = 0;
      next.mentions = NULL;
      next.n_reactions = 0;
      next.reactions = NULL;
    }
  else if (g_strcmp0 (change->kind, NATTER_MESSAGE_KIND_REACTION) == 0 &&
           change->body != NULL && change->sender != NULL)
    {
      gboolean active = !change->has_active || change->active;
      g_autoptr(GPtrArray) pairs = g_ptr_array_new ();

      /* (emoji, user) pairs, sorted as the stores' history lists them. */
      for (gsize i = 0; i < target->n_reactions; i++)
        for (gsize j = 0; j < target->reactions[i]->n_users; j++)
          {
            if (g_strcmp0 (target->reactions[i]->emoji, change->body) == 0 &&
                g_strcmp0 (target->reactions[i]->users[j], change->sender) == 0)
              continue;
            g_ptr_array_add (pairs, target->reactions[i]->emoji);
            g_ptr_array_add (pairs, target->reactions[i]->users[j]);
          }
      if (active)
        {
          g_ptr_array_add (pairs, change->body);
          g_ptr_array_add (pairs, change->sender);
        }
      g_qsort_with_data (pairs->pdata, pairs->len / 2, 2 * sizeof (gpointer),
                         compare_reaction_pairs, NULL);
      scratch = natter_message_new (NULL, 0, 0, NULL, NULL, NULL, NULL);
      for (guint i = 0; i + 1 < pairs->len; i += 2)
        natter_message_add_reaction (scratch, pairs->pdata[i], pairs->pdata[i + 1]);
      next.n_reactions = scratch->n_reactions;
      next.reactions = scratch->reactions;
    }
  return natter_message_copy (&next);
}

gboolean
natter_store_check_change (const char *kind, const char *user, gboolean moderator,
                           guint64 target_seq, const char *target_sender,
                           const char *target_kind, GError **error)
{
  if (g_str_equal (target_kind, NATTER_MESSAGE_KIND_DELETED))
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND,
                   "Message %" G_GUINT64_FORMAT " was deleted", target_seq);
      return FALSE;
    }
  if (!g_str_equal (target_kind, NATTER_MESSAGE_KIND_TEXT) &&
      !g_str_equal (target_kind, NATTER_MESSAGE_KIND_BROADCAST))
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                   "Message %" G_GUINT64_FORMAT " is a change, not a message", target_seq);
      return FALSE;
    }
  if (g_str_equal (kind, NATTER_MESSAGE_KIND_EDIT) && g_strcmp0 (user, target_sender) != 0)
    {
      g_set_error_literal (error, NATTER_ERROR, NATTER_ERROR_FORBIDDEN,
                           "Only its sender may edit a message");
      return FALSE;
    }
  if (g_str_equal (kind, NATTER_MESSAGE_KIND_DELETE) && !moderator &&
      g_strcmp0 (user, target_sender) != 0)
    {
      g_set_error_literal (error, NATTER_ERROR, NATTER_ERROR_FORBIDDEN,
                           "Only its sender or a moderator may delete a message");
      return FALSE;
    }
  return TRUE;
}

void
natter_user_record_free (NatterUserRecord *record)
{
  if (record == NULL)
    return;
  g_free (record->name);
  if (record->password_hash != NULL)
    explicit_bzero (record->password_hash, strlen (record->password_hash));
  g_free (record->password_hash);
  g_free (record);
}

void
natter_session_record_free (NatterSessionRecord *record)
{
  if (record == NULL)
    return;
  g_free (record->id);
  g_free (record->agent);
  g_free (record);
}

/**
 * natter_store_session_id:
 *
 * A session's id is the start of its token's hash: stable across nodes and restarts,
 * derived without a store round trip, and no help in forging the token (which the hash
 * does not reveal).
 *
 * Returns: (transfer full): the id
 */
char *
natter_store_session_id (const char *token_hash)
{
  return g_strndup (token_hash, NATTER_SESSION_ID_CHARS);
}

NatterMemberRecord *
natter_member_record_new (const char *user, guint64 read_seq)
{
  NatterMemberRecord *record = g_new0 (NatterMemberRecord, 1);

  record->user = g_strdup (user);
  record->read_seq = read_seq;
  return record;
}

void
natter_member_record_free (NatterMemberRecord *record)
{
  if (record == NULL)
    return;
  g_free (record->user);
  g_free (record);
}

void
natter_moderation_event_free (NatterModerationEvent *event)
{
  if (event == NULL)
    return;
  g_free (event->kind);
  g_free (event->user);
  g_free (event->by);
  g_free (event->reason);
  g_free (event->role);
  g_free (event->topic);
  g_free (event);
}

void
natter_directory_entry_free (NatterDirectoryEntry *entry)
{
  if (entry == NULL)
    return;
  g_free (entry->name);
  g_free (entry->topic);
  g_free (entry);
}

void
natter_invitation_free (NatterInvitation *invitation)
{
  if (invitation == NULL)
    return;
  g_free (invitation->room);
  g_free (invitation->by);
  g_free (invitation);
}

static const char * const role_names[] = {
  [NATTER_ROLE_MEMBER] = "member",
  [NATTER_ROLE_MODERATOR] = "moderator",
  [NATTER_ROLE_OWNER] = "owner",
};

const char *
natter_role_to_string (NatterRole role)
{
  g_return_val_if_fail ((guint) role < G_N_ELEMENTS (role_names), NULL);
  return role_names[role];
}

gboolean
natter_role_from_string (const char *name, NatterRole *out_role)
{
  for (guint i = 0; i < G_N_ELEMENTS (role_names); i++)
    {
      if (g_strcmp0 (name, role_names[i]) == 0)
        {
          *out_role = (NatterRole) i;
          return TRUE;
        }
    }
  return FALSE;
}

static const char * const notification_level_names[] = {
  [NATTER_NOTIFICATION_LEVEL_ALL] = "all",
  [NATTER_NOTIFICATION_LEVEL_MENTIONS] = "mentions",
  [NATTER_NOTIFICATION_LEVEL_NONE] = "none",
};

const char *
natter_notification_level_to_string (NatterNotificationLevel level)
{
  g_return_val_if_fail ((guint) level < G_N_ELEMENTS (notification_level_names), NULL);
  return notification_level_names[level];
}

gboolean
natter_notification_level_from_string (const char *name, NatterNotificationLevel *out_level)
{
  for (guint i = 0; i < G_N_ELEMENTS (notification_level_names); i++)
    {
      if (g_strcmp0 (name, notification_level_names[i]) == 0)
        {
          *out_level = (NatterNotificationLevel) i;
          return TRUE;
        }
    }
  return FALSE;
}

NatterRoomRecord *
natter_room_record_new (const char *name, const char *kind, const char *topic,
                        guint64 last_seq)
{
  NatterRoomRecord *record = g_new0 (NatterRoomRecord, 1);

  record->name = g_strdup (name);
  record->kind = g_strdup (kind);
  record->topic = g_strdup (topic);
  record->last_seq = last_seq;
  record->members = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_member_record_free);
  record->invited = g_ptr_array_new_with_free_func (g_free);
  record->banned = g_ptr_array_new_with_free_func (g_free);
  return record;
}

void
natter_room_record_free (NatterRoomRecord *record)
{
  if (record == NULL)
    return;
  g_free (record->name);
  g_free (record->kind);
  g_free (record->topic);
  g_clear_pointer (&record->members, g_ptr_array_unref);
  g_clear_pointer (&record->invited, g_ptr_array_unref);
  g_clear_pointer (&record->banned, g_ptr_array_unref);
  g_free (record);
}

void
natter_store_snapshot_free (NatterStoreSnapshot *snapshot)
{
  if (snapshot == NULL)
    return;
  g_clear_pointer (&snapshot->rooms, g_ptr_array_unref);
  g_free (snapshot);
}

void
natter_append_result_free (NatterAppendResult *result)
{
  if (result == NULL)
    return;
  natter_message_free (result->message);
  g_free (result);
}

void
natter_history_result_free (NatterHistoryResult *result)
{
  if (result == NULL)
    return;
  g_clear_pointer (&result->messages, g_ptr_array_unref);
  g_free (result);
}

void
natter_store_get_last_seqs_async (NatterStore *self, const char * const *rooms,
                                  GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (NATTER_IS_STORE (self));
  g_return_if_fail (STORE_IFACE (self)->get_last_seqs_async != NULL);
  STORE_IFACE (self)->get_last_seqs_async (self, rooms, cancellable, callback, user_data);
}

GHashTable *
natter_store_get_last_seqs_finish (NatterStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (check_task (self, result), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}
