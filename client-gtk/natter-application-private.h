/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "natter-application.h"
#include "natter-service.h"
#include "natter-window.h"

G_BEGIN_DECLS

struct _NatterApplication
{
  AdwApplication  parent_instance;

  GSettings      *settings;   /* (owned) */
  NatterService  *service;    /* (owned) */
  GHashTable     *notified;   /* (owned): room name → NatterRoom with a notification out */
  guint           sigterm_id;
};

void           _natter_application_actions_init (NatterApplication *self);
NatterService *_natter_application_get_service  (NatterApplication *self);
NatterWindow  *_natter_application_get_window   (NatterApplication *self);
NatterWindow  *_natter_application_present      (NatterApplication *self);

G_END_DECLS
