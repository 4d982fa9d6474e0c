/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gtk/gtk.h>

#include "natter-room.h"

G_BEGIN_DECLS

#define NATTER_TYPE_MEMBERS_POPOVER (natter_members_popover_get_type ())

G_DECLARE_FINAL_TYPE (NatterMembersPopover, natter_members_popover, NATTER, MEMBERS_POPOVER, GtkPopover)

GtkWidget  *natter_members_popover_new        (void);
void        natter_members_popover_set_room   (NatterMembersPopover *self,
                                               NatterRoom           *room,
                                               const char           *account,
                                               gboolean              admin);

G_END_DECLS
