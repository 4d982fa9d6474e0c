/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "natter-banner.h"
#include "natter-conversation.h"
#include "natter-service.h"
#include "natter-window.h"

G_BEGIN_DECLS

typedef enum {
  NATTER_PENDING_OPEN,     /* open it if the account has it (the last room at start-up) */
  NATTER_PENDING_JOIN,     /* join it when natterd is there, then open it */
  NATTER_PENDING_JOINING,  /* JoinRoom() is on its way: wait for the room */
} NatterPending;

struct _NatterWindow
{
  AdwApplicationWindow  parent_instance;

  NatterService        *service;            /* (owned) */
  GSettings            *settings;           /* (owned) */
  GtkSortListModel     *sorted_rooms;       /* (owned) */
  GCancellable         *search_cancellable; /* (owned) (nullable) */
  char                 *pending_room;       /* (owned) (nullable): to open when it appears */
  NatterPending         pending;            /* what to do while pending_room is not there */
  guint64               pending_seq;        /* a message of pending_room to reveal, or 0 */
  gboolean              welcome_shown;

  /* Template children */
  AdwToastOverlay      *toast_overlay;
  AdwLeaflet           *leaflet;
  GtkWidget            *sidebar;
  AdwWindowTitle       *sidebar_title;
  GtkToggleButton      *search_button;
  GtkSearchBar         *search_bar;
  GtkSearchEntry       *search_entry;
  NatterBanner         *sidebar_banner;
  GtkStack             *sidebar_stack;
  GtkListBox           *room_list;
  GtkListBox           *search_list;
  GtkWidget            *content;
  AdwWindowTitle       *room_title;
  GtkMenuButton        *room_menu_button;
  GtkMenuButton        *members_button;
  NatterBanner         *content_banner;
  GtkStack             *content_stack;
  NatterConversation   *conversation;
};

void      _natter_window_actions_init       (NatterWindow      *self);
void      _natter_window_actions_update     (NatterWindow      *self);
void      _natter_window_go_back            (NatterWindow      *self);
void      _natter_window_room_actions_init  (NatterWindow      *self);
void      _natter_window_room_actions_update (NatterWindow     *self);
void      _natter_window_room_actions_set_service (NatterWindow *self);

G_END_DECLS
