/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-upstream"

#include "config.h"

#include "natter-upstream-private.h"

/* The server's TLS certificate: a second chance with --ca-file, and why it was refused,
 * in words. */

char *
natter_upstream_describe_certificate_errors (GTlsCertificateFlags flags)
{
  static const struct {
    GTlsCertificateFlags flag;
    const char *text;
  } problems[] = {
    { G_TLS_CERTIFICATE_UNKNOWN_CA,
      "it is not signed by a trusted certificate authority (a self-signed certificate?)" },
    { G_TLS_CERTIFICATE_BAD_IDENTITY, "it was issued for another host name" },
    { G_TLS_CERTIFICATE_NOT_ACTIVATED, "it is not valid yet" },
    { G_TLS_CERTIFICATE_EXPIRED, "it has expired" },
    { G_TLS_CERTIFICATE_REVOKED, "it was revoked" },
    { G_TLS_CERTIFICATE_INSECURE, "it uses an insecure algorithm" },
  };
  GString *text = g_string_new (NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (problems); i++)
    if (flags & problems[i].flag)
      g_string_append_printf (text, "%s%s", text->len > 0 ? "; " : "", problems[i].text);
  if (text->len == 0)
    g_string_append (text, "it could not be verified");
  return g_string_free (text, FALSE);
}

/* Called only when the system's trust store refused the server's certificate. With
 * --ca-file, the certificate gets a second chance against that CA, host name included;
 * otherwise it is refused, never accepted silently. */
gboolean
natter_upstream_accept_certificate_cb (SoupMessage          *msg,
                                       GTlsCertificate      *certificate,
                                       GTlsCertificateFlags  errors,
                                       NatterUpstream       *self)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnectable) identity = NULL;
  GUri *uri = soup_message_get_uri (msg);
  GTlsCertificateFlags flags;

  self->tls_errors = errors;
  if (self->ca_database == NULL)
    return FALSE;
  identity = g_network_address_new (g_uri_get_host (uri), (guint16) g_uri_get_port (uri));
  flags = g_tls_database_verify_chain (self->ca_database, certificate,
                                       G_TLS_DATABASE_PURPOSE_AUTHENTICATE_SERVER, identity,
                                       NULL, G_TLS_DATABASE_VERIFY_NONE, NULL, &error);
  if (error != NULL)
    {
      g_debug ("Cannot verify the certificate with --ca-file: %s", error->message);
      return FALSE;
    }
  self->tls_errors = flags;
  return flags == 0;
}
