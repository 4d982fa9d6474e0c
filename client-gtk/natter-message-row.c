/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-message-row"

#include "config.h"

#include <adwaita.h>
#include <glib/gi18n.h>

#include "natter-message-row.h"
#include "natter-tooltips.h"

/* One message in a conversation: avatar, sender and time for the first message of a
 * group, then the message it answers (a quote that leads to it), the text, whether it
 * was edited and its reactions. Later messages of the group (“continued”) show the text
 * only. A deleted message is a quiet line that says so. When someone changes the
 * message, the row changes in place.
 *
 * The row's menu (its hover button, a right click, a long press or the Menu key) and
 * its reactions act through the conversation's actions (“conversation.…”) with the
 * message's seq. */
struct _NatterMessageRow
{
  GtkListBoxRow  parent_instance;

  NatterMessage *message;      /* (owned) */
  NatterRoom    *room;         /* (owned) (nullable) */
  NatterMessage *quoted;       /* (owned) (nullable): the quote shown, followed for changes */
  GStrv          highlighted;  /* (owned): the mentions highlighted in the text */
  gboolean       mentions_me;
  gboolean       moderator;    /* whether the account may delete others' messages */

  GtkWidget     *message_box;
  GtkWidget     *gutter;
  AdwAvatar     *avatar;
  GtkWidget     *header;
  GtkLabel      *sender_label;
  GtkLabel      *time_label;
  GtkButton     *quote_button;
  GtkLabel      *quote_sender_label;
  GtkLabel      *quote_body_label;
  GtkLabel      *body_label;
  GtkLabel      *edited_label;
  GtkFlowBox    *reactions_box;
  GtkWidget     *tools;
  GtkMenuButton *react_button;
  GtkEmojiChooser *emoji_chooser;
  GtkMenuButton *menu_button;
};

G_DEFINE_FINAL_TYPE (NatterMessageRow, natter_message_row, GTK_TYPE_LIST_BOX_ROW)

/* The web page's rule (daemon/web/app.js): http and https only, without the punctuation
 * that ends a sentence. */
#define URL_PATTERN "\\bhttps?://[^\\s<>\"']+[^\\s<>\"'.,;:!?)\\]]"

/* A user name as the server finds mentions: `@` and the name. */
#define MENTION_PATTERN "(?<![\\w@])@([a-z0-9_.-]{1,64})"

/* @text as markup, its mentions (@mentions, as the server found them) in bold and a
 * mention of @account marked out; adds each highlighted name to @highlighted. */
static void
append_with_mentions (GString            *markup,
                      const char         *text,
                      gssize              length,
                      const char * const *mentions,
                      const char         *account,
                      GStrvBuilder       *highlighted,
                      gboolean           *mentions_me)
{
  static GRegex *mention_regex;
  g_autofree char *segment = length < 0 ? g_strdup (text) : g_strndup (text, length);
  g_autoptr(GMatchInfo) match = NULL;
  g_autofree char *rest = NULL;
  int last = 0;

  if (g_once_init_enter (&mention_regex))
    g_once_init_leave (&mention_regex, g_regex_new (MENTION_PATTERN, G_REGEX_OPTIMIZE, 0, NULL));

  g_regex_match (mention_regex, segment, 0, &match);
  while (g_match_info_matches (match))
    {
      g_autofree char *name = g_match_info_fetch (match, 1);
      g_autofree char *before = NULL;
      g_autofree char *escaped = NULL;
      int start;
      int end;
      gsize n;

      g_match_info_fetch_pos (match, 0, &start, &end);
      /* The dot that ends a sentence is not part of the name. */
      n = strlen (name);
      while (n > 0 && name[n - 1] == '.' && !g_strv_contains (mentions, name))
        {
          name[--n] = '\0';
          end--;
        }
      if (n == 0 || !g_strv_contains (mentions, name))
        {
          g_match_info_next (match, NULL);
          continue;
        }
      before = g_markup_escape_text (segment + last, start - last);
      escaped = g_markup_escape_text (segment + start, end - start);
      g_string_append (markup, before);
      if (g_strcmp0 (name, account) == 0)
        {
          /* Readable on the light and the dark style alike. */
          g_string_append_printf (markup, "<span weight=\"bold\" bgcolor=\"#3584e4\" bgalpha=\"30%%\">%s</span>", escaped);
          *mentions_me = TRUE;
        }
      else
        {
          g_string_append_printf (markup, "<b>%s</b>", escaped);
        }
      g_strv_builder_add (highlighted, name);
      last = end;
      g_match_info_next (match, NULL);
    }
  rest = g_markup_escape_text (segment + last, -1);
  g_string_append (markup, rest);
}

/* The body as Pango markup: the text escaped, its links clickable, its mentions
 * highlighted. */
static char *
body_markup (const char         *text,
             const char * const *mentions,
             const char         *account,
             GStrvBuilder       *highlighted,
             gboolean           *mentions_me)
{
  static GRegex *url_regex;
  g_autoptr(GMatchInfo) match = NULL;
  GString *markup = g_string_new (NULL);
  int last = 0;

  if (g_once_init_enter (&url_regex))
    g_once_init_leave (&url_regex, g_regex_new (URL_PATTERN, G_REGEX_OPTIMIZE, 0, NULL));

  g_regex_match (url_regex, text, 0, &match);
  while (g_match_info_matches (match))
    {
      g_autofree char *url = g_match_info_fetch (match, 0);
      g_autofree char *escaped_url = g_markup_escape_text (url, -1);
      int start;
      int end;

      g_match_info_fetch_pos (match, 0, &start, &end);
      append_with_mentions (markup, text + last, start - last, mentions, account, highlighted, mentions_me);
      g_string_append_printf (markup, "<a href=\"%s\">%s</a>", escaped_url, escaped_url);
      last = end;
      g_match_info_next (match, NULL);
    }
  append_with_mentions (markup, text + last, -1, mentions, account, highlighted, mentions_me);
  return g_string_free (markup, FALSE);
}

static void
update_grouping (NatterMessageRow *self)
{
  gboolean continued = natter_message_get_continued (self->message);

  gtk_widget_set_visible (self->header, !continued);
  gtk_widget_set_visible (GTK_WIDGET (self->avatar), !continued);
  if (continued)
    gtk_widget_add_css_class (GTK_WIDGET (self), "continued");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self), "continued");
}

static void
update_own (NatterMessageRow *self)
{
  if (natter_message_get_own (self->message))
    gtk_widget_add_css_class (GTK_WIDGET (self->sender_label), "own");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self->sender_label), "own");
}

/* The quote of the message answered: who wrote it and the start of its text. */
static void
update_quote (NatterMessageRow *self)
{
  NatterMessage *quoted = natter_message_get_quoted (self->message);
  gboolean show = natter_message_get_reply_to (self->message) != 0 &&
                  !natter_message_get_deleted (self->message);

  if (quoted != self->quoted)
    {
      if (self->quoted != NULL)
        g_signal_handlers_disconnect_by_data (self->quoted, self);
      g_set_object (&self->quoted, quoted);
      if (quoted != NULL)
        g_signal_connect_object (quoted, "changed", G_CALLBACK (update_quote), self, G_CONNECT_SWAPPED);
    }

  gtk_widget_set_visible (GTK_WIDGET (self->quote_button), show);
  if (!show)
    return;
  if (quoted == NULL || !natter_message_get_detailed (quoted))
    {
      gtk_label_set_label (self->quote_sender_label, _("Reply"));
      gtk_label_set_label (self->quote_body_label, _("A message not loaded yet"));
    }
  else if (natter_message_get_deleted (quoted))
    {
      gtk_label_set_label (self->quote_sender_label, natter_message_get_sender (quoted));
      gtk_label_set_label (self->quote_body_label, _("This message was deleted"));
    }
  else
    {
      g_autofree char *line = g_strdup (natter_message_get_body (quoted));

      /* One line of it. */
      g_strdelimit (line, "\n\r\t", ' ');
      gtk_label_set_label (self->quote_sender_label, natter_message_get_sender (quoted));
      gtk_label_set_label (self->quote_body_label, line);
    }
}

static char *
format_full_time (gint64 timestamp)
{
  g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc (timestamp / 1000);
  g_autoptr(GDateTime) local = g_date_time_to_local (utc);

  /* Translators: the date and time of a message in its tooltip, in the format of
   * g_date_time_format(). xgettext:no-c-format */
  return g_date_time_format (local, _("%A, %B %-d %Y, %H:%M"));
}

static void
reaction_clicked_cb (GtkButton        *button,
                     NatterMessageRow *self)
{
  const char *emoji = g_object_get_data (G_OBJECT (button), "natter-emoji");
  gboolean mine = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (button), "natter-mine"));

  gtk_widget_activate_action (GTK_WIDGET (self), "conversation.react", "(tsb)",
                              natter_message_get_seq (self->message), emoji, !mine);
}

/* Who reacted with @emoji, for the tooltip of its button. */
static char *
reaction_tooltip (const char         *emoji,
                  const char * const *users,
                  const char         *account)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *joined = NULL;

  for (guint i = 0; users[i] != NULL; i++)
    g_ptr_array_add (names, g_strcmp0 (users[i], account) == 0 ? g_strdup (_("You")) : g_strdup (users[i]));
  g_ptr_array_add (names, NULL);
  /* Translators: the separator of the names in “alice, bob reacted with 👍” */
  joined = g_strjoinv (_(", "), (GStrv) names->pdata);
  /* Translators: the tooltip of a reaction; %1$s is who reacted (“alice, You”), %2$s the emoji */
  return g_strdup_printf (_("%1$s reacted with %2$s"), joined, emoji);
}

static void
update_reactions (NatterMessageRow *self)
{
  GVariant *reactions = natter_message_get_reactions (self->message);
  const char *account = self->room != NULL ? natter_room_get_account (self->room) : "";
  GVariantIter iter;
  const char *emoji;
  g_autofree const char **users = NULL;
  GtkWidget *child;
  gboolean any = FALSE;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->reactions_box))) != NULL)
    gtk_flow_box_remove (self->reactions_box, child);

  g_variant_iter_init (&iter, reactions);
  while (g_variant_iter_next (&iter, "(&s^a&s)", &emoji, &users))
    {
      guint n = g_strv_length ((GStrv) users);
      gboolean mine = g_strv_contains (users, account);
      g_autofree char *label = NULL;
      g_autofree char *tooltip = NULL;
      GtkWidget *button;

      if (n == 0)
        {
          g_clear_pointer (&users, g_free);
          continue;
        }
      label = g_strdup_printf ("%s %u", emoji, n);
      tooltip = reaction_tooltip (emoji, users, account);
      button = gtk_button_new_with_label (label);
      gtk_widget_add_css_class (button, "reaction");
      if (mine)
        gtk_widget_add_css_class (button, "mine");
      gtk_widget_set_tooltip_text (button, tooltip);
      natter_tooltips_attach (button);
      g_object_set_data_full (G_OBJECT (button), "natter-emoji", g_strdup (emoji), g_free);
      g_object_set_data (G_OBJECT (button), "natter-mine", GINT_TO_POINTER (mine));
      g_signal_connect_object (button, "clicked", G_CALLBACK (reaction_clicked_cb), self, 0);
      gtk_flow_box_append (self->reactions_box, button);
      /* The flow box's own child is not a stop of its own for the keyboard. */
      gtk_widget_set_focusable (gtk_widget_get_parent (button), FALSE);
      any = TRUE;
      g_clear_pointer (&users, g_free);
    }
  gtk_widget_set_visible (GTK_WIDGET (self->reactions_box), any && !natter_message_get_deleted (self->message));
}

/* What the menu offers for this message, to this account. */
static void
update_actions (NatterMessageRow *self)
{
  gboolean deleted = natter_message_get_deleted (self->message);
  gboolean own = natter_message_get_own (self->message);
  gboolean system = self->room == NULL || g_str_equal (natter_room_get_kind (self->room), "system");
  gboolean moderator = self->moderator;
  gboolean can_edit = !deleted && own && g_str_equal (natter_message_get_kind (self->message), "text");
  gboolean can_delete = !deleted && (own || moderator);
  gboolean can_answer = !deleted && !system;

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "message.reply", can_answer);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "message.react", can_answer);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "message.copy", !deleted);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "message.edit", can_edit);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "message.delete", can_delete);
  gtk_widget_set_visible (GTK_WIDGET (self->react_button), can_answer);
  gtk_widget_set_visible (self->tools, !deleted);
}

static void
update_body (NatterMessageRow *self)
{
  gint64 edited = natter_message_get_edited_timestamp (self->message);
  gboolean deleted = natter_message_get_deleted (self->message);

  g_clear_pointer (&self->highlighted, g_strfreev);
  self->mentions_me = FALSE;
  if (deleted)
    {
      gtk_label_set_text (self->body_label, _("This message was deleted"));
      gtk_label_set_selectable (self->body_label, FALSE);
      gtk_widget_add_css_class (GTK_WIDGET (self), "deleted");
      self->highlighted = g_new0 (char *, 1);
    }
  else
    {
      g_autoptr(GStrvBuilder) highlighted = g_strv_builder_new ();
      g_autofree char *markup = NULL;

      markup = body_markup (natter_message_get_body (self->message),
                            natter_message_get_mentions (self->message),
                            self->room != NULL ? natter_room_get_account (self->room) : NULL,
                            highlighted, &self->mentions_me);
      gtk_label_set_markup (self->body_label, markup);
      gtk_label_set_selectable (self->body_label, TRUE);
      gtk_widget_remove_css_class (GTK_WIDGET (self), "deleted");
      self->highlighted = g_strv_builder_end (highlighted);
    }
  if (self->mentions_me)
    gtk_widget_add_css_class (GTK_WIDGET (self), "mentions-me");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self), "mentions-me");

  gtk_widget_set_visible (GTK_WIDGET (self->edited_label), edited > 0 && !deleted);
  if (edited > 0)
    {
      g_autofree char *when = format_full_time (edited);
      /* Translators: the tooltip of “edited” under a message; %s is a date and time */
      g_autofree char *tooltip = g_strdup_printf (_("Edited %s"), when);

      gtk_widget_set_tooltip_text (GTK_WIDGET (self->edited_label), tooltip);
    }
}

static void
message_changed_cb (NatterMessageRow *self)
{
  update_body (self);
  update_quote (self);
  update_reactions (self);
  update_actions (self);
}

/* The menu ------------------------------------------------------------------------- */

static void
popover_closed_cb (GtkPopover       *popover,
                   NatterMessageRow *self)
{
  /* Opened from the button itself next time, it points at the button. */
  gtk_popover_set_pointing_to (popover, &(GdkRectangle) {
    0, 0, gtk_widget_get_width (GTK_WIDGET (self->menu_button)),
    gtk_widget_get_height (GTK_WIDGET (self->menu_button)) });
}

/* Opens the message's menu pointing at (@x, @y) of the row, or at its button. */
static void
popup_menu_at (NatterMessageRow *self,
               double            x,
               double            y)
{
  GtkPopover *popover = gtk_menu_button_get_popover (self->menu_button);
  double button_x;
  double button_y;

  if (natter_message_get_deleted (self->message) || popover == NULL)
    return;
  if (x >= 0 && gtk_widget_translate_coordinates (GTK_WIDGET (self), GTK_WIDGET (self->menu_button),
                                                  x, y, &button_x, &button_y))
    gtk_popover_set_pointing_to (popover, &(GdkRectangle) { (int) button_x, (int) button_y, 1, 1 });
  gtk_menu_button_popup (self->menu_button);
}

/**
 * natter_message_row_popup_menu:
 * @self: a message row
 *
 * Opens the message's menu, as the Menu key does.
 */
void
natter_message_row_popup_menu (NatterMessageRow *self)
{
  g_return_if_fail (NATTER_IS_MESSAGE_ROW (self));
  popup_menu_at (self, -1, -1);
}

static void
secondary_click_cb (GtkGestureClick  *gesture,
                    int               n_press,
                    double            x,
                    double            y,
                    NatterMessageRow *self)
{
  /* Ours rather than the text's own menu: it has Copy Text too. */
  gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_CLAIMED);
  popup_menu_at (self, x, y);
}

static void
long_press_cb (GtkGestureLongPress *gesture,
               double               x,
               double               y,
               NatterMessageRow    *self)
{
  gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_CLAIMED);
  popup_menu_at (self, x, y);
}

static gboolean
menu_key_cb (GtkWidget *widget,
             GVariant  *args,
             gpointer   user_data)
{
  natter_message_row_popup_menu (NATTER_MESSAGE_ROW (widget));
  return TRUE;
}

static void
emoji_picked_cb (NatterMessageRow *self,
                 const char       *emoji)
{
  gtk_widget_activate_action (GTK_WIDGET (self), "conversation.react", "(tsb)",
                              natter_message_get_seq (self->message), emoji, TRUE);
}

static void
quote_clicked_cb (NatterMessageRow *self)
{
  gtk_widget_activate_action (GTK_WIDGET (self), "conversation.reveal", "t",
                              natter_message_get_reply_to (self->message));
}

static void
message_action_cb (GtkWidget  *widget,
                   const char *action_name,
                   GVariant   *parameter)
{
  NatterMessageRow *self = NATTER_MESSAGE_ROW (widget);
  guint64 seq = natter_message_get_seq (self->message);

  if (g_str_equal (action_name, "message.reply"))
    gtk_widget_activate_action (widget, "conversation.reply", "t", seq);
  else if (g_str_equal (action_name, "message.edit"))
    gtk_widget_activate_action (widget, "conversation.edit", "t", seq);
  else if (g_str_equal (action_name, "message.delete"))
    gtk_widget_activate_action (widget, "conversation.delete", "t", seq);
  else if (g_str_equal (action_name, "message.react"))
    gtk_menu_button_popup (self->react_button);
  else if (g_str_equal (action_name, "message.copy"))
    gdk_clipboard_set_text (gtk_widget_get_clipboard (widget), natter_message_get_body (self->message));
}

static void
natter_message_row_dispose (GObject *object)
{
  NatterMessageRow *self = NATTER_MESSAGE_ROW (object);

  gtk_widget_dispose_template (GTK_WIDGET (self), NATTER_TYPE_MESSAGE_ROW);
  g_clear_object (&self->message);
  g_clear_object (&self->room);
  g_clear_object (&self->quoted);

  G_OBJECT_CLASS (natter_message_row_parent_class)->dispose (object);
}

static void
natter_message_row_finalize (GObject *object)
{
  NatterMessageRow *self = NATTER_MESSAGE_ROW (object);

  g_clear_pointer (&self->highlighted, g_strfreev);

  G_OBJECT_CLASS (natter_message_row_parent_class)->finalize (object);
}

static void
natter_message_row_class_init (NatterMessageRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = natter_message_row_dispose;
  object_class->finalize = natter_message_row_finalize;

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/natter/Natter/natter-message-row.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterMessageRow, message_box);
  gtk_widget_class_bind_template_child (widget_class, NatterMessageRow, gutter);
  gtk_widget_class_bind_template_child (widget_class, NatterMessageRow, avatar);
  gtk_widget_class_bind_template_child (widget_class, NatterMessageRow, header);
  gtk_widget_class_bind_template_child (widget_class, NatterMessageRow, sender_label);
  gtk_widget_class_bind_template_child (widget_class, NatterMessageRow, time_label);
  gtk_widget_class_bind_template_child (widget_class, NatterMessageRow, quote_button);
  gtk_widget_class_bind_template_child (widget_class, NatterMessageRow, quote_sender_label);
  gtk_widget_class_bind_template_child (widget_class, NatterMessageRow, quote_body_label);
  gtk_widget_class_bind_template_child (widget_class, NatterMessageRow, body_label);
  gtk_widget_class_bind_template_child (widget_class, NatterMessageRow, edited_label);
  gtk_widget_class_bind_template_child (widget_class, NatterMessageRow, reactions_box);
  gtk_widget_class_bind_template_child (widget_class, NatterMessageRow, tools);
  gtk_widget_class_bind_template_child (widget_class, NatterMessageRow, react_button);
  gtk_widget_class_bind_template_child (widget_class, NatterMessageRow, emoji_chooser);
  gtk_widget_class_bind_template_child (widget_class, NatterMessageRow, menu_button);
  gtk_widget_class_bind_template_callback (widget_class, emoji_picked_cb);

  gtk_widget_class_install_action (widget_class, "message.reply", NULL, message_action_cb);
  gtk_widget_class_install_action (widget_class, "message.react", NULL, message_action_cb);
  gtk_widget_class_install_action (widget_class, "message.copy", NULL, message_action_cb);
  gtk_widget_class_install_action (widget_class, "message.edit", NULL, message_action_cb);
  gtk_widget_class_install_action (widget_class, "message.delete", NULL, message_action_cb);

  gtk_widget_class_add_binding (widget_class, GDK_KEY_Menu, 0, menu_key_cb, NULL);
  gtk_widget_class_add_binding (widget_class, GDK_KEY_F10, GDK_SHIFT_MASK, menu_key_cb, NULL);
}

static void
natter_message_row_init (NatterMessageRow *self)
{
  GtkGesture *click;
  GtkGesture *long_press;

  gtk_widget_init_template (GTK_WIDGET (self));

  /* Before the selectable text sees the click, which would open its own menu. */
  click = gtk_gesture_click_new ();
  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (click), GDK_BUTTON_SECONDARY);
  gtk_event_controller_set_propagation_phase (GTK_EVENT_CONTROLLER (click), GTK_PHASE_CAPTURE);
  g_signal_connect_object (click, "pressed", G_CALLBACK (secondary_click_cb), self, 0);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (click));

  long_press = gtk_gesture_long_press_new ();
  gtk_gesture_single_set_touch_only (GTK_GESTURE_SINGLE (long_press), TRUE);
  g_signal_connect_object (long_press, "pressed", G_CALLBACK (long_press_cb), self, 0);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (long_press));

  g_signal_connect_object (self->quote_button, "clicked", G_CALLBACK (quote_clicked_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (gtk_menu_button_get_popover (self->menu_button), "closed",
                           G_CALLBACK (popover_closed_cb), self, 0);
  /* The buttons sit at the window's end: their popovers open towards its middle. */
  gtk_widget_set_halign (GTK_WIDGET (gtk_menu_button_get_popover (self->menu_button)), GTK_ALIGN_END);
  gtk_widget_set_halign (GTK_WIDGET (self->emoji_chooser), GTK_ALIGN_END);
  natter_tooltips_attach (GTK_WIDGET (self->edited_label));
  natter_tooltips_attach (GTK_WIDGET (self->react_button));
  natter_tooltips_attach (GTK_WIDGET (self->menu_button));
  natter_tooltips_attach (GTK_WIDGET (self->quote_button));
}

/**
 * natter_message_row_new:
 * @message: a message
 * @room: (nullable): its room, for the account
 *
 * Returns: (transfer floating): a row showing @message
 */
GtkWidget *
natter_message_row_new (NatterMessage *message,
                        NatterRoom    *room)
{
  NatterMessageRow *self = g_object_new (NATTER_TYPE_MESSAGE_ROW, NULL);
  g_autoptr(GDateTime) time = natter_message_dup_datetime (message);
  g_autofree char *clock = g_date_time_format (time, "%H:%M");
  g_autofree char *full = format_full_time (natter_message_get_timestamp (message));
  const char *sender = natter_message_get_sender (message);

  self->message = g_object_ref (message);
  g_set_object (&self->room, room);

  if (g_str_equal (natter_message_get_kind (message), "broadcast"))
    {
      g_autofree char *title = NULL;

      /* Translators: the header of an announcement; %s is the administrator who sent it */
      title = g_strdup_printf (_("Announcement from %s"), sender);
      gtk_label_set_label (self->sender_label, title);
      gtk_widget_add_css_class (self->message_box, "broadcast");
    }
  else
    {
      gtk_label_set_label (self->sender_label, sender);
    }
  adw_avatar_set_text (self->avatar, sender);
  gtk_label_set_label (self->time_label, clock);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->time_label), full);
  natter_tooltips_attach (GTK_WIDGET (self->time_label));

  g_signal_connect_object (message, "notify::continued", G_CALLBACK (update_grouping), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (message, "notify::own", G_CALLBACK (update_own), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (message, "notify::own", G_CALLBACK (update_actions), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (message, "changed", G_CALLBACK (message_changed_cb), self, G_CONNECT_SWAPPED);
  update_grouping (self);
  update_own (self);
  message_changed_cb (self);

  return GTK_WIDGET (self);
}

NatterMessage *
natter_message_row_get_message (NatterMessageRow *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ROW (self), NULL);
  return self->message;
}

const char *
natter_message_row_get_sender (NatterMessageRow *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ROW (self), NULL);
  return gtk_label_get_label (self->sender_label);
}

const char *
natter_message_row_get_time (NatterMessageRow *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ROW (self), NULL);
  return gtk_label_get_label (self->time_label);
}

const char *
natter_message_row_get_body (NatterMessageRow *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ROW (self), NULL);
  return gtk_label_get_text (self->body_label);
}

/**
 * natter_message_row_get_body_label:
 * @self: a message row
 *
 * Returns: (transfer none): the label showing the text, with its links
 */
GtkLabel *
natter_message_row_get_body_label (NatterMessageRow *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ROW (self), NULL);
  return self->body_label;
}

gboolean
natter_message_row_get_header_visible (NatterMessageRow *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ROW (self), FALSE);
  return gtk_widget_get_visible (self->header);
}

/**
 * natter_message_row_get_highlighted:
 * @self: a message row
 *
 * Returns: (transfer none): the mentions highlighted in the text
 */
const char * const *
natter_message_row_get_highlighted (NatterMessageRow *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ROW (self), NULL);
  return (const char * const *) self->highlighted;
}

/**
 * natter_message_row_get_mentions_me:
 * @self: a message row
 *
 * Returns: whether the text mentions the account, and the row stands out for it
 */
gboolean
natter_message_row_get_mentions_me (NatterMessageRow *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ROW (self), FALSE);
  return self->mentions_me && gtk_widget_has_css_class (GTK_WIDGET (self), "mentions-me");
}

/**
 * natter_message_row_get_edited_label:
 * @self: a message row
 *
 * Returns: (transfer none): the “edited” label, shown once the message was edited
 */
GtkWidget *
natter_message_row_get_edited_label (NatterMessageRow *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ROW (self), NULL);
  return GTK_WIDGET (self->edited_label);
}

/**
 * natter_message_row_get_quote_button:
 * @self: a message row
 *
 * Returns: (transfer none): the quote of the message answered, which leads to it
 */
GtkWidget *
natter_message_row_get_quote_button (NatterMessageRow *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ROW (self), NULL);
  return GTK_WIDGET (self->quote_button);
}

/**
 * natter_message_row_dup_quote_text:
 * @self: a message row
 *
 * Returns: (transfer full): the quote as shown, “sender: text”, or "" without one
 */
char *
natter_message_row_dup_quote_text (NatterMessageRow *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ROW (self), NULL);

  if (!gtk_widget_get_visible (GTK_WIDGET (self->quote_button)))
    return g_strdup ("");
  return g_strdup_printf ("%s: %s", gtk_label_get_text (self->quote_sender_label),
                          gtk_label_get_text (self->quote_body_label));
}

/**
 * natter_message_row_get_reactions_box:
 * @self: a message row
 *
 * Returns: (transfer none): the box of reaction buttons (each in a #GtkFlowBoxChild)
 */
GtkWidget *
natter_message_row_get_reactions_box (NatterMessageRow *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ROW (self), NULL);
  return GTK_WIDGET (self->reactions_box);
}

/**
 * natter_message_row_get_emoji_chooser:
 * @self: a message row
 *
 * Returns: (transfer none): the emoji chooser of “Add Reaction”
 */
GtkWidget *
natter_message_row_get_emoji_chooser (NatterMessageRow *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ROW (self), NULL);
  return GTK_WIDGET (self->emoji_chooser);
}

/**
 * natter_message_row_get_menu_button:
 * @self: a message row
 *
 * Returns: (transfer none): the button of the message's menu
 */
GtkWidget *
natter_message_row_get_menu_button (NatterMessageRow *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ROW (self), NULL);
  return GTK_WIDGET (self->menu_button);
}

/**
 * natter_message_row_set_moderator:
 * @self: a message row
 * @moderator: whether the account may delete others' messages (a moderator or owner
 *   of the room, or an administrator)
 */
void
natter_message_row_set_moderator (NatterMessageRow *self,
                                  gboolean          moderator)
{
  g_return_if_fail (NATTER_IS_MESSAGE_ROW (self));

  self->moderator = !!moderator;
  update_actions (self);
}
