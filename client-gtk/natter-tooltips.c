/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-tooltips"

#include "config.h"

#include "natter-tooltips.h"

/* GTK 4.8 lets a tooltip's text be only as wide as as many average Latin characters as
 * it has characters, so Chinese or Japanese text, about twice that wide, wraps after
 * every character (主菜单 as three lines). The app's own tooltips show their text in a
 * label of their own instead, which wraps only past the usual 50 characters. */

static gboolean
query_tooltip_cb (GtkWidget  *widget,
                  int         x,
                  int         y,
                  gboolean    keyboard_mode,
                  GtkTooltip *tooltip,
                  gpointer    user_data)
{
  const char *text = gtk_widget_get_tooltip_text (widget);
  GtkWidget *label;

  /* GTK's own handling, which shows nothing without a text. */
  if (text == NULL)
    return FALSE;

  label = gtk_label_new (text);
  gtk_label_set_wrap (GTK_LABEL (label), TRUE);
  gtk_label_set_max_width_chars (GTK_LABEL (label), 50);
  gtk_tooltip_set_custom (tooltip, label);
  return TRUE;
}

/**
 * natter_tooltips_attach:
 * @widget: a widget whose tooltip text is, or will be, set
 *
 * Shows @widget's tooltip text without wrapping it after each wide character.
 */
void
natter_tooltips_attach (GtkWidget *widget)
{
  g_return_if_fail (GTK_IS_WIDGET (widget));

  if (g_signal_handler_find (widget, G_SIGNAL_MATCH_FUNC, 0, 0, NULL, query_tooltip_cb, NULL) == 0)
    g_signal_connect (widget, "query-tooltip", G_CALLBACK (query_tooltip_cb), NULL);
}

/**
 * natter_tooltips_attach_all:
 * @widget: a widget, such as a window whose template is built
 *
 * natter_tooltips_attach() for @widget and each of its descendants that has a
 * tooltip text.
 */
void
natter_tooltips_attach_all (GtkWidget *widget)
{
  g_return_if_fail (GTK_IS_WIDGET (widget));

  if (gtk_widget_get_tooltip_text (widget) != NULL)
    natter_tooltips_attach (widget);
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    natter_tooltips_attach_all (child);
}
