/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gtk/gtk.h>

#include "natter-room.h"
#include "natter-service.h"

G_BEGIN_DECLS

#define NATTER_TYPE_OUTGOING_ROW (natter_outgoing_row_get_type ())

G_DECLARE_FINAL_TYPE (NatterOutgoingRow, natter_outgoing_row, NATTER, OUTGOING_ROW, GtkListBoxRow)

GtkWidget  *natter_outgoing_row_new        (NatterOutgoing *outgoing,
                                            NatterRoom     *room,
                                            NatterService  *service);
const char *natter_outgoing_row_get_body   (NatterOutgoingRow *self);
const char *natter_outgoing_row_get_status (NatterOutgoingRow *self);

G_END_DECLS
