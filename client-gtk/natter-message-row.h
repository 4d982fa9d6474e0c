/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gtk/gtk.h>

#include "natter-message.h"

G_BEGIN_DECLS

#define NATTER_TYPE_MESSAGE_ROW (natter_message_row_get_type ())

G_DECLARE_FINAL_TYPE (NatterMessageRow, natter_message_row, NATTER, MESSAGE_ROW, GtkListBoxRow)

GtkWidget     *natter_message_row_new         (NatterMessage    *message);
NatterMessage *natter_message_row_get_message (NatterMessageRow *self);
const char    *natter_message_row_get_sender  (NatterMessageRow *self);
const char    *natter_message_row_get_time    (NatterMessageRow *self);
const char    *natter_message_row_get_body    (NatterMessageRow *self);
GtkLabel      *natter_message_row_get_body_label (NatterMessageRow *self);
gboolean       natter_message_row_get_header_visible (NatterMessageRow *self);

G_END_DECLS
