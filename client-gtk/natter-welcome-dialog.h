/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <adwaita.h>

#include "natter-service.h"

G_BEGIN_DECLS

#define NATTER_TYPE_WELCOME_DIALOG (natter_welcome_dialog_get_type ())

G_DECLARE_FINAL_TYPE (NatterWelcomeDialog, natter_welcome_dialog, NATTER, WELCOME_DIALOG, AdwWindow)

GtkWindow *natter_welcome_dialog_new (GtkWindow     *parent,
                                      NatterService *service,
                                      gboolean       connect_only);

G_END_DECLS
