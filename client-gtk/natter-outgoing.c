/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-outgoing"

#include "config.h"

#include "natter-outgoing.h"

/* A message the user sent that natterd has not confirmed yet. Its identifier goes with
 * every attempt (Room.SendWithId), so sending it again never makes a second message. */
struct _NatterOutgoing
{
  GObject  parent_instance;

  char    *body;           /* (owned) */
  char    *client_msg_id;  /* (owned) */
  char    *error;          /* (owned) (nullable): why the last attempt failed */
  guint64  reply_to;       /* the message it answers (Room.Reply), or 0 */
};

G_DEFINE_FINAL_TYPE (NatterOutgoing, natter_outgoing, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_ERROR,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
natter_outgoing_finalize (GObject *object)
{
  NatterOutgoing *self = NATTER_OUTGOING (object);

  g_free (self->body);
  g_free (self->client_msg_id);
  g_free (self->error);

  G_OBJECT_CLASS (natter_outgoing_parent_class)->finalize (object);
}

static void
natter_outgoing_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  NatterOutgoing *self = NATTER_OUTGOING (object);

  switch (prop_id)
    {
    case PROP_ERROR:
      g_value_set_string (value, self->error);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
natter_outgoing_class_init (NatterOutgoingClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = natter_outgoing_finalize;
  object_class->get_property = natter_outgoing_get_property;

  properties[PROP_ERROR] = g_param_spec_string ("error", NULL, NULL, NULL,
                                                G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY |
                                                G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
natter_outgoing_init (NatterOutgoing *self)
{
}

/**
 * natter_outgoing_new:
 * @body: the message text
 *
 * Returns: (transfer full): a message on its way, with a new random identifier
 */
NatterOutgoing *
natter_outgoing_new (const char *body)
{
  NatterOutgoing *self = g_object_new (NATTER_TYPE_OUTGOING, NULL);

  self->body = g_strdup (body);
  self->client_msg_id = g_uuid_string_random ();
  return self;
}

const char *
natter_outgoing_get_body (NatterOutgoing *self)
{
  g_return_val_if_fail (NATTER_IS_OUTGOING (self), NULL);
  return self->body;
}

const char *
natter_outgoing_get_client_msg_id (NatterOutgoing *self)
{
  g_return_val_if_fail (NATTER_IS_OUTGOING (self), NULL);
  return self->client_msg_id;
}

/**
 * natter_outgoing_get_error:
 * @self: a message on its way
 *
 * Returns: (nullable): why the last attempt failed, for users; %NULL while it is
 *   being sent
 */
const char *
natter_outgoing_get_error (NatterOutgoing *self)
{
  g_return_val_if_fail (NATTER_IS_OUTGOING (self), NULL);
  return self->error;
}

void
natter_outgoing_set_error (NatterOutgoing *self,
                           const char     *error)
{
  g_return_if_fail (NATTER_IS_OUTGOING (self));

  if (g_strcmp0 (self->error, error) == 0)
    return;
  g_free (self->error);
  self->error = g_strdup (error);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ERROR]);
}

/**
 * natter_outgoing_get_reply_to:
 * @self: a message on its way
 *
 * Returns: the seq of the message it answers, or 0
 */
guint64
natter_outgoing_get_reply_to (NatterOutgoing *self)
{
  g_return_val_if_fail (NATTER_IS_OUTGOING (self), 0);
  return self->reply_to;
}

/**
 * natter_outgoing_set_reply_to:
 * @self: a message on its way
 * @reply_to: the seq of the message it answers, or 0
 *
 * Each attempt to send it is then a Room.Reply.
 */
void
natter_outgoing_set_reply_to (NatterOutgoing *self,
                              guint64         reply_to)
{
  g_return_if_fail (NATTER_IS_OUTGOING (self));
  self->reply_to = reply_to;
}
