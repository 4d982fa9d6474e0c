/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define NATTER_TYPE_OUTGOING (natter_outgoing_get_type ())

G_DECLARE_FINAL_TYPE (NatterOutgoing, natter_outgoing, NATTER, OUTGOING, GObject)

NatterOutgoing *natter_outgoing_new               (const char     *body);
const char     *natter_outgoing_get_body          (NatterOutgoing *self);
const char     *natter_outgoing_get_client_msg_id (NatterOutgoing *self);
const char     *natter_outgoing_get_error         (NatterOutgoing *self);
void            natter_outgoing_set_error         (NatterOutgoing *self,
                                                   const char     *error);

guint64         natter_outgoing_get_reply_to      (NatterOutgoing *self);
void            natter_outgoing_set_reply_to      (NatterOutgoing *self,
                                                   guint64         reply_to);

G_END_DECLS
