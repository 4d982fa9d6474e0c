/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-dbus"

#include "config.h"

#include <string.h>

#include "natter-dbus-util.h"
#include "natter-error.h"
#include "natter-notifier.h"
#include "natter-search-provider.h"
#include "natter-store.h"

/* The overview shows a handful; a few more let a refined search stay local to them. */
#define SEARCH_LIMIT      20
/* Results are described after they are returned; keep the latest searches' messages. */
#define MAX_CACHED        500
#define MAX_DESCRIPTION   160

struct _NatterSearchProvider
{
  NatterShellSearchProvider2Skeleton parent_instance;

  NatterDBusClient *client;   /* (owned) */
  GHashTable       *results;  /* (owned) result id → Natter__Message * (owned) */
};

static void natter_search_provider_iface_init (NatterShellSearchProvider2Iface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (NatterSearchProvider, natter_search_provider,
                               NATTER_SHELL_TYPE_SEARCH_PROVIDER2_SKELETON,
                               G_IMPLEMENT_INTERFACE (NATTER_SHELL_TYPE_SEARCH_PROVIDER2,
                                                      natter_search_provider_iface_init))

/* Result ids are ROOM#SEQ: `#` is in no room name. */
static char *
result_id (const Natter__Message *message)
{
  return g_strdup_printf ("%s#%" G_GUINT64_FORMAT, message->room, message->seq);
}

static char *
room_of_result (const char *id)
{
  const char *hash = strrchr (id, '#');

  if (hash == NULL || hash == id)
    return NULL;
  return g_strndup (id, hash - id);
}

static void
search_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(NatterDBusCall) call = user_data;
  NatterSearchProvider *self = call->self;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterEvent) event = natter_dbus_client_request_finish (NATTER_DBUS_CLIENT (source),
                                                                    result, &error);
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  const Natter__SearchResults *results;

  if (event == NULL)
    {
      /* Terms the index cannot use match nothing: the Shell wants results, not errors. */
      if (!g_error_matches (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST))
        {
          g_dbus_method_invocation_return_gerror (call->invocation, error);
          return;
        }
    }
  else if (natter_event_get_frame (event)->event_case == NATTER__SERVER_FRAME__EVENT_SEARCH_RESULTS)
    {
      results = natter_event_get_frame (event)->search_results;
      if (g_hash_table_size (self->results) + results->n_messages > MAX_CACHED)
        g_hash_table_remove_all (self->results);
      for (gsize i = 0; i < results->n_messages; i++)
        {
          const Natter__Message *message = results->messages[i];
          char *id;

          if (message->room == NULL)
            continue;
          id = result_id (message);
          g_ptr_array_add (ids, id);
          g_hash_table_replace (self->results, g_strdup (id), natter_message_copy (message));
        }
    }
  g_ptr_array_add (ids, NULL);
  g_dbus_method_invocation_return_value (call->invocation,
                                         g_variant_new ("(^as)", (char **) ids->pdata));
}

static void
search (NatterSearchProvider  *self,
        GDBusMethodInvocation *invocation,
        const char * const    *terms)
{
  g_autofree char *query = g_strstrip (g_strjoinv (" ", (char **) terms));
  Natter__ClientFrame *frame;

  if (*query == '\0')
    {
      const char * const none[] = { NULL };

      g_dbus_method_invocation_return_value (invocation, g_variant_new ("(^as)", none));
      return;
    }

  frame = natter_dbus_client_frame_new ();
  frame->op_case = NATTER__CLIENT_FRAME__OP_SEARCH;
  frame->search = g_new0 (Natter__Search, 1);
  natter__search__init (frame->search);
  /* The store treats the text as plain words, the last one also as a prefix. */
  frame->search->query = g_steal_pointer (&query);
  frame->search->has_limit = TRUE;
  frame->search->limit = SEARCH_LIMIT;
  natter_dbus_client_request_async (self->client, frame, NULL, search_cb,
                                    natter_dbus_call_new (self, invocation));
}

static gboolean
natter_search_provider_handle_get_initial_result_set (NatterShellSearchProvider2 *iface,
                                                      GDBusMethodInvocation      *invocation,
                                                      const char * const         *terms)
{
  search (NATTER_SEARCH_PROVIDER (iface), invocation, terms);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
natter_search_provider_handle_get_subsearch_result_set (NatterShellSearchProvider2 *iface,
                                                        GDBusMethodInvocation      *invocation,
                                                        const char * const         *previous,
                                                        const char * const         *terms)
{
  /* The previous results are only the newest matches: search again. */
  search (NATTER_SEARCH_PROVIDER (iface), invocation, terms);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static char *
description_for (const Natter__Message *message)
{
  const char *body = message->body != NULL ? message->body : "";
  g_autofree char *line = g_strdup (body);

  /* One line in the overview. */
  g_strdelimit (line, "\r\n\t", ' ');
  if (g_utf8_strlen (line, -1) > MAX_DESCRIPTION)
    {
      g_autofree char *start = g_utf8_substring (line, 0, MAX_DESCRIPTION);
      return g_strconcat (start, "…", NULL);
    }
  return g_steal_pointer (&line);
}

static gboolean
natter_search_provider_handle_get_result_metas (NatterShellSearchProvider2 *iface,
                                                GDBusMethodInvocation      *invocation,
                                                const char * const         *ids)
{
  NatterSearchProvider *self = NATTER_SEARCH_PROVIDER (iface);
  GVariantBuilder metas;

  g_variant_builder_init (&metas, G_VARIANT_TYPE ("aa{sv}"));
  for (gsize i = 0; ids[i] != NULL; i++)
    {
      const Natter__Message *message = g_hash_table_lookup (self->results, ids[i]);
      GVariantBuilder meta;

      if (message == NULL)
        continue;
      g_variant_builder_init (&meta, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&meta, "{sv}", "id", g_variant_new_string (ids[i]));
      g_variant_builder_add (&meta, "{sv}", "name",
                             g_variant_new_take_string (natter_notifier_title_for (message)));
      g_variant_builder_add (&meta, "{sv}", "description",
                             g_variant_new_take_string (description_for (message)));
      g_variant_builder_add (&meta, "{sv}", "clipboardText",
                             g_variant_new_string (message->body != NULL ? message->body : ""));
      g_variant_builder_add_value (&metas, g_variant_builder_end (&meta));
    }
  natter_shell_search_provider2_complete_get_result_metas (iface, invocation,
                                                            g_variant_builder_end (&metas));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
natter_search_provider_handle_activate_result (NatterShellSearchProvider2 *iface,
                                               GDBusMethodInvocation      *invocation,
                                               const char                 *id,
                                               const char * const         *terms,
                                               guint                       timestamp)
{
  g_autofree char *room = room_of_result (id);
  /* The Shell gives no activation token, only the time of the click: what X11's startup
   * notification takes (GLib's own format for a time-only id). */
  g_autofree char *startup_id = timestamp != 0 ? g_strdup_printf ("_TIME%u", timestamp) : NULL;
  guint64 seq = g_ascii_strtoull (strrchr (id, '#') != NULL ? strrchr (id, '#') + 1 : "0", NULL, 10);

  if (room != NULL)
    natter_notifier_activate_app (g_dbus_method_invocation_get_connection (invocation),
                                  "open-message", g_variant_new ("(st)", room, seq), NULL,
                                  startup_id);
  natter_shell_search_provider2_complete_activate_result (iface, invocation);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
natter_search_provider_handle_launch_search (NatterShellSearchProvider2 *iface,
                                             GDBusMethodInvocation      *invocation,
                                             const char * const         *terms,
                                             guint                       timestamp)
{
  g_autofree char *query = g_strjoinv (" ", (char **) terms);
  g_autofree char *startup_id = timestamp != 0 ? g_strdup_printf ("_TIME%u", timestamp) : NULL;

  natter_notifier_activate_app (g_dbus_method_invocation_get_connection (invocation),
                                "search", g_variant_new_string (query), NULL, startup_id);
  natter_shell_search_provider2_complete_launch_search (iface, invocation);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
natter_search_provider_iface_init (NatterShellSearchProvider2Iface *iface)
{
  iface->handle_get_initial_result_set = natter_search_provider_handle_get_initial_result_set;
  iface->handle_get_subsearch_result_set = natter_search_provider_handle_get_subsearch_result_set;
  iface->handle_get_result_metas = natter_search_provider_handle_get_result_metas;
  iface->handle_activate_result = natter_search_provider_handle_activate_result;
  iface->handle_launch_search = natter_search_provider_handle_launch_search;
}

static void
natter_search_provider_dispose (GObject *object)
{
  NatterSearchProvider *self = NATTER_SEARCH_PROVIDER (object);

  g_clear_object (&self->client);

  G_OBJECT_CLASS (natter_search_provider_parent_class)->dispose (object);
}

static void
natter_search_provider_finalize (GObject *object)
{
  NatterSearchProvider *self = NATTER_SEARCH_PROVIDER (object);

  g_clear_pointer (&self->results, g_hash_table_unref);

  G_OBJECT_CLASS (natter_search_provider_parent_class)->finalize (object);
}

static void
natter_search_provider_class_init (NatterSearchProviderClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = natter_search_provider_dispose;
  object_class->finalize = natter_search_provider_finalize;
}

static void
natter_search_provider_init (NatterSearchProvider *self)
{
  self->results = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify) natter_message_free);
}

/**
 * natter_search_provider_new:
 * @client: the D-Bus front end's client, which searches as the local account
 *
 * Returns: (transfer full): a new #NatterSearchProvider, not exported yet
 */
NatterSearchProvider *
natter_search_provider_new (NatterDBusClient *client)
{
  NatterSearchProvider *self;

  g_return_val_if_fail (NATTER_IS_DBUS_CLIENT (client), NULL);

  self = g_object_new (NATTER_TYPE_SEARCH_PROVIDER, NULL);
  self->client = g_object_ref (client);
  return self;
}

/**
 * natter_search_provider_set_client:
 * @self: a #NatterSearchProvider
 * @client: the D-Bus front end's client of natterd's new mode
 *
 * Searches through @client from now on; results of the old one are forgotten.
 */
void
natter_search_provider_set_client (NatterSearchProvider *self,
                                   NatterDBusClient     *client)
{
  g_return_if_fail (NATTER_IS_SEARCH_PROVIDER (self));
  g_return_if_fail (NATTER_IS_DBUS_CLIENT (client));

  g_set_object (&self->client, client);
  g_hash_table_remove_all (self->results);
}
