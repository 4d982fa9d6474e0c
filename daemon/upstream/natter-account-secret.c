/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-upstream"

#include "config.h"

#include "natter-account-secret.h"

/*
 * The credentials of upstream mode live in the Secret Service (GNOME Keyring, KeePassXC…)
 * and nowhere else: not in files, settings, logs or D-Bus properties. Each is one item
 * with the attributes server, user and kind, so `secret-tool lookup server URL user NAME`
 * finds it and ForgetAccount() removes every item of the account at once.
 */

const SecretSchema *
natter_account_secret_get_schema (void)
{
  static const SecretSchema schema = {
    NATTER_ACCOUNT_SCHEMA_NAME, SECRET_SCHEMA_NONE,
    {
      { "server", SECRET_SCHEMA_ATTRIBUTE_STRING },
      { "user", SECRET_SCHEMA_ATTRIBUTE_STRING },
      { "kind", SECRET_SCHEMA_ATTRIBUTE_STRING },
      { NULL, 0 },
    },
    0, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  };

  return &schema;
}

static const char *
kind_to_string (NatterSecretKind kind)
{
  return kind == NATTER_SECRET_TOKEN ? "token" : "password";
}

/**
 * natter_account_secret_lookup_async:
 * @server: the server's WebSocket URL
 * @user: the account
 * @kind: which secret
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the result
 * @user_data: data for @callback
 *
 * Looks the account's secret of @kind up in the Secret Service, asynchronously (the
 * keyring may be slow to answer, or prompt).
 */
void
natter_account_secret_lookup_async (const char          *server,
                                    const char          *user,
                                    NatterSecretKind     kind,
                                    GCancellable        *cancellable,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data)
{
  secret_password_lookup (natter_account_secret_get_schema (), cancellable, callback, user_data,
                          "server", server, "user", user, "kind", kind_to_string (kind),
                          NULL);
}

/**
 * natter_account_secret_lookup_finish:
 *
 * Returns: (transfer full) (nullable): the secret, to free with secret_password_free(),
 *   or %NULL, without @error set when none is stored
 */
char *
natter_account_secret_lookup_finish (GAsyncResult  *result,
                                     GError       **error)
{
  return secret_password_lookup_finish (result, error);
}

/**
 * natter_account_secret_store_async:
 * @server: the server's WebSocket URL
 * @user: the account
 * @kind: which secret
 * @secret: the secret
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the result
 * @user_data: data for @callback
 *
 * Stores @secret in the default collection, replacing the account's previous secret of
 * the same @kind.
 */
void
natter_account_secret_store_async (const char          *server,
                                   const char          *user,
                                   NatterSecretKind     kind,
                                   const char          *secret,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  g_autofree char *label = g_strdup_printf ("Natter account %s on %s", user, server);

  /* Same attributes: the Secret Service replaces the previous item. */
  secret_password_store (natter_account_secret_get_schema (), SECRET_COLLECTION_DEFAULT, label,
                         secret, cancellable, callback, user_data,
                         "server", server, "user", user, "kind", kind_to_string (kind), NULL);
}

gboolean
natter_account_secret_store_finish (GAsyncResult  *result,
                                    GError       **error)
{
  return secret_password_store_finish (result, error);
}

/**
 * natter_account_secret_clear_async:
 * @server: the server's WebSocket URL
 * @user: the account
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the result
 * @user_data: data for @callback
 *
 * Removes every secret of the account, token and password alike. Finding nothing to
 * remove is not an error.
 */
void
natter_account_secret_clear_async (const char          *server,
                                   const char          *user,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  secret_password_clear (natter_account_secret_get_schema (), cancellable, callback, user_data,
                         "server", server, "user", user, NULL);
}

gboolean
natter_account_secret_clear_finish (GAsyncResult  *result,
                                    GError       **error)
{
  g_autoptr(GError) local_error = NULL;

  /* FALSE without an error only means there was nothing to remove. */
  if (secret_password_clear_finish (result, &local_error) || local_error == NULL)
    return TRUE;
  g_propagate_error (error, g_steal_pointer (&local_error));
  return FALSE;
}

static void
search_done_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  GList *items = secret_password_search_finish (result, &error);
  char *user = NULL;

  if (error != NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  for (GList *l = items; l != NULL && user == NULL; l = l->next)
    {
      g_autoptr(GHashTable) attributes = secret_retrievable_get_attributes (l->data);
      const char *name = g_hash_table_lookup (attributes, "user");

      if (name != NULL && *name != '\0')
        user = g_strdup (name);
    }
  g_list_free_full (items, g_object_unref);
  g_task_return_pointer (task, user, g_free);
}

/**
 * natter_account_secret_find_user_async:
 * @server: the server's WebSocket URL
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the result
 * @user_data: data for @callback
 *
 * Finds which account is stored for @server (the first, if several are), from the
 * items' attributes only: no secret is read or unlocked.
 */
void
natter_account_secret_find_user_async (const char          *server,
                                       GCancellable        *cancellable,
                                       GAsyncReadyCallback  callback,
                                       gpointer             user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);

  g_task_set_source_tag (task, natter_account_secret_find_user_async);
  secret_password_search (natter_account_secret_get_schema (), SECRET_SEARCH_NONE, cancellable,
                          search_done_cb, task, "server", server, NULL);
}

/**
 * natter_account_secret_find_user_finish:
 *
 * Returns: (transfer full) (nullable): the user name, or %NULL, without @error set when
 *   no account is stored for the server
 */
char *
natter_account_secret_find_user_finish (GAsyncResult  *result,
                                        GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}
