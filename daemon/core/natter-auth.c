/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-auth"

#include "config.h"

#include <string.h>
#include <sodium.h>

#include "natter-auth.h"
#include "natter-error.h"

/* At most this many hashes at once: each needs memlimit bytes of memory. */
#define MAX_HASH_THREADS 2

/* Hashes waiting or running. Past the limit a request is refused at once rather than
 * queued: a queue without bound lets a crowd of bogus logins delay every real one by as
 * long as the crowd is large. */
static gint pending_jobs = 0;
static guint max_pending_jobs = NATTER_AUTH_DEFAULT_MAX_PENDING;

static guint64 pwhash_opslimit = crypto_pwhash_OPSLIMIT_INTERACTIVE;
static gsize pwhash_memlimit = crypto_pwhash_MEMLIMIT_INTERACTIVE;

typedef struct {
  char *hash;      /* (owned) (nullable) */
  char *password;  /* (owned) wiped on free */
} AuthJob;

static void
auth_job_free (AuthJob *job)
{
  g_free (job->hash);
  if (job->password != NULL)
    sodium_memzero (job->password, strlen (job->password));
  g_free (job->password);
  g_free (job);
}

static void
run_job (gpointer data,
         gpointer user_data)
{
  g_autoptr(GTask) task = data;
  AuthJob *job = g_task_get_task_data (task);

  if (g_task_return_error_if_cancelled (task))
    {
      g_atomic_int_add (&pending_jobs, -1);
      return;
    }

  if (g_task_get_source_tag (task) == natter_auth_hash_password_async)
    {
      char out[crypto_pwhash_STRBYTES];

      if (crypto_pwhash_str (out, job->password, strlen (job->password),
                             pwhash_opslimit, pwhash_memlimit) != 0)
        g_task_return_new_error (task, NATTER_ERROR, NATTER_ERROR_UNAVAILABLE,
                                 "not enough memory to hash the password");
      else
        g_task_return_pointer (task, g_strdup (out), g_free);
    }
  else
    {
      static char dummy[crypto_pwhash_STRBYTES];
      static gsize dummy_init = 0;
      const char *hash = job->hash;

      if (g_once_init_enter (&dummy_init))
        {
          if (crypto_pwhash_str (dummy, "natter-dummy-password", 21,
                                 pwhash_opslimit, pwhash_memlimit) != 0)
            dummy[0] = '\0';
          g_once_init_leave (&dummy_init, 1);
        }
      if (hash == NULL)
        hash = dummy;

      if (crypto_pwhash_str_verify (hash, job->password, strlen (job->password)) == 0 &&
          job->hash != NULL)
        g_task_return_boolean (task, TRUE);
      else
        g_task_return_new_error (task, NATTER_ERROR, NATTER_ERROR_UNAUTHORIZED,
                                 "invalid user name or password");
    }
  g_atomic_int_add (&pending_jobs, -1);
}

static GThreadPool *
get_pool (void)
{
  static GThreadPool *pool = NULL;
  static gsize init = 0;

  if (g_once_init_enter (&init))
    {
      if (sodium_init () < 0)
        g_error ("libsodium failed to initialise");
      pool = g_thread_pool_new (run_job, NULL, MAX_HASH_THREADS, FALSE, NULL);
      g_once_init_leave (&init, 1);
    }
  return pool;
}

static void
submit (GTask *task)
{
  GThreadPool *pool = get_pool ();

  if ((guint) g_atomic_int_add (&pending_jobs, 1) >= max_pending_jobs)
    {
      g_atomic_int_add (&pending_jobs, -1);
      g_task_return_new_error (task, NATTER_ERROR, NATTER_ERROR_RATE_LIMITED,
                               "the server is busy checking passwords: try again shortly");
      g_object_unref (task);
      return;
    }
  g_thread_pool_push (pool, task, NULL);
}

/**
 * natter_auth_set_max_pending:
 * @max_pending: how many hashes may wait or run at once (at least 1)
 *
 * Past it, natter_auth_hash_password_async() and natter_auth_verify_password_async()
 * fail with %NATTER_ERROR_RATE_LIMITED at once.
 */
void
natter_auth_set_max_pending (guint max_pending)
{
  max_pending_jobs = MAX (max_pending, 1);
}

void
natter_auth_set_cost (guint64 opslimit,
                      gsize   memlimit)
{
  pwhash_opslimit = MAX (opslimit, crypto_pwhash_OPSLIMIT_MIN);
  pwhash_memlimit = MAX (memlimit, crypto_pwhash_MEMLIMIT_MIN);
}

/**
 * natter_auth_hash_password_async:
 * @password: the clear-text password
 *
 * Hashes @password with Argon2id on a worker thread.
 */
void
natter_auth_hash_password_async (const char          *password,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  AuthJob *job = g_new0 (AuthJob, 1);

  g_task_set_source_tag (task, natter_auth_hash_password_async);
  job->password = g_strdup (password);
  g_task_set_task_data (task, job, (GDestroyNotify) auth_job_free);
  submit (task);
}

/**
 * natter_auth_hash_password_finish:
 *
 * Returns: (transfer full): the encoded hash, for natter_auth_verify_password_async()
 */
char *
natter_auth_hash_password_finish (GAsyncResult  *result,
                                  GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
natter_auth_verify_password_async (const char          *hash,
                                   const char          *password,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  AuthJob *job = g_new0 (AuthJob, 1);

  g_task_set_source_tag (task, natter_auth_verify_password_async);
  job->hash = g_strdup (hash);
  job->password = g_strdup (password);
  g_task_set_task_data (task, job, (GDestroyNotify) auth_job_free);
  submit (task);
}

gboolean
natter_auth_verify_password_finish (GAsyncResult  *result,
                                    GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * natter_auth_new_token:
 *
 * Returns: (transfer full): an opaque session token: 32 random bytes from libsodium,
 *   URL-safe base64 without padding
 */
char *
natter_auth_new_token (void)
{
  guint8 raw[32];
  char out[sodium_base64_ENCODED_LEN (sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];

  get_pool ();
  randombytes_buf (raw, sizeof raw);
  sodium_bin2base64 (out, sizeof out, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero (raw, sizeof raw);
  return g_strdup (out);
}

/**
 * natter_auth_token_hash:
 *
 * Only this hash is stored, so a copy of the database does not hand out sessions.
 *
 * Returns: (transfer full): the hex BLAKE2b digest of @token
 */
char *
natter_auth_token_hash (const char *token)
{
  guint8 digest[32];
  char hex[sizeof digest * 2 + 1];

  get_pool ();
  crypto_generichash (digest, sizeof digest, (const guint8 *) token, strlen (token), NULL, 0);
  sodium_bin2hex (hex, sizeof hex, digest, sizeof digest);
  return g_strdup (hex);
}
