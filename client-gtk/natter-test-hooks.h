/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "natter-application.h"

G_BEGIN_DECLS

void _natter_test_hooks_init (NatterApplication *self);

G_END_DECLS
