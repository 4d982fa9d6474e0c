/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-outgoing-row"

#include "config.h"

#include <glib/gi18n.h>

#include "natter-outgoing-row.h"

/* A message the user sent that natterd has not confirmed: below the conversation, with
 * what it waits for, and a way to send it again if that failed. */
struct _NatterOutgoingRow
{
  GtkListBoxRow   parent_instance;

  NatterOutgoing *outgoing;  /* (owned) */
  NatterRoom     *room;      /* (owned) */
  NatterService  *service;   /* (owned) */

  GtkLabel       *body_label;
  GtkLabel       *status_label;
  GtkButton      *retry_button;
};

G_DEFINE_FINAL_TYPE (NatterOutgoingRow, natter_outgoing_row, GTK_TYPE_LIST_BOX_ROW)

static void
update (NatterOutgoingRow *self)
{
  const char *error = natter_outgoing_get_error (self->outgoing);
  g_autofree char *status = NULL;

  if (error != NULL)
    /* Translators: under a message that could not be sent; %s says why */
    status = g_strdup_printf (_("Not sent: %s"), error);
  else if (!g_str_equal (natter_service_get_status (self->service), "connected"))
    status = g_strdup (_("Waiting for the connection…"));
  else
    status = g_strdup (_("Sending…"));
  gtk_label_set_label (self->status_label, status);
  gtk_widget_set_visible (GTK_WIDGET (self->retry_button), error != NULL);
  if (error != NULL)
    gtk_widget_add_css_class (GTK_WIDGET (self->status_label), "error");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self->status_label), "error");
}

static void
resent_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  /* The row shows the outcome: the message arrives, or the row says why not. */
  natter_room_send_finish (NATTER_ROOM (source), result, NULL, NULL);
}

static void
retry_clicked_cb (NatterOutgoingRow *self)
{
  natter_room_resend_async (self->room, self->outgoing, NULL, resent_cb, NULL);
}

static void
natter_outgoing_row_dispose (GObject *object)
{
  NatterOutgoingRow *self = NATTER_OUTGOING_ROW (object);

  gtk_widget_dispose_template (GTK_WIDGET (self), NATTER_TYPE_OUTGOING_ROW);
  g_clear_object (&self->outgoing);
  g_clear_object (&self->room);
  g_clear_object (&self->service);

  G_OBJECT_CLASS (natter_outgoing_row_parent_class)->dispose (object);
}

static void
natter_outgoing_row_class_init (NatterOutgoingRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = natter_outgoing_row_dispose;

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/natter/Natter/natter-outgoing-row.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterOutgoingRow, body_label);
  gtk_widget_class_bind_template_child (widget_class, NatterOutgoingRow, status_label);
  gtk_widget_class_bind_template_child (widget_class, NatterOutgoingRow, retry_button);
  gtk_widget_class_bind_template_callback (widget_class, retry_clicked_cb);
}

static void
natter_outgoing_row_init (NatterOutgoingRow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

/**
 * natter_outgoing_row_new:
 * @outgoing: a message on its way
 * @room: its room
 * @service: the service, whose status says whether it waits for the connection
 *
 * Returns: (transfer floating): the row
 */
GtkWidget *
natter_outgoing_row_new (NatterOutgoing *outgoing,
                         NatterRoom     *room,
                         NatterService  *service)
{
  NatterOutgoingRow *self = g_object_new (NATTER_TYPE_OUTGOING_ROW, NULL);

  self->outgoing = g_object_ref (outgoing);
  self->room = g_object_ref (room);
  self->service = g_object_ref (service);
  gtk_label_set_label (self->body_label, natter_outgoing_get_body (outgoing));
  g_signal_connect_object (outgoing, "notify::error", G_CALLBACK (update), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (service, "notify::status", G_CALLBACK (update), self, G_CONNECT_SWAPPED);
  update (self);
  return GTK_WIDGET (self);
}

const char *
natter_outgoing_row_get_body (NatterOutgoingRow *self)
{
  g_return_val_if_fail (NATTER_IS_OUTGOING_ROW (self), NULL);
  return gtk_label_get_label (self->body_label);
}

const char *
natter_outgoing_row_get_status (NatterOutgoingRow *self)
{
  g_return_val_if_fail (NATTER_IS_OUTGOING_ROW (self), NULL);
  return gtk_label_get_label (self->status_label);
}
