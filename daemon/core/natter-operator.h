/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-config.h"
#include "natter-store.h"

G_BEGIN_DECLS

guint    natter_operator_n_commands (const NatterConfig  *config);
void     natter_operator_run_async  (NatterStore         *store,
                                     const NatterConfig  *config,
                                     const char          *password,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data);
gboolean natter_operator_run_finish (GAsyncResult        *result,
                                     GError             **error);

G_END_DECLS
