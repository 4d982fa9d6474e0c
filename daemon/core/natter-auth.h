/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Password hashing (Argon2id through libsodium) runs on a small pool of worker threads,
 * never on the main loop: one hash takes tens of milliseconds and 64 MiB. */
void      natter_auth_hash_password_async    (const char          *password,
                                              GCancellable        *cancellable,
                                              GAsyncReadyCallback  callback,
                                              gpointer             user_data);
char     *natter_auth_hash_password_finish   (GAsyncResult        *result,
                                              GError             **error);
/* Fails with NATTER_ERROR_UNAUTHORIZED when @password does not match @hash. A NULL @hash
 * (unknown user) is verified against a dummy hash so both cases take the same time. */
void      natter_auth_verify_password_async  (const char          *hash,
                                              const char          *password,
                                              GCancellable        *cancellable,
                                              GAsyncReadyCallback  callback,
                                              gpointer             user_data);
gboolean  natter_auth_verify_password_finish (GAsyncResult        *result,
                                              GError             **error);

/* How many hashes may wait or run at once by default: a few seconds of work at most.
 * Reconnecting clients log in with tokens, which need no hash. */
#define NATTER_AUTH_DEFAULT_MAX_PENDING 64
void      natter_auth_set_max_pending        (guint                max_pending);

/* Sets the Argon2id cost; defaults to libsodium's "interactive" limits. */
void      natter_auth_set_cost               (guint64              opslimit,
                                              gsize                memlimit);

char     *natter_auth_new_token              (void);
char     *natter_auth_token_hash             (const char          *token);

G_END_DECLS
