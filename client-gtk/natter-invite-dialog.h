/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <adwaita.h>

#include "natter-service.h"

G_BEGIN_DECLS

#define NATTER_TYPE_INVITE_DIALOG (natter_invite_dialog_get_type ())

G_DECLARE_FINAL_TYPE (NatterInviteDialog, natter_invite_dialog, NATTER, INVITE_DIALOG, AdwWindow)

GtkWindow *natter_invite_dialog_new (GtkWindow     *parent,
                                     NatterService *service,
                                     NatterRoom    *room);

G_END_DECLS
