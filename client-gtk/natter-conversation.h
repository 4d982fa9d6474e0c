/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gtk/gtk.h>

#include "natter-service.h"

G_BEGIN_DECLS

#define NATTER_TYPE_CONVERSATION (natter_conversation_get_type ())

G_DECLARE_FINAL_TYPE (NatterConversation, natter_conversation, NATTER, CONVERSATION, GtkWidget)

void        natter_conversation_set_service      (NatterConversation *self,
                                                  NatterService      *service);
void        natter_conversation_set_room         (NatterConversation *self,
                                                  NatterRoom         *room);
NatterRoom *natter_conversation_get_room         (NatterConversation *self);
void        natter_conversation_set_on_screen    (NatterConversation *self,
                                                  gboolean            on_screen);
void        natter_conversation_focus_composer   (NatterConversation *self);
void        natter_conversation_insert_text      (NatterConversation *self,
                                                  const char         *text);
gboolean    natter_conversation_handle_key       (NatterConversation *self,
                                                  guint               keyval,
                                                  GdkModifierType     state);
char       *natter_conversation_dup_composer_text (NatterConversation *self);
GtkListBox *natter_conversation_get_outgoing_list (NatterConversation *self);
void        natter_conversation_reveal           (NatterConversation *self,
                                                  guint64             seq);
guint64     natter_conversation_get_highlighted  (NatterConversation *self);
GtkListBox *natter_conversation_get_message_list (NatterConversation *self);
const char *natter_conversation_get_typing_text  (NatterConversation *self);
const char *natter_conversation_get_seen_text    (NatterConversation *self);
const char *natter_conversation_get_placeholder  (NatterConversation *self);
gboolean    natter_conversation_get_at_start     (NatterConversation *self);
void        natter_conversation_scroll           (NatterConversation *self,
                                                  GtkScrollType       scroll);

G_END_DECLS
