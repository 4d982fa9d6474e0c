/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define NATTER_TYPE_MESSAGE (natter_message_get_type ())

G_DECLARE_FINAL_TYPE (NatterMessage, natter_message, NATTER, MESSAGE, GObject)

NatterMessage *natter_message_new           (const char    *room,
                                             guint64        seq,
                                             gint64         timestamp,
                                             const char    *sender,
                                             const char    *body,
                                             const char    *kind);
const char    *natter_message_get_room      (NatterMessage *self);
guint64        natter_message_get_seq       (NatterMessage *self);
gint64         natter_message_get_timestamp (NatterMessage *self);
GDateTime     *natter_message_dup_datetime  (NatterMessage *self);
const char    *natter_message_get_sender    (NatterMessage *self);
const char    *natter_message_get_body      (NatterMessage *self);
const char    *natter_message_get_kind      (NatterMessage *self);
gboolean       natter_message_get_continued (NatterMessage *self);
void           natter_message_set_continued (NatterMessage *self,
                                             gboolean       continued);
gboolean       natter_message_get_own       (NatterMessage *self);
void           natter_message_set_own       (NatterMessage *self,
                                             gboolean       own);
gboolean       natter_message_same_day      (NatterMessage *self,
                                             NatterMessage *other);
gboolean       natter_message_get_deleted   (NatterMessage *self);
gint64         natter_message_get_edited_timestamp (NatterMessage *self);
guint64        natter_message_get_reply_to  (NatterMessage *self);
GVariant      *natter_message_get_reactions (NatterMessage *self);
const char * const *natter_message_get_mentions (NatterMessage *self);
gboolean       natter_message_get_detailed  (NatterMessage *self);
void           natter_message_apply         (NatterMessage *self,
                                             const char    *body,
                                             const char    *kind,
                                             GVariant      *details);
void           natter_message_update_from   (NatterMessage *self,
                                             NatterMessage *other);
gboolean       natter_message_mentions      (NatterMessage *self,
                                             const char    *user);
NatterMessage *natter_message_get_quoted    (NatterMessage *self);
void           natter_message_set_quoted    (NatterMessage *self,
                                             NatterMessage *quoted);

G_END_DECLS
