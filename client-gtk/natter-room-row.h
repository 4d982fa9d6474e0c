/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gtk/gtk.h>

#include "natter-room.h"

G_BEGIN_DECLS

#define NATTER_TYPE_ROOM_ROW (natter_room_row_get_type ())

G_DECLARE_FINAL_TYPE (NatterRoomRow, natter_room_row, NATTER, ROOM_ROW, GtkListBoxRow)

GtkWidget  *natter_room_row_new       (NatterRoom    *room);
NatterRoom *natter_room_row_get_room  (NatterRoomRow *self);
const char *natter_room_row_get_title (NatterRoomRow *self);
const char *natter_room_row_get_badge (NatterRoomRow *self);
gboolean    natter_room_row_get_private_shown (NatterRoomRow *self);

G_END_DECLS
