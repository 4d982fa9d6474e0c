/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-client"

#include "config.h"

#include "natter-client.h"

typedef struct
{
  char     *peer;  /* (owned) (nullable) */
} NatterClientPrivate;

G_DEFINE_ABSTRACT_TYPE_WITH_PRIVATE (NatterClient, natter_client, G_TYPE_OBJECT)

static void
natter_client_finalize (GObject *object)
{
  NatterClient *self = NATTER_CLIENT (object);
  NatterClientPrivate *priv = natter_client_get_instance_private (self);

  g_clear_pointer (&priv->peer, g_free);

  G_OBJECT_CLASS (natter_client_parent_class)->finalize (object);
}

static void
natter_client_class_init (NatterClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = natter_client_finalize;
}

static void
natter_client_init (NatterClient *self)
{
}

void
natter_client_deliver (NatterClient *self,
                       NatterEvent  *event)
{
  g_return_if_fail (NATTER_IS_CLIENT (self));
  NATTER_CLIENT_GET_CLASS (self)->deliver (self, event);
}

const char *
natter_client_get_peer (NatterClient *self)
{
  NatterClientPrivate *priv = natter_client_get_instance_private (self);

  g_return_val_if_fail (NATTER_IS_CLIENT (self), NULL);
  return priv->peer;
}

void
natter_client_set_peer (NatterClient *self,
                        const char   *peer)
{
  NatterClientPrivate *priv = natter_client_get_instance_private (self);

  g_return_if_fail (NATTER_IS_CLIENT (self));
  g_free (priv->peer);
  priv->peer = g_strdup (peer);
}
