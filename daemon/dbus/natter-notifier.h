/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "natter.pb-c.h"

G_BEGIN_DECLS

#define NATTER_TYPE_NOTIFIER (natter_notifier_get_type ())
G_DECLARE_FINAL_TYPE (NatterNotifier, natter_notifier, NATTER, NOTIFIER, GObject)

/**
 * NatterNotifier:
 *
 * Desktop notifications for new messages, through `org.freedesktop.Notifications` on the
 * session bus. natterd has no desktop file and is no #GApplication (the GTK app owns the
 * app ID), so #GNotification is not an option; the plain D-Bus interface works for any
 * process. One notification per room, replaced by the room's next message and withdrawn
 * when the room is read. Its "default" action opens the room in the app through
 * `org.freedesktop.Application.ActivateAction ("open-room", [<room>])`.
 *
 * Notifications are sent only while a notification server owns its name (GNOME Shell
 * does), so a bus without one never gets one activated for a chat message.
 *
 * Inside a Flatpak, where natterd may not talk to the notification server, they go
 * through `org.freedesktop.portal.Notification` instead, under the app's ID and with
 * the ids the GTK app's #GNotification uses; the portal opens the room through the
 * same action.
 */

NatterNotifier *natter_notifier_new          (GDBusConnection       *connection);
void            natter_notifier_show         (NatterNotifier        *self,
                                              const Natter__Message *message);
void            natter_notifier_withdraw     (NatterNotifier        *self,
                                              const char            *room);
void            natter_notifier_message_changed (NatterNotifier     *self,
                                                 const Natter__Message *change);
void            natter_notifier_show_invitation (NatterNotifier     *self,
                                                 const char         *room,
                                                 const char         *by);

gboolean        natter_notifier_level_allows (const char            *level,
                                              const char            *account,
                                              const Natter__Message *message);
char           *natter_notifier_title_for    (const Natter__Message *message);
void            natter_notifier_activate_app (GDBusConnection       *connection,
                                              const char            *action,
                                              GVariant              *parameter,
                                              const char            *activation_token,
                                              const char            *startup_id);

G_END_DECLS
