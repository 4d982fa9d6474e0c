/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-test-hooks"

#include "config.h"

#include "natter-application-private.h"
#include "natter-message-row.h"
#include "natter-outgoing-row.h"
#include "natter-room-row.h"
#include "natter-test-hooks.h"
#include "natter-window-private.h"

/* For the GUI tests (tests/gui) only: compiled into the app with -Dtest_hooks=true, never
 * in an ordinary build. The tests drive the app from outside through these exported
 * actions. Each reads or works the widgets themselves: describe reports what the widgets
 * show, type and key go through the composer's own input handling, popup and close open
 * and close what a user would with the pointer. */

static void
collect_labels (GtkWidget       *widget,
                GVariantBuilder *labels)
{
  if (!gtk_widget_get_mapped (widget))
    return;
  if (GTK_IS_LABEL (widget) && *gtk_label_get_text (GTK_LABEL (widget)) != '\0')
    g_variant_builder_add (labels, "s", gtk_label_get_text (GTK_LABEL (widget)));
  if (gtk_widget_get_tooltip_text (widget) != NULL)
    g_variant_builder_add (labels, "s", gtk_widget_get_tooltip_text (widget));
  if (GTK_IS_SEARCH_ENTRY (widget))
    {
      g_autofree char *placeholder = NULL;

      g_object_get (widget, "placeholder-text", &placeholder, NULL);
      if (placeholder != NULL)
        g_variant_builder_add (labels, "s", placeholder);
    }
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    collect_labels (child, labels);
}

static void
collect_header_texts (GtkWidget       *header,
                      GVariantBuilder *days,
                      gboolean        *marker)
{
  for (GtkWidget *child = gtk_widget_get_first_child (header); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *label = gtk_widget_get_next_sibling (gtk_widget_get_first_child (child));

      if (gtk_widget_has_css_class (child, "unread-marker"))
        *marker = TRUE;
      else if (label != NULL && GTK_IS_LABEL (label))
        g_variant_builder_add (days, "s", gtk_label_get_text (GTK_LABEL (label)));
    }
}

static const char *
nonnull (const char *s)
{
  return s != NULL ? s : "";
}

/* A window by the name describe gives it: its title, or its type without one. */
static const char *
window_name (GtkWindow *window)
{
  const char *title = gtk_window_get_title (window);

  return title != NULL && *title != '\0' ? title : G_OBJECT_TYPE_NAME (window);
}

/* Menu buttons with their popover up, by their id in the template; and where each
 * button is in the window's surface, for the pointer. */
static void
collect_popovers (GtkWidget       *widget,
                  GVariantBuilder *popovers,
                  GVariantBuilder *buttons)
{
  if (GTK_IS_MENU_BUTTON (widget) && gtk_widget_get_mapped (widget))
    {
      GtkNative *native = gtk_widget_get_native (widget);
      double surface_x, surface_y, x, y;

      gtk_native_get_surface_transform (native, &surface_x, &surface_y);
      if (gtk_widget_translate_coordinates (widget, GTK_WIDGET (native),
                                            gtk_widget_get_width (widget) / 2.0,
                                            gtk_widget_get_height (widget) / 2.0, &x, &y))
        g_variant_builder_add (buttons, "(sii)", nonnull (gtk_buildable_get_buildable_id (GTK_BUILDABLE (widget))),
                               (int) (x + surface_x), (int) (y + surface_y));
    }
  if (GTK_IS_MENU_BUTTON (widget))
    {
      GtkPopover *popover = gtk_menu_button_get_popover (GTK_MENU_BUTTON (widget));

      if (popover != NULL && gtk_widget_get_mapped (GTK_WIDGET (popover)))
        g_variant_builder_add (popovers, "s", nonnull (gtk_buildable_get_buildable_id (GTK_BUILDABLE (widget))));
    }
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    collect_popovers (child, popovers, buttons);
}

static GtkLabel *
find_label (GtkWidget *widget)
{
  if (GTK_IS_LABEL (widget) && gtk_widget_get_visible (widget))
    return GTK_LABEL (widget);
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkLabel *label = find_label (child);

      if (label != NULL)
        return label;
    }
  return NULL;
}

/* Tooltips on screen: their text and size, to see how they wrap. */
static void
collect_tooltips (GtkWidget       *widget,
                  GVariantBuilder *tooltips)
{
  if (g_str_equal (G_OBJECT_TYPE_NAME (widget), "GtkTooltipWindow") && gtk_widget_get_mapped (widget))
    {
      GtkLabel *label = find_label (widget);

      g_variant_builder_add (tooltips, "(sii)", label != NULL ? gtk_label_get_text (label) : "",
                             gtk_widget_get_width (widget), gtk_widget_get_height (widget));
      return;
    }
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    collect_tooltips (child, tooltips);
}

static int
count_banners (GtkWidget *widget)
{
  int n = 0;

  if (NATTER_IS_BANNER (widget))
    return gtk_widget_get_mapped (widget) && natter_banner_get_revealed (NATTER_BANNER (widget));
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    n += count_banners (child);
  return n;
}

static const char *
banner_text (NatterWindow *self)
{
  if (natter_banner_get_revealed (self->sidebar_banner))
    return natter_banner_get_title (self->sidebar_banner);
  if (natter_banner_get_revealed (self->content_banner))
    return natter_banner_get_title (self->content_banner);
  return "";
}

static char *
markup_unescape (const char *escaped)
{
  GString *text = g_string_new (escaped);

  g_string_replace (text, "&lt;", "<", 0);
  g_string_replace (text, "&gt;", ">", 0);
  g_string_replace (text, "&quot;", "\"", 0);
  g_string_replace (text, "&#39;", "'", 0);
  g_string_replace (text, "&apos;", "'", 0);
  g_string_replace (text, "&amp;", "&", 0);
  return g_string_free (text, FALSE);
}

/* The links of a message and where they are in the window's surface, where a click
 * opens them. */
static void
add_links (GVariantBuilder *links,
           NatterWindow    *self,
           GtkLabel        *label)
{
  const char *text = gtk_label_get_text (label);
  const char *href = gtk_label_get_label (label);
  double surface_x;
  double surface_y;
  int offset_x;
  int offset_y;

  gtk_native_get_surface_transform (GTK_NATIVE (self), &surface_x, &surface_y);
  gtk_label_get_layout_offsets (label, &offset_x, &offset_y);
  while ((href = strstr (href, "<a href=\"")) != NULL)
    {
      g_autofree char *escaped = NULL;
      g_autofree char *uri = NULL;
      const char *found;
      PangoRectangle rect;
      double x = -1;
      double y = -1;

      href += strlen ("<a href=\"");
      escaped = g_strndup (href, strcspn (href, "\""));
      uri = markup_unescape (escaped);
      found = strstr (text, uri);
      if (found != NULL && gtk_widget_get_mapped (GTK_WIDGET (label)))
        {
          /* A few pixels into the link's first character, half-way down its line. */
          pango_layout_index_to_pos (gtk_label_get_layout (label), found - text, &rect);
          if (gtk_widget_translate_coordinates (GTK_WIDGET (label), GTK_WIDGET (self),
                                                offset_x + pango_units_to_double (rect.x) + 3,
                                                offset_y + pango_units_to_double (rect.y + rect.height / 2),
                                                &x, &y))
            {
              x += surface_x;
              y += surface_y;
            }
        }
      g_variant_builder_add (links, "(sii)", uri, (int) x, (int) y);
    }
}

/* Where @widget's middle is in the window's surface, for the pointer; (-1, -1) when it
 * is not on screen. */
static void
widget_point (NatterWindow *self,
              GtkWidget    *widget,
              int          *x,
              int          *y)
{
  double surface_x, surface_y, wx, wy;

  *x = -1;
  *y = -1;
  if (!gtk_widget_get_mapped (widget))
    return;
  gtk_native_get_surface_transform (GTK_NATIVE (self), &surface_x, &surface_y);
  if (gtk_widget_translate_coordinates (widget, GTK_WIDGET (self), gtk_widget_get_width (widget) / 2.0,
                                        gtk_widget_get_height (widget) / 2.0, &wx, &wy))
    {
      *x = (int) (wx + surface_x);
      *y = (int) (wy + surface_y);
    }
}

/* What people did to a message, as its row shows it: "row" (s, the widget),
 * "edited" (b) and its tooltip,
 * "deleted" (b), "quote" (s), "reactions" a(ssbii) (label, tooltip, the account's own,
 * where it is), "mentions" (as, highlighted), "mentions-me" (b), "body-point" and
 * "menu-point" ((ii): where the text and the menu button are). Returns a floating
 * `a{sv}`. */
static GVariant *
describe_message_row (NatterWindow     *self,
                      NatterMessageRow *row)
{
  GVariantBuilder builder;
  GVariantBuilder reactions;
  GtkWidget *edited = natter_message_row_get_edited_label (row);
  g_autofree char *quote = natter_message_row_dup_quote_text (row);
  int x, y;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  /* Which widget it is: a row changed in place stays the same one. */
  g_variant_builder_add (&builder, "{sv}", "row", g_variant_new_take_string (g_strdup_printf ("%p", (void *) row)));
  g_variant_builder_add (&builder, "{sv}", "edited", g_variant_new_boolean (gtk_widget_get_visible (edited)));
  g_variant_builder_add (&builder, "{sv}", "edited-tooltip",
                         g_variant_new_string (nonnull (gtk_widget_get_tooltip_text (edited))));
  g_variant_builder_add (&builder, "{sv}", "deleted",
                         g_variant_new_boolean (gtk_widget_has_css_class (GTK_WIDGET (row), "deleted")));
  g_variant_builder_add (&builder, "{sv}", "quote", g_variant_new_string (quote));
  g_variant_builder_init (&reactions, G_VARIANT_TYPE ("a(ssbii)"));
  if (gtk_widget_get_visible (natter_message_row_get_reactions_box (row)))
    for (GtkWidget *child = gtk_widget_get_first_child (natter_message_row_get_reactions_box (row));
         child != NULL; child = gtk_widget_get_next_sibling (child))
      {
        GtkWidget *button = gtk_flow_box_child_get_child (GTK_FLOW_BOX_CHILD (child));

        widget_point (self, button, &x, &y);
        g_variant_builder_add (&reactions, "(ssbii)", nonnull (gtk_button_get_label (GTK_BUTTON (button))),
                               nonnull (gtk_widget_get_tooltip_text (button)),
                               gtk_widget_has_css_class (button, "mine"), x, y);
      }
  g_variant_builder_add (&builder, "{sv}", "reactions", g_variant_builder_end (&reactions));
  g_variant_builder_add (&builder, "{sv}", "mentions",
                         g_variant_new_strv (natter_message_row_get_highlighted (row), -1));
  g_variant_builder_add (&builder, "{sv}", "mentions-me",
                         g_variant_new_boolean (natter_message_row_get_mentions_me (row)));
  widget_point (self, GTK_WIDGET (natter_message_row_get_body_label (row)), &x, &y);
  g_variant_builder_add (&builder, "{sv}", "body-point", g_variant_new ("(ii)", x, y));
  widget_point (self, natter_message_row_get_menu_button (row), &x, &y);
  g_variant_builder_add (&builder, "{sv}", "menu-point", g_variant_new ("(ii)", x, y));
  return g_variant_builder_end (&builder);
}

/* What the window shows, read back from its widgets (not from the model behind them).
 * Returns a floating `a{sv}`. */
static GVariant *
describe_window (NatterWindow *self)
{
  GVariantBuilder builder;
  GVariantBuilder rooms;
  GVariantBuilder sections;
  GVariantBuilder messages;
  GVariantBuilder days;
  GVariantBuilder results;
  GVariantBuilder outgoing;
  GVariantBuilder labels;
  GVariantBuilder windows;
  GVariantBuilder window_sizes;
  GVariantBuilder popovers;
  GVariantBuilder buttons;
  GVariantBuilder tooltips;
  GVariantBuilder links;
  GVariantBuilder details;
  GVariantBuilder private_rooms;
  GtkListBox *list = natter_conversation_get_message_list (self->conversation);
  NatterRoom *room = natter_conversation_get_room (self->conversation);
  GtkListBoxRow *row;
  gboolean marker = FALSE;
  g_autofree char *composer = natter_conversation_dup_composer_text (self->conversation);
  g_autoptr(GList) toplevels = NULL;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);

  g_variant_builder_init (&rooms, G_VARIANT_TYPE ("a(sssb)"));
  g_variant_builder_init (&sections, G_VARIANT_TYPE_STRING_ARRAY);
  g_variant_builder_init (&private_rooms, G_VARIANT_TYPE_STRING_ARRAY);
  for (int i = 0; (row = gtk_list_box_get_row_at_index (self->room_list, i)) != NULL; i++)
    {
      NatterRoomRow *room_row = NATTER_ROOM_ROW (row);
      GtkWidget *header = gtk_list_box_row_get_header (row);

      if (header != NULL && GTK_IS_LABEL (header))
        g_variant_builder_add (&sections, "s", gtk_label_get_text (GTK_LABEL (header)));
      g_variant_builder_add (&rooms, "(sssb)",
                             natter_room_get_name (natter_room_row_get_room (room_row)),
                             natter_room_row_get_title (room_row),
                             natter_room_row_get_badge (room_row),
                             gtk_list_box_row_is_selected (row));
      if (natter_room_row_get_private_shown (room_row))
        g_variant_builder_add (&private_rooms, "s", natter_room_get_name (natter_room_row_get_room (room_row)));
    }

  g_variant_builder_init (&messages, G_VARIANT_TYPE ("a(tsssb)"));
  g_variant_builder_init (&links, G_VARIANT_TYPE ("a(sii)"));
  g_variant_builder_init (&days, G_VARIANT_TYPE_STRING_ARRAY);
  g_variant_builder_init (&details, G_VARIANT_TYPE ("a(ta{sv})"));
  for (int i = 0; (row = gtk_list_box_get_row_at_index (list, i)) != NULL; i++)
    {
      NatterMessageRow *message_row = NATTER_MESSAGE_ROW (row);

      if (gtk_list_box_row_get_header (row) != NULL)
        collect_header_texts (gtk_list_box_row_get_header (row), &days, &marker);
      g_variant_builder_add (&messages, "(tsssb)",
                             natter_message_get_seq (natter_message_row_get_message (message_row)),
                             natter_message_row_get_sender (message_row),
                             natter_message_row_get_time (message_row),
                             natter_message_row_get_body (message_row),
                             natter_message_row_get_header_visible (message_row));
      add_links (&links, self, natter_message_row_get_body_label (message_row));
      g_variant_builder_add (&details, "(t@a{sv})",
                             natter_message_get_seq (natter_message_row_get_message (message_row)),
                             describe_message_row (self, message_row));
    }

  g_variant_builder_init (&outgoing, G_VARIANT_TYPE ("a(ss)"));
  for (int i = 0; (row = gtk_list_box_get_row_at_index (natter_conversation_get_outgoing_list (self->conversation), i)) != NULL; i++)
    g_variant_builder_add (&outgoing, "(ss)", natter_outgoing_row_get_body (NATTER_OUTGOING_ROW (row)),
                           natter_outgoing_row_get_status (NATTER_OUTGOING_ROW (row)));

  g_variant_builder_init (&results, G_VARIANT_TYPE_STRING_ARRAY);
  for (int i = 0; (row = gtk_list_box_get_row_at_index (self->search_list, i)) != NULL; i++)
    g_variant_builder_add (&results, "s", nonnull (g_object_get_data (G_OBJECT (row), "natter-room")));

  g_variant_builder_init (&labels, G_VARIANT_TYPE_STRING_ARRAY);
  collect_labels (GTK_WIDGET (self), &labels);

  /* Every other window of the app, whether or not it says whose child it is. */
  g_variant_builder_init (&windows, G_VARIANT_TYPE_STRING_ARRAY);
  g_variant_builder_init (&window_sizes, G_VARIANT_TYPE ("a(siii)"));
  g_variant_builder_init (&tooltips, G_VARIANT_TYPE ("a(sii)"));
  collect_tooltips (GTK_WIDGET (self), &tooltips);
  toplevels = gtk_window_list_toplevels ();
  for (GList *l = toplevels; l != NULL; l = l->next)
    if (l->data != self && gtk_widget_get_visible (l->data))
      {
        int min_width;

        g_variant_builder_add (&windows, "s", window_name (l->data));
        gtk_widget_measure (l->data, GTK_ORIENTATION_HORIZONTAL, -1, &min_width, NULL, NULL, NULL);
        g_variant_builder_add (&window_sizes, "(siii)", window_name (l->data),
                               gtk_widget_get_width (l->data), gtk_widget_get_height (l->data), min_width);
        collect_labels (l->data, &labels);
        collect_tooltips (l->data, &tooltips);
      }

  g_variant_builder_init (&popovers, G_VARIANT_TYPE_STRING_ARRAY);
  g_variant_builder_init (&buttons, G_VARIANT_TYPE ("a(sii)"));
  collect_popovers (GTK_WIDGET (self), &popovers, &buttons);

  g_variant_builder_add (&builder, "{sv}", "title", g_variant_new_string (nonnull (gtk_window_get_title (GTK_WINDOW (self)))));
  g_variant_builder_add (&builder, "{sv}", "width", g_variant_new_int32 (gtk_widget_get_width (GTK_WIDGET (self))));
  g_variant_builder_add (&builder, "{sv}", "height", g_variant_new_int32 (gtk_widget_get_height (GTK_WIDGET (self))));
  g_variant_builder_add (&builder, "{sv}", "folded", g_variant_new_boolean (adw_leaflet_get_folded (self->leaflet)));
  g_variant_builder_add (&builder, "{sv}", "pane",
                         g_variant_new_string (adw_leaflet_get_visible_child (self->leaflet) == self->content ? "content" : "sidebar"));
  g_variant_builder_add (&builder, "{sv}", "dark",
                         g_variant_new_boolean (adw_style_manager_get_dark (adw_style_manager_get_default ())));
  g_variant_builder_add (&builder, "{sv}", "status", g_variant_new_string (natter_service_get_status (self->service)));
  g_variant_builder_add (&builder, "{sv}", "ready", g_variant_new_boolean (natter_service_get_ready (self->service)));
  g_variant_builder_add (&builder, "{sv}", "banner", g_variant_new_string (banner_text (self)));
  g_variant_builder_add (&builder, "{sv}", "banners", g_variant_new_int32 (count_banners (GTK_WIDGET (self))));
  g_variant_builder_add (&builder, "{sv}", "sidebar-width", g_variant_new_int32 (gtk_widget_get_width (self->sidebar)));
  g_variant_builder_add (&builder, "{sv}", "account", g_variant_new_string (adw_window_title_get_subtitle (self->sidebar_title)));
  g_variant_builder_add (&builder, "{sv}", "rooms", g_variant_builder_end (&rooms));
  g_variant_builder_add (&builder, "{sv}", "sections", g_variant_builder_end (&sections));
  g_variant_builder_add (&builder, "{sv}", "private-rooms", g_variant_builder_end (&private_rooms));
  g_variant_builder_add (&builder, "{sv}", "sidebar", g_variant_new_string (nonnull (gtk_stack_get_visible_child_name (self->sidebar_stack))));
  g_variant_builder_add (&builder, "{sv}", "room", g_variant_new_string (room != NULL ? natter_room_get_name (room) : ""));
  g_variant_builder_add (&builder, "{sv}", "room-title", g_variant_new_string (adw_window_title_get_title (self->room_title)));
  g_variant_builder_add (&builder, "{sv}", "room-subtitle", g_variant_new_string (adw_window_title_get_subtitle (self->room_title)));
  g_variant_builder_add (&builder, "{sv}", "messages", g_variant_builder_end (&messages));
  g_variant_builder_add (&builder, "{sv}", "outgoing", g_variant_builder_end (&outgoing));
  g_variant_builder_add (&builder, "{sv}", "highlighted",
                         g_variant_new_uint64 (natter_conversation_get_highlighted (self->conversation)));
  g_variant_builder_add (&builder, "{sv}", "days", g_variant_builder_end (&days));
  g_variant_builder_add (&builder, "{sv}", "marker", g_variant_new_boolean (marker));
  g_variant_builder_add (&builder, "{sv}", "at-start", g_variant_new_boolean (natter_conversation_get_at_start (self->conversation)));
  g_variant_builder_add (&builder, "{sv}", "typing", g_variant_new_string (nonnull (natter_conversation_get_typing_text (self->conversation))));
  g_variant_builder_add (&builder, "{sv}", "seen", g_variant_new_string (nonnull (natter_conversation_get_seen_text (self->conversation))));
  g_variant_builder_add (&builder, "{sv}", "placeholder", g_variant_new_string (natter_conversation_get_placeholder (self->conversation)));
  g_variant_builder_add (&builder, "{sv}", "composer", g_variant_new_string (composer));
  g_variant_builder_add (&builder, "{sv}", "search-results", g_variant_builder_end (&results));
  g_variant_builder_add (&builder, "{sv}", "windows", g_variant_builder_end (&windows));
  g_variant_builder_add (&builder, "{sv}", "window-sizes", g_variant_builder_end (&window_sizes));
  g_variant_builder_add (&builder, "{sv}", "labels", g_variant_builder_end (&labels));
  g_variant_builder_add (&builder, "{sv}", "popovers", g_variant_builder_end (&popovers));
  g_variant_builder_add (&builder, "{sv}", "menu-buttons", g_variant_builder_end (&buttons));
  g_variant_builder_add (&builder, "{sv}", "tooltips", g_variant_builder_end (&tooltips));
  g_variant_builder_add (&builder, "{sv}", "links", g_variant_builder_end (&links));
  g_variant_builder_add (&builder, "{sv}", "message-details", g_variant_builder_end (&details));
  g_variant_builder_add (&builder, "{sv}", "notification-level",
                         g_variant_new_string (room != NULL ? natter_room_get_notification_level (room) : ""));

  return g_variant_builder_end (&builder);
}

/* Draws the popups (menus, tooltips) that @widget's window has open where they are,
 * over the window drawn at the origin of @snapshot. */
static void
snapshot_popups (GtkWidget   *widget,
                 GtkWindow   *window,
                 GtkSnapshot *snapshot)
{
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GdkSurface *surface = GTK_IS_NATIVE (child) ? gtk_native_get_surface (GTK_NATIVE (child)) : NULL;

      if (surface != NULL && GDK_IS_POPUP (surface) && gtk_widget_get_mapped (child))
        {
          g_autoptr(GdkPaintable) paintable = gtk_widget_paintable_new (child);
          double window_x, window_y, popup_x, popup_y;

          /* Popup positions are between surfaces; widgets sit inside theirs, past any
           * shadow. */
          gtk_native_get_surface_transform (GTK_NATIVE (window), &window_x, &window_y);
          gtk_native_get_surface_transform (GTK_NATIVE (child), &popup_x, &popup_y);
          gtk_snapshot_save (snapshot);
          gtk_snapshot_translate (snapshot, &GRAPHENE_POINT_INIT (gdk_popup_get_position_x (GDK_POPUP (surface)) + popup_x - window_x,
                                                                  gdk_popup_get_position_y (GDK_POPUP (surface)) + popup_y - window_y));
          gdk_paintable_snapshot (paintable, GDK_SNAPSHOT (snapshot),
                                  gtk_widget_get_width (child), gtk_widget_get_height (child));
          gtk_snapshot_restore (snapshot);
        }
      snapshot_popups (child, window, snapshot);
    }
}

/* Renders @window, with its open menus, with its own renderer and saves it as PNG: the
 * same picture with or without a compositor or window manager. */
static gboolean
save_png (GtkWindow   *window,
          const char  *path,
          GError     **error)
{
  GskRenderer *renderer = gtk_native_get_renderer (GTK_NATIVE (window));
  int width = gtk_widget_get_width (GTK_WIDGET (window));
  int height = gtk_widget_get_height (GTK_WIDGET (window));
  g_autoptr(GdkPaintable) paintable = NULL;
  GtkSnapshot *snapshot;
  g_autoptr(GskRenderNode) node = NULL;
  g_autoptr(GdkTexture) texture = NULL;

  if (renderer == NULL || width <= 0 || height <= 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED, "the window is not shown");
      return FALSE;
    }

  paintable = gtk_widget_paintable_new (GTK_WIDGET (window));
  snapshot = gtk_snapshot_new ();
  gdk_paintable_snapshot (paintable, GDK_SNAPSHOT (snapshot), width, height);
  snapshot_popups (GTK_WIDGET (window), window, snapshot);
  node = gtk_snapshot_free_to_node (snapshot);
  if (node == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, "nothing was drawn");
      return FALSE;
    }
  texture = gsk_renderer_render_texture (renderer, node, &GRAPHENE_RECT_INIT (0, 0, width, height));
  if (!gdk_texture_save_to_png (texture, path))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot write %s", path);
      return FALSE;
    }
  return TRUE;
}

/* The main window for "", otherwise the shown window of that name (see window_name()). */
static GtkWindow *
find_window (NatterWindow *main_window,
             const char   *name)
{
  g_autoptr(GList) toplevels = NULL;

  if (*name == '\0')
    return GTK_WINDOW (main_window);
  toplevels = gtk_window_list_toplevels ();
  for (GList *l = toplevels; l != NULL; l = l->next)
    if (gtk_widget_get_visible (l->data) && g_str_equal (window_name (l->data), name))
      return l->data;
  return NULL;
}

static NatterWindow *
test_window (NatterApplication *self)
{
  NatterWindow *window = _natter_application_get_window (self);

  if (window == NULL)
    g_warning ("test action without a window");
  return window;
}

static void
test_describe_action (GSimpleAction *action,
                      GVariant      *parameter,
                      gpointer       user_data)
{
  NatterWindow *window = test_window (user_data);
  g_autoptr(GVariant) description = NULL;
  g_autofree char *text = NULL;
  g_autoptr(GError) error = NULL;

  if (window == NULL)
    return;
  description = g_variant_ref_sink (describe_window (window));
  text = g_variant_print (description, TRUE);
  if (!g_file_set_contents (g_variant_get_string (parameter, NULL), text, -1, &error))
    g_warning ("test-describe: %s", error->message);
}

/* (window, path): see find_window() for the window's name. */
static void
test_screenshot_action (GSimpleAction *action,
                        GVariant      *parameter,
                        gpointer       user_data)
{
  NatterWindow *main_window = test_window (user_data);
  const char *name;
  const char *path;
  GtkWindow *window;
  g_autoptr(GError) error = NULL;

  if (main_window == NULL)
    return;
  g_variant_get (parameter, "(&s&s)", &name, &path);
  window = find_window (main_window, name);
  if (window == NULL)
    g_message ("test-screenshot: no window %s", name);
  else if (!save_png (window, path, &error))
    g_message ("test-screenshot: %s", error->message);
}

/* A menu button of the main window by its id in the template. */
static GtkMenuButton *
find_menu_button (GtkWidget  *widget,
                  const char *id)
{
  if (GTK_IS_MENU_BUTTON (widget) && g_strcmp0 (gtk_buildable_get_buildable_id (GTK_BUILDABLE (widget)), id) == 0)
    return GTK_MENU_BUTTON (widget);
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkMenuButton *found = find_menu_button (child, id);

      if (found != NULL)
        return found;
    }
  return NULL;
}

/* Opens the menu of a menu button of the main window. */
static void
test_popup_action (GSimpleAction *action,
                   GVariant      *parameter,
                   gpointer       user_data)
{
  NatterWindow *window = test_window (user_data);
  GtkMenuButton *button;

  if (window == NULL)
    return;
  button = find_menu_button (GTK_WIDGET (window), g_variant_get_string (parameter, NULL));
  if (button == NULL)
    {
      g_warning ("test-popup: no menu button %s", g_variant_get_string (parameter, NULL));
      return;
    }
  gtk_menu_button_popup (button);
}

static void
popdown_all (GtkWidget *widget)
{
  if (GTK_IS_MENU_BUTTON (widget))
    gtk_menu_button_popdown (GTK_MENU_BUTTON (widget));
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    popdown_all (child);
}

/* Closes every other window and menu, as Escape would. */
static void
test_close_action (GSimpleAction *action,
                   GVariant      *parameter,
                   gpointer       user_data)
{
  NatterWindow *window = test_window (user_data);
  g_autoptr(GList) toplevels = gtk_window_list_toplevels ();
  const char *buttons[] = { "new_button", "primary_menu_button", "room_menu_button", "members_button" };

  for (GList *l = toplevels; l != NULL; l = l->next)
    if (l->data != window && gtk_widget_get_visible (l->data))
      gtk_window_close (l->data);
  for (guint i = 0; window != NULL && i < G_N_ELEMENTS (buttons); i++)
    {
      GtkMenuButton *button = find_menu_button (GTK_WIDGET (window), buttons[i]);

      if (button != NULL)
        gtk_menu_button_popdown (button);
    }
  /* The menus of the messages too. */
  if (window != NULL)
    popdown_all (GTK_WIDGET (natter_conversation_get_message_list (window->conversation)));
}

/* (window, width, height): see find_window() for the window's name. */
static void
test_resize_action (GSimpleAction *action,
                    GVariant      *parameter,
                    gpointer       user_data)
{
  NatterWindow *main_window = test_window (user_data);
  const char *name;
  GtkWindow *window;
  int width;
  int height;

  if (main_window == NULL)
    return;
  g_variant_get (parameter, "(&sii)", &name, &width, &height);
  window = find_window (main_window, name);
  if (window == NULL)
    {
      g_message ("test-resize: no window %s", name);
      return;
    }
  gtk_window_unmaximize (window);
  gtk_window_set_default_size (window, width, height);
}

static void
test_type_action (GSimpleAction *action,
                  GVariant      *parameter,
                  gpointer       user_data)
{
  NatterWindow *window = test_window (user_data);

  if (window != NULL)
    natter_conversation_insert_text (window->conversation, g_variant_get_string (parameter, NULL));
}

static void
test_key_action (GSimpleAction *action,
                 GVariant      *parameter,
                 gpointer       user_data)
{
  NatterWindow *window = test_window (user_data);
  guint keyval = 0;
  GdkModifierType state = 0;

  if (window == NULL)
    return;
  if (!gtk_accelerator_parse (g_variant_get_string (parameter, NULL), &keyval, &state))
    {
      g_warning ("test-key: cannot parse %s", g_variant_get_string (parameter, NULL));
      return;
    }
  /* A key the composer leaves alone goes to the text view, which starts a new line for
   * Return. */
  if (!natter_conversation_handle_key (window->conversation, keyval, state) && keyval == GDK_KEY_Return)
    natter_conversation_insert_text (window->conversation, "\n");
}

static void
test_scroll_action (GSimpleAction *action,
                    GVariant      *parameter,
                    gpointer       user_data)
{
  NatterWindow *window = test_window (user_data);
  const char *where = g_variant_get_string (parameter, NULL);

  if (window != NULL)
    natter_conversation_scroll (window->conversation,
                                g_str_equal (where, "top") ? GTK_SCROLL_START : GTK_SCROLL_END);
}

/* A button by its label or a row by its title, in any window of the app. */
static GtkWidget *
find_control (GtkWidget  *widget,
              const char *text)
{
  if (!gtk_widget_get_visible (widget))
    return NULL;
  if ((GTK_IS_BUTTON (widget) && g_strcmp0 (gtk_button_get_label (GTK_BUTTON (widget)), text) == 0) ||
      (ADW_IS_PREFERENCES_ROW (widget) &&
       g_strcmp0 (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (widget)), text) == 0))
    return widget;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_control (child, text);

      if (found != NULL)
        return found;
    }
  return NULL;
}

static GtkWidget *
find_control_anywhere (const char *text)
{
  g_autoptr(GList) toplevels = gtk_window_list_toplevels ();

  for (GList *l = toplevels; l != NULL; l = l->next)
    {
      GtkWidget *found = find_control (l->data, text);

      if (found != NULL)
        return found;
    }
  g_message ("test hooks: nothing labelled %s", text);
  return NULL;
}

/* Clicks a button or activates a row, as a pointer or Enter would. */
static void
test_activate_action (GSimpleAction *action,
                      GVariant      *parameter,
                      gpointer       user_data)
{
  GtkWidget *control = find_control_anywhere (g_variant_get_string (parameter, NULL));

  if (control != NULL && gtk_widget_is_sensitive (control))
    gtk_widget_activate (control);
}

/* (title, text): types into an entry row. */
static void
test_fill_action (GSimpleAction *action,
                  GVariant      *parameter,
                  gpointer       user_data)
{
  const char *title;
  const char *text;
  GtkWidget *control;

  g_variant_get (parameter, "(&s&s)", &title, &text);
  control = find_control_anywhere (title);
  if (control != NULL && GTK_IS_EDITABLE (control))
    gtk_editable_set_text (GTK_EDITABLE (control), text);
}

/* Enter in an entry row, after test-fill. */
static void
test_enter_action (GSimpleAction *action,
                   GVariant      *parameter,
                   gpointer       user_data)
{
  GtkWidget *control = find_control_anywhere (g_variant_get_string (parameter, NULL));

  if (control != NULL && GTK_IS_EDITABLE (control))
    g_signal_emit_by_name (gtk_editable_get_delegate (GTK_EDITABLE (control)), "activate");
}

/* Enter in the search entry: opens the first result. */
static void
test_search_enter_action (GSimpleAction *action,
                          GVariant      *parameter,
                          gpointer       user_data)
{
  NatterWindow *window = test_window (user_data);

  if (window != NULL)
    g_signal_emit_by_name (window->search_entry, "activate");
}

/* The row of message @seq in the conversation on screen. */
static NatterMessageRow *
find_message_row (NatterApplication *app,
                  guint64            seq)
{
  NatterWindow *window = test_window (app);
  GtkListBoxRow *row;

  if (window == NULL)
    return NULL;
  for (int i = 0; (row = gtk_list_box_get_row_at_index (natter_conversation_get_message_list (window->conversation), i)) != NULL; i++)
    if (natter_message_get_seq (natter_message_row_get_message (NATTER_MESSAGE_ROW (row))) == seq)
      return NATTER_MESSAGE_ROW (row);
  g_message ("test hooks: no message %" G_GUINT64_FORMAT " on screen", seq);
  return NULL;
}

/* (seq, what, argument): works a message's row as a user would. "menu" opens its menu
 * as the Menu key does; "action" activates an item of that menu (argument: its action,
 * "message.edit"…); "quote" clicks the quote; "reaction" clicks the reaction button of
 * that emoji; "emoji" picks that emoji in the row's emoji chooser. */
static void
test_message_action (GSimpleAction *action,
                     GVariant      *parameter,
                     gpointer       user_data)
{
  NatterMessageRow *row;
  const char *what;
  const char *argument;
  guint64 seq;

  g_variant_get (parameter, "(t&s&s)", &seq, &what, &argument);
  row = find_message_row (user_data, seq);
  if (row == NULL)
    return;
  if (g_str_equal (what, "menu"))
    {
      natter_message_row_popup_menu (row);
    }
  else if (g_str_equal (what, "action"))
    {
      GtkWidget *button = natter_message_row_get_menu_button (row);

      gtk_menu_button_popdown (GTK_MENU_BUTTON (button));
      gtk_widget_activate_action (GTK_WIDGET (row), argument, NULL);
    }
  else if (g_str_equal (what, "quote"))
    {
      gtk_widget_activate (natter_message_row_get_quote_button (row));
    }
  else if (g_str_equal (what, "reaction"))
    {
      for (GtkWidget *child = gtk_widget_get_first_child (natter_message_row_get_reactions_box (row));
           child != NULL; child = gtk_widget_get_next_sibling (child))
        {
          GtkWidget *button = gtk_flow_box_child_get_child (GTK_FLOW_BOX_CHILD (child));

          if (g_str_has_prefix (nonnull (gtk_button_get_label (GTK_BUTTON (button))), argument))
            gtk_widget_activate (button);
        }
    }
  else if (g_str_equal (what, "emoji"))
    {
      GtkWidget *chooser = natter_message_row_get_emoji_chooser (row);

      g_signal_emit_by_name (chooser, "emoji-picked", argument);
      gtk_popover_popdown (GTK_POPOVER (chooser));
    }
  else
    {
      g_warning ("test-message: nothing called %s", what);
    }
}

/* Shows the page of that name in every preferences window. */
static void
test_page_action (GSimpleAction *action,
                  GVariant      *parameter,
                  gpointer       user_data)
{
  g_autoptr(GList) toplevels = gtk_window_list_toplevels ();

  for (GList *l = toplevels; l != NULL; l = l->next)
    if (ADW_IS_PREFERENCES_WINDOW (l->data))
      adw_preferences_window_set_visible_page_name (l->data, g_variant_get_string (parameter, NULL));
}

static const GActionEntry test_actions[] = {
  { "test-message", test_message_action, "(tss)" },
  { "test-scroll", test_scroll_action, "s" },
  { "test-describe", test_describe_action, "s" },
  { "test-screenshot", test_screenshot_action, "(ss)" },
  { "test-popup", test_popup_action, "s" },
  { "test-close", test_close_action },
  { "test-resize", test_resize_action, "(sii)" },
  { "test-type", test_type_action, "s" },
  { "test-key", test_key_action, "s" },
  { "test-activate", test_activate_action, "s" },
  { "test-fill", test_fill_action, "(ss)" },
  { "test-enter", test_enter_action, "s" },
  { "test-search-enter", test_search_enter_action },
  { "test-page", test_page_action, "s" },
};

void
_natter_test_hooks_init (NatterApplication *self)
{
  g_action_map_add_action_entries (G_ACTION_MAP (self), test_actions, G_N_ELEMENTS (test_actions), self);
}
