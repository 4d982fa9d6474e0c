/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include <libsecret/secret.h>

G_BEGIN_DECLS

/**
 * NatterSecretKind:
 * @NATTER_SECRET_TOKEN: a session token the server issued (what natterd stores)
 * @NATTER_SECRET_PASSWORD: the account's password (natterd only reads it, and replaces
 *   it after ChangePassword(): a user may store one with secret-tool as a fallback for
 *   an expired token)
 *
 * The `kind` attribute of a stored secret.
 */
typedef enum {
  NATTER_SECRET_TOKEN,
  NATTER_SECRET_PASSWORD,
} NatterSecretKind;

#define NATTER_ACCOUNT_SCHEMA_NAME "io.github.natter.Account"

/* The Secret Service schema `io.github.natter.Account`: attributes `server` (the
 * WebSocket URL), `user` and `kind` (`token` or `password`). */
const SecretSchema *natter_account_secret_get_schema   (void);

void      natter_account_secret_lookup_async     (const char          *server,
                                                  const char          *user,
                                                  NatterSecretKind     kind,
                                                  GCancellable        *cancellable,
                                                  GAsyncReadyCallback  callback,
                                                  gpointer             user_data);
/* Returns the secret (free with secret_password_free()), or %NULL without @error when
 * none is stored. */
char     *natter_account_secret_lookup_finish    (GAsyncResult        *result,
                                                  GError             **error);

void      natter_account_secret_store_async      (const char          *server,
                                                  const char          *user,
                                                  NatterSecretKind     kind,
                                                  const char          *secret,
                                                  GCancellable        *cancellable,
                                                  GAsyncReadyCallback  callback,
                                                  gpointer             user_data);
gboolean  natter_account_secret_store_finish     (GAsyncResult        *result,
                                                  GError             **error);

/* Removes every secret of the account, of either kind. */
void      natter_account_secret_clear_async      (const char          *server,
                                                  const char          *user,
                                                  GCancellable        *cancellable,
                                                  GAsyncReadyCallback  callback,
                                                  gpointer             user_data);
gboolean  natter_account_secret_clear_finish     (GAsyncResult        *result,
                                                  GError             **error);

/* Finds the user name of an account stored for @server, without unlocking or reading
 * any secret. */
void      natter_account_secret_find_user_async  (const char          *server,
                                                  GCancellable        *cancellable,
                                                  GAsyncReadyCallback  callback,
                                                  gpointer             user_data);
/* Returns the user name, or %NULL without @error when no account is stored. */
char     *natter_account_secret_find_user_finish (GAsyncResult        *result,
                                                  GError             **error);

G_END_DECLS
