/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "natter-dbus-generated.h"

G_BEGIN_DECLS

void natter_dbus_account_iface_init (NatterDBusChatIface *iface);

G_END_DECLS
