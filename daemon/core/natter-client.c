/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-client"

#include "config.h"

#include <string.h>

#include "natter-client.h"

typedef struct
{
  char     *peer;  /* (owned) (nullable) */
  char     *agent; /* (owned) (nullable) */
} NatterClientPrivate;

G_DEFINE_ABSTRACT_TYPE_WITH_PRIVATE (NatterClient, natter_client, G_TYPE_OBJECT)

static void
natter_client_finalize (GObject *object)
{
  NatterClient *self = NATTER_CLIENT (object);
  NatterClientPrivate *priv = natter_client_get_instance_private (self);

  g_clear_pointer (&priv->peer, g_free);
  g_clear_pointer (&priv->agent, g_free);

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

const char *
natter_client_get_agent (NatterClient *self)
{
  NatterClientPrivate *priv = natter_client_get_instance_private (self);

  g_return_val_if_fail (NATTER_IS_CLIENT (self), NULL);
  return priv->agent;
}

void
natter_client_set_agent (NatterClient *self,
                         const char   *agent)
{
  NatterClientPrivate *priv = natter_client_get_instance_private (self);

  g_return_if_fail (NATTER_IS_CLIENT (self));
  g_free (priv->agent);
  /* Shown back to the account in its session list: bounded, and valid UTF-8. */
  priv->agent = agent != NULL ? g_utf8_make_valid (agent, MIN (strlen (agent), 256)) : NULL;
}

/**
 * natter_client_end:
 *
 * Closes the client's connection with @code, if it has one of its own.
 */
void
natter_client_end (NatterClient *self,
                   gushort       code,
                   const char   *reason)
{
  NatterClientClass *klass;

  g_return_if_fail (NATTER_IS_CLIENT (self));
  klass = NATTER_CLIENT_GET_CLASS (self);
  if (klass->end != NULL)
    klass->end (self, code, reason);
}
