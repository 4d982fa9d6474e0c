/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <adwaita.h>

#include "natter-service.h"

G_BEGIN_DECLS

#define NATTER_TYPE_CREATE_ROOM_DIALOG (natter_create_room_dialog_get_type ())

G_DECLARE_FINAL_TYPE (NatterCreateRoomDialog, natter_create_room_dialog, NATTER, CREATE_ROOM_DIALOG, AdwWindow)

GtkWindow *natter_create_room_dialog_new (GtkWindow     *parent,
                                          NatterService *service);

G_END_DECLS
