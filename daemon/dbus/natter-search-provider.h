/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-dbus-client.h"
#include "natter-shell-generated.h"

G_BEGIN_DECLS

#define NATTER_SEARCH_PROVIDER_PATH "/io/github/natter/Natter/SearchProvider"

#define NATTER_TYPE_SEARCH_PROVIDER (natter_search_provider_get_type ())
G_DECLARE_FINAL_TYPE (NatterSearchProvider, natter_search_provider, NATTER, SEARCH_PROVIDER,
                      NatterShellSearchProvider2Skeleton)

/**
 * NatterSearchProvider:
 *
 * GNOME Shell's `org.gnome.Shell.SearchProvider2` over the hub's history search, as the
 * local account: the overview lists matching messages and opens their room in the app.
 * Exported at %NATTER_SEARCH_PROVIDER_PATH; data/io.github.natter.Natter.search-provider.ini
 * points the Shell at it.
 */

NatterSearchProvider *natter_search_provider_new (NatterDBusClient *client);
void                  natter_search_provider_set_client (NatterSearchProvider *self,
                                                         NatterDBusClient     *client);

G_END_DECLS
