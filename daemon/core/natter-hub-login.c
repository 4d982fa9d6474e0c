/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-hub"

#include "config.h"

#include <string.h>

#include "natter-auth.h"
#include "natter-error.h"
#include "natter-hub-private.h"

/* Accounts and sessions of the hub: registering, logging in with a password or a token,
 * the welcome, and the limits that keep guessing and hashing in bounds. */

static void login_failed (Request *req, const GError *error);

/* ---------------------------------------------------------------------------------- */
/* Rate limits: token buckets per user and per connection */

/* The client's network address, for limits per address; local front ends have a label. */
static const char *
client_address (ClientState *cs)
{
  const char *peer = natter_client_get_peer (cs->client);

  return peer != NULL ? peer : "";
}

void
natter_hub_reply_rate_limited (Request *req, guint retry_after_ms, const char *message)
{
  natter_hub_send_error (req->hub, req->client, req->has_id, req->id, NATTER_ERROR_RATE_LIMITED, message,
              retry_after_ms);
}

/* Typing notices and read markers: each one reaches every member (and a read is a
 * write), so a connection gets a budget of them as it does of sends. */
gboolean
natter_hub_event_rate_check (Request *req, ClientState *cs)
{
  const NatterConfig *config = req->hub->config;
  guint retry_after_ms = 0;

  if (natter_bucket_take (&cs->event_bucket, config->event_rate, config->event_burst,
                          &retry_after_ms))
    return TRUE;
  natter_hub_reply_rate_limited (req, retry_after_ms,
                      "too many typing notices and read markers; retry later");
  return FALSE;
}

/* Password logins and registrations cost a password hash each: one address gets a
 * budget of them, so that it cannot keep the hashers to itself. */
static gboolean
password_rate_check (Request *req, ClientState *cs)
{
  guint retry_after_ms = 0;

  if (natter_buckets_take (req->hub->password_buckets, client_address (cs), &retry_after_ms))
    return TRUE;
  natter_hub_reply_rate_limited (req, retry_after_ms,
                      "too many password checks from this address; retry later");
  return FALSE;
}

gboolean
natter_hub_rate_check (NatterHub *self, ClientState *cs, guint *retry_after_ms)
{
  /* A connection gets the user's rate; the user's bucket caps all connections together. */
  if (!natter_bucket_take (&cs->send_bucket, self->config->rate_per_s, self->config->rate_burst,
                           retry_after_ms))
    return FALSE;
  if (!natter_buckets_take (self->user_buckets, cs->user, retry_after_ms))
    {
      natter_bucket_give_back (&cs->send_bucket);
      return FALSE;
    }
  return TRUE;
}

/* ---------------------------------------------------------------------------------- */
/* Login */

static void
fill_room_info (Natter__RoomInfo *info, Room *room, const char *user)
{
  guint64 read_seq = natter_hub_room_read_seq (room, user);

  natter__room_info__init (info);
  info->name = room->name;
  info->topic = room->topic;
  info->has_last_seq = TRUE;
  info->last_seq = natter_room_last_seq (room);
  info->has_unread = TRUE;
  info->unread = info->last_seq > read_seq ? info->last_seq - read_seq : 0;
  info->kind = room->kind;
  info->has_read_seq = TRUE;
  info->read_seq = read_seq;
  info->has_private_ = TRUE;
  info->private_ = room->is_private;
  info->role = (char *) natter_role_to_string (natter_hub_room_role (room, user));
  info->notification_level = (char *) natter_notification_level_to_string (
    natter_hub_room_notification_level (room, user));
}

/* The rooms of @user, `system` first, then by name. Returns (element-type Room). */
static GPtrArray *
rooms_of (NatterHub *self, const char *user)
{
  GPtrArray *rooms = g_ptr_array_new ();
  GHashTable *set = natter_hub_user_rooms (self, user, FALSE);

  if (set != NULL)
    {
      GHashTableIter iter;
      gpointer key;

      g_hash_table_iter_init (&iter, set);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        g_ptr_array_add (rooms, key);
    }
    return rooms;
}

static gint
compare_rooms (gconstpointer a, gconstpointer b)
{
  const Room *x = *(Room * const *) a, *y = *(Room * const *) b;

  return strcmp (x->name, y->name);
}

Natter__RoomInfo **
natter_hub_room_infos (NatterHub *self, const char *user, gsize *n_out, Natter__RoomInfo **storage)
{
  g_autoptr(GPtrArray) rooms = rooms_of (self, user);
  Natter__RoomInfo *infos;
  Natter__RoomInfo **ptrs;

  g_ptr_array_sort (rooms, compare_rooms);
  g_ptr_array_insert (rooms, 0, self->system);
  infos = g_new0 (Natter__RoomInfo, rooms->len);
  ptrs = g_new0 (Natter__RoomInfo *, rooms->len);
  for (guint i = 0; i < rooms->len; i++)
    {
      fill_room_info (&infos[i], g_ptr_array_index (rooms, i), user);
      ptrs[i] = &infos[i];
    }
  *n_out = rooms->len;
  *storage = infos;
  return ptrs;
}

static void
complete_login (Request *req, const char *user, gboolean admin, const char *token)
{
  NatterHub *self = req->hub;
  ClientState *cs = natter_hub_lookup_client (self, req->client);
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Welcome welcome = NATTER__WELCOME__INIT;
  g_autofree Natter__RoomInfo *infos = NULL;
  g_autofree Natter__RoomInfo **ptrs = NULL;
  g_autoptr(GPtrArray) rooms = NULL;
  GPtrArray *sessions;
  gboolean first;

  if (cs == NULL)
    return;
  cs->logging_in = FALSE;
  sessions = g_hash_table_lookup (self->online, user);
  if (sessions != NULL && sessions->len >= self->config->max_sessions_per_user)
    {
      natter_hub_send_error (self, req->client, req->has_id, req->id, NATTER_ERROR_RATE_LIMITED,
                  "too many sessions for this account; close one first", 10000);
      return;
    }
  cs->user = g_strdup (user);
  cs->admin = admin;
  if (token != NULL)
    {
      g_autofree char *hash = natter_auth_token_hash (token);

      cs->session = natter_store_session_id (hash);
    }

  if (sessions == NULL)
    {
      sessions = g_ptr_array_new ();
      g_hash_table_insert (self->online, g_strdup (user), sessions);
    }
  first = sessions->len == 0;
  g_ptr_array_add (sessions, cs);

  /* Live from now on for every room the account is in; `join {since_seq}` fills in what
   * came before. */
  rooms = rooms_of (self, user);
  for (guint i = 0; i < rooms->len; i++)
    {
      Room *room = g_ptr_array_index (rooms, i);
      natter_hub_subscribe (self, cs, room, natter_room_delivered_seq (room));
    }
  natter_hub_subscribe (self, cs, self->system, natter_room_delivered_seq (self->system));

  welcome.user = (char *) user;
  welcome.token = (char *) token;
  welcome.epoch = (char *) natter_store_get_epoch (self->store);
  welcome.has_admin = TRUE;
  welcome.admin = admin;
  welcome.node = self->config->node_id;
  ptrs = natter_hub_room_infos (self, user, &welcome.n_rooms, &infos);
  welcome.rooms = ptrs;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_WELCOME;
  frame.welcome = &welcome;
  natter_hub_reply (req, &frame);

  if (first)
    {
      g_signal_emit (self, natter_hub_signals[SIGNAL_PRESENCE_CHANGED], 0, user, TRUE);
      if (!g_hash_table_contains (self->online_elsewhere, user))
        natter_hub_send_presence (self, user, TRUE);
    }
}

static void
login_refreshed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) seqs = NULL;

  seqs = natter_store_get_last_seqs_finish (NATTER_STORE (source), result, &error);
  if (seqs == NULL)
    {
      login_failed (req, error);
      return;
    }
  natter_hub_apply_last_seqs (req->hub, seqs);
  complete_login (req, req->user, req->admin, req->token);
}

/* Logs the client in. On a shared store, rooms that no local session reads may be behind
 * the store: their last seq is read first, so that "live from now" means now. */
void
natter_hub_finish_login (Request *req, const char *user, gboolean admin)
{
  NatterHub *self = req->hub;
  g_autoptr(GPtrArray) rooms = NULL;
  g_autoptr(GPtrArray) names = NULL;

  if (req->user != user)
    {
      g_free (req->user);
      req->user = g_strdup (user);
    }
  req->admin = admin;
  if (!self->shared)
    {
      complete_login (req, req->user, req->admin, req->token);
      return;
    }

  rooms = rooms_of (self, req->user);
  g_ptr_array_add (rooms, self->system);
  names = g_ptr_array_new ();
  for (guint i = 0; i < rooms->len; i++)
    {
      Room *room = g_ptr_array_index (rooms, i);

      if (g_hash_table_size (room->subs) == 0)
        g_ptr_array_add (names, room->name);
    }
  if (names->len == 0)
    {
      complete_login (req, req->user, req->admin, req->token);
      return;
    }
  g_ptr_array_add (names, NULL);
  natter_store_get_last_seqs_async (self->store, (const char * const *) names->pdata, NULL,
                                    login_refreshed_cb, natter_hub_request_ref (req));
}

static void
token_created_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_store_create_token_finish (NATTER_STORE (source), result, &error))
    {
      login_failed (req, error);
      return;
    }
  natter_hub_finish_login (req, req->user, req->admin);
}

/* Issues a new session token for @req->user, then welcomes the client. */
static void
issue_token (Request *req)
{
  g_autofree char *hash = NULL;
  gint64 expires = natter_hub_now_ms () + (gint64) req->hub->config->token_ttl_s * 1000;

  req->token = natter_auth_new_token ();
  hash = natter_auth_token_hash (req->token);
  natter_store_create_token_async (req->hub->store, req->user, hash, expires,
                                   natter_client_get_agent (req->client), NULL,
                                   token_created_cb, natter_hub_request_ref (req));
}

static void
login_failed (Request *req, const GError *error)
{
  ClientState *cs = natter_hub_lookup_client (req->hub, req->client);

  if (cs != NULL)
    cs->logging_in = FALSE;
  natter_hub_reply_with_gerror (req, error);
}

static void
register_created_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_store_create_user_finish (NATTER_STORE (source), result, &error))
    {
      if (g_error_matches (error, NATTER_ERROR, NATTER_ERROR_CONFLICT))
        {
          g_clear_error (&error);
          g_set_error (&error, NATTER_ERROR, NATTER_ERROR_CONFLICT,
                       "the user name “%s” is taken", req->user);
        }
      login_failed (req, error);
      return;
    }
  req->admin = FALSE;
  issue_token (req);
}

static void
register_hashed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *hash = natter_auth_hash_password_finish (result, &error);

  if (hash == NULL)
    {
      login_failed (req, error);
      return;
    }
  natter_store_create_user_async (req->hub->store, req->user, hash, 0, NULL,
                                  register_created_cb, natter_hub_request_ref (req));
}

static gboolean
check_password (Request *req, const char *password)
{
  gsize len = password != NULL ? strlen (password) : 0;

  if (len < MIN_PASSWORD_BYTES || len > MAX_PASSWORD_BYTES)
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST,
                   "password must be %u to %u bytes long", MIN_PASSWORD_BYTES,
                   MAX_PASSWORD_BYTES);
      return FALSE;
    }
  return TRUE;
}

void
natter_hub_handle_register (Request *req, ClientState *cs)
{
  Natter__Register *op = req->frame->register_;
  guint retry_after_ms = 0;

  if (!natter_validate_user_name (op->user))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST,
                   "user name must match [a-z0-9_.-]{1,32}");
      return;
    }
  if (!check_password (req, op->password))
    return;
  if (!natter_buckets_take (req->hub->register_buckets, client_address (cs), &retry_after_ms))
    {
      natter_hub_reply_rate_limited (req, retry_after_ms,
                          "too many new accounts from this address; retry later");
      return;
    }
  if (!password_rate_check (req, cs))
    {
      natter_buckets_give_back (req->hub->register_buckets, client_address (cs));
      return;
    }
  cs->logging_in = TRUE;
  req->user = g_strdup (op->user);
  natter_auth_hash_password_async (op->password, NULL, register_hashed_cb, natter_hub_request_ref (req));
}

static void
password_verified_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_auth_verify_password_finish (result, &error))
    {
      login_failed (req, error);
      return;
    }
  natter_throttle_success (req->hub->login_throttle, req->login_key);
  natter_throttle_forgive (req->hub->address_throttle, req->login_key + strlen (req->user) + 1);
  req->verified (req);
}

static void
password_user_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterUserRecord) record = natter_store_get_user_finish (NATTER_STORE (source),
                                                                     result, &error);

  if (record == NULL && !g_error_matches (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND))
    {
      login_failed (req, error);
      return;
    }
  /* A deleted account is as unknown as one that never was. */
  if (record != NULL && record->deleted)
    g_clear_pointer (&record, natter_user_record_free);
  /* Unknown users are verified against a dummy hash: same answer, same time. */
  req->admin = record != NULL && record->admin;
  req->owner = record != NULL && record->owner;
  req->disabled = record != NULL && record->disabled;
  natter_auth_verify_password_async (record != NULL ? record->password_hash : NULL,
                                     req->password, NULL,
                                     password_verified_cb, natter_hub_request_ref (req));
}

/**
 * natter_hub_check_password:
 * @password: (transfer none): must live as long as @req (a field of its frame)
 * @verified: what continues once the password is right, with req->admin, req->owner and
 *   req->disabled set
 *
 * Checks the password of @user for any operation that takes one, as a login does: the
 * same throttles (a guess is a guess, whatever the operation carries it), the same
 * answer and time for unknown users, deleted accounts and wrong passwords.
 *
 * Returns: %FALSE if the throttles refused, and the request was answered
 */
gboolean
natter_hub_check_password (Request *req, ClientState *cs, const char *user,
                           const char *password, void (*verified) (Request *req))
{
  guint retry_after_ms = 0;
  const char *address;

  /* Failures count per account and address, so that a stranger's guesses make the
   * stranger wait, not the account's owner; and per address, whatever the accounts, so
   * that guessing across many accounts is slowed too. */
  address = client_address (cs);
  req->login_key = g_strconcat (user, "\x1f", address, NULL);
  if (!natter_throttle_check (req->hub->login_throttle, req->login_key, &retry_after_ms))
    {
      natter_hub_reply_rate_limited (req, retry_after_ms,
                          "too many failed logins for this account from this address; "
                          "retry later");
      return FALSE;
    }
  if (!natter_throttle_check (req->hub->address_throttle, address, &retry_after_ms))
    {
      natter_hub_reply_rate_limited (req, retry_after_ms,
                          "too many failed logins from this address; retry later");
      return FALSE;
    }
  if (!password_rate_check (req, cs))
    return FALSE;
  /* Counted as failed until it succeeds, so guesses made in parallel count too. */
  natter_throttle_failure (req->hub->login_throttle, req->login_key);
  natter_throttle_failure (req->hub->address_throttle, address);
  g_free (req->user);
  req->user = g_strdup (user);
  req->password = password;
  req->verified = verified;
  natter_store_get_user_async (req->hub->store, user, NULL, password_user_cb,
                               natter_hub_request_ref (req));
  return TRUE;
}

static void
login_password_verified (Request *req)
{
  if (req->disabled)
    {
      g_autoptr(GError) forbidden = g_error_new (NATTER_ERROR, NATTER_ERROR_FORBIDDEN,
                                                 "this account is disabled");
      login_failed (req, forbidden);
      return;
    }
  issue_token (req);
}

static void
token_user_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterUserRecord) record = natter_store_get_user_finish (NATTER_STORE (source),
                                                                     result, &error);

  /* The store refuses their tokens already; this closes the race with a concurrent
   * disable or delete. */
  if (record == NULL || record->deleted || record->disabled)
    {
      g_autoptr(GError) unauthorized = g_error_new (NATTER_ERROR, NATTER_ERROR_UNAUTHORIZED,
                                                    "invalid or expired token");
      login_failed (req, record != NULL || g_error_matches (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND)
                           ? unauthorized : error);
      return;
    }
  natter_hub_finish_login (req, record->name, record->admin);
}

static void
token_lookup_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *user = natter_store_lookup_token_finish (NATTER_STORE (source), result,
                                                           &error);

  if (user == NULL)
    {
      login_failed (req, error);
      return;
    }
  if (req->user != NULL && !g_str_equal (req->user, user))
    {
      g_autoptr(GError) unauthorized = g_error_new (NATTER_ERROR, NATTER_ERROR_UNAUTHORIZED,
                                                    "invalid or expired token");
      login_failed (req, unauthorized);
      return;
    }
  natter_store_get_user_async (req->hub->store, user, NULL, token_user_cb,
                               natter_hub_request_ref (req));
}

void
natter_hub_handle_login (Request *req, ClientState *cs)
{
  Natter__Login *op = req->frame->login;

  if (op->token != NULL && op->password == NULL)
    {
      g_autofree char *hash = NULL;

      if (*op->token == '\0' || strlen (op->token) > 256)
        {
          natter_hub_reply_with_error (req, NATTER_ERROR_UNAUTHORIZED, "invalid or expired token");
          return;
        }
      if (op->user != NULL && !natter_validate_user_name (op->user))
        {
          natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST, "user name must match [a-z0-9_.-]{1,32}");
          return;
        }
      cs->logging_in = TRUE;
      req->user = g_strdup (op->user);
      req->token = g_strdup (op->token);
      hash = natter_auth_token_hash (op->token);
      natter_store_lookup_token_async (req->hub->store, hash, natter_hub_now_ms (), NULL,
                                       token_lookup_cb, natter_hub_request_ref (req));
      return;
    }
  if (op->token != NULL)
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST, "give either a password or a token");
      return;
    }
  if (op->user == NULL || op->password == NULL)
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST, "login needs user and password, or token");
      return;
    }
  if (!natter_validate_user_name (op->user) || strlen (op->password) > MAX_PASSWORD_BYTES)
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_UNAUTHORIZED, "invalid user name or password");
      return;
    }
  if (natter_hub_check_password (req, cs, op->user, op->password, login_password_verified))
    cs->logging_in = TRUE;
}

/* ---------------------------------------------------------------------------------- */
/* Accounts */

typedef struct
{
  char     *user;   /* (owned) */
  NatterAccountFlags flags;
} CreateUser;

static void
create_user_free (CreateUser *data)
{
  g_free (data->user);
  g_free (data);
}

static void
create_user_stored_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;

  if (!natter_store_create_user_finish (NATTER_STORE (source), result, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
create_user_hashed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  NatterHub *self = g_task_get_source_object (task);
  CreateUser *data = g_task_get_task_data (task);
  GError *error = NULL;
  g_autofree char *hash = natter_auth_hash_password_finish (result, &error);
  GCancellable *cancellable;

  if (hash == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  cancellable = g_task_get_cancellable (task);
  natter_store_create_user_async (self->store, data->user, hash, data->flags, cancellable,
                                  create_user_stored_cb, g_steal_pointer (&task));
}

/**
 * natter_hub_create_user_async:
 *
 * Creates an account, hashing @password off the main loop.
 */
void
natter_hub_create_user_async (NatterHub           *self,
                              const char          *user,
                              const char          *password,
                              NatterAccountFlags   flags,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  CreateUser *data;

  g_return_if_fail (NATTER_IS_HUB (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_hub_create_user_async);
  if (!natter_validate_user_name (user))
    {
      g_task_return_new_error (task, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                               "user name must match [a-z0-9_.-]{1,32}");
      return;
    }
  if (password == NULL || strlen (password) < MIN_PASSWORD_BYTES ||
      strlen (password) > MAX_PASSWORD_BYTES)
    {
      g_task_return_new_error (task, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                               "password must be %u to %u bytes long", MIN_PASSWORD_BYTES,
                               MAX_PASSWORD_BYTES);
      return;
    }
  data = g_new0 (CreateUser, 1);
  data->user = g_strdup (user);
  data->flags = flags;
  g_task_set_task_data (task, data, (GDestroyNotify) create_user_free);
  natter_auth_hash_password_async (password, cancellable, create_user_hashed_cb,
                                   g_steal_pointer (&task));
}

gboolean
natter_hub_create_user_finish (NatterHub     *self,
                               GAsyncResult  *result,
                               GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}
