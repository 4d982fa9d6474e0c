/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <adwaita.h>

#include "natter-service.h"

G_BEGIN_DECLS

#define NATTER_TYPE_ACCOUNT_PAGE (natter_account_page_get_type ())

G_DECLARE_FINAL_TYPE (NatterAccountPage, natter_account_page, NATTER, ACCOUNT_PAGE, AdwPreferencesPage)

GtkWidget *natter_account_page_new (NatterService *service);

G_END_DECLS
