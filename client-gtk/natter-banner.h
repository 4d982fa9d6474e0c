/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gtk/gtk.h>

#include "natter-service.h"

G_BEGIN_DECLS

#define NATTER_TYPE_BANNER (natter_banner_get_type ())

G_DECLARE_FINAL_TYPE (NatterBanner, natter_banner, NATTER, BANNER, GtkWidget)

void        natter_banner_set_service  (NatterBanner  *self,
                                        NatterService *service);
void        natter_banner_set_active   (NatterBanner  *self,
                                        gboolean       active);
gboolean    natter_banner_get_revealed (NatterBanner  *self);
const char *natter_banner_get_title    (NatterBanner  *self);

G_END_DECLS
