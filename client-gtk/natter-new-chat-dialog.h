/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <adwaita.h>

#include "natter-service.h"

G_BEGIN_DECLS

#define NATTER_TYPE_NEW_CHAT_DIALOG (natter_new_chat_dialog_get_type ())

G_DECLARE_FINAL_TYPE (NatterNewChatDialog, natter_new_chat_dialog, NATTER, NEW_CHAT_DIALOG, AdwWindow)

GtkWindow *natter_new_chat_dialog_new (GtkWindow     *parent,
                                       NatterService *service,
                                       gboolean       direct);

G_END_DECLS
