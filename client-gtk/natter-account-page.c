/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-account-page"

#include "config.h"

#include <string.h>
#include <glib/gi18n.h>

#include "natter-account-page.h"
#include "natter-errors.h"

/* The Account page of Preferences: where the account is signed in (natterd's Sessions(),
 * each with a button that ends it), the password, logging out (upstream mode), and for
 * administrators the server's users with disable and enable. Everything is natterd's
 * root methods (docs/dbus.md, "Sessions, password and administrators"); their errors
 * are put in the page's own words here. */

#define MIN_PASSWORD_BYTES 8
#define NATTER_DBUS_ERROR "io.github.natter.Chat.Error."

struct _NatterAccountPage
{
  AdwPreferencesPage   parent_instance;

  NatterService       *service;          /* (owned) */
  GCancellable        *cancellable;      /* (owned): every call, until dispose */
  GCancellable        *sessions_call;    /* (owned) (nullable): the Sessions() in flight */
  GCancellable        *users_call;       /* (owned) (nullable): the Users() in flight */
  GPtrArray           *session_rows;     /* (owned): AdwActionRow (unowned, in the group) */
  GPtrArray           *user_rows;        /* (owned): AdwActionRow (unowned, in the group) */
  char                *state;            /* (owned) (nullable): what the page was built for */

  AdwPreferencesGroup *sessions_group;
  GtkButton           *refresh_button;
  AdwPreferencesGroup *security_group;
  AdwActionRow        *password_row;
  AdwActionRow        *logout_row;
  AdwPreferencesGroup *users_group;
  AdwEntryRow         *search_row;

  /* The password dialog, while it is there. Its rows and label are held: the dialog
   * disposes of them before its "destroy", and a row that is cleared then still says
   * "changed". */
  AdwMessageDialog    *password_dialog;  /* (nullable) (unowned) */
  AdwPasswordEntryRow *old_row;          /* (nullable) (owned) */
  AdwPasswordEntryRow *new_row;          /* (nullable) (owned) */
  AdwPasswordEntryRow *confirm_row;      /* (nullable) (owned) */
  GtkLabel            *password_error;   /* (nullable) (owned) */
};

G_DEFINE_FINAL_TYPE (NatterAccountPage, natter_account_page, ADW_TYPE_PREFERENCES_PAGE)

static void load_sessions (NatterAccountPage *self);
static void load_users (NatterAccountPage *self);

/* Errors ---------------------------------------------------------------------------- */

typedef enum {
  ACCOUNT_SESSIONS,
  ACCOUNT_REVOKE,
  ACCOUNT_PASSWORD,
  ACCOUNT_LOGOUT,
  ACCOUNT_USERS,
  ACCOUNT_DISABLE,
} AccountRequest;

/* (transfer full): natterd's error in the words of the page's users. */
static char *
message_for_user (const GError   *error,
                  AccountRequest  request)
{
  g_autofree char *name = g_dbus_error_get_remote_error (error);
  g_autoptr(GError) general = NULL;

  g_debug ("natterd answered %s", error->message);
  if (g_strcmp0 (name, NATTER_DBUS_ERROR "Unauthorized") == 0 && request == ACCOUNT_PASSWORD)
    return g_strdup (_("The current password is not right"));
  if (g_strcmp0 (name, NATTER_DBUS_ERROR "BadRequest") == 0 && request == ACCOUNT_PASSWORD)
    return g_strdup (_("The server did not accept the new password. Choose a longer one."));
  if (g_strcmp0 (name, NATTER_DBUS_ERROR "RateLimited") == 0 && request == ACCOUNT_PASSWORD)
    return g_strdup (_("Too many wrong passwords. Wait a while, then try again."));
  if (g_strcmp0 (name, NATTER_DBUS_ERROR "NotFound") == 0 && request == ACCOUNT_REVOKE)
    return g_strdup (_("This session has already ended"));
  if (g_strcmp0 (name, NATTER_DBUS_ERROR "NotFound") == 0 && request == ACCOUNT_DISABLE)
    return g_strdup (_("This user no longer exists"));
  if (g_strcmp0 (name, NATTER_DBUS_ERROR "Forbidden") == 0 && request == ACCOUNT_DISABLE)
    return g_strdup (_("You cannot disable your own account"));
  if (g_strcmp0 (name, NATTER_DBUS_ERROR "BadRequest") == 0 && request == ACCOUNT_USERS)
    return g_strdup (_("A user name has only lower-case letters, digits, dots, dashes and underscores"));
  if (g_strcmp0 (name, NATTER_DBUS_ERROR "BadRequest") == 0 && request == ACCOUNT_LOGOUT)
    return g_strdup (_("This computer hosts the chat: it has no sign-in to end"));
  general = natter_error_for_user (error, NATTER_REQUEST_DISCONNECT);
  return g_strdup (general->message);
}

static void
toast (NatterAccountPage *self,
       const char        *text)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));

  if (ADW_IS_PREFERENCES_WINDOW (root))
    adw_preferences_window_add_toast (ADW_PREFERENCES_WINDOW (root), adw_toast_new (text));
}

static void
toast_error (NatterAccountPage *self,
             const GError      *error,
             AccountRequest     request)
{
  g_autofree char *text = message_for_user (error, request);

  toast (self, text);
}

/* A call whose callback needs the page. The callback holds no reference (one would
 * keep the page, and the window that is its root, from being disposed once destroyed):
 * the page's dispose cancels the call, and every callback returns on G_IO_ERROR_CANCELLED
 * before it touches the page. */
static void
call (NatterAccountPage   *self,
      const char          *method,
      GVariant            *parameters,
      GCancellable        *cancellable,
      GAsyncReadyCallback  callback)
{
  natter_service_call_async (self->service, method, parameters,
                             cancellable != NULL ? cancellable : self->cancellable, callback,
                             self);
}

static GCancellable *
restart_call (NatterAccountPage  *self,
              GCancellable      **slot)
{
  if (*slot != NULL)
    g_cancellable_cancel (*slot);
  g_clear_object (slot);
  *slot = g_cancellable_new ();
  return *slot;
}

static void
clear_rows (AdwPreferencesGroup *group,
            GPtrArray           *rows)
{
  for (guint i = 0; i < rows->len; i++)
    adw_preferences_group_remove (group, g_ptr_array_index (rows, i));
  g_ptr_array_set_size (rows, 0);
}

static char *
format_time (gint64 ms)
{
  g_autoptr(GDateTime) time = ms > 0 ? g_date_time_new_from_unix_local (ms / 1000) : NULL;

  if (time == NULL)
    return g_strdup (_("unknown"));
  /* Translators: when a session began or was last used, in the format of
   * g_date_time_format(). xgettext:no-c-format */
  return g_date_time_format (time, _("%b %-d, %Y %H:%M"));
}

/* Sessions -------------------------------------------------------------------------- */

static void
revoked_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  NatterAccountPage *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = natter_service_call_finish (NATTER_SERVICE (source), result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (reply == NULL)
    toast_error (self, error, ACCOUNT_REVOKE);
  else
    toast (self, _("Signed out"));
  load_sessions (self);
}

static void
revoke_clicked_cb (GtkButton         *button,
                   NatterAccountPage *self)
{
  const char *id = g_object_get_data (G_OBJECT (button), "natter-session");

  gtk_widget_set_sensitive (GTK_WIDGET (button), FALSE);
  call (self, "RevokeSession", g_variant_new ("(s)", id), NULL, revoked_cb);
}

static const char *
device_name (const char *agent)
{
  if (*agent == '\0')
    return _("Unknown device");
  if (g_str_has_prefix (agent, "natterd/"))
    return _("Natter on a computer");
  return agent;
}

static void
add_session_row (NatterAccountPage *self,
                 const char        *id,
                 gint64             created,
                 gint64             last_used,
                 const char        *agent,
                 gboolean           current)
{
  GtkWidget *row = adw_action_row_new ();
  g_autofree char *since = format_time (created);
  g_autofree char *used = format_time (last_used);
  g_autofree char *subtitle = NULL;

  /* Translators: a session: when it signed in, and when it was last used */
  subtitle = g_strdup_printf (_("Signed in %s · last used %s"), since, used);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), device_name (agent));
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_action_row_set_title_lines (ADW_ACTION_ROW (row), 2);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
  if (current)
    {
      GtkWidget *label = gtk_label_new (_("This device"));

      gtk_widget_add_css_class (label, "dim-label");
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), label);
    }
  else
    {
      GtkWidget *button = gtk_button_new_with_label (_("Sign Out"));

      gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
      g_object_set_data_full (G_OBJECT (button), "natter-session", g_strdup (id), g_free);
      g_signal_connect_object (button, "clicked", G_CALLBACK (revoke_clicked_cb), self, 0);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), button);
    }
  adw_preferences_group_add (self->sessions_group, row);
  g_ptr_array_add (self->session_rows, row);
}

static void
add_note_row (AdwPreferencesGroup *group,
              GPtrArray           *rows,
              const char          *text)
{
  GtkWidget *row = adw_action_row_new ();

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), text);
  gtk_widget_add_css_class (row, "dim-label");
  adw_preferences_group_add (group, row);
  g_ptr_array_add (rows, row);
}

/* Finishes the call that lists @group's rows: clears them (unless the call was cancelled,
 * when a newer one is on its way) and, if the call failed, says why in their place.
 * Returns: (transfer full) (nullable): the reply, %NULL if there are no rows to add */
static GVariant *
list_finish (GObject             *source,
             GAsyncResult        *result,
             AdwPreferencesGroup *group,
             GPtrArray           *rows,
             AccountRequest       request)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = natter_service_call_finish (NATTER_SERVICE (source), result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return NULL;
  clear_rows (group, rows);
  if (reply == NULL)
    {
      g_autofree char *text = message_for_user (error, request);

      add_note_row (group, rows, text);
    }
  return g_steal_pointer (&reply);
}

static void
sessions_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  NatterAccountPage *self = user_data;
  g_autoptr(GVariant) reply = list_finish (source, result, self->sessions_group,
                                           self->session_rows, ACCOUNT_SESSIONS);
  g_autoptr(GVariantIter) iter = NULL;
  const char *id;
  const char *agent;
  gint64 created;
  gint64 last_used;
  gboolean current;

  if (reply == NULL)
    return;
  /* This device first. */
  for (int pass = 0; pass < 2; pass++)
    {
      g_variant_get (reply, "(a(sxxsb))", &iter);
      while (g_variant_iter_next (iter, "(&sxx&sb)", &id, &created, &last_used, &agent, &current))
        if (current == (pass == 0))
          add_session_row (self, id, created, last_used, agent, current);
      g_clear_pointer (&iter, g_variant_iter_free);
    }
  if (self->session_rows->len == 0)
    add_note_row (self->sessions_group, self->session_rows, _("Not signed in anywhere else"));
}

static void
load_sessions (NatterAccountPage *self)
{
  call (self, "Sessions", NULL, restart_call (self, &self->sessions_call), sessions_cb);
}

/* Users ----------------------------------------------------------------------------- */

static void
disabled_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  NatterAccountPage *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = natter_service_call_finish (NATTER_SERVICE (source), result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (reply == NULL)
    toast_error (self, error, ACCOUNT_DISABLE);
  load_users (self);
}

static void
disable_clicked_cb (GtkButton         *button,
                    NatterAccountPage *self)
{
  const char *user = g_object_get_data (G_OBJECT (button), "natter-user");
  gboolean disable = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (button), "natter-disable"));

  gtk_widget_set_sensitive (GTK_WIDGET (button), FALSE);
  call (self, "SetUserDisabled", g_variant_new ("(sb)", user, disable), NULL, disabled_cb);
}

static void
add_user_row (NatterAccountPage *self,
              const char        *name,
              gboolean           admin,
              gboolean           disabled,
              gint64             created)
{
  GtkWidget *row = adw_action_row_new ();
  GtkWidget *button;
  g_autofree char *since = format_time (created);
  g_autofree char *subtitle = NULL;

  if (disabled)
    /* Translators: a user's account, with the date it was created */
    subtitle = g_strdup_printf (_("Disabled · since %s"), since);
  else if (admin)
    subtitle = g_strdup_printf (_("Administrator · since %s"), since);
  else
    subtitle = g_strdup_printf (_("Since %s"), since);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), name);
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);

  button = gtk_button_new_with_label (disabled ? _("Enable") : _("Disable"));
  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  g_object_set_data_full (G_OBJECT (button), "natter-user", g_strdup (name), g_free);
  g_object_set_data (G_OBJECT (button), "natter-disable", GINT_TO_POINTER (!disabled));
  g_signal_connect_object (button, "clicked", G_CALLBACK (disable_clicked_cb), self, 0);
  /* Administrators cannot disable themselves. */
  gtk_widget_set_visible (button, !g_str_equal (name, natter_service_get_account (self->service)));
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), button);

  adw_preferences_group_add (self->users_group, row);
  g_ptr_array_add (self->user_rows, row);
}

static void
users_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  NatterAccountPage *self = user_data;
  g_autoptr(GVariant) reply = list_finish (source, result, self->users_group, self->user_rows,
                                           ACCOUNT_USERS);
  g_autoptr(GVariantIter) iter = NULL;
  const char *name;
  gboolean admin;
  gboolean disabled;
  gint64 created;

  if (reply == NULL)
    return;
  g_variant_get (reply, "(a(sbbx))", &iter);
  while (g_variant_iter_next (iter, "(&sbbx)", &name, &admin, &disabled, &created))
    add_user_row (self, name, admin, disabled, created);
  if (self->user_rows->len == 0)
    add_note_row (self->users_group, self->user_rows, _("No users match"));
}

static void
load_users (NatterAccountPage *self)
{
  g_autofree char *query = g_utf8_strdown (gtk_editable_get_text (GTK_EDITABLE (self->search_row)), -1);

  g_strstrip (query);
  call (self, "Users", g_variant_new ("(su)", query, 0), restart_call (self, &self->users_call),
        users_cb);
}

/* Password -------------------------------------------------------------------------- */

static const char *
text_of (AdwPasswordEntryRow *row)
{
  return gtk_editable_get_text (GTK_EDITABLE (row));
}

/* What is wrong with the passwords as typed so far, or NULL. */
static const char *
password_problem (NatterAccountPage *self)
{
  const char *new_password = text_of (self->new_row);
  const char *confirm = text_of (self->confirm_row);

  if (*new_password != '\0' && strlen (new_password) < MIN_PASSWORD_BYTES)
    return _("The new password needs at least 8 characters");
  if (*confirm != '\0' && !g_str_equal (new_password, confirm))
    return _("The new passwords do not match");
  return NULL;
}

static void
show_password_error (NatterAccountPage *self,
                     const char        *text)
{
  gtk_label_set_label (self->password_error, text != NULL ? text : "");
  gtk_widget_set_visible (GTK_WIDGET (self->password_error), text != NULL);
}

static void
passwords_changed_cb (NatterAccountPage *self)
{
  const char *problem;

  /* The dialog is being destroyed. */
  if (self->password_dialog == NULL || !gtk_widget_get_realized (GTK_WIDGET (self->password_dialog)))
    return;
  problem = password_problem (self);

  show_password_error (self, problem);
  adw_message_dialog_set_response_enabled (self->password_dialog, "change",
                                           problem == NULL &&
                                           *text_of (self->old_row) != '\0' &&
                                           *text_of (self->new_row) != '\0' &&
                                           *text_of (self->confirm_row) != '\0');
}

static void
password_changed_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  NatterAccountPage *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = natter_service_call_finish (NATTER_SERVICE (source), result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) || self->password_dialog == NULL)
    return;
  if (reply == NULL)
    {
      g_autofree char *text = message_for_user (error, ACCOUNT_PASSWORD);

      /* The dialog comes back with what was typed and why it failed. */
      show_password_error (self, text);
      gtk_widget_set_sensitive (GTK_WIDGET (self->password_dialog), TRUE);
      gtk_window_present (GTK_WINDOW (self->password_dialog));
      return;
    }
  gtk_window_destroy (GTK_WINDOW (self->password_dialog));
  toast (self, _("Password changed"));
  load_sessions (self);
}

static gboolean
destroy_window_cb (gpointer window)
{
  gtk_window_destroy (window);
  return G_SOURCE_REMOVE;
}

static void
password_response_cb (AdwMessageDialog  *dialog,
                      const char        *response,
                      NatterAccountPage *self)
{
  if (!g_str_equal (response, "change"))
    {
      /* Not from inside the dialog's own closing. */
      g_idle_add_full (G_PRIORITY_DEFAULT_IDLE, destroy_window_cb, g_object_ref (dialog),
                       g_object_unref);
      return;
    }
  /* Hidden (hide-on-close) while natterd answers, shown again on an error. */
  gtk_widget_set_sensitive (GTK_WIDGET (dialog), FALSE);
  call (self, "ChangePassword",
        g_variant_new ("(ss)", text_of (self->old_row), text_of (self->new_row)), NULL,
        password_changed_cb);
}

static void
drop_password_row (NatterAccountPage    *self,
                   AdwPasswordEntryRow **row)
{
  if (*row != NULL)
    g_signal_handlers_disconnect_by_data (*row, self);
  g_clear_object (row);
}

static void
password_dialog_destroyed_cb (NatterAccountPage *self)
{
  self->password_dialog = NULL;
  drop_password_row (self, &self->old_row);
  drop_password_row (self, &self->new_row);
  drop_password_row (self, &self->confirm_row);
  g_clear_object (&self->password_error);
}

static AdwPasswordEntryRow *
add_password_row (NatterAccountPage *self,
                  GtkListBox        *list,
                  const char        *title)
{
  GtkWidget *row = adw_password_entry_row_new ();

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  g_signal_connect_object (row, "changed", G_CALLBACK (passwords_changed_cb), self,
                           G_CONNECT_SWAPPED);
  gtk_list_box_append (list, row);
  return g_object_ref (ADW_PASSWORD_ENTRY_ROW (row));
}

static void
change_password (NatterAccountPage *self)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
  GtkWidget *dialog;
  GtkWidget *box;
  GtkWidget *list;
  GtkWidget *error;

  if (self->password_dialog != NULL)
    {
      gtk_window_present (GTK_WINDOW (self->password_dialog));
      return;
    }
  dialog = adw_message_dialog_new (GTK_WINDOW (root), _("Change Password"),
                                   natter_service_get_mode (self->service) != NULL &&
                                   g_str_equal (natter_service_get_mode (self->service), "upstream")
                                     ? _("You stay signed in on this computer. Everywhere else your account is signed out.")
                                     : _("Every browser signed in to your account is signed out."));
  box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 12);
  list = gtk_list_box_new ();
  gtk_list_box_set_selection_mode (GTK_LIST_BOX (list), GTK_SELECTION_NONE);
  gtk_widget_add_css_class (list, "boxed-list");
  gtk_box_append (GTK_BOX (box), list);
  error = gtk_label_new (NULL);
  gtk_label_set_wrap (GTK_LABEL (error), TRUE);
  gtk_label_set_xalign (GTK_LABEL (error), 0);
  gtk_widget_add_css_class (error, "error");
  gtk_widget_set_visible (error, FALSE);
  gtk_box_append (GTK_BOX (box), error);
  adw_message_dialog_set_extra_child (ADW_MESSAGE_DIALOG (dialog), box);

  self->password_dialog = ADW_MESSAGE_DIALOG (dialog);
  self->password_error = g_object_ref (GTK_LABEL (error));
  self->old_row = add_password_row (self, GTK_LIST_BOX (list), _("Current Password"));
  self->new_row = add_password_row (self, GTK_LIST_BOX (list), _("New Password"));
  self->confirm_row = add_password_row (self, GTK_LIST_BOX (list), _("Confirm New Password"));

  adw_message_dialog_add_responses (self->password_dialog,
                                    "cancel", _("_Cancel"),
                                    "change", _("_Change"),
                                    NULL);
  adw_message_dialog_set_response_appearance (self->password_dialog, "change", ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_response_enabled (self->password_dialog, "change", FALSE);
  adw_message_dialog_set_default_response (self->password_dialog, "change");
  adw_message_dialog_set_close_response (self->password_dialog, "cancel");
  gtk_window_set_hide_on_close (GTK_WINDOW (dialog), TRUE);
  g_signal_connect_object (dialog, "response", G_CALLBACK (password_response_cb), self, 0);
  g_signal_connect_object (dialog, "destroy", G_CALLBACK (password_dialog_destroyed_cb), self,
                           G_CONNECT_SWAPPED);
  gtk_window_present (GTK_WINDOW (dialog));
}

/* Log out --------------------------------------------------------------------------- */

static void
logged_out_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  NatterAccountPage *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = natter_service_call_finish (NATTER_SERVICE (source), result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (reply == NULL)
    toast_error (self, error, ACCOUNT_LOGOUT);
  else
    toast (self, _("Logged out"));
}

static void
logout_response_cb (AdwMessageDialog  *dialog,
                    const char        *response,
                    NatterAccountPage *self)
{
  if (g_str_equal (response, "logout") || g_str_equal (response, "everywhere"))
    call (self, "LogOut", g_variant_new ("(b)", g_str_equal (response, "everywhere")), NULL,
          logged_out_cb);
}

static void
log_out (NatterAccountPage *self)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
  GtkWidget *dialog = adw_message_dialog_new (GTK_WINDOW (root), _("Log Out?"),
                                              _("This computer is signed out of the server, the sign-in is removed from your keyring and the copy of your chats here is deleted. To chat here again, sign in with your password."));

  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog),
                                    "cancel", _("_Cancel"),
                                    "everywhere", _("Log Out _Everywhere"),
                                    "logout", _("_Log Out"),
                                    NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "everywhere",
                                              ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "logout",
                                              ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  g_signal_connect_object (dialog, "response", G_CALLBACK (logout_response_cb), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

/* What the page shows ---------------------------------------------------------------- */

/* Rebuilt only when what the page depends on changes: natterd notifies every property
 * whenever one changes. */
static void
update (NatterAccountPage *self)
{
  const char *mode = natter_service_get_mode (self->service);
  const char *account = natter_service_get_account (self->service);
  gboolean upstream = g_strcmp0 (mode, "upstream") == 0;
  gboolean usable = natter_service_get_running (self->service) &&
                    g_strcmp0 (natter_service_get_status (self->service), "connected") == 0 &&
                    account != NULL && *account != '\0' &&
                    (upstream || g_strcmp0 (mode, "host") == 0);
  gboolean admin = usable && natter_service_get_admin (self->service);
  g_autofree char *state = g_strdup_printf ("%s %s %d %d", mode != NULL ? mode : "",
                                            account != NULL ? account : "", usable, admin);

  if (g_strcmp0 (state, self->state) == 0)
    return;
  g_free (self->state);
  self->state = g_steal_pointer (&state);

  gtk_widget_set_visible (GTK_WIDGET (self->sessions_group), usable);
  gtk_widget_set_visible (GTK_WIDGET (self->security_group), usable);
  gtk_widget_set_visible (GTK_WIDGET (self->logout_row), upstream);
  gtk_widget_set_visible (GTK_WIDGET (self->users_group), admin);
  adw_action_row_set_subtitle (self->password_row,
                               upstream ? _("You stay signed in here; everywhere else you are signed out")
                                        : _("Every browser signed in to your account is signed out"));
  adw_preferences_group_set_description (self->sessions_group,
                                         upstream ? _("Where your account is signed in. Sign out anything you do not recognize.")
                                                  : _("Browsers signed in to your account. Sign out anything you do not recognize."));
  if (usable)
    load_sessions (self);
  if (admin)
    load_users (self);
}

/* GObject -------------------------------------------------------------------------- */

static void
natter_account_page_dispose (GObject *object)
{
  NatterAccountPage *self = NATTER_ACCOUNT_PAGE (object);

  g_cancellable_cancel (self->cancellable);
  if (self->sessions_call != NULL)
    g_cancellable_cancel (self->sessions_call);
  if (self->users_call != NULL)
    g_cancellable_cancel (self->users_call);
  if (self->password_dialog != NULL)
    gtk_window_destroy (GTK_WINDOW (self->password_dialog));
  gtk_widget_dispose_template (GTK_WIDGET (self), NATTER_TYPE_ACCOUNT_PAGE);
  g_clear_object (&self->service);
  G_OBJECT_CLASS (natter_account_page_parent_class)->dispose (object);
}

static void
natter_account_page_finalize (GObject *object)
{
  NatterAccountPage *self = NATTER_ACCOUNT_PAGE (object);

  g_clear_object (&self->cancellable);
  g_clear_object (&self->sessions_call);
  g_clear_object (&self->users_call);
  g_clear_pointer (&self->session_rows, g_ptr_array_unref);
  g_clear_pointer (&self->user_rows, g_ptr_array_unref);
  g_clear_pointer (&self->state, g_free);
  G_OBJECT_CLASS (natter_account_page_parent_class)->finalize (object);
}

static void
natter_account_page_class_init (NatterAccountPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = natter_account_page_dispose;
  object_class->finalize = natter_account_page_finalize;

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/natter/Natter/natter-account-page.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterAccountPage, sessions_group);
  gtk_widget_class_bind_template_child (widget_class, NatterAccountPage, refresh_button);
  gtk_widget_class_bind_template_child (widget_class, NatterAccountPage, security_group);
  gtk_widget_class_bind_template_child (widget_class, NatterAccountPage, password_row);
  gtk_widget_class_bind_template_child (widget_class, NatterAccountPage, logout_row);
  gtk_widget_class_bind_template_child (widget_class, NatterAccountPage, users_group);
  gtk_widget_class_bind_template_child (widget_class, NatterAccountPage, search_row);
}

static void
natter_account_page_init (NatterAccountPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->cancellable = g_cancellable_new ();
  self->session_rows = g_ptr_array_new ();
  self->user_rows = g_ptr_array_new ();
  g_signal_connect_object (self->refresh_button, "clicked", G_CALLBACK (load_sessions), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->password_row, "activated", G_CALLBACK (change_password), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->logout_row, "activated", G_CALLBACK (log_out), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->search_row, "changed", G_CALLBACK (load_users), self,
                           G_CONNECT_SWAPPED);
}

/**
 * natter_account_page_new:
 * @service: the service, for natterd's account methods
 *
 * Returns: (transfer floating): the Account page of Preferences
 */
GtkWidget *
natter_account_page_new (NatterService *service)
{
  NatterAccountPage *self = g_object_new (NATTER_TYPE_ACCOUNT_PAGE, NULL);

  self->service = g_object_ref (service);
  g_signal_connect_object (service, "notify", G_CALLBACK (update), self, G_CONNECT_SWAPPED);
  update (self);
  return GTK_WIDGET (self);
}
