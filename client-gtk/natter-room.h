/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-dbus-generated.h"
#include "natter-message.h"
#include "natter-outgoing.h"

G_BEGIN_DECLS

#define NATTER_TYPE_ROOM (natter_room_get_type ())

G_DECLARE_FINAL_TYPE (NatterRoom, natter_room, NATTER, ROOM, GObject)

/* How many messages one History() call asks for. */
#define NATTER_ROOM_PAGE_SIZE 50

NatterRoom         *natter_room_new                (const char          *name,
                                                    const char          *account);
void                natter_room_attach             (NatterRoom          *self,
                                                    NatterDBusChatRoom  *proxy);
void                natter_room_detach             (NatterRoom          *self);
gboolean            natter_room_is_attached        (NatterRoom          *self);
void                natter_room_set_account        (NatterRoom          *self,
                                                    const char          *account);
void                natter_room_reset              (NatterRoom          *self);
const char         *natter_room_get_name           (NatterRoom          *self);
const char         *natter_room_get_display_name   (NatterRoom          *self);
const char         *natter_room_get_icon_name      (NatterRoom          *self);
const char         *natter_room_get_kind           (NatterRoom          *self);
const char         *natter_room_get_topic          (NatterRoom          *self);
char               *natter_room_dup_subtitle       (NatterRoom          *self);
guint64             natter_room_get_unread_count   (NatterRoom          *self);
guint64             natter_room_get_last_seq       (NatterRoom          *self);
guint64             natter_room_get_read_seq       (NatterRoom          *self);
const char * const *natter_room_get_members        (NatterRoom          *self);
const char * const *natter_room_get_online         (NatterRoom          *self);
gboolean            natter_room_get_private        (NatterRoom          *self);
const char         *natter_room_get_member_role    (NatterRoom          *self,
                                                    const char          *user);
NatterDBusChatRoom *natter_room_get_proxy          (NatterRoom          *self);
GStrv               natter_room_dup_typing         (NatterRoom          *self);
GStrv               natter_room_dup_readers        (NatterRoom          *self,
                                                    guint64              seq);
GListModel         *natter_room_get_messages       (NatterRoom          *self);
NatterMessage      *natter_room_get_last_message   (NatterRoom          *self);
gboolean            natter_room_get_has_more       (NatterRoom          *self);
gboolean            natter_room_get_history_loaded (NatterRoom          *self);
gboolean            natter_room_get_loading        (NatterRoom          *self);
gboolean            natter_room_add_message        (NatterRoom          *self,
                                                    NatterMessage       *message);
void                natter_room_load_recent        (NatterRoom          *self);
void                natter_room_load_older         (NatterRoom          *self);
void                natter_room_send_async         (NatterRoom          *self,
                                                    const char          *body,
                                                    GCancellable        *cancellable,
                                                    GAsyncReadyCallback  callback,
                                                    gpointer             user_data);
gboolean            natter_room_send_finish        (NatterRoom          *self,
                                                    GAsyncResult        *result,
                                                    guint64             *out_seq,
                                                    GError             **error);
void                natter_room_resend_async       (NatterRoom          *self,
                                                    NatterOutgoing      *outgoing,
                                                    GCancellable        *cancellable,
                                                    GAsyncReadyCallback  callback,
                                                    gpointer             user_data);
GListModel         *natter_room_get_outgoing       (NatterRoom          *self);
void                natter_room_message_arrived    (NatterRoom          *self,
                                                    const char          *client_msg_id);
void                natter_room_leave_async        (NatterRoom          *self,
                                                    GCancellable        *cancellable,
                                                    GAsyncReadyCallback  callback,
                                                    gpointer             user_data);
gboolean            natter_room_leave_finish       (NatterRoom          *self,
                                                    GAsyncResult        *result,
                                                    GError             **error);
void                natter_room_mark_read          (NatterRoom          *self);
void                natter_room_set_typing         (NatterRoom          *self,
                                                    gboolean             typing);
void                natter_room_set_viewed         (NatterRoom          *self,
                                                    gboolean             viewed);

void                natter_room_reply_async        (NatterRoom          *self,
                                                    guint64              reply_to,
                                                    const char          *body,
                                                    GCancellable        *cancellable,
                                                    GAsyncReadyCallback  callback,
                                                    gpointer             user_data);
NatterMessage      *natter_room_lookup_message     (NatterRoom          *self,
                                                    guint64              seq);
void                natter_room_edit_async         (NatterRoom          *self,
                                                    guint64              seq,
                                                    const char          *body,
                                                    GCancellable        *cancellable,
                                                    GAsyncReadyCallback  callback,
                                                    gpointer             user_data);
void                natter_room_delete_async       (NatterRoom          *self,
                                                    guint64              seq,
                                                    GCancellable        *cancellable,
                                                    GAsyncReadyCallback  callback,
                                                    gpointer             user_data);
void                natter_room_react_async        (NatterRoom          *self,
                                                    guint64              seq,
                                                    const char          *emoji,
                                                    gboolean             active,
                                                    GCancellable        *cancellable,
                                                    GAsyncReadyCallback  callback,
                                                    gpointer             user_data);
void                natter_room_set_notification_level_async (NatterRoom          *self,
                                                    const char          *level,
                                                    GCancellable        *cancellable,
                                                    GAsyncReadyCallback  callback,
                                                    gpointer             user_data);
gboolean            natter_room_change_finish      (NatterRoom          *self,
                                                    GAsyncResult        *result,
                                                    GError             **error);
const char         *natter_room_get_role           (NatterRoom          *self);
gboolean            natter_room_get_can_moderate   (NatterRoom          *self,
                                                    gboolean             admin);
const char         *natter_room_get_notification_level (NatterRoom      *self);
const char         *natter_room_get_account        (NatterRoom          *self);

G_END_DECLS
