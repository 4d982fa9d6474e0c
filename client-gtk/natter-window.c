/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-window"

#include "config.h"

#include <glib/gi18n.h>

#include "natter-application-private.h"
#include "natter-message-row.h"
#include "natter-room-row.h"
#include "natter-tooltips.h"
#include "natter-welcome-dialog.h"
#include "natter-window-private.h"

G_DEFINE_FINAL_TYPE (NatterWindow, natter_window, ADW_TYPE_APPLICATION_WINDOW)

enum {
  PROP_0,
  PROP_SERVICE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void show_room (NatterWindow *self, NatterRoom *room);

/* Rooms in the sidebar ------------------------------------------------------------- */

static int
kind_rank (NatterRoom *room)
{
  const char *kind = natter_room_get_kind (room);

  if (g_str_equal (kind, "dm"))
    return 1;
  if (g_str_equal (kind, "system"))
    return 2;
  return 0;
}

static int
compare_rooms (gconstpointer a,
               gconstpointer b,
               gpointer      user_data)
{
  NatterRoom *room_a = NATTER_ROOM ((gpointer) a);
  NatterRoom *room_b = NATTER_ROOM ((gpointer) b);
  int rank = kind_rank (room_a) - kind_rank (room_b);

  if (rank != 0)
    return rank;
  return g_utf8_collate (natter_room_get_display_name (room_a), natter_room_get_display_name (room_b));
}

static GtkWidget *
create_room_row (gpointer item,
                 gpointer user_data)
{
  return natter_room_row_new (NATTER_ROOM (item));
}

static const char *
section_title (NatterRoom *room)
{
  switch (kind_rank (room))
    {
    case 1:
      return _("Direct Messages");
    case 2:
      return _("Announcements");
    default:
      return _("Rooms");
    }
}

static void
update_room_header (GtkListBoxRow *row,
                    GtkListBoxRow *before,
                    gpointer       user_data)
{
  NatterRoom *room = natter_room_row_get_room (NATTER_ROOM_ROW (row));
  GtkWidget *label;

  if (before != NULL && kind_rank (natter_room_row_get_room (NATTER_ROOM_ROW (before))) == kind_rank (room))
    {
      gtk_list_box_row_set_header (row, NULL);
      return;
    }
  label = gtk_label_new (section_title (room));
  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_widget_add_css_class (label, "heading");
  gtk_widget_add_css_class (label, "dim-label");
  gtk_widget_add_css_class (label, "room-section");
  gtk_list_box_row_set_header (row, label);
}

static NatterRoomRow *
find_room_row (NatterWindow *self,
               NatterRoom   *room)
{
  GtkListBoxRow *row;

  for (int i = 0; (row = gtk_list_box_get_row_at_index (self->room_list, i)) != NULL; i++)
    if (natter_room_row_get_room (NATTER_ROOM_ROW (row)) == room)
      return NATTER_ROOM_ROW (row);
  return NULL;
}

static void
update_sidebar_page (NatterWindow *self)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->sorted_rooms));

  if (gtk_search_bar_get_search_mode (self->search_bar) &&
      *gtk_editable_get_text (GTK_EDITABLE (self->search_entry)) != '\0')
    return;
  /* Never an empty window: when natterd is not there, say so and offer to start it. */
  if (g_str_equal (natter_service_get_status (self->service), "unavailable"))
    gtk_stack_set_visible_child_name (self->sidebar_stack, "unavailable");
  else if (n == 0 && natter_service_get_ready (self->service))
    gtk_stack_set_visible_child_name (self->sidebar_stack, "no-rooms");
  else
    gtk_stack_set_visible_child_name (self->sidebar_stack, "rooms");
}

static void
retry_clicked_cb (NatterWindow *self)
{
  natter_service_start_daemon (self->service);
}

/* What is on screen ---------------------------------------------------------------- */

static gboolean
content_visible (NatterWindow *self)
{
  return !adw_leaflet_get_folded (self->leaflet) ||
         adw_leaflet_get_visible_child (self->leaflet) == self->content;
}

static void
update_on_screen (NatterWindow *self)
{
  gboolean on_screen = natter_conversation_get_room (self->conversation) != NULL &&
                       gtk_widget_get_mapped (GTK_WIDGET (self)) &&
                       content_visible (self);

  natter_conversation_set_on_screen (self->conversation, on_screen);
}

static gboolean
relayout_cb (gpointer user_data)
{
  g_autoptr(NatterWindow) self = user_data;

  if (self->leaflet != NULL)
    gtk_widget_queue_resize (GTK_WIDGET (self->leaflet));
  return G_SOURCE_REMOVE;
}

/* The status banner once, at the top of the pane that is shown: the conversation's
 * unless the room list is all there is on screen. */
static void
update_banners (NatterWindow *self)
{
  gboolean sidebar_only = adw_leaflet_get_folded (self->leaflet) && !content_visible (self);

  natter_banner_set_active (self->sidebar_banner, sidebar_only);
  natter_banner_set_active (self->content_banner, !sidebar_only);
}

static void
leaflet_changed_cb (NatterWindow *self)
{
  update_on_screen (self);
  update_banners (self);
  /* The title buttons come and go with folding, during the leaflet's own allocation,
   * when a new size request would be lost: the sidebar would keep the width it needed
   * for them. Ask again once that is over. */
  g_idle_add (relayout_cb, g_object_ref (self));
}

/**
 * natter_window_get_visible_room:
 * @self: a window
 *
 * Returns: (transfer none) (nullable): the room whose conversation the user sees
 */
NatterRoom *
natter_window_get_visible_room (NatterWindow *self)
{
  g_return_val_if_fail (NATTER_IS_WINDOW (self), NULL);

  if (!gtk_widget_get_mapped (GTK_WIDGET (self)) || !content_visible (self))
    return NULL;
  return natter_conversation_get_room (self->conversation);
}

void
natter_window_show_toast (NatterWindow *self,
                          const char   *text)
{
  AdwToast *toast;

  g_return_if_fail (NATTER_IS_WINDOW (self));

  toast = adw_toast_new (text);
  adw_toast_set_timeout (toast, 5);
  adw_toast_overlay_add_toast (self->toast_overlay, toast);
}

static void
conversation_error_cb (NatterWindow *self,
                       const char   *message)
{
  natter_window_show_toast (self, message);
}

/* The room on screen --------------------------------------------------------------- */

static void
update_room_title (NatterWindow *self)
{
  NatterRoom *room = natter_conversation_get_room (self->conversation);
  g_autofree char *subtitle = NULL;

  if (room == NULL)
    {
      adw_window_title_set_title (self->room_title, "");
      adw_window_title_set_subtitle (self->room_title, "");
      return;
    }
  subtitle = natter_room_dup_subtitle (room);
  adw_window_title_set_title (self->room_title, natter_room_get_display_name (room));
  adw_window_title_set_subtitle (self->room_title, subtitle);
  /* The account's role may have changed what it can do. */
  _natter_window_room_actions_update (self);
}

static void
show_room (NatterWindow *self,
           NatterRoom   *room)
{
  NatterRoom *previous = natter_conversation_get_room (self->conversation);
  NatterRoomRow *row;

  guint64 seq = self->pending_seq;

  g_clear_pointer (&self->pending_room, g_free);
  self->pending_seq = 0;

  if (previous != NULL)
    g_signal_handlers_disconnect_by_func (previous, update_room_title, self);

  natter_conversation_set_room (self->conversation, room);
  if (room != NULL && seq != 0)
    natter_conversation_reveal (self->conversation, seq);
  gtk_stack_set_visible_child_name (self->content_stack, room != NULL ? "conversation" : "empty");
  gtk_widget_set_visible (GTK_WIDGET (self->room_menu_button), room != NULL);

  if (room != NULL)
    {
      g_signal_connect_object (room, "notify", G_CALLBACK (update_room_title), self, G_CONNECT_SWAPPED);
      row = find_room_row (self, room);
      if (row != NULL)
        gtk_list_box_select_row (self->room_list, GTK_LIST_BOX_ROW (row));
      adw_leaflet_set_visible_child (self->leaflet, self->content);
      g_settings_set_string (self->settings, "last-room", natter_room_get_name (room));
      natter_conversation_focus_composer (self->conversation);
    }
  else
    {
      gtk_list_box_unselect_all (self->room_list);
      adw_leaflet_set_visible_child (self->leaflet, self->sidebar);
    }

  update_room_title (self);
  update_on_screen (self);
  _natter_window_actions_update (self);
}

static void
room_activated_cb (NatterWindow  *self,
                   GtkListBoxRow *row)
{
  show_room (self, natter_room_row_get_room (NATTER_ROOM_ROW (row)));
}

void
_natter_window_go_back (NatterWindow *self)
{
  adw_leaflet_navigate (self->leaflet, ADW_NAVIGATION_DIRECTION_BACK);
}

static void
join_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(NatterWindow) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_service_join_room_finish (NATTER_SERVICE (source), result, &error))
    {
      g_autofree char *text = g_strdup_printf (_("Cannot open the conversation: %s"), error->message);

      g_clear_pointer (&self->pending_room, g_free);
      natter_window_show_toast (self, text);
    }
}

static void
resolve_pending_room (NatterWindow *self)
{
  NatterRoom *room;

  if (self->pending_room == NULL)
    return;
  room = natter_service_lookup_room (self->service, self->pending_room);
  g_debug ("Waiting for room %s: %s", self->pending_room, room != NULL ? "there" : "not yet");
  if (room != NULL)
    {
      show_room (self, room);
      return;
    }
  if (!natter_service_get_ready (self->service))
    return;
  switch (self->pending)
    {
    case NATTER_PENDING_OPEN:
      g_clear_pointer (&self->pending_room, g_free);
      return;
    case NATTER_PENDING_JOINING:
      return;
    case NATTER_PENDING_JOIN:
    default:
      break;
    }
  /* Joining is idempotent: the room appears when natterd has it. */
  self->pending = NATTER_PENDING_JOINING;
  natter_service_join_room_async (self->service, self->pending_room, NULL, join_cb, g_object_ref (self));
}

/**
 * natter_window_open_room:
 * @self: a window
 * @name: a room name
 *
 * Shows the conversation of room @name, joining it first if the account is not a member
 * yet (and waiting for natterd if it is not there yet).
 */
void
natter_window_open_room (NatterWindow *self,
                         const char   *name)
{
  natter_window_open_message (self, name, 0);
}

/**
 * natter_window_open_message:
 * @self: a window
 * @name: a room name
 * @seq: a message of the room, or 0 for none
 *
 * Shows the conversation of room @name as natter_window_open_room() does, scrolled to
 * message @seq, highlighted (a search result, a notification).
 */
void
natter_window_open_message (NatterWindow *self,
                            const char   *name,
                            guint64       seq)
{
  g_return_if_fail (NATTER_IS_WINDOW (self));
  g_return_if_fail (name != NULL);

  g_free (self->pending_room);
  self->pending_room = g_strdup (name);
  self->pending_seq = seq;
  self->pending = NATTER_PENDING_JOIN;
  resolve_pending_room (self);
}

static void
rooms_changed_cb (NatterWindow *self)
{
  NatterRoom *current = natter_conversation_get_room (self->conversation);
  NatterRoomRow *row;

  /* The room on screen was left. */
  if (current != NULL && natter_service_lookup_room (self->service, natter_room_get_name (current)) != current)
    show_room (self, NULL);

  resolve_pending_room (self);
  update_sidebar_page (self);

  current = natter_conversation_get_room (self->conversation);
  if (current != NULL && (row = find_room_row (self, current)) != NULL)
    gtk_list_box_select_row (self->room_list, GTK_LIST_BOX_ROW (row));
}

static void
service_changed_cb (NatterWindow *self)
{
  const char *account = natter_service_get_account (self->service);

  adw_window_title_set_subtitle (self->sidebar_title, account);
  resolve_pending_room (self);
  update_sidebar_page (self);

  /* First run: nobody chose natterd's mode yet, or it has no account: ask where the
   * user chats. */
  if (natter_service_get_ready (self->service) &&
      (!natter_service_get_mode_chosen (self->service) || *account == '\0') &&
      !self->welcome_shown)
    {
      GtkWindow *welcome = natter_welcome_dialog_new (GTK_WINDOW (self), self->service, FALSE);

      self->welcome_shown = TRUE;
      gtk_window_present (welcome);
    }
}

/* Search --------------------------------------------------------------------------- */

static GtkWidget *
create_search_row (NatterService *service,
                   NatterMessage *message)
{
  NatterRoom *room = natter_service_lookup_room (service, natter_message_get_room (message));
  g_autoptr(GDateTime) time = natter_message_dup_datetime (message);
  /* Translators: the date of a search result, in the format of g_date_time_format().
   * xgettext:no-c-format */
  g_autofree char *date = g_date_time_format (time, _("%b %-d, %H:%M"));
  g_autofree char *title = NULL;
  GtkWidget *row = gtk_list_box_row_new ();
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 3);
  GtkWidget *top = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  GtkWidget *title_label;
  GtkWidget *date_label;
  GtkWidget *body_label;

  if (room != NULL && g_str_equal (natter_room_get_kind (room), "room"))
    /* Translators: a search result: “sender in room” */
    title = g_strdup_printf (_("%s in %s"), natter_message_get_sender (message),
                             natter_room_get_display_name (room));
  else
    title = g_strdup (natter_message_get_sender (message));

  title_label = gtk_label_new (title);
  gtk_label_set_xalign (GTK_LABEL (title_label), 0);
  gtk_label_set_ellipsize (GTK_LABEL (title_label), PANGO_ELLIPSIZE_END);
  gtk_widget_set_hexpand (title_label, TRUE);
  gtk_widget_add_css_class (title_label, "heading");
  date_label = gtk_label_new (date);
  gtk_widget_add_css_class (date_label, "caption");
  gtk_widget_add_css_class (date_label, "dim-label");
  body_label = gtk_label_new (natter_message_get_body (message));
  gtk_label_set_xalign (GTK_LABEL (body_label), 0);
  gtk_label_set_wrap (GTK_LABEL (body_label), TRUE);
  gtk_label_set_wrap_mode (GTK_LABEL (body_label), PANGO_WRAP_WORD_CHAR);
  gtk_label_set_lines (GTK_LABEL (body_label), 3);
  gtk_label_set_ellipsize (GTK_LABEL (body_label), PANGO_ELLIPSIZE_END);

  gtk_box_append (GTK_BOX (top), title_label);
  gtk_box_append (GTK_BOX (top), date_label);
  gtk_box_append (GTK_BOX (box), top);
  gtk_box_append (GTK_BOX (box), body_label);
  gtk_widget_set_margin_top (box, 6);
  gtk_widget_set_margin_bottom (box, 6);
  gtk_list_box_row_set_child (GTK_LIST_BOX_ROW (row), box);
  gtk_widget_add_css_class (row, "search-result");
  g_object_set_data_full (G_OBJECT (row), "natter-room", g_strdup (natter_message_get_room (message)), g_free);
  g_object_set_data_full (G_OBJECT (row), "natter-seq",
                          g_memdup2 (&(guint64) { natter_message_get_seq (message) }, sizeof (guint64)),
                          g_free);
  return row;
}

static void
search_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(NatterWindow) self = user_data;
  g_autoptr(GListModel) results = NULL;
  g_autoptr(GError) error = NULL;
  GtkWidget *child;
  guint n;

  results = natter_service_search_finish (NATTER_SERVICE (source), result, &error);
  if (results == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        natter_window_show_toast (self, error->message);
      return;
    }

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->search_list))) != NULL)
    gtk_list_box_remove (self->search_list, child);
  n = g_list_model_get_n_items (results);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(NatterMessage) message = g_list_model_get_item (results, i);
      gtk_list_box_append (self->search_list, create_search_row (self->service, message));
    }
  gtk_stack_set_visible_child_name (self->sidebar_stack, n > 0 ? "search" : "no-results");
}

static void
run_search (NatterWindow *self)
{
  g_autofree char *query = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->search_entry))));

  if (self->search_cancellable != NULL)
    g_cancellable_cancel (self->search_cancellable);
  g_clear_object (&self->search_cancellable);

  if (*query == '\0')
    {
      update_sidebar_page (self);
      return;
    }
  self->search_cancellable = g_cancellable_new ();
  natter_service_search_async (self->service, query, self->search_cancellable, search_cb, g_object_ref (self));
}

static void
search_changed_cb (NatterWindow *self)
{
  run_search (self);
}

static void
search_activate_cb (NatterWindow *self)
{
  GtkListBoxRow *first = gtk_list_box_get_row_at_index (self->search_list, 0);

  if (first != NULL && g_strcmp0 (gtk_stack_get_visible_child_name (self->sidebar_stack), "search") == 0)
    g_signal_emit_by_name (self->search_list, "row-activated", first);
}

static void
search_mode_cb (NatterWindow *self)
{
  if (!gtk_search_bar_get_search_mode (self->search_bar))
    {
      gtk_editable_set_text (GTK_EDITABLE (self->search_entry), "");
      update_sidebar_page (self);
    }
}

static void
search_result_activated_cb (NatterWindow  *self,
                            GtkListBoxRow *row)
{
  const char *room = g_object_get_data (G_OBJECT (row), "natter-room");
  guint64 *seq = g_object_get_data (G_OBJECT (row), "natter-seq");

  if (room != NULL)
    natter_window_open_message (self, room, seq != NULL ? *seq : 0);
}

/**
 * natter_window_search:
 * @self: a window
 * @terms: (nullable): words to search for
 *
 * Opens the search with @terms (GNOME Shell's “search in the app”).
 */
void
natter_window_search (NatterWindow *self,
                      const char   *terms)
{
  g_return_if_fail (NATTER_IS_WINDOW (self));

  gtk_search_bar_set_search_mode (self->search_bar, TRUE);
  adw_leaflet_set_visible_child (self->leaflet, self->sidebar);
  if (terms != NULL)
    {
      gtk_editable_set_text (GTK_EDITABLE (self->search_entry), terms);
      run_search (self);
    }
  gtk_widget_grab_focus (GTK_WIDGET (self->search_entry));
}

/* GObject and GtkWidget ------------------------------------------------------------ */

static void
natter_window_map (GtkWidget *widget)
{
  GTK_WIDGET_CLASS (natter_window_parent_class)->map (widget);
  update_on_screen (NATTER_WINDOW (widget));
}

static void
natter_window_unmap (GtkWidget *widget)
{
  GTK_WIDGET_CLASS (natter_window_parent_class)->unmap (widget);
  update_on_screen (NATTER_WINDOW (widget));
}

static gboolean
natter_window_close_request (GtkWindow *window)
{
  NatterWindow *self = NATTER_WINDOW (window);
  int width;
  int height;

  gtk_window_get_default_size (window, &width, &height);
  g_settings_set_int (self->settings, "window-width", width);
  g_settings_set_int (self->settings, "window-height", height);
  g_settings_set_boolean (self->settings, "window-maximized", gtk_window_is_maximized (window));
  natter_conversation_set_room (self->conversation, NULL);

  return GTK_WINDOW_CLASS (natter_window_parent_class)->close_request (window);
}

static void
natter_window_constructed (GObject *object)
{
  NatterWindow *self = NATTER_WINDOW (object);
  GtkCustomSorter *sorter;
  g_autofree char *last_room = NULL;

  G_OBJECT_CLASS (natter_window_parent_class)->constructed (object);

  gtk_window_set_default_size (GTK_WINDOW (self),
                               g_settings_get_int (self->settings, "window-width"),
                               g_settings_get_int (self->settings, "window-height"));
  if (g_settings_get_boolean (self->settings, "window-maximized"))
    gtk_window_maximize (GTK_WINDOW (self));

  sorter = gtk_custom_sorter_new (compare_rooms, NULL, NULL);
  self->sorted_rooms = gtk_sort_list_model_new (g_object_ref (natter_service_get_rooms (self->service)),
                                                GTK_SORTER (sorter));
  gtk_list_box_bind_model (self->room_list, G_LIST_MODEL (self->sorted_rooms), create_room_row, NULL, NULL);
  gtk_list_box_set_header_func (self->room_list, update_room_header, NULL, NULL);
  g_signal_connect_object (self->sorted_rooms, "items-changed", G_CALLBACK (rooms_changed_cb), self, G_CONNECT_SWAPPED);

  natter_banner_set_service (self->sidebar_banner, self->service);
  natter_banner_set_service (self->content_banner, self->service);
  update_banners (self);
  natter_conversation_set_service (self->conversation, self->service);
  _natter_window_room_actions_set_service (self);
  gtk_search_bar_set_key_capture_widget (self->search_bar, GTK_WIDGET (self->room_list));

  g_signal_connect_object (self->service, "notify", G_CALLBACK (service_changed_cb), self, G_CONNECT_SWAPPED);

  /* Back where the user left off, once the room is there. */
  last_room = g_settings_get_string (self->settings, "last-room");
  if (*last_room != '\0')
    {
      self->pending_room = g_steal_pointer (&last_room);
      self->pending = NATTER_PENDING_OPEN;
    }

  show_room (self, NULL);
  service_changed_cb (self);
  rooms_changed_cb (self);
}

static void
natter_window_dispose (GObject *object)
{
  NatterWindow *self = NATTER_WINDOW (object);

  if (self->search_cancellable != NULL)
    g_cancellable_cancel (self->search_cancellable);
  g_clear_object (&self->search_cancellable);
  if (self->room_list != NULL)
    gtk_list_box_bind_model (self->room_list, NULL, NULL, NULL, NULL);
  gtk_widget_dispose_template (GTK_WIDGET (self), NATTER_TYPE_WINDOW);
  g_clear_object (&self->sorted_rooms);

  G_OBJECT_CLASS (natter_window_parent_class)->dispose (object);
}

static void
natter_window_finalize (GObject *object)
{
  NatterWindow *self = NATTER_WINDOW (object);

  g_clear_object (&self->service);
  g_clear_object (&self->settings);
  g_clear_pointer (&self->pending_room, g_free);

  G_OBJECT_CLASS (natter_window_parent_class)->finalize (object);
}

static void
natter_window_set_property (GObject      *object,
                            guint         prop_id,
                            const GValue *value,
                            GParamSpec   *pspec)
{
  NatterWindow *self = NATTER_WINDOW (object);

  switch (prop_id)
    {
    case PROP_SERVICE:
      self->service = g_value_dup_object (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
natter_window_class_init (NatterWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->constructed = natter_window_constructed;
  object_class->dispose = natter_window_dispose;
  object_class->finalize = natter_window_finalize;
  object_class->set_property = natter_window_set_property;
  widget_class->map = natter_window_map;
  widget_class->unmap = natter_window_unmap;
  window_class->close_request = natter_window_close_request;

  properties[PROP_SERVICE] =
    g_param_spec_object ("service", NULL, NULL, NATTER_TYPE_SERVICE,
                         G_PARAM_WRITABLE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  g_type_ensure (NATTER_TYPE_BANNER);
  g_type_ensure (NATTER_TYPE_CONVERSATION);

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/natter/Natter/natter-window.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, leaflet);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, sidebar);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, sidebar_title);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, search_button);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, search_bar);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, search_entry);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, sidebar_banner);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, sidebar_stack);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, room_list);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, search_list);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, content);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, room_title);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, room_menu_button);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, members_button);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, content_banner);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, content_stack);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, conversation);
  gtk_widget_class_bind_template_callback (widget_class, retry_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, leaflet_changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, room_activated_cb);
  gtk_widget_class_bind_template_callback (widget_class, search_changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, search_activate_cb);
  gtk_widget_class_bind_template_callback (widget_class, search_mode_cb);
  gtk_widget_class_bind_template_callback (widget_class, search_result_activated_cb);
  gtk_widget_class_bind_template_callback (widget_class, conversation_error_cb);
}

static void
natter_window_init (NatterWindow *self)
{
  self->settings = g_settings_new ("io.github.natter.Natter");
  gtk_widget_init_template (GTK_WIDGET (self));
  natter_tooltips_attach_all (GTK_WIDGET (self));
  _natter_window_actions_init (self);
}

/**
 * natter_window_new:
 * @application: the app
 *
 * Returns: (transfer full): a new main window
 */
NatterWindow *
natter_window_new (NatterApplication *application)
{
  return g_object_new (NATTER_TYPE_WINDOW,
                       "application", application,
                       "service", _natter_application_get_service (application),
                       NULL);
}
