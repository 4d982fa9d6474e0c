/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

void natter_tooltips_attach     (GtkWidget *widget);
void natter_tooltips_attach_all (GtkWidget *widget);

G_END_DECLS
