/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

gboolean  natter_room_name_is_valid  (const char *name);
char     *natter_room_name_explain   (const char *typed);

G_END_DECLS
