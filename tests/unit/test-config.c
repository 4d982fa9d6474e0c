/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-test-config"

#include "config.h"

#include <math.h>
#include <string.h>
#include <glib/gstdio.h>

#include "natter-config.h"
#include "natter-error.h"

/* ------------------------------------------------------------------------------------ */
/* Helpers */

/* Parses natterd's command line (without the program name) into @config. */
static gboolean
parse_command_line (NatterConfig        *config,
                    const char * const  *args,
                    GError             **error)
{
  g_autoptr(GOptionContext) context = g_option_context_new (NULL);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_auto(GStrv) argv = NULL;

  g_strv_builder_add (builder, "natterd");
  g_strv_builder_addv (builder, (const char **) args);
  argv = g_strv_builder_end (builder);
  g_option_context_set_main_group (context, natter_config_get_option_group (config));
  return g_option_context_parse_strv (context, &argv, error);
}

typedef struct {
  char *dir;   /* (owned) */
  char *path;  /* (owned) */
} Keyfile;

/* Writes @contents to a keyfile in a new temporary directory. */
static Keyfile *
keyfile_new (const char *contents)
{
  g_autoptr(GError) error = NULL;
  Keyfile *keyfile = g_new0 (Keyfile, 1);

  keyfile->dir = g_dir_make_tmp ("natter-test-config-XXXXXX", &error);
  g_assert_no_error (error);
  keyfile->path = g_build_filename (keyfile->dir, "natterd.conf", NULL);
  g_file_set_contents (keyfile->path, contents, -1, &error);
  g_assert_no_error (error);
  return keyfile;
}

static void
keyfile_free (Keyfile *keyfile)
{
  g_unlink (keyfile->path);
  g_rmdir (keyfile->dir);
  g_free (keyfile->path);
  g_free (keyfile->dir);
  g_free (keyfile);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Keyfile, keyfile_free)

/* Applies `NAME=VALUE` from a keyfile to a fresh config; returns the error or NULL. */
static GError *
try_keyfile (const char *name, const char *value)
{
  g_autoptr(NatterConfig) config = natter_config_new_defaults ();
  g_autofree char *contents = g_strdup_printf ("[natterd]\n%s=%s\n", name, value);
  g_autoptr(Keyfile) keyfile = keyfile_new (contents);
  GError *error = NULL;

  natter_config_load_keyfile (config, keyfile->path, &error);
  return error;
}

/* Applies `--NAME VALUE` to a fresh config; returns the error or NULL. */
static GError *
try_command_line (const char *name, const char *value)
{
  g_autoptr(NatterConfig) config = natter_config_new_defaults ();
  g_autofree char *option = g_strdup_printf ("--%s", name);
  const char *args[] = { option, value, NULL };
  GError *error = NULL;

  parse_command_line (config, args, &error);
  return error;
}

static char *
format_number (double value)
{
  char buffer[G_ASCII_DTOSTR_BUF_SIZE];

  return g_strdup (g_ascii_formatd (buffer, sizeof buffer, "%.15g", value));
}

/* The error's message after @prefix, or NULL if it is not about the option. */
static const char *
message_after (const GError *error, const char *prefix)
{
  const char *start;

  if (error == NULL)
    return NULL;
  start = strstr (error->message, prefix);
  return start != NULL ? start + strlen (prefix) : NULL;
}

/* ------------------------------------------------------------------------------------ */
/* The table */

static void
test_every_number_has_a_maximum (void)
{
  guint n_settings;
  const NatterSetting *settings = natter_config_get_settings (&n_settings);

  g_assert_cmpuint (n_settings, >, 0);
  for (guint i = 0; i < n_settings; i++)
    {
      const NatterSetting *setting = &settings[i];

      g_test_message ("%s", setting->name);
      g_assert_nonnull (setting->help);
      if (setting->type != NATTER_SETTING_UINT && setting->type != NATTER_SETTING_DOUBLE)
        continue;
      /* Below G_MAXINT: no value is "as large as the type allows". */
      g_assert_cmpfloat (setting->max, >, 0);
      g_assert_cmpfloat (setting->max, <, G_MAXINT);
      g_assert_cmpfloat (setting->min, <=, setting->max);
      g_assert_cmpfloat (setting->min, >=, 0);
      /* A number has a default, or says how it is worked out at run time. */
      g_assert_true (setting->default_value != NULL || setting->default_doc != NULL);
      if (setting->type == NATTER_SETTING_UINT)
        {
          g_assert_cmpfloat (setting->min, ==, floor (setting->min));
          g_assert_cmpfloat (setting->max, ==, floor (setting->max));
        }
    }
}

static void
test_defaults (void)
{
  g_autoptr(NatterConfig) config = natter_config_new_defaults ();

  /* The defaults natterd has always had, now from the table. */
  g_assert_cmpstr (config->listen_address, ==, "127.0.0.1");
  g_assert_cmpuint (config->port, ==, 8080);
  g_assert_cmpint (config->durability, ==, NATTER_DURABILITY_NORMAL);
  g_assert_cmpuint (config->ping_interval_s, ==, 15);
  g_assert_cmpuint (config->ping_timeout_s, ==, 30);
  g_assert_cmpuint (config->max_frame_bytes, ==, 64 * 1024);
  g_assert_cmpuint (config->max_body_bytes, ==, 16 * 1024);
  g_assert_cmpuint (config->max_queue_bytes, ==, 4 * 1024 * 1024);
  g_assert_cmpuint (config->max_queue_frames, ==, 4096);
  g_assert_cmpuint (config->token_ttl_s, ==, 30 * 24 * 3600);
  g_assert_cmpfloat (config->rate_per_s, ==, 20.0);
  g_assert_cmpuint (config->rate_burst, ==, 50);
  g_assert_cmpuint (config->dbus_window, ==, 50);
  g_assert_cmpstr (config->search_language, ==, "simple");
  g_assert_nonnull (config->data_dir);
  g_assert_nonnull (config->owner);
  g_assert_null (config->tls_cert);
  g_assert_false (config->no_dbus);
  g_assert_true (natter_config_validate (config, NULL));
}

/* Each number accepts exactly the same values on the command line and in the keyfile,
 * and says the same about the ones it refuses. */
static void
test_same_range_on_command_line_and_keyfile (void)
{
  guint n_settings;
  const NatterSetting *settings = natter_config_get_settings (&n_settings);

  for (guint i = 0; i < n_settings; i++)
    {
      const NatterSetting *setting = &settings[i];
      gboolean whole = setting->type == NATTER_SETTING_UINT;
      double values[4];
      gboolean valid[4] = { FALSE, TRUE, TRUE, FALSE };
      g_autofree char *command_line_prefix = g_strdup_printf ("--%s: ", setting->name);
      g_autofree char *keyfile_prefix = g_strdup_printf ("%s in [natterd]: ", setting->name);

      if (!whole && setting->type != NATTER_SETTING_DOUBLE)
        continue;
      /* Half a minimum of 0 is 0, which is in range: below 0 is not tried at all. */
      values[0] = whole || setting->min == 0 ? setting->min - 1 : setting->min / 2;
      values[1] = setting->min;
      values[2] = setting->max;
      values[3] = whole ? setting->max + 1 : setting->max * 2;
      for (guint v = 0; v < G_N_ELEMENTS (values); v++)
        {
          g_autofree char *text = format_number (values[v]);
          g_autoptr(GError) command_line_error = NULL;
          g_autoptr(GError) keyfile_error = NULL;
          const char *from_command_line;
          const char *from_keyfile;

          if (values[v] < 0)
            continue;
          g_test_message ("%s = %s", setting->name, text);
          command_line_error = try_command_line (setting->name, text);
          keyfile_error = try_keyfile (setting->name, text);
          /* A value may be in range and still refused for another setting's sake
           * (--max-body 16777216 is not below the default --max-frame): such an error
           * names no option as its prefix. */
          from_command_line = message_after (command_line_error, command_line_prefix);
          from_keyfile = message_after (keyfile_error, keyfile_prefix);
          if (valid[v])
            {
              g_assert_null (from_command_line);
              g_assert_no_error (keyfile_error);
            }
          else
            {
              g_assert_nonnull (from_command_line);
              g_assert_nonnull (from_keyfile);
              g_assert_error (command_line_error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST);
              g_assert_error (keyfile_error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST);
              g_assert_cmpstr (from_command_line, ==, from_keyfile);
            }
        }
    }
}

/* A cluster node waits for its balancer before it closes its sessions; a single node has
 * nobody to wait for. An explicit value wins in both modes, 0 included. */
static void
test_drain_delay_default_by_mode (void)
{
  g_autoptr(NatterConfig) config = natter_config_new_defaults ();
  g_autoptr(GError) error = NULL;
  const char *zero[] = { "--drain-delay", "0", NULL };
  const char *quarter[] = { "--drain-delay", "0.25", NULL };

  g_assert_cmpuint (natter_config_get_drain_delay_ms (config), ==, 0);
  config->postgres = g_strdup ("host=/nowhere");
  g_assert_cmpuint (natter_config_get_drain_delay_ms (config), ==, 2000);
  parse_command_line (config, zero, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (natter_config_get_drain_delay_ms (config), ==, 0);
  parse_command_line (config, quarter, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (natter_config_get_drain_delay_ms (config), ==, 250);
}

/* The command line used to say "--max_queue_bytes must be at least 4096" (a struct
 * field, and a minimum the keyfile did not share). */
static void
test_error_names_the_option_as_typed (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterConfig) config = natter_config_new_defaults ();
  g_autoptr(Keyfile) keyfile = NULL;
  g_autofree char *expected = NULL;

  error = try_command_line ("max-queue-bytes", "100");
  g_assert_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST);
  g_assert_cmpstr (error->message, ==, "--max-queue-bytes: 100 is below the minimum 65536");
  g_clear_error (&error);

  error = try_command_line ("ping-interval", "3601");
  g_assert_cmpstr (error->message, ==, "--ping-interval: 3601 is above the maximum 3600");
  g_clear_error (&error);

  error = try_command_line ("ping-interval", "-1");
  g_assert_cmpstr (error->message, ==, "--ping-interval: “-1” is not a whole number");
  g_clear_error (&error);

  error = try_command_line ("rate", "fast");
  g_assert_cmpstr (error->message, ==, "--rate: “fast” is not a number");
  g_clear_error (&error);

  error = try_command_line ("durability", "sometimes");
  g_assert_cmpstr (error->message, ==, "--durability: expected “normal” or “full”, not “sometimes”");
  g_clear_error (&error);

  keyfile = keyfile_new ("[natterd]\nlisten=127.0.0.1:0\nmax-queue-bytes=100\n");
  g_assert_false (natter_config_load_keyfile (config, keyfile->path, &error));
  expected = g_strdup_printf ("%s: max-queue-bytes in [natterd]: 100 is below the minimum 65536",
                              keyfile->path);
  g_assert_cmpstr (error->message, ==, expected);
}

static void
test_unknown_key (void)
{
  const struct {
    const char *contents;
    const char *message;
  } cases[] = {
    /* The struct field's name is not a key. */
    { "[natterd]\nmax_queue_bytes=65536\n", "unknown key “max_queue_bytes” in [natterd]" },
    { "[natterd]\nping-intervall=20\n", "unknown key “ping-intervall” in [natterd]" },
    { "[server]\nlisten=127.0.0.1:0\n", "unknown group [server]: settings go in [natterd]" },
    { "[natterd]\ncreate-admin=root\n", "create-admin in [natterd]: only an option of the command line" },
    { "[natterd]\nconfig=/etc/other.conf\n", "config in [natterd]: only an option of the command line" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(NatterConfig) config = natter_config_new_defaults ();
      g_autoptr(Keyfile) keyfile = keyfile_new (cases[i].contents);
      g_autoptr(GError) error = NULL;
      g_autofree char *expected = g_strdup_printf ("%s: %s", keyfile->path, cases[i].message);

      g_assert_false (natter_config_load_keyfile (config, keyfile->path, &error));
      g_assert_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST);
      g_assert_cmpstr (error->message, ==, expected);
    }
}

/* Every setting that is not command-line only is a key, read into the same field. */
static void
test_every_option_is_a_key (void)
{
  guint n_settings;
  const NatterSetting *settings = natter_config_get_settings (&n_settings);

  for (guint i = 0; i < n_settings; i++)
    {
      const NatterSetting *setting = &settings[i];
      g_autoptr(NatterConfig) from_keyfile = natter_config_new_defaults ();
      g_autoptr(NatterConfig) from_command_line = natter_config_new_defaults ();
      g_autoptr(GError) error = NULL;
      g_autoptr(Keyfile) keyfile = NULL;
      g_autofree char *contents = NULL;
      g_autofree char *option = g_strdup_printf ("--%s", setting->name);
      g_autofree char *value = NULL;

      if (setting->command_line_only)
        continue;
      switch (setting->type)
        {
        case NATTER_SETTING_UINT:
        case NATTER_SETTING_DOUBLE:
          value = format_number (setting->min);
          break;
        case NATTER_SETTING_DURABILITY:
          value = g_strdup ("full");
          break;
        case NATTER_SETTING_LISTEN:
          value = g_strdup ("[::1]:8443");
          break;
        case NATTER_SETTING_BOOL:
          value = g_strdup ("true");
          break;
        case NATTER_SETTING_LIST:
          value = g_strdup ("https://a.example, https://b.example");
          break;
        case NATTER_SETTING_STRING:
        case NATTER_SETTING_PATH:
        default:
          value = g_strdup ("x");
          break;
        }
      g_test_message ("%s=%s", setting->name, value);
      contents = g_strdup_printf ("[natterd]\n%s=%s\n", setting->name, value);
      keyfile = keyfile_new (contents);
      g_assert_true (natter_config_load_keyfile (from_keyfile, keyfile->path, &error));
      g_assert_no_error (error);
      {
        const char *args[] = { option, setting->type == NATTER_SETTING_BOOL ? NULL : value, NULL };

        /* Cross-field checks aside (the test is whether the value lands). */
        parse_command_line (from_command_line, args, &error);
        g_clear_error (&error);
      }
      switch (setting->type)
        {
        case NATTER_SETTING_UINT:
          g_assert_cmpuint (G_STRUCT_MEMBER (guint, from_keyfile, setting->offset), ==,
                            (guint) setting->min);
          g_assert_cmpuint (G_STRUCT_MEMBER (guint, from_command_line, setting->offset), ==,
                            (guint) setting->min);
          break;
        case NATTER_SETTING_DOUBLE:
          g_assert_cmpfloat (G_STRUCT_MEMBER (double, from_keyfile, setting->offset), ==,
                             setting->min);
          g_assert_cmpfloat (G_STRUCT_MEMBER (double, from_command_line, setting->offset), ==,
                             setting->min);
          break;
        case NATTER_SETTING_DURABILITY:
          g_assert_cmpint (from_keyfile->durability, ==, NATTER_DURABILITY_FULL);
          g_assert_cmpint (from_command_line->durability, ==, NATTER_DURABILITY_FULL);
          break;
        case NATTER_SETTING_LISTEN:
          g_assert_cmpstr (from_keyfile->listen_address, ==, "::1");
          g_assert_cmpuint (from_keyfile->port, ==, 8443);
          g_assert_cmpstr (from_command_line->listen_address, ==, "::1");
          g_assert_cmpuint (from_command_line->port, ==, 8443);
          break;
        case NATTER_SETTING_BOOL:
          g_assert_true (G_STRUCT_MEMBER (gboolean, from_keyfile, setting->offset));
          g_assert_true (G_STRUCT_MEMBER (gboolean, from_command_line, setting->offset));
          break;
        case NATTER_SETTING_LIST:
          {
            const char * const expected[] = { "https://a.example", "https://b.example", NULL };

            g_assert_cmpstrv (G_STRUCT_MEMBER (char **, from_keyfile, setting->offset),
                              expected);
            g_assert_cmpstrv (G_STRUCT_MEMBER (char **, from_command_line, setting->offset),
                              expected);
          }
          break;
        case NATTER_SETTING_STRING:
        case NATTER_SETTING_PATH:
        default:
          g_assert_cmpstr (G_STRUCT_MEMBER (char *, from_keyfile, setting->offset), ==, "x");
          g_assert_cmpstr (G_STRUCT_MEMBER (char *, from_command_line, setting->offset), ==, "x");
          break;
        }
    }
}

/* A list option may be given several times, each time with one item or a comma list. */
static void
test_list_repeated (void)
{
  g_autoptr(NatterConfig) config = natter_config_new_defaults ();
  g_autoptr(GError) error = NULL;
  const char *args[] = { "--allowed-origin", "https://a.example",
                         "--allowed-origin", "https://b.example,,https://c.example ", NULL };
  const char * const expected[] = { "https://a.example", "https://b.example",
                                    "https://c.example", NULL };

  g_assert_true (parse_command_line (config, args, &error));
  g_assert_no_error (error);
  g_assert_cmpstrv (config->allowed_origins, expected);
}

static void
test_command_line_wins (void)
{
  g_autoptr(NatterConfig) config = natter_config_new_defaults ();
  g_autoptr(Keyfile) keyfile = keyfile_new ("[natterd]\nping-interval=20\nping-timeout=60\n"
                                            "durability=full\n");
  g_autoptr(GError) error = NULL;
  /* --config after the option it is overridden by: the order does not matter. */
  const char *args[] = { "--ping-interval", "25", "--config", keyfile->path, NULL };

  g_assert_true (parse_command_line (config, args, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (config->ping_interval_s, ==, 25);
  g_assert_cmpuint (config->ping_timeout_s, ==, 60);
  g_assert_cmpint (config->durability, ==, NATTER_DURABILITY_FULL);
  g_assert_cmpstr (config->config_file, ==, keyfile->path);
}

/* What no single setting can check, whichever source each value came from. */
static void
test_cross_field_checks (void)
{
  const struct {
    const char *args[5];
    const char *message;
  } cases[] = {
    { { "--ping-interval", "30", NULL },
      "ping-timeout (30 s) must be longer than ping-interval (30 s)" },
    { { "--tls-cert", "cert.pem", NULL }, "TLS needs both tls-cert and tls-key" },
    { { "--tls-key", "key.pem", NULL }, "TLS needs both tls-cert and tls-key" },
    { { "--redis", "redis://localhost", NULL },
      "redis needs postgres: the nodes of a cluster share a database" },
    { { "--max-body", "65536", NULL }, "max-body (65536) must be smaller than max-frame (65536)" },
    { { "--upstream", "wss://example.org/ws", "--no-dbus", NULL },
      "upstream needs the D-Bus service that no-dbus turns off: it is upstream mode's only front end" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(NatterConfig) config = natter_config_new_defaults ();
      g_autoptr(GError) error = NULL;

      g_assert_false (parse_command_line (config, cases[i].args, &error));
      g_assert_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST);
      g_assert_cmpstr (error->message, ==, cases[i].message);
    }
}

/* README.md's options table is what `natterd --print-options-markdown` prints. */
static void
test_readme_table (void)
{
  const char *begin_marker = "<!-- options: natterd --print-options-markdown -->\n";
  const char *end_marker = "<!-- end of options -->";
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "..", "README.md", NULL);
  g_autofree char *readme = NULL;
  g_autofree char *expected = natter_config_dup_options_markdown ();
  g_autofree char *table = NULL;
  g_auto(GStrv) table_lines = NULL;
  g_auto(GStrv) expected_lines = NULL;
  g_autoptr(GError) error = NULL;
  const char *begin;
  const char *end;

  g_file_get_contents (path, &readme, NULL, &error);
  g_assert_no_error (error);
  begin = strstr (readme, begin_marker);
  g_assert_nonnull (begin);
  begin += strlen (begin_marker);
  end = strstr (begin, end_marker);
  g_assert_nonnull (end);
  table = g_strndup (begin, end - begin);
  if (g_strcmp0 (table, expected) != 0)
    g_test_message ("README.md's options table is out of date: replace it with the output of "
                    "natterd --print-options-markdown");
  /* Line by line, so that a failure shows the row that differs. */
  table_lines = g_strsplit (table, "\n", -1);
  expected_lines = g_strsplit (expected, "\n", -1);
  for (guint i = 0; table_lines[i] != NULL || expected_lines[i] != NULL; i++)
    {
      g_assert_cmpstr (table_lines[i], ==, expected_lines[i]);
      if (table_lines[i] == NULL)
        break;
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/config/table/maximum", test_every_number_has_a_maximum);
  g_test_add_func ("/config/list-repeated", test_list_repeated);
  g_test_add_func ("/config/table/defaults", test_defaults);
  g_test_add_func ("/config/table/readme", test_readme_table);
  g_test_add_func ("/config/range/same", test_same_range_on_command_line_and_keyfile);
  g_test_add_func ("/config/drain-delay/default", test_drain_delay_default_by_mode);
  g_test_add_func ("/config/error/option-as-typed", test_error_names_the_option_as_typed);
  g_test_add_func ("/config/keyfile/unknown-key", test_unknown_key);
  g_test_add_func ("/config/keyfile/every-option", test_every_option_is_a_key);
  g_test_add_func ("/config/command-line/wins", test_command_line_wins);
  g_test_add_func ("/config/validate/cross-field", test_cross_field_checks);

  return g_test_run ();
}
