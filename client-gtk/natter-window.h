/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <adwaita.h>

#include "natter-application.h"
#include "natter-room.h"

G_BEGIN_DECLS

#define NATTER_TYPE_WINDOW (natter_window_get_type ())

G_DECLARE_FINAL_TYPE (NatterWindow, natter_window, NATTER, WINDOW, AdwApplicationWindow)

NatterWindow *natter_window_new              (NatterApplication *application);
void          natter_window_open_room        (NatterWindow      *self,
                                              const char        *name);
void          natter_window_search           (NatterWindow      *self,
                                              const char        *terms);
NatterRoom   *natter_window_get_visible_room (NatterWindow      *self);
void          natter_window_open_message     (NatterWindow      *self,
                                              const char        *name,
                                              guint64            seq);
void          natter_window_show_toast       (NatterWindow      *self,
                                              const char        *text);

G_END_DECLS
