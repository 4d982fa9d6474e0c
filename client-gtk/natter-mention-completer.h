/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define NATTER_TYPE_MENTION_COMPLETER (natter_mention_completer_get_type ())

G_DECLARE_FINAL_TYPE (NatterMentionCompleter, natter_mention_completer, NATTER, MENTION_COMPLETER, GObject)

NatterMentionCompleter *natter_mention_completer_new      (GtkTextBuffer          *buffer);
gboolean                natter_mention_completer_complete (NatterMentionCompleter *self,
                                                           const char * const     *members,
                                                           const char             *account);
void                    natter_mention_completer_reset    (NatterMentionCompleter *self);

G_END_DECLS
