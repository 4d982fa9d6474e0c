/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-upstream"

#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>

#include "natter-error.h"
#include "natter-store-sqlite.h"
#include "natter-upstream-cache.h"

#define STATE_GROUP "upstream"

struct _NatterUpstreamCache
{
  GObject              parent_instance;

  NatterStore         *store;       /* (owned) (nullable) NULL once closed */
  NatterStoreSnapshot *snapshot;    /* (owned) (nullable) */
  char                *db_path;     /* (owned) */
  char                *state_path;  /* (owned) */
  char                *server;      /* (owned) */
  char                *user;        /* (owned) */
  char                *epoch;       /* (owned) (nullable) */
  gboolean             warned;      /* a write failed: said once in the log */
};

G_DEFINE_FINAL_TYPE (NatterUpstreamCache, natter_upstream_cache, G_TYPE_OBJECT)

static void
natter_upstream_cache_dispose (GObject *object)
{
  NatterUpstreamCache *self = NATTER_UPSTREAM_CACHE (object);

  /* Closing waits for the writer thread: the owner normally did it off the main loop. */
  if (self->store != NULL)
    natter_store_close (self->store);
  g_clear_object (&self->store);
  g_clear_pointer (&self->snapshot, natter_store_snapshot_free);

  G_OBJECT_CLASS (natter_upstream_cache_parent_class)->dispose (object);
}

static void
natter_upstream_cache_finalize (GObject *object)
{
  NatterUpstreamCache *self = NATTER_UPSTREAM_CACHE (object);

  g_free (self->db_path);
  g_free (self->state_path);
  g_free (self->server);
  g_free (self->user);
  g_free (self->epoch);

  G_OBJECT_CLASS (natter_upstream_cache_parent_class)->finalize (object);
}

static void
natter_upstream_cache_class_init (NatterUpstreamCacheClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = natter_upstream_cache_dispose;
  object_class->finalize = natter_upstream_cache_finalize;
}

static void
natter_upstream_cache_init (NatterUpstreamCache *self)
{
}

/* ---------------------------------------------------------------------------------- */
/* Opening */

/* Runs in a worker thread: creating the directory, reading the state file and opening
 * (or migrating) the database all touch the disk. */
static void
open_in_thread (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  NatterUpstreamCache *self = task_data;
  g_autoptr(GKeyFile) state = g_key_file_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_path_get_dirname (self->db_path);

  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      int saved_errno = errno;

      g_task_return_new_error (task, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                               "cannot create %s: %s", dir, g_strerror (saved_errno));
      return;
    }
  if (g_key_file_load_from_file (state, self->state_path, G_KEY_FILE_NONE, NULL))
    {
      g_autofree char *server = g_key_file_get_string (state, STATE_GROUP, "server", NULL);
      g_autofree char *user = g_key_file_get_string (state, STATE_GROUP, "user", NULL);

      /* A hash collision, however unlikely, must not mix two accounts. */
      if (g_strcmp0 (server, self->server) == 0 && g_strcmp0 (user, self->user) == 0)
        self->epoch = g_key_file_get_string (state, STATE_GROUP, "epoch", NULL);
    }
  self->store = natter_store_sqlite_new (self->db_path, NATTER_DURABILITY_NORMAL, &error);
  if (self->store == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_task_return_boolean (task, TRUE);
}

static void
loaded_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  NatterUpstreamCache *self = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  self->snapshot = natter_store_load_finish (NATTER_STORE (source), result, &error);
  if (self->snapshot == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_task_return_pointer (task, g_object_ref (self), g_object_unref);
}

static void
opened_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GTask) outer = user_data;
  NatterUpstreamCache *self = g_task_get_task_data (outer);
  GCancellable *cancellable = g_task_get_cancellable (outer);
  g_autoptr(GError) error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      g_task_return_error (outer, g_steal_pointer (&error));
      return;
    }
  natter_store_load_async (self->store, cancellable, loaded_cb, g_steal_pointer (&outer));
}

/**
 * natter_upstream_cache_open_async:
 * @data_dir: natterd's data directory
 * @server: the server's WebSocket URL
 * @user: the account
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the cache is open and its rooms are loaded
 * @user_data: data for @callback
 *
 * Opens (creating if needed) the cache of @user on @server, off the main loop.
 */
void
natter_upstream_cache_open_async (const char          *data_dir,
                                  const char          *server,
                                  const char          *user,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_autoptr(GTask) outer = NULL;
  g_autoptr(GTask) inner = NULL;
  g_autoptr(NatterUpstreamCache) self = NULL;
  g_autofree char *key = NULL;
  g_autofree char *hash = NULL;
  g_autofree char *stem = NULL;

  g_return_if_fail (data_dir != NULL && server != NULL && user != NULL);

  self = g_object_new (NATTER_TYPE_UPSTREAM_CACHE, NULL);
  self->server = g_strdup (server);
  self->user = g_strdup (user);
  key = g_strconcat (server, "\n", user, NULL);
  hash = g_compute_checksum_for_string (G_CHECKSUM_SHA256, key, -1);
  stem = g_strdup_printf ("upstream-%.16s", hash);
  self->db_path = g_strconcat (data_dir, G_DIR_SEPARATOR_S, stem, ".db", NULL);
  self->state_path = g_strconcat (data_dir, G_DIR_SEPARATOR_S, stem, ".ini", NULL);

  outer = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (outer, natter_upstream_cache_open_async);
  g_task_set_task_data (outer, g_object_ref (self), g_object_unref);

  inner = g_task_new (NULL, cancellable, opened_cb, g_steal_pointer (&outer));
  g_task_set_task_data (inner, g_object_ref (self), g_object_unref);
  g_task_run_in_thread (inner, open_in_thread);
}

/**
 * natter_upstream_cache_open_finish:
 *
 * Returns: (transfer full): the open cache, or %NULL with @error set
 */
NatterUpstreamCache *
natter_upstream_cache_open_finish (GAsyncResult  *result,
                                   GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == natter_upstream_cache_open_async,
                        NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

NatterStore *
natter_upstream_cache_get_store (NatterUpstreamCache *self)
{
  g_return_val_if_fail (NATTER_IS_UPSTREAM_CACHE (self), NULL);
  return self->store;
}

const char *
natter_upstream_cache_get_user (NatterUpstreamCache *self)
{
  g_return_val_if_fail (NATTER_IS_UPSTREAM_CACHE (self), NULL);
  return self->user;
}

/**
 * natter_upstream_cache_steal_snapshot:
 *
 * Returns: (transfer full) (nullable): the rooms read at open, once
 */
NatterStoreSnapshot *
natter_upstream_cache_steal_snapshot (NatterUpstreamCache *self)
{
  g_return_val_if_fail (NATTER_IS_UPSTREAM_CACHE (self), NULL);
  return g_steal_pointer (&self->snapshot);
}

const char *
natter_upstream_cache_get_epoch (NatterUpstreamCache *self)
{
  g_return_val_if_fail (NATTER_IS_UPSTREAM_CACHE (self), NULL);
  return self->epoch;
}

static void
state_saved_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!g_file_replace_contents_finish (G_FILE (source), result, NULL, &error))
    g_warning ("Cannot save the upstream cache state: %s", error->message);
}

/**
 * natter_upstream_cache_set_epoch:
 *
 * Records that the cached positions are those of the server's store @epoch.
 */
void
natter_upstream_cache_set_epoch (NatterUpstreamCache *self,
                                 const char          *epoch)
{
  g_autoptr(GKeyFile) state = g_key_file_new ();
  g_autoptr(GFile) file = NULL;
  g_autoptr(GBytes) bytes = NULL;
  gsize len;
  char *data;

  g_return_if_fail (NATTER_IS_UPSTREAM_CACHE (self));
  g_return_if_fail (epoch != NULL);

  if (g_strcmp0 (self->epoch, epoch) == 0)
    return;
  g_free (self->epoch);
  self->epoch = g_strdup (epoch);

  g_key_file_set_string (state, STATE_GROUP, "server", self->server);
  g_key_file_set_string (state, STATE_GROUP, "user", self->user);
  g_key_file_set_string (state, STATE_GROUP, "epoch", epoch);
  data = g_key_file_to_data (state, &len, NULL);
  bytes = g_bytes_new_take (data, len);
  file = g_file_new_for_path (self->state_path);
  g_file_replace_contents_bytes_async (file, bytes, NULL, FALSE, G_FILE_CREATE_PRIVATE, NULL,
                                       state_saved_cb, NULL);
}

/* ---------------------------------------------------------------------------------- */
/* Writes */

static void
write_failed (NatterUpstreamCache *self,
              const char          *what,
              const GError        *error)
{
  /* Shutting down, or a closed store: nothing to say. */
  if (self->store == NULL || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (!self->warned)
    g_warning ("Cannot update the local copy of the history (%s): %s", what, error->message);
  else
    g_debug ("Cannot update the local copy of the history (%s): %s", what, error->message);
  self->warned = TRUE;
}

static void
room_created_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(NatterUpstreamCache) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterRoomRecord) record = natter_store_create_room_finish (NATTER_STORE (source),
                                                                       result, &error);

  if (record == NULL)
    write_failed (self, "room", error);
}

static void
member_added_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(NatterUpstreamCache) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_store_add_member_finish (NATTER_STORE (source), result, &error))
    write_failed (self, "member", error);
}

static void
member_removed_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(NatterUpstreamCache) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_store_remove_member_finish (NATTER_STORE (source), result, &error))
    write_failed (self, "member", error);
}

/**
 * natter_upstream_cache_add_room:
 *
 * Makes sure the room exists with the account as a member, so that messages can be
 * appended and searched.
 */
void
natter_upstream_cache_add_room (NatterUpstreamCache *self,
                                const char          *name,
                                const char          *kind,
                                const char          *topic)
{
  g_return_if_fail (NATTER_IS_UPSTREAM_CACHE (self));

  if (self->store == NULL)
    return;
  natter_store_create_room_async (self->store, name, kind, topic, NULL, room_created_cb,
                                  g_object_ref (self));
  natter_upstream_cache_add_member (self, name, self->user);
}

void
natter_upstream_cache_add_member (NatterUpstreamCache *self,
                                  const char          *room,
                                  const char          *user)
{
  g_return_if_fail (NATTER_IS_UPSTREAM_CACHE (self));

  if (self->store != NULL)
    natter_store_add_member_async (self->store, room, user, NULL, member_added_cb,
                                   g_object_ref (self));
}

void
natter_upstream_cache_remove_member (NatterUpstreamCache *self,
                                     const char          *room,
                                     const char          *user)
{
  g_return_if_fail (NATTER_IS_UPSTREAM_CACHE (self));

  if (self->store != NULL)
    natter_store_remove_member_async (self->store, room, user, NULL, member_removed_cb,
                                      g_object_ref (self));
}

typedef struct
{
  NatterUpstreamCache *self;     /* (owned) */
  guint64              seq;
  gboolean             change;   /* a reply or change, through change_message */
} Append;

static void
append_free (Append *append)
{
  g_clear_object (&append->self);
  g_free (append);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Append, append_free)


static void
appended_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(Append) append = user_data;
  NatterUpstreamCache *self = append->self;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterAppendResult) appended = NULL;
  guint64 expected = append->seq;

  if (append->change)
    appended = natter_store_change_message_finish (NATTER_STORE (source), result, &error);
  else
    appended = natter_store_append_message_finish (NATTER_STORE (source), result, &error);
  if (appended == NULL)
    {
      write_failed (self, "message", error);
      return;
    }
  /* The copy is only useful while its seqs are the server's. */
  if (appended->duplicate || appended->message->seq != expected)
    {
      g_autoptr(GError) mismatch = g_error_new (NATTER_ERROR, NATTER_ERROR_INTERNAL,
                                                "%s #%" G_GUINT64_FORMAT " was stored as #%"
                                                G_GUINT64_FORMAT,
                                                appended->message->room, expected,
                                                appended->message->seq);
      write_failed (self, "message order", mismatch);
    }
}

static gboolean
is_change (const Natter__Message *message)
{
  return g_strcmp0 (message->kind, NATTER_MESSAGE_KIND_EDIT) == 0 ||
         g_strcmp0 (message->kind, NATTER_MESSAGE_KIND_DELETE) == 0 ||
         g_strcmp0 (message->kind, NATTER_MESSAGE_KIND_REACTION) == 0;
}

/**
 * natter_upstream_cache_append:
 * @message: the next message of its room: seq 1, or one past the last one appended
 *
 * Appends @message; the store gives it the same seq, since rooms are copied in order.
 */
void
natter_upstream_cache_append (NatterUpstreamCache   *self,
                              const Natter__Message *message)
{
  Append *append;

  g_return_if_fail (NATTER_IS_UPSTREAM_CACHE (self));

  if (self->store == NULL || message->room == NULL)
    return;
  /* A reply keeps what it answers, and a change changes its copy of the target as the
   * server's store did: a deletion erases the text here too (store, index, log). */
  if (is_change (message) || (message->has_reply_to && message->reply_to != 0))
    {
      NatterMessageChange change = {
        .room = message->room,
        .sender = message->sender != NULL ? message->sender : "",
        .kind = message->kind != NULL ? message->kind : NATTER_MESSAGE_KIND_TEXT,
        .body = message->body != NULL ? message->body : "",
        .client_msg_id = message->client_msg_id,
        .target_seq = is_change (message) ? message->target_seq : message->reply_to,
        .active = !message->has_active || message->active,
        /* The server checked who may: a copy takes what it was told. */
        .moderator = TRUE,
        .ts_ms = message->ts,
        .mirror = TRUE,
      };

      append = g_new0 (Append, 1);
      append->self = g_object_ref (self);
      append->seq = message->seq;
      append->change = TRUE;
      natter_store_change_message_async (self->store, &change, NULL, appended_cb, append);
      return;
    }
  append = g_new0 (Append, 1);
  append->self = g_object_ref (self);
  append->seq = message->seq;
  natter_store_append_message_async (self->store, message->room,
                                     message->sender != NULL ? message->sender : "",
                                     message->body != NULL ? message->body : "",
                                     message->client_msg_id,
                                     message->kind != NULL ? message->kind
                                                           : NATTER_MESSAGE_KIND_TEXT,
                                     message->ts, NULL, appended_cb, append);
}

static void
read_set_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(NatterUpstreamCache) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_store_set_read_finish (NATTER_STORE (source), result, &error))
    write_failed (self, "read marker", error);
}

void
natter_upstream_cache_set_read (NatterUpstreamCache *self,
                                const char          *room,
                                guint64              seq)
{
  g_return_if_fail (NATTER_IS_UPSTREAM_CACHE (self));

  if (self->store != NULL)
    natter_store_set_read_async (self->store, room, self->user, seq, NULL, read_set_cb,
                                 g_object_ref (self));
}

static void
level_set_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(NatterUpstreamCache) self = user_data;
  g_autoptr(GError) error = NULL;

  /* A room the copy has no membership row for yet keeps the default until the next
   * time the server tells. */
  if (!natter_store_set_notification_level_finish (NATTER_STORE (source), result, &error) &&
      !g_error_matches (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND))
    write_failed (self, "notification level", error);
}

/**
 * natter_upstream_cache_set_notification_level:
 * @level: "all", "mentions" or "none", as the server said
 *
 * Keeps the account's notification level in @room, for NotificationLevel while offline.
 */
void
natter_upstream_cache_set_notification_level (NatterUpstreamCache *self,
                                              const char          *room,
                                              const char          *level)
{
  NatterNotificationLevel value;

  g_return_if_fail (NATTER_IS_UPSTREAM_CACHE (self));

  if (self->store == NULL || !natter_notification_level_from_string (level, &value))
    return;
  natter_store_set_notification_level_async (self->store, room, self->user, value, NULL,
                                             level_set_cb, g_object_ref (self));
}

/* ---------------------------------------------------------------------------------- */
/* Closing */

typedef struct
{
  NatterStore *store;       /* (owned) */
  char        *db_path;     /* (owned) (nullable) set to delete the files */
  char        *state_path;  /* (owned) (nullable) */
} CloseData;

static void
close_data_free (CloseData *data)
{
  g_clear_object (&data->store);
  g_free (data->db_path);
  g_free (data->state_path);
  g_free (data);
}

static void
remove_file (const char *path,
             GError    **error)
{
  if (g_remove (path) != 0 && errno != ENOENT && error != NULL && *error == NULL)
    {
      int saved_errno = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "cannot remove %s: %s", path, g_strerror (saved_errno));
    }
}

static void
close_in_thread (GTask        *task,
                 gpointer      source_object,
                 gpointer      task_data,
                 GCancellable *cancellable)
{
  CloseData *data = task_data;
  g_autoptr(GError) error = NULL;

  natter_store_close (data->store);
  g_clear_object (&data->store);
  if (data->db_path != NULL)
    {
      g_autofree char *wal = g_strconcat (data->db_path, "-wal", NULL);
      g_autofree char *shm = g_strconcat (data->db_path, "-shm", NULL);

      remove_file (data->db_path, &error);
      remove_file (wal, &error);
      remove_file (shm, &error);
      remove_file (data->state_path, &error);
    }
  if (error != NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

/**
 * natter_upstream_cache_close_async:
 * @delete: whether to remove the cache's files too
 *
 * Closes the store (its writes in flight complete first) in a worker thread. The cache
 * takes no more writes.
 */
void
natter_upstream_cache_close_async (NatterUpstreamCache *self,
                                   gboolean             delete,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  CloseData *data;

  g_return_if_fail (NATTER_IS_UPSTREAM_CACHE (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_upstream_cache_close_async);
  if (self->store == NULL)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }
  data = g_new0 (CloseData, 1);
  data->store = g_steal_pointer (&self->store);
  if (delete)
    {
      data->db_path = g_strdup (self->db_path);
      data->state_path = g_strdup (self->state_path);
    }
  g_task_set_task_data (task, data, (GDestroyNotify) close_data_free);
  g_task_run_in_thread (task, close_in_thread);
}

gboolean
natter_upstream_cache_close_finish (NatterUpstreamCache  *self,
                                    GAsyncResult         *result,
                                    GError              **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}
