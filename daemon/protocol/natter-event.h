/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "natter-codec.h"

G_BEGIN_DECLS

/**
 * NatterEvent:
 *
 * One server frame on its way to one or many clients. The frame is serialized at most
 * once per codec and the bytes are shared by every recipient, so fanning a message out
 * to a thousand sessions encodes it twice at most.
 */
typedef struct _NatterEvent NatterEvent;

NatterEvent               *natter_event_new       (const Natter__ServerFrame *frame);
NatterEvent               *natter_event_ref       (NatterEvent               *self);
void                       natter_event_unref     (NatterEvent               *self);
GBytes                    *natter_event_get_bytes (NatterEvent               *self,
                                                   NatterCodec                codec);
const Natter__ServerFrame *natter_event_get_frame (NatterEvent               *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterEvent, natter_event_unref)

G_END_DECLS
