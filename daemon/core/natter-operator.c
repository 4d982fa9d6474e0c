/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-operator"

#include "config.h"

#include <string.h>

#include "natter-auth.h"
#include "natter-error.h"
#include "natter-hub-private.h"
#include "natter-operator.h"

/* The operator's commands of natterd (--list-users, --disable-user, --enable-user,
 * --reset-password, --revoke-tokens): one change to a store, a line on standard output,
 * and natterd exits. They go through the store, so they work on the store of a stopped
 * server as well as of a running one (SQLite's other connections and PostgreSQL's other
 * clients see the change at once). A running server refuses the ended tokens at their
 * next login; connections that use them stay open until they close (the protocol's
 * admin_disable and revoke close them at once). */

#define LIST_ALL G_MAXINT32

typedef struct
{
  NatterStore *store;   /* (owned) */
  char        *user;    /* (owned) (nullable) */
  const char  *done;    /* (unowned) what the line printed at the end says was done */
} Command;

static void
command_free (Command *command)
{
  g_clear_object (&command->store);
  g_free (command->user);
  g_free (command);
}

/**
 * natter_operator_n_commands:
 *
 * Returns: how many operator commands @config asks for (natterd runs one at a time)
 */
guint
natter_operator_n_commands (const NatterConfig *config)
{
  return (config->list_users ? 1 : 0) + (config->disable_user != NULL) +
         (config->enable_user != NULL) + (config->reset_password != NULL) +
         (config->revoke_tokens != NULL);
}

static void
print_ended (const char *what, const char *user, GStrv ended)
{
  guint n = g_strv_length (ended);

  g_print ("%s %s; %u session%s ended.\n", what, user, n, n == 1 ? "" : "s");
}

static void
return_ended (GTask *task, GStrv ended, GError *error)
{
  Command *command = g_task_get_task_data (task);

  if (ended == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  print_ended (command->done, command->user, ended);
  g_strfreev (ended);
  g_task_return_boolean (task, TRUE);
}

static void
users_listed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;
  g_autoptr(GPtrArray) users = natter_store_list_users_finish (NATTER_STORE (source), result,
                                                               &error);

  if (users == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  /* One account a line, tab-separated, for people and scripts alike. */
  for (guint i = 0; i < users->len; i++)
    {
      NatterUserRecord *user = g_ptr_array_index (users, i);
      g_autoptr(GDateTime) created = user->created_ts > 0
        ? g_date_time_new_from_unix_utc (user->created_ts / 1000) : NULL;
      g_autofree char *when = created != NULL ? g_date_time_format_iso8601 (created)
                                              : g_strdup ("-");

      g_print ("%s\t%s\t%s\t%s\n", user->name, user->admin ? "admin" : "-",
               user->disabled ? "disabled" : "-", when);
    }
  g_task_return_boolean (task, TRUE);
}

static void
state_set_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;
  GStrv ended = natter_store_set_account_state_finish (NATTER_STORE (source), result, &error);

  return_ended (task, ended, error);
}

static void
password_set_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;
  GStrv ended = natter_store_set_password_finish (NATTER_STORE (source), result, &error);

  return_ended (task, ended, error);
}

static void
password_hashed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  Command *command = g_task_get_task_data (task);
  GError *error = NULL;
  g_autofree char *hash = natter_auth_hash_password_finish (result, &error);

  if (hash == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  natter_store_set_password_async (command->store, command->user, hash, NULL,
                                   g_task_get_cancellable (task), password_set_cb,
                                   g_object_ref (task));
}

static void
tokens_revoked_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;
  GStrv ended = natter_store_revoke_tokens_finish (NATTER_STORE (source), result, &error);

  return_ended (task, ended, error);
}

/* An account that does not exist has no tokens either: say so, not "0 ended". */
static void
revoke_user_found_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  Command *command = g_task_get_task_data (task);
  GError *error = NULL;
  g_autoptr(NatterUserRecord) record = natter_store_get_user_finish (NATTER_STORE (source),
                                                                     result, &error);

  if (record == NULL || record->deleted)
    {
      g_clear_error (&error);
      g_task_return_new_error (task, NATTER_ERROR, NATTER_ERROR_NOT_FOUND, "No user “%s”",
                               command->user);
      return;
    }
  natter_store_revoke_tokens_async (command->store, command->user, NULL, NULL,
                                    g_task_get_cancellable (task), tokens_revoked_cb,
                                    g_object_ref (task));
}

/**
 * natter_operator_run_async:
 * @store: the store to work on
 * @config: which command, and its user
 * @password: (nullable): the new password, for --reset-password
 *
 * Runs the one operator command @config asks for, printing its outcome.
 */
void
natter_operator_run_async (NatterStore         *store,
                           const NatterConfig  *config,
                           const char          *password,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  Command *command = g_new0 (Command, 1);
  const char *user = config->disable_user != NULL ? config->disable_user
                   : config->enable_user != NULL ? config->enable_user
                   : config->reset_password != NULL ? config->reset_password
                   : config->revoke_tokens;

  g_task_set_source_tag (task, natter_operator_run_async);
  command->store = g_object_ref (store);
  command->user = g_strdup (user);
  g_task_set_task_data (task, command, (GDestroyNotify) command_free);

  if (config->list_users)
    {
      natter_store_list_users_async (store, NULL, LIST_ALL, cancellable, users_listed_cb,
                                     g_steal_pointer (&task));
      return;
    }
  if (!natter_validate_user_name (user))
    {
      g_task_return_new_error (task, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                               "user name must match [a-z0-9_.-]{1,32}");
      return;
    }
  if (config->disable_user != NULL || config->enable_user != NULL)
    {
      gboolean disable = config->disable_user != NULL;

      command->done = disable ? "Disabled" : "Enabled";
      natter_store_set_account_state_async (store, user,
                                            disable ? NATTER_ACCOUNT_DISABLED
                                                    : NATTER_ACCOUNT_ENABLED,
                                            cancellable, state_set_cb, g_steal_pointer (&task));
      return;
    }
  if (config->reset_password != NULL)
    {
      gsize len = password != NULL ? strlen (password) : 0;

      /* The same rule as for register and password. */
      if (len < MIN_PASSWORD_BYTES || len > MAX_PASSWORD_BYTES)
        {
          g_task_return_new_error (task, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                                   "the password must be %u to %u bytes long",
                                   MIN_PASSWORD_BYTES, MAX_PASSWORD_BYTES);
          return;
        }
      command->done = "Reset the password of";
      natter_auth_hash_password_async (password, cancellable, password_hashed_cb,
                                       g_steal_pointer (&task));
      return;
    }
  command->done = "Revoked the tokens of";
  natter_store_get_user_async (store, user, cancellable, revoke_user_found_cb,
                               g_steal_pointer (&task));
}

gboolean
natter_operator_run_finish (GAsyncResult  *result,
                            GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}
