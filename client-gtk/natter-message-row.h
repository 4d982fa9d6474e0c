/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gtk/gtk.h>

#include "natter-message.h"
#include "natter-room.h"

G_BEGIN_DECLS

#define NATTER_TYPE_MESSAGE_ROW (natter_message_row_get_type ())

G_DECLARE_FINAL_TYPE (NatterMessageRow, natter_message_row, NATTER, MESSAGE_ROW, GtkListBoxRow)

GtkWidget     *natter_message_row_new         (NatterMessage    *message,
                                               NatterRoom       *room);
NatterMessage *natter_message_row_get_message (NatterMessageRow *self);
const char    *natter_message_row_get_sender  (NatterMessageRow *self);
const char    *natter_message_row_get_time    (NatterMessageRow *self);
const char    *natter_message_row_get_body    (NatterMessageRow *self);
GtkLabel      *natter_message_row_get_body_label (NatterMessageRow *self);
gboolean       natter_message_row_get_header_visible (NatterMessageRow *self);
void           natter_message_row_popup_menu  (NatterMessageRow *self);
void           natter_message_row_set_moderator (NatterMessageRow *self,
                                               gboolean          moderator);
const char * const *natter_message_row_get_highlighted (NatterMessageRow *self);
gboolean       natter_message_row_get_mentions_me (NatterMessageRow *self);
GtkWidget     *natter_message_row_get_edited_label (NatterMessageRow *self);
GtkWidget     *natter_message_row_get_quote_button (NatterMessageRow *self);
char          *natter_message_row_dup_quote_text (NatterMessageRow *self);
GtkWidget     *natter_message_row_get_reactions_box (NatterMessageRow *self);
GtkWidget     *natter_message_row_get_emoji_chooser (NatterMessageRow *self);
GtkWidget     *natter_message_row_get_menu_button (NatterMessageRow *self);

G_END_DECLS
