/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter"

#include "config.h"

#include <locale.h>
#include <glib/gi18n.h>

#include "natter-application.h"

int
main (int   argc,
      char *argv[])
{
  g_autoptr(NatterApplication) app = NULL;
  const char *localedir = g_getenv ("NATTER_LOCALEDIR");

  /* NATTER_LOCALEDIR: the translations of a build tree, for running uninstalled. */
  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, localedir != NULL ? localedir : LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  app = natter_application_new ();
  return g_application_run (G_APPLICATION (app), argc, argv);
}
