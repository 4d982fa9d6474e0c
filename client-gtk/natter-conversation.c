/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-conversation"

#include "config.h"

#include <adwaita.h>
#include <glib/gi18n.h>

#include "natter-conversation.h"
#include "natter-mention-completer.h"
#include "natter-message-row.h"
#include "natter-outgoing-row.h"

/* Scrolled this close to the top, the previous page of history is loaded. */
#define LOAD_OLDER_THRESHOLD 400.0
/* Scrolled this close to the bottom, the view follows new messages. */
#define BOTTOM_THRESHOLD 48.0
/* How long a revealed message stays highlighted. */
#define HIGHLIGHT_SECONDS 4
/* SetTyping(true) is repeated at most this often while typing goes on… */
#define TYPING_REPEAT_US (4 * G_USEC_PER_SEC)
/* …and SetTyping(false) follows this long after the last key. */
#define TYPING_IDLE_SECONDS 5

/* The conversation of one room: its messages with scroll-back through
 * HistoryDetailed(), the read marker, who is typing, who has seen the last message, and
 * the composer, which also edits the account's messages (Up, or a message's menu) and
 * answers others (Reply), completing mentions with Tab. The rows' menus act through the
 * conversation's actions: reply, edit, delete (after asking), react and reveal. */
struct _NatterConversation
{
  GtkWidget      parent_instance;

  NatterService *service;          /* (owned) (nullable) */
  NatterRoom    *room;             /* (owned) (nullable) */
  GSettings     *settings;         /* (owned) */
  GCancellable  *cancellable;      /* (owned): calls for the current room */
  char          *typing_text;      /* (owned) (nullable) */
  char          *seen_text;        /* (owned) (nullable) */
  guint64        marker_seq;       /* messages after it are new; G_MAXUINT64: no marker */
  double         distance_from_bottom;
  guint          typing_idle_id;
  gint64         typing_sent_at;
  gboolean       typing_sent;
  gboolean       stick_to_bottom;
  gboolean       keep_distance;
  gboolean       adjusting;
  gboolean       on_screen;
  gboolean       inserting;
  guint64        reveal_seq;       /* a message to bring on screen once loaded; 0: none */
  guint64        highlighted_seq;  /* the message shown highlighted; 0: none */
  guint          highlight_id;     /* ends the highlight */
  guint64        editing_seq;      /* the message the composer edits; 0: none */
  guint64        replying_seq;     /* the message the composer answers; 0: none */
  NatterMentionCompleter *completer;  /* (owned): Tab after `@` in the composer */
  GPtrArray     *modlog;           /* (owned): the room's ModerationEvents, oldest first */
  GCancellable  *modlog_cancellable;  /* (owned) (nullable): the ModerationLog() call */
  GtkWidget     *modlog_tail;      /* the events after the last message */

  GtkScrolledWindow *scroller;
  GtkStack          *history_stack;
  GtkSpinner        *history_spinner;
  GtkLabel          *start_label;
  GtkListBox        *message_list;
  GtkListBox        *outgoing_list;
  GtkLabel          *seen_label;
  GtkRevealer       *typing_revealer;
  GtkLabel          *typing_label;
  GtkStack          *composer_stack;
  GtkTextView       *composer;
  GtkLabel          *placeholder;
  GtkButton         *send_button;
  GtkWidget         *context_bar;
  GtkImage          *context_icon;
  GtkLabel          *context_title;
  GtkLabel          *context_text;
};

G_DEFINE_FINAL_TYPE (NatterConversation, natter_conversation, GTK_TYPE_WIDGET)

enum {
  SHOW_ERROR,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void stop_typing (NatterConversation *self);

static GtkAdjustment *
vadjustment (NatterConversation *self)
{
  return gtk_scrolled_window_get_vadjustment (self->scroller);
}

static void
scroll_to (NatterConversation *self,
           double              value)
{
  self->adjusting = TRUE;
  gtk_adjustment_set_value (vadjustment (self), value);
  self->adjusting = FALSE;
}

static gboolean
at_bottom (NatterConversation *self)
{
  GtkAdjustment *adj = vadjustment (self);

  return gtk_adjustment_get_value (adj) + gtk_adjustment_get_page_size (adj) >=
         gtk_adjustment_get_upper (adj) - BOTTOM_THRESHOLD;
}

/* Read marker ---------------------------------------------------------------------- */

static void
maybe_mark_read (NatterConversation *self)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));

  if (self->room == NULL || !self->on_screen || !at_bottom (self))
    return;
  if (root == NULL || !gtk_window_is_active (GTK_WINDOW (root)))
    return;
  natter_room_mark_read (self->room);
}

/* History -------------------------------------------------------------------------- */

static void
update_history_state (NatterConversation *self)
{
  gboolean loading = self->room != NULL && natter_room_get_loading (self->room);
  gboolean has_more = self->room != NULL && natter_room_get_has_more (self->room);
  /* The start is shown only once history says there is nothing before: messages that
   * arrived live can be on screen before the first page is read. */
  gboolean at_start = self->room != NULL && natter_room_get_history_loaded (self->room) &&
                      !loading && !has_more;

  gtk_spinner_set_spinning (self->history_spinner, loading);
  gtk_widget_set_visible (GTK_WIDGET (self->history_spinner), loading || has_more);
  gtk_stack_set_visible_child_name (self->history_stack, at_start ? "start" : "more");
}

static void
maybe_load_older (NatterConversation *self)
{
  GtkAdjustment *adj = vadjustment (self);

  if (self->room == NULL || natter_room_get_loading (self->room) || !natter_room_get_has_more (self->room))
    return;
  if (gtk_adjustment_get_value (adj) > LOAD_OLDER_THRESHOLD)
    return;
  /* Keep the messages on screen where they are while the page goes in above them. */
  self->keep_distance = TRUE;
  self->distance_from_bottom = gtk_adjustment_get_upper (adj) - gtk_adjustment_get_value (adj);
  natter_room_load_older (self->room);
}

static void try_reveal (NatterConversation *self);

static void
room_loading_cb (NatterConversation *self)
{
  update_history_state (self);
  try_reveal (self);
  /* A page that does not fill the view cannot be scrolled to ask for the next one. */
  if (self->room != NULL && !natter_room_get_loading (self->room))
    maybe_load_older (self);
}

static void
value_changed_cb (NatterConversation *self)
{
  if (!self->adjusting)
    {
      self->keep_distance = FALSE;
      self->stick_to_bottom = at_bottom (self);
    }
  maybe_load_older (self);
  maybe_mark_read (self);
}

static void
upper_changed_cb (NatterConversation *self)
{
  GtkAdjustment *adj = vadjustment (self);

  if (self->stick_to_bottom)
    scroll_to (self, gtk_adjustment_get_upper (adj) - gtk_adjustment_get_page_size (adj));
  else if (self->keep_distance)
    scroll_to (self, gtk_adjustment_get_upper (adj) - self->distance_from_bottom);
  maybe_mark_read (self);
}

/* Rows and their headers ----------------------------------------------------------- */

/* Whether the account may delete others' messages here (natter_room_get_can_moderate()). */
static gboolean
can_moderate (NatterConversation *self)
{
  return self->room != NULL &&
         natter_room_get_can_moderate (self->room,
                                       self->service != NULL && natter_service_get_admin (self->service));
}

static GtkWidget *
create_row (gpointer item,
            gpointer user_data)
{
  NatterConversation *self = user_data;
  GtkWidget *row = natter_message_row_new (NATTER_MESSAGE (item), self->room);

  natter_message_row_set_moderator (NATTER_MESSAGE_ROW (row), can_moderate (self));
  return row;
}

/* The room's role changed, or the account's rights on the server. */
static void
update_moderator (NatterConversation *self)
{
  gboolean moderator = can_moderate (self);
  GtkListBoxRow *row;

  for (int i = 0; (row = gtk_list_box_get_row_at_index (self->message_list, i)) != NULL; i++)
    natter_message_row_set_moderator (NATTER_MESSAGE_ROW (row), moderator);
}

static GtkWidget *
create_outgoing_row (gpointer item,
                     gpointer user_data)
{
  NatterConversation *self = user_data;

  return natter_outgoing_row_new (NATTER_OUTGOING (item), self->room, self->service);
}

static GtkWidget *
separator_box (const char *text,
               const char *css_class)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);
  GtkWidget *label = gtk_label_new (text);

  gtk_widget_add_css_class (box, css_class);
  gtk_widget_add_css_class (label, "caption-heading");
  gtk_widget_set_valign (label, GTK_ALIGN_CENTER);
  gtk_box_append (GTK_BOX (box), gtk_separator_new (GTK_ORIENTATION_HORIZONTAL));
  gtk_box_append (GTK_BOX (box), label);
  gtk_box_append (GTK_BOX (box), gtk_separator_new (GTK_ORIENTATION_HORIZONTAL));
  gtk_widget_set_hexpand (gtk_widget_get_first_child (box), TRUE);
  gtk_widget_set_valign (gtk_widget_get_first_child (box), GTK_ALIGN_CENTER);
  gtk_widget_set_hexpand (gtk_widget_get_last_child (box), TRUE);
  gtk_widget_set_valign (gtk_widget_get_last_child (box), GTK_ALIGN_CENTER);
  return box;
}

static char *
format_day (NatterMessage *message)
{
  g_autoptr(GDateTime) time = natter_message_dup_datetime (message);
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autoptr(GDateTime) today = g_date_time_new_local (g_date_time_get_year (now),
                                                      g_date_time_get_month (now),
                                                      g_date_time_get_day_of_month (now), 0, 0, 0);
  GTimeSpan before_today = g_date_time_difference (today, time);

  if (before_today <= 0)
    return g_strdup (_("Today"));
  if (before_today <= G_TIME_SPAN_DAY)
    return g_strdup (_("Yesterday"));
  if (g_date_time_get_year (time) == g_date_time_get_year (now))
    /* Translators: a day in this year, in the format of g_date_time_format().
     * xgettext:no-c-format */
    return g_date_time_format (time, _("%A, %B %-d"));
  /* Translators: a day in another year, in the format of g_date_time_format().
   * xgettext:no-c-format */
  return g_date_time_format (time, _("%B %-d, %Y"));
}

/* Moderation in the timeline ---------------------------------------------------------- */

/* Kicks, bans, role and topic changes are no messages (they take no seq): the room's
 * ModerationLog() has them, and each shows as a quiet line between the messages by time,
 * in the header of the first message after it, or below the last message. */

/* How many of the newest events the conversation reads. */
#define MODLOG_LIMIT 100

typedef struct
{
  gint64  ts;
  char   *text;
} ModerationEvent;

static void
moderation_event_free (ModerationEvent *event)
{
  g_free (event->text);
  g_free (event);
}

static char *
describe_moderation (const char *kind,
                     const char *user,
                     const char *by,
                     GVariant   *details)
{
  const char *reason = NULL, *role = NULL, *topic = NULL;

  g_variant_lookup (details, "reason", "&s", &reason);
  g_variant_lookup (details, "role", "&s", &role);
  g_variant_lookup (details, "topic", "&s", &topic);

  if (g_str_equal (kind, "kick") && reason != NULL)
    /* Translators: in a room's timeline: who removed whom from the room, and why */
    return g_strdup_printf (_("%1$s removed %2$s: %3$s"), by, user, reason);
  if (g_str_equal (kind, "kick"))
    /* Translators: in a room's timeline: who removed whom from the room */
    return g_strdup_printf (_("%1$s removed %2$s"), by, user);
  if (g_str_equal (kind, "ban") && reason != NULL)
    /* Translators: in a room's timeline: who banned whom from the room, and why */
    return g_strdup_printf (_("%1$s banned %2$s: %3$s"), by, user, reason);
  if (g_str_equal (kind, "ban"))
    /* Translators: in a room's timeline: who banned whom from the room */
    return g_strdup_printf (_("%1$s banned %2$s"), by, user);
  if (g_str_equal (kind, "unban"))
    /* Translators: in a room's timeline: who let a banned user back */
    return g_strdup_printf (_("%1$s unbanned %2$s"), by, user);
  if (g_str_equal (kind, "role") && g_strcmp0 (role, "owner") == 0)
    /* Translators: in a room's timeline */
    return g_strdup_printf (_("%1$s made %2$s an owner"), by, user);
  if (g_str_equal (kind, "role") && g_strcmp0 (role, "moderator") == 0)
    /* Translators: in a room's timeline */
    return g_strdup_printf (_("%1$s made %2$s a moderator"), by, user);
  if (g_str_equal (kind, "role"))
    /* Translators: in a room's timeline: a moderator or owner is a plain member again */
    return g_strdup_printf (_("%1$s made %2$s a member"), by, user);
  if (g_str_equal (kind, "topic") && topic != NULL)
    /* Translators: in a room's timeline: who set the topic, and the new topic */
    return g_strdup_printf (_("%1$s changed the topic to “%2$s”"), by, topic);
  if (g_str_equal (kind, "topic"))
    /* Translators: in a room's timeline */
    return g_strdup_printf (_("%s cleared the topic"), by);
  return NULL;  /* A kind of a newer server. */
}

static GtkWidget *
moderation_label (const ModerationEvent *event)
{
  GtkWidget *label = gtk_label_new (event->text);

  gtk_label_set_wrap (GTK_LABEL (label), TRUE);
  gtk_label_set_wrap_mode (GTK_LABEL (label), PANGO_WRAP_WORD_CHAR);
  gtk_label_set_justify (GTK_LABEL (label), GTK_JUSTIFY_CENTER);
  gtk_widget_add_css_class (label, "moderation-event");
  gtk_widget_add_css_class (label, "caption");
  return label;
}

/* Appends to @box the events with @after <= ts < @before. */
static gboolean
append_moderation (NatterConversation *self,
                   GtkBox             *box,
                   gint64              after,
                   gint64              before)
{
  gboolean any = FALSE;

  for (guint i = 0; self->modlog != NULL && i < self->modlog->len; i++)
    {
      const ModerationEvent *event = g_ptr_array_index (self->modlog, i);

      if (event->ts >= after && event->ts < before)
        {
          gtk_box_append (box, moderation_label (event));
          any = TRUE;
        }
    }
  return any;
}

/* The events since the last message. */
static void
update_modlog_tail (NatterConversation *self)
{
  GtkWidget *child;
  GListModel *messages;
  guint n;
  gint64 after = G_MININT64;

  while ((child = gtk_widget_get_first_child (self->modlog_tail)) != NULL)
    gtk_box_remove (GTK_BOX (self->modlog_tail), child);
  if (self->room == NULL)
    return;
  messages = natter_room_get_messages (self->room);
  n = g_list_model_get_n_items (messages);
  if (n > 0)
    {
      g_autoptr(NatterMessage) last = g_list_model_get_item (messages, n - 1);

      after = natter_message_get_timestamp (last);
    }
  else if (natter_room_get_has_more (self->room))
    return;  /* Nothing loaded yet to place them after. */
  append_moderation (self, GTK_BOX (self->modlog_tail), after, G_MAXINT64);
}

static gboolean
same_modlog (GPtrArray *a,
             GPtrArray *b)
{
  guint n_a = a != NULL ? a->len : 0, n_b = b != NULL ? b->len : 0;

  if (n_a != n_b)
    return FALSE;
  for (guint i = 0; i < n_a; i++)
    {
      const ModerationEvent *x = g_ptr_array_index (a, i), *y = g_ptr_array_index (b, i);

      if (x->ts != y->ts || g_strcmp0 (x->text, y->text) != 0)
        return FALSE;
    }
  return TRUE;
}

static void
modlog_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(NatterConversation) self = user_data;
  g_autoptr(GVariant) events = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) modlog = NULL;
  GVariantIter iter;
  gint64 ts;
  const char *kind, *user, *by;
  GVariant *details;

  if (!natter_dbus_chat_room_call_moderation_log_finish (NATTER_DBUS_CHAT_ROOM (source), &events,
                                                         result, &error))
    {
      /* Older servers have no log; a room left meanwhile has none to show. */
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_debug ("No moderation log: %s", error->message);
      return;
    }
  modlog = g_ptr_array_new_with_free_func ((GDestroyNotify) moderation_event_free);
  g_variant_iter_init (&iter, events);
  while (g_variant_iter_loop (&iter, "(x&s&s&s@a{sv})", &ts, &kind, &user, &by, &details))
    {
      char *text = describe_moderation (kind, user, by, details);
      ModerationEvent *event;

      if (text == NULL)
        continue;
      event = g_new0 (ModerationEvent, 1);
      event->ts = ts;
      event->text = text;
      g_ptr_array_add (modlog, event);
    }
  /* Rows keep their headers (and the view its place) unless something is new. */
  if (same_modlog (self->modlog, modlog))
    return;
  g_clear_pointer (&self->modlog, g_ptr_array_unref);
  self->modlog = g_steal_pointer (&modlog);
  gtk_list_box_invalidate_headers (self->message_list);
  update_modlog_tail (self);
}

/* Reads the newest events again: at first, and after each moderation seen live. */
static void
load_modlog (NatterConversation *self)
{
  NatterDBusChatRoom *proxy = self->room != NULL ? natter_room_get_proxy (self->room) : NULL;

  g_cancellable_cancel (self->modlog_cancellable);
  g_clear_object (&self->modlog_cancellable);
  if (proxy == NULL || g_str_equal (natter_room_get_kind (self->room), "system"))
    return;
  self->modlog_cancellable = g_cancellable_new ();
  natter_dbus_chat_room_call_moderation_log (proxy, 0, MODLOG_LIMIT, self->modlog_cancellable,
                                             modlog_cb, g_object_ref (self));
}

/* All history loaded: the events before the first message have their place now. */
static void
room_has_more_cb (NatterConversation *self)
{
  if (self->modlog == NULL || self->modlog->len == 0)
    return;
  gtk_list_box_invalidate_headers (self->message_list);
  update_modlog_tail (self);
}

static void
room_member_changed_cb (NatterConversation *self,
                        const char         *user,
                        gboolean            joined,
                        const char         *role,
                        const char         *by)
{
  /* Joining and leaving are no moderation; what someone did to someone else is. */
  if (by != NULL && *by != '\0')
    load_modlog (self);
}

static void
update_header (GtkListBoxRow *row,
               GtkListBoxRow *before,
               gpointer       user_data)
{
  NatterConversation *self = user_data;
  NatterMessage *message = natter_message_row_get_message (NATTER_MESSAGE_ROW (row));
  NatterMessage *previous = before != NULL ? natter_message_row_get_message (NATTER_MESSAGE_ROW (before)) : NULL;
  gboolean new_day = previous == NULL || !natter_message_same_day (previous, message);
  gboolean marker = natter_message_get_seq (message) > self->marker_seq &&
                    !natter_message_get_own (message) &&
                    (previous == NULL || natter_message_get_seq (previous) <= self->marker_seq);
  GtkWidget *header;
  GtkWidget *moderation = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  gint64 after = G_MININT64;

  /* Before the first message loaded, only once nothing older is left to load. */
  if (previous != NULL)
    after = natter_message_get_timestamp (previous);
  else if (self->room != NULL && natter_room_get_has_more (self->room))
    after = G_MAXINT64;
  g_object_ref_sink (moderation);
  if (!append_moderation (self, GTK_BOX (moderation), after,
                          natter_message_get_timestamp (message)))
    g_clear_object (&moderation);

  if (!new_day && !marker && moderation == NULL)
    {
      gtk_list_box_row_set_header (row, NULL);
      return;
    }

  header = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  gtk_widget_add_css_class (header, "message-header");
  if (new_day)
    {
      g_autofree char *day = format_day (message);
      gtk_box_append (GTK_BOX (header), separator_box (day, "day-separator"));
    }
  if (moderation != NULL)
    {
      gtk_box_append (GTK_BOX (header), moderation);
      g_object_unref (moderation);
    }
  if (marker)
    gtk_box_append (GTK_BOX (header), separator_box (_("New Messages"), "unread-marker"));
  gtk_list_box_row_set_header (row, header);
}

/* Typing and receipts -------------------------------------------------------------- */

static void
room_typing_cb (NatterConversation *self)
{
  g_auto(GStrv) users = self->room != NULL ? natter_room_dup_typing (self->room) : NULL;
  guint n = users != NULL ? g_strv_length (users) : 0;

  g_clear_pointer (&self->typing_text, g_free);
  if (n == 1)
    self->typing_text = g_strdup_printf (_("%s is typing…"), users[0]);
  else if (n == 2)
    self->typing_text = g_strdup_printf (_("%s and %s are typing…"), users[0], users[1]);
  else if (n > 2)
    self->typing_text = g_strdup (_("Several people are typing…"));

  if (self->typing_text != NULL)
    gtk_label_set_label (self->typing_label, self->typing_text);
  gtk_revealer_set_reveal_child (self->typing_revealer, self->typing_text != NULL);
}

static void
update_seen (NatterConversation *self)
{
  NatterMessage *last = self->room != NULL ? natter_room_get_last_message (self->room) : NULL;
  g_auto(GStrv) readers = NULL;

  g_clear_pointer (&self->seen_text, g_free);
  if (last != NULL && natter_message_get_own (last))
    readers = natter_room_dup_readers (self->room, natter_message_get_seq (last));
  if (readers != NULL && readers[0] != NULL)
    {
      if (g_str_equal (natter_room_get_kind (self->room), "dm"))
        {
          self->seen_text = g_strdup (_("Seen"));
        }
      else
        {
          /* Translators: the separator of the names in “Seen by alice, bob” */
          g_autofree char *names = g_strjoinv (_(", "), readers);
          self->seen_text = g_strdup_printf (_("Seen by %s"), names);
        }
      gtk_label_set_label (self->seen_label, self->seen_text);
    }
  gtk_widget_set_visible (GTK_WIDGET (self->seen_label), self->seen_text != NULL);
}

/* The composer --------------------------------------------------------------------- */

static void
update_composer (NatterConversation *self)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (self->composer);
  gboolean empty = gtk_text_buffer_get_char_count (buffer) == 0;
  gboolean can_post = TRUE;
  g_autofree char *placeholder = NULL;

  if (self->room != NULL && g_str_equal (natter_room_get_kind (self->room), "system"))
    {
      can_post = self->service != NULL && natter_service_get_admin (self->service);
      placeholder = g_strdup (_("Announce to everyone"));
    }
  else if (self->room != NULL)
    {
      /* Translators: the placeholder of the composer; %s is a room or a person */
      placeholder = g_strdup_printf (_("Message %s"), natter_room_get_display_name (self->room));
    }

  gtk_stack_set_visible_child_name (self->composer_stack, can_post ? "composer" : "read-only");
  gtk_label_set_label (self->placeholder, placeholder != NULL ? placeholder : "");
  gtk_widget_set_visible (GTK_WIDGET (self->placeholder), empty);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "conversation.send",
                                 !empty && self->room != NULL && natter_room_is_attached (self->room));
}

static void
send_typing (NatterConversation *self,
             gboolean            typing)
{
  if (self->room == NULL)
    return;
  natter_room_set_typing (self->room, typing);
  self->typing_sent = typing;
  self->typing_sent_at = typing ? g_get_monotonic_time () : 0;
}

static gboolean
typing_idle_cb (gpointer user_data)
{
  NatterConversation *self = user_data;

  self->typing_idle_id = 0;
  stop_typing (self);
  return G_SOURCE_REMOVE;
}

static void
stop_typing (NatterConversation *self)
{
  g_clear_handle_id (&self->typing_idle_id, g_source_remove);
  if (self->typing_sent)
    send_typing (self, FALSE);
}

static void
buffer_changed_cb (NatterConversation *self)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (self->composer);
  gboolean empty = gtk_text_buffer_get_char_count (buffer) == 0;

  update_composer (self);

  if (self->inserting || self->room == NULL)
    return;
  if (empty || !g_settings_get_boolean (self->settings, "send-typing"))
    {
      stop_typing (self);
      return;
    }
  if (!self->typing_sent || g_get_monotonic_time () - self->typing_sent_at > TYPING_REPEAT_US)
    send_typing (self, TRUE);
  g_clear_handle_id (&self->typing_idle_id, g_source_remove);
  self->typing_idle_id = g_timeout_add_seconds (TYPING_IDLE_SECONDS, typing_idle_cb, self);
}

typedef struct
{
  NatterConversation *self;  /* (owned) */
  NatterRoom         *room;  /* (owned) */
  char               *body;  /* (owned) */
} SendData;

static void
send_data_free (SendData *data)
{
  g_object_unref (data->self);
  g_object_unref (data->room);
  g_free (data->body);
  g_free (data);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SendData, send_data_free)

static void
sent (SendData *data,
      GError   *error)
{
  NatterConversation *self = data->self;
  GtkTextBuffer *buffer;

  if (error == NULL || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  g_signal_emit (self, signals[SHOW_ERROR], 0, error->message);
  /* A room's message stays below the conversation with a way to send it again (under
   * its identifier: never twice). An announcement has no such row: give its text back,
   * unless something else was typed since. */
  if (!g_str_equal (natter_room_get_kind (data->room), "system"))
    return;
  buffer = gtk_text_view_get_buffer (self->composer);
  if (self->room == data->room && gtk_text_buffer_get_char_count (buffer) == 0)
    {
      self->inserting = TRUE;
      gtk_text_buffer_set_text (buffer, data->body, -1);
      self->inserting = FALSE;
    }
}

static void
room_send_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(SendData) data = user_data;
  g_autoptr(GError) error = NULL;

  natter_room_send_finish (NATTER_ROOM (source), result, NULL, &error);
  sent (data, error);
}

static void
broadcast_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(SendData) data = user_data;
  g_autoptr(GError) error = NULL;

  natter_service_broadcast_finish (NATTER_SERVICE (source), result, &error);
  sent (data, error);
}

/* Editing and answering --------------------------------------------------------- */

static void
change_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(NatterConversation) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_room_change_finish (NATTER_ROOM (source), result, &error) &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_signal_emit (self, signals[SHOW_ERROR], 0, error->message);
}

static void
set_composer_text (NatterConversation *self,
                   const char         *text)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (self->composer);
  GtkTextIter end;

  self->inserting = TRUE;
  gtk_text_buffer_set_text (buffer, text, -1);
  self->inserting = FALSE;
  gtk_text_buffer_get_end_iter (buffer, &end);
  gtk_text_buffer_place_cursor (buffer, &end);
}

/* The composer edits message @editing_seq, answers @replying_seq, or neither; the bar
 * above it says which, with the message concerned. */
static void
set_compose_mode (NatterConversation *self,
                  guint64             editing_seq,
                  guint64             replying_seq)
{
  NatterMessage *message = NULL;
  guint64 seq = editing_seq != 0 ? editing_seq : replying_seq;

  self->editing_seq = editing_seq;
  self->replying_seq = replying_seq;
  if (seq != 0 && self->room != NULL)
    message = natter_room_lookup_message (self->room, seq);
  if (message == NULL)
    {
      self->editing_seq = 0;
      self->replying_seq = 0;
      gtk_widget_set_visible (self->context_bar, FALSE);
      return;
    }

  if (editing_seq != 0)
    {
      gtk_image_set_from_icon_name (self->context_icon, "document-edit-symbolic");
      gtk_label_set_label (self->context_title, _("Editing Message"));
    }
  else
    {
      g_autofree char *title = NULL;

      gtk_image_set_from_icon_name (self->context_icon, "mail-reply-sender-symbolic");
      /* Translators: above the composer; %s is who wrote the message answered */
      title = g_strdup_printf (_("Replying to %s"), natter_message_get_sender (message));
      gtk_label_set_label (self->context_title, title);
    }
  gtk_label_set_label (self->context_text, natter_message_get_body (message));
  gtk_widget_set_visible (self->context_bar, TRUE);
}

static void
start_edit (NatterConversation *self,
            guint64             seq)
{
  NatterMessage *message = self->room != NULL ? natter_room_lookup_message (self->room, seq) : NULL;

  if (message == NULL || !natter_message_get_own (message) || natter_message_get_deleted (message))
    return;
  set_compose_mode (self, seq, 0);
  set_composer_text (self, natter_message_get_body (message));
  gtk_widget_grab_focus (GTK_WIDGET (self->composer));
}

static void
cancel_compose (NatterConversation *self)
{
  /* The text was the message's: it goes with the edit. */
  if (self->editing_seq != 0)
    set_composer_text (self, "");
  set_compose_mode (self, 0, 0);
}

/* The newest of the account's messages that can still be edited. */
static guint64
last_own_message (NatterConversation *self)
{
  GListModel *messages = natter_room_get_messages (self->room);

  for (guint i = g_list_model_get_n_items (messages); i > 0; i--)
    {
      g_autoptr(NatterMessage) message = g_list_model_get_item (messages, i - 1);

      if (natter_message_get_own (message) && !natter_message_get_deleted (message) &&
          g_str_equal (natter_message_get_kind (message), "text"))
        return natter_message_get_seq (message);
    }
  return 0;
}

static void
room_message_changed_cb (NatterConversation *self,
                         NatterMessage      *message,
                         const char         *kind)
{
  guint64 seq = natter_message_get_seq (message);

  /* A message deleted meanwhile can be neither edited nor answered. */
  if (natter_message_get_deleted (message) && (seq == self->editing_seq || seq == self->replying_seq))
    cancel_compose (self);
  else if (seq == self->editing_seq || seq == self->replying_seq)
    set_compose_mode (self, self->editing_seq, self->replying_seq);
}

static void
delete_response_cb (AdwMessageDialog *dialog,
                    const char       *response,
                    gpointer          user_data)
{
  NatterConversation *self = user_data;
  NatterRoom *room = g_object_get_data (G_OBJECT (dialog), "natter-room");
  guint64 seq = *(guint64 *) g_object_get_data (G_OBJECT (dialog), "natter-seq");

  if (g_strcmp0 (response, "delete") == 0 && room != NULL)
    natter_room_delete_async (room, seq, self->cancellable, change_cb, g_object_ref (self));
}

static void
confirm_delete (NatterConversation *self,
                guint64             seq)
{
  NatterMessage *message = self->room != NULL ? natter_room_lookup_message (self->room, seq) : NULL;
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
  AdwMessageDialog *dialog;

  if (message == NULL || natter_message_get_deleted (message))
    return;

  dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL,
                                                       _("Delete Message?"), NULL));
  if (natter_message_get_own (message))
    adw_message_dialog_set_body (dialog, _("It will be deleted for everyone in the conversation. This cannot be undone."));
  else
    /* Translators: %s is who wrote the message a moderator deletes */
    adw_message_dialog_format_body (dialog, _("The message from %s will be deleted for everyone in the conversation. This cannot be undone."),
                                    natter_message_get_sender (message));
  adw_message_dialog_add_responses (dialog, "cancel", _("_Cancel"), "delete", _("_Delete"), NULL);
  adw_message_dialog_set_response_appearance (dialog, "delete", ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_default_response (dialog, "cancel");
  adw_message_dialog_set_close_response (dialog, "cancel");
  g_object_set_data_full (G_OBJECT (dialog), "natter-room", g_object_ref (self->room), g_object_unref);
  g_object_set_data_full (G_OBJECT (dialog), "natter-seq", g_memdup2 (&seq, sizeof seq), g_free);
  g_signal_connect_object (dialog, "response", G_CALLBACK (delete_response_cb), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
message_action_cb (GtkWidget  *widget,
                   const char *action_name,
                   GVariant   *parameter)
{
  NatterConversation *self = NATTER_CONVERSATION (widget);

  if (self->room == NULL)
    return;
  if (g_str_equal (action_name, "conversation.react"))
    {
      guint64 seq;
      const char *emoji;
      gboolean active;

      g_variant_get (parameter, "(t&sb)", &seq, &emoji, &active);
      natter_room_react_async (self->room, seq, emoji, active, self->cancellable, change_cb,
                               g_object_ref (self));
    }
  else if (g_str_equal (action_name, "conversation.reply"))
    {
      guint64 seq = g_variant_get_uint64 (parameter);

      if (self->editing_seq != 0)
        set_composer_text (self, "");
      set_compose_mode (self, 0, seq);
      gtk_widget_grab_focus (GTK_WIDGET (self->composer));
    }
  else if (g_str_equal (action_name, "conversation.edit"))
    {
      start_edit (self, g_variant_get_uint64 (parameter));
    }
  else if (g_str_equal (action_name, "conversation.delete"))
    {
      confirm_delete (self, g_variant_get_uint64 (parameter));
    }
  else if (g_str_equal (action_name, "conversation.reveal"))
    {
      natter_conversation_reveal (self, g_variant_get_uint64 (parameter));
    }
  else if (g_str_equal (action_name, "conversation.cancel-compose"))
    {
      cancel_compose (self);
      gtk_widget_grab_focus (GTK_WIDGET (self->composer));
    }
}

static void
send_message (NatterConversation *self)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (self->composer);
  GtkTextIter start;
  GtkTextIter end;
  g_autofree char *text = NULL;
  SendData *data;

  if (self->room == NULL)
    return;

  gtk_text_buffer_get_bounds (buffer, &start, &end);
  text = g_strstrip (gtk_text_buffer_get_text (buffer, &start, &end, FALSE));
  if (*text == '\0')
    return;

  self->inserting = TRUE;
  gtk_text_buffer_set_text (buffer, "", 0);
  self->inserting = FALSE;
  stop_typing (self);

  if (self->editing_seq != 0)
    {
      NatterMessage *message = natter_room_lookup_message (self->room, self->editing_seq);

      if (message == NULL || g_strcmp0 (natter_message_get_body (message), text) != 0)
        natter_room_edit_async (self->room, self->editing_seq, text, self->cancellable,
                                change_cb, g_object_ref (self));
      set_compose_mode (self, 0, 0);
      return;
    }

  /* Once the user has answered, the marker has done its job. */
  if (self->marker_seq != G_MAXUINT64)
    {
      self->marker_seq = G_MAXUINT64;
      gtk_list_box_invalidate_headers (self->message_list);
    }
  self->stick_to_bottom = TRUE;

  data = g_new0 (SendData, 1);
  data->self = g_object_ref (self);
  data->room = g_object_ref (self->room);
  data->body = g_strdup (text);
  if (g_str_equal (natter_room_get_kind (self->room), "system"))
    natter_service_broadcast_async (self->service, text, self->cancellable, broadcast_cb, data);
  else
    natter_room_reply_async (self->room, self->replying_seq, text, self->cancellable, room_send_cb, data);
  set_compose_mode (self, 0, 0);
}

static void
send_action_cb (GtkWidget  *widget,
                const char *action_name,
                GVariant   *parameter)
{
  send_message (NATTER_CONVERSATION (widget));
}

/**
 * natter_conversation_handle_key:
 * @self: a conversation
 * @keyval: a key pressed in the composer
 * @state: the modifiers held
 *
 * The composer's keys: Enter sends, Shift+Enter (or Ctrl+Enter) is left to the text
 * view, which starts a new line. Up in an empty composer edits the account's last
 * message, Escape stops editing or answering, Tab completes a member's name after `@`.
 *
 * Returns: whether the key was handled
 */
gboolean
natter_conversation_handle_key (NatterConversation *self,
                                guint               keyval,
                                GdkModifierType     state)
{
  g_return_val_if_fail (NATTER_IS_CONVERSATION (self), FALSE);

  if ((keyval == GDK_KEY_Up || keyval == GDK_KEY_KP_Up) &&
      (state & (GDK_SHIFT_MASK | GDK_CONTROL_MASK | GDK_ALT_MASK)) == 0 &&
      self->room != NULL && self->editing_seq == 0 &&
      gtk_text_buffer_get_char_count (gtk_text_view_get_buffer (self->composer)) == 0)
    {
      guint64 seq = last_own_message (self);

      if (seq == 0)
        return FALSE;
      start_edit (self, seq);
      return TRUE;
    }
  if (keyval == GDK_KEY_Escape && (self->editing_seq != 0 || self->replying_seq != 0))
    {
      cancel_compose (self);
      return TRUE;
    }
  if (keyval == GDK_KEY_Tab && (state & (GDK_SHIFT_MASK | GDK_CONTROL_MASK | GDK_ALT_MASK)) == 0)
    return self->room != NULL &&
           natter_mention_completer_complete (self->completer, natter_room_get_members (self->room),
                                              natter_room_get_account (self->room));

  if (keyval != GDK_KEY_Return && keyval != GDK_KEY_KP_Enter && keyval != GDK_KEY_ISO_Enter)
    return FALSE;
  if ((state & (GDK_SHIFT_MASK | GDK_CONTROL_MASK | GDK_ALT_MASK)) != 0)
    return FALSE;
  send_message (self);
  return TRUE;
}

static gboolean
composer_key_pressed_cb (NatterConversation    *self,
                         guint                  keyval,
                         guint                  keycode,
                         GdkModifierType        state,
                         GtkEventControllerKey *controller)
{
  return natter_conversation_handle_key (self, keyval, state);
}

/* The room ------------------------------------------------------------------------- */

static void
room_state_cb (NatterConversation *self)
{
  update_composer (self);
  maybe_mark_read (self);
}

/* Revealing a message (a search result, a notification) ---------------------------- */

static GtkWidget *
row_of_seq (NatterConversation *self,
            guint64             seq)
{
  GtkListBoxRow *row;

  for (int i = 0; (row = gtk_list_box_get_row_at_index (self->message_list, i)) != NULL; i++)
    if (natter_message_get_seq (natter_message_row_get_message (NATTER_MESSAGE_ROW (row))) == seq)
      return GTK_WIDGET (row);
  return NULL;
}

static void
set_highlight (NatterConversation *self,
               guint64             seq)
{
  GtkWidget *row;

  if (self->highlighted_seq != 0 && (row = row_of_seq (self, self->highlighted_seq)) != NULL)
    gtk_widget_remove_css_class (row, "highlighted");
  self->highlighted_seq = seq;
  if (seq != 0 && (row = row_of_seq (self, seq)) != NULL)
    gtk_widget_add_css_class (row, "highlighted");
}

static gboolean
highlight_done_cb (gpointer user_data)
{
  NatterConversation *self = user_data;

  self->highlight_id = 0;
  set_highlight (self, 0);
  return G_SOURCE_REMOVE;
}

/* After layout, when the row has its place: put it a third of the way down. */
static gboolean
scroll_to_highlight_cb (GtkWidget     *widget,
                        GdkFrameClock *clock,
                        gpointer       user_data)
{
  NatterConversation *self = NATTER_CONVERSATION (widget);
  GtkAdjustment *adj = vadjustment (self);
  GtkWidget *row = row_of_seq (self, self->highlighted_seq);
  graphene_point_t point;

  if (row != NULL &&
      gtk_widget_compute_point (row, gtk_scrolled_window_get_child (self->scroller),
                                &GRAPHENE_POINT_INIT (0, 0), &point))
    {
      double value = point.y - gtk_adjustment_get_page_size (adj) / 3;

      scroll_to (self, CLAMP (value, gtk_adjustment_get_lower (adj),
                              gtk_adjustment_get_upper (adj) - gtk_adjustment_get_page_size (adj)));
    }
  return G_SOURCE_REMOVE;
}

/* Brings self->reveal_seq on screen, loading older pages until it is there. */
static void
try_reveal (NatterConversation *self)
{
  GListModel *messages;
  g_autoptr(NatterMessage) first = NULL;

  if (self->reveal_seq == 0 || self->room == NULL)
    return;
  if (row_of_seq (self, self->reveal_seq) != NULL)
    {
      set_highlight (self, self->reveal_seq);
      self->reveal_seq = 0;
      self->stick_to_bottom = FALSE;
      self->keep_distance = FALSE;
      g_clear_handle_id (&self->highlight_id, g_source_remove);
      self->highlight_id = g_timeout_add_seconds (HIGHLIGHT_SECONDS, highlight_done_cb, self);
      gtk_widget_add_tick_callback (GTK_WIDGET (self), scroll_to_highlight_cb, NULL, NULL);
      return;
    }
  /* The recent page comes first; then older ones until the message is in. */
  if (!natter_room_get_history_loaded (self->room) || natter_room_get_loading (self->room))
    return;
  messages = natter_room_get_messages (self->room);
  if (g_list_model_get_n_items (messages) > 0)
    first = g_list_model_get_item (messages, 0);
  if (natter_room_get_has_more (self->room) &&
      (first == NULL || natter_message_get_seq (first) > self->reveal_seq))
    natter_room_load_older (self->room);
  else
    self->reveal_seq = 0;  /* Not in the room's history (deleted, or another epoch). */
}

/**
 * natter_conversation_reveal:
 * @self: a conversation
 * @seq: a message of the room on screen
 *
 * Scrolls to message @seq and highlights it for a moment, loading older history until
 * it is there.
 */
void
natter_conversation_reveal (NatterConversation *self,
                            guint64             seq)
{
  g_return_if_fail (NATTER_IS_CONVERSATION (self));

  self->reveal_seq = seq;
  try_reveal (self);
}

/**
 * natter_conversation_get_highlighted:
 * @self: a conversation
 *
 * Returns: the seq of the message shown highlighted, or 0
 */
guint64
natter_conversation_get_highlighted (NatterConversation *self)
{
  g_return_val_if_fail (NATTER_IS_CONVERSATION (self), 0);
  return self->highlighted_seq;
}

static void
messages_changed_cb (NatterConversation *self)
{
  update_seen (self);
  update_modlog_tail (self);
  /* Rows are made anew for new items: keep the highlight on its row. */
  if (self->highlighted_seq != 0)
    set_highlight (self, self->highlighted_seq);
  try_reveal (self);
}

/**
 * natter_conversation_set_room:
 * @self: a conversation
 * @room: (nullable): the room to show
 */
void
natter_conversation_set_room (NatterConversation *self,
                              NatterRoom         *room)
{
  g_autofree char *start = NULL;

  g_return_if_fail (NATTER_IS_CONVERSATION (self));
  g_return_if_fail (room == NULL || NATTER_IS_ROOM (room));

  if (self->room == room)
    return;

  if (self->room != NULL)
    {
      stop_typing (self);
      natter_room_set_viewed (self->room, FALSE);
      g_signal_handlers_disconnect_by_data (self->room, self);
      g_signal_handlers_disconnect_by_data (natter_room_get_messages (self->room), self);
    }
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();
  g_cancellable_cancel (self->modlog_cancellable);
  g_clear_object (&self->modlog_cancellable);
  g_clear_pointer (&self->modlog, g_ptr_array_unref);
  g_set_object (&self->room, room);
  set_compose_mode (self, 0, 0);
  natter_mention_completer_reset (self->completer);
  self->reveal_seq = 0;
  self->highlighted_seq = 0;
  g_clear_handle_id (&self->highlight_id, g_source_remove);

  self->inserting = TRUE;
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (self->composer), "", 0);
  self->inserting = FALSE;
  self->stick_to_bottom = TRUE;
  self->keep_distance = FALSE;

  if (room == NULL)
    {
      gtk_list_box_bind_model (self->message_list, NULL, NULL, NULL, NULL);
      gtk_list_box_bind_model (self->outgoing_list, NULL, NULL, NULL, NULL);
      room_typing_cb (self);
      update_seen (self);
      update_composer (self);
      update_modlog_tail (self);
      return;
    }

  /* The marker sits after the last message read, if anything came after it. */
  self->marker_seq = natter_room_get_unread_count (room) > 0 ? natter_room_get_read_seq (room) : G_MAXUINT64;

  g_signal_connect_object (room, "notify::loading", G_CALLBACK (room_loading_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (room, "notify::has-more", G_CALLBACK (room_loading_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (room, "notify::typing", G_CALLBACK (room_typing_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (room, "notify::unread-count", G_CALLBACK (room_state_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (room, "notify::attached", G_CALLBACK (room_state_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (room, "receipts-changed", G_CALLBACK (update_seen), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (room, "message-changed", G_CALLBACK (room_message_changed_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (room, "notify::role", G_CALLBACK (update_moderator), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (room, "member-changed", G_CALLBACK (room_member_changed_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (room, "notify::topic", G_CALLBACK (load_modlog), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (room, "notify::attached", G_CALLBACK (load_modlog), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (room, "notify::has-more", G_CALLBACK (room_has_more_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (natter_room_get_messages (room), "items-changed",
                           G_CALLBACK (messages_changed_cb), self, G_CONNECT_SWAPPED);

  gtk_list_box_bind_model (self->message_list, natter_room_get_messages (room), create_row, self, NULL);
  /* Messages sent from here and not confirmed yet come after those of the room. */
  gtk_list_box_bind_model (self->outgoing_list, natter_room_get_outgoing (room), create_outgoing_row,
                           self, NULL);

  if (g_str_equal (natter_room_get_kind (room), "dm"))
    /* Translators: at the top of a direct conversation; %s is the other person */
    start = g_strdup_printf (_("This is the beginning of your conversation with %s"),
                             natter_room_get_display_name (room));
  else if (g_str_equal (natter_room_get_kind (room), "system"))
    start = g_strdup (_("This is the beginning of the announcements"));
  else
    /* Translators: at the top of a room; %s is the room's name */
    start = g_strdup_printf (_("This is the beginning of %s"), natter_room_get_display_name (room));
  gtk_label_set_label (self->start_label, start);

  natter_room_set_viewed (room, self->on_screen);
  natter_room_load_recent (room);
  load_modlog (self);
  update_modlog_tail (self);
  update_history_state (self);
  room_typing_cb (self);
  update_seen (self);
  update_composer (self);
}

NatterRoom *
natter_conversation_get_room (NatterConversation *self)
{
  g_return_val_if_fail (NATTER_IS_CONVERSATION (self), NULL);
  return self->room;
}

/**
 * natter_conversation_set_on_screen:
 * @self: a conversation
 * @on_screen: whether the user can see the conversation
 *
 * Tells natterd whether the room is viewed, and marks it read when it is.
 */
void
natter_conversation_set_on_screen (NatterConversation *self,
                                   gboolean            on_screen)
{
  g_return_if_fail (NATTER_IS_CONVERSATION (self));

  self->on_screen = !!on_screen;
  if (self->room != NULL)
    natter_room_set_viewed (self->room, self->on_screen);
  maybe_mark_read (self);
}

void
natter_conversation_set_service (NatterConversation *self,
                                 NatterService      *service)
{
  g_return_if_fail (NATTER_IS_CONVERSATION (self));

  g_set_object (&self->service, service);
  g_signal_connect_object (service, "notify::admin", G_CALLBACK (update_composer), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (service, "notify::admin", G_CALLBACK (update_moderator), self, G_CONNECT_SWAPPED);
}

void
natter_conversation_focus_composer (NatterConversation *self)
{
  g_return_if_fail (NATTER_IS_CONVERSATION (self));
  gtk_widget_grab_focus (GTK_WIDGET (self->composer));
}

/**
 * natter_conversation_insert_text:
 * @self: a conversation
 * @text: text
 *
 * Inserts @text in the composer at the cursor, as typing it would.
 */
void
natter_conversation_insert_text (NatterConversation *self,
                                 const char         *text)
{
  g_return_if_fail (NATTER_IS_CONVERSATION (self));
  gtk_text_buffer_insert_at_cursor (gtk_text_view_get_buffer (self->composer), text, -1);
}

/**
 * natter_conversation_dup_composer_text:
 * @self: a conversation
 *
 * Returns: (transfer full): the text in the composer
 */
char *
natter_conversation_dup_composer_text (NatterConversation *self)
{
  GtkTextBuffer *buffer;
  GtkTextIter start;
  GtkTextIter end;

  g_return_val_if_fail (NATTER_IS_CONVERSATION (self), NULL);

  buffer = gtk_text_view_get_buffer (self->composer);
  gtk_text_buffer_get_bounds (buffer, &start, &end);
  return gtk_text_buffer_get_text (buffer, &start, &end, FALSE);
}

GtkListBox *
natter_conversation_get_outgoing_list (NatterConversation *self)
{
  g_return_val_if_fail (NATTER_IS_CONVERSATION (self), NULL);
  return self->outgoing_list;
}

GtkListBox *
natter_conversation_get_message_list (NatterConversation *self)
{
  g_return_val_if_fail (NATTER_IS_CONVERSATION (self), NULL);
  return self->message_list;
}

/**
 * natter_conversation_get_typing_text:
 * @self: a conversation
 *
 * Returns: (nullable): the typing indicator's text, or %NULL when nobody types
 */
const char *
natter_conversation_get_typing_text (NatterConversation *self)
{
  g_return_val_if_fail (NATTER_IS_CONVERSATION (self), NULL);
  return gtk_revealer_get_child_revealed (self->typing_revealer) ? gtk_label_get_label (self->typing_label) : NULL;
}

/**
 * natter_conversation_get_seen_text:
 * @self: a conversation
 *
 * Returns: (nullable): who has seen the last message, as shown under it
 */
const char *
natter_conversation_get_seen_text (NatterConversation *self)
{
  g_return_val_if_fail (NATTER_IS_CONVERSATION (self), NULL);
  return gtk_widget_get_visible (GTK_WIDGET (self->seen_label)) ? gtk_label_get_label (self->seen_label) : NULL;
}

const char *
natter_conversation_get_placeholder (NatterConversation *self)
{
  g_return_val_if_fail (NATTER_IS_CONVERSATION (self), NULL);
  return gtk_label_get_label (self->placeholder);
}

/**
 * natter_conversation_get_at_start:
 * @self: a conversation
 *
 * Returns: whether the whole history is loaded and its beginning is shown
 */
gboolean
natter_conversation_get_at_start (NatterConversation *self)
{
  g_return_val_if_fail (NATTER_IS_CONVERSATION (self), FALSE);
  return g_strcmp0 (gtk_stack_get_visible_child_name (self->history_stack), "start") == 0;
}

/**
 * natter_conversation_scroll:
 * @self: a conversation
 * @scroll: %GTK_SCROLL_START, %GTK_SCROLL_END, %GTK_SCROLL_PAGE_UP…
 *
 * Scrolls the messages as the scrolled window's keys (Ctrl+Home, Page Up…) do.
 */
void
natter_conversation_scroll (NatterConversation *self,
                            GtkScrollType       scroll)
{
  gboolean handled = FALSE;

  g_return_if_fail (NATTER_IS_CONVERSATION (self));
  g_signal_emit_by_name (self->scroller, "scroll-child", scroll, FALSE, &handled);
}

/* GObject -------------------------------------------------------------------------- */

static void
active_changed_cb (NatterConversation *self)
{
  maybe_mark_read (self);
}

static void
natter_conversation_root (GtkWidget *widget)
{
  NatterConversation *self = NATTER_CONVERSATION (widget);

  GTK_WIDGET_CLASS (natter_conversation_parent_class)->root (widget);
  g_signal_connect_object (gtk_widget_get_root (widget), "notify::is-active",
                           G_CALLBACK (active_changed_cb), self, G_CONNECT_SWAPPED);
}

static void
natter_conversation_unroot (GtkWidget *widget)
{
  g_signal_handlers_disconnect_by_func (gtk_widget_get_root (widget), active_changed_cb, widget);
  GTK_WIDGET_CLASS (natter_conversation_parent_class)->unroot (widget);
}

static void
natter_conversation_dispose (GObject *object)
{
  NatterConversation *self = NATTER_CONVERSATION (object);

  natter_conversation_set_room (self, NULL);
  g_clear_handle_id (&self->typing_idle_id, g_source_remove);
  gtk_widget_dispose_template (GTK_WIDGET (self), NATTER_TYPE_CONVERSATION);
  g_clear_object (&self->service);

  G_OBJECT_CLASS (natter_conversation_parent_class)->dispose (object);
}

static void
natter_conversation_finalize (GObject *object)
{
  NatterConversation *self = NATTER_CONVERSATION (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_cancellable_cancel (self->modlog_cancellable);
  g_clear_object (&self->modlog_cancellable);
  g_clear_pointer (&self->modlog, g_ptr_array_unref);
  g_clear_object (&self->settings);
  g_clear_pointer (&self->typing_text, g_free);
  g_clear_pointer (&self->seen_text, g_free);
  g_clear_object (&self->completer);

  G_OBJECT_CLASS (natter_conversation_parent_class)->finalize (object);
}

static void
natter_conversation_class_init (NatterConversationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = natter_conversation_dispose;
  object_class->finalize = natter_conversation_finalize;
  widget_class->root = natter_conversation_root;
  widget_class->unroot = natter_conversation_unroot;

  /**
   * NatterConversation::show-error:
   * @self: the conversation
   * @message: what went wrong, for the user
   */
  signals[SHOW_ERROR] =
    g_signal_new ("show-error", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/natter/Natter/natter-conversation.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterConversation, scroller);
  gtk_widget_class_bind_template_child (widget_class, NatterConversation, history_stack);
  gtk_widget_class_bind_template_child (widget_class, NatterConversation, history_spinner);
  gtk_widget_class_bind_template_child (widget_class, NatterConversation, start_label);
  gtk_widget_class_bind_template_child (widget_class, NatterConversation, message_list);
  gtk_widget_class_bind_template_child (widget_class, NatterConversation, outgoing_list);
  gtk_widget_class_bind_template_child (widget_class, NatterConversation, seen_label);
  gtk_widget_class_bind_template_child (widget_class, NatterConversation, typing_revealer);
  gtk_widget_class_bind_template_child (widget_class, NatterConversation, typing_label);
  gtk_widget_class_bind_template_child (widget_class, NatterConversation, composer_stack);
  gtk_widget_class_bind_template_child (widget_class, NatterConversation, composer);
  gtk_widget_class_bind_template_child (widget_class, NatterConversation, placeholder);
  gtk_widget_class_bind_template_child (widget_class, NatterConversation, send_button);
  gtk_widget_class_bind_template_child (widget_class, NatterConversation, context_bar);
  gtk_widget_class_bind_template_child (widget_class, NatterConversation, context_icon);
  gtk_widget_class_bind_template_child (widget_class, NatterConversation, context_title);
  gtk_widget_class_bind_template_child (widget_class, NatterConversation, context_text);

  gtk_widget_class_install_action (widget_class, "conversation.send", NULL, send_action_cb);
  gtk_widget_class_install_action (widget_class, "conversation.reply", "t", message_action_cb);
  gtk_widget_class_install_action (widget_class, "conversation.edit", "t", message_action_cb);
  gtk_widget_class_install_action (widget_class, "conversation.delete", "t", message_action_cb);
  gtk_widget_class_install_action (widget_class, "conversation.react", "(tsb)", message_action_cb);
  gtk_widget_class_install_action (widget_class, "conversation.reveal", "t", message_action_cb);
  gtk_widget_class_install_action (widget_class, "conversation.cancel-compose", NULL, message_action_cb);
}

static void
natter_conversation_init (NatterConversation *self)
{
  GtkEventController *keys;
  GtkAdjustment *adj;

  gtk_widget_init_template (GTK_WIDGET (self));

  self->settings = g_settings_new ("io.github.natter.Natter");
  self->cancellable = g_cancellable_new ();
  self->marker_seq = G_MAXUINT64;
  self->stick_to_bottom = TRUE;

  gtk_list_box_set_header_func (self->message_list, update_header, self, NULL);
  /* Moderation since the last message, between the room's messages and those not sent. */
  self->modlog_tail = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  gtk_widget_add_css_class (self->modlog_tail, "message-header");
  gtk_widget_insert_after (self->modlog_tail, gtk_widget_get_parent (GTK_WIDGET (self->message_list)),
                           GTK_WIDGET (self->message_list));

  adj = vadjustment (self);
  g_signal_connect_object (adj, "value-changed", G_CALLBACK (value_changed_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (adj, "notify::upper", G_CALLBACK (upper_changed_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (adj, "notify::page-size", G_CALLBACK (upper_changed_cb), self, G_CONNECT_SWAPPED);

  /* In the capture phase, before the text view inserts a new line for Enter. */
  keys = gtk_event_controller_key_new ();
  gtk_event_controller_set_propagation_phase (keys, GTK_PHASE_CAPTURE);
  g_signal_connect_object (keys, "key-pressed", G_CALLBACK (composer_key_pressed_cb), self, G_CONNECT_SWAPPED);
  gtk_widget_add_controller (GTK_WIDGET (self->composer), keys);

  g_signal_connect_object (gtk_text_view_get_buffer (self->composer), "changed",
                           G_CALLBACK (buffer_changed_cb), self, G_CONNECT_SWAPPED);
  self->completer = natter_mention_completer_new (gtk_text_view_get_buffer (self->composer));
  update_composer (self);
  update_history_state (self);
}
