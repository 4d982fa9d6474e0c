#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Checks flatpak/io.github.natter.Natter.json without flatpak-builder (which needs the
# GNOME runtime and the network): a runtime that is still supported, exactly the
# permissions the sandboxed app needs, no cluster libraries, protobuf only at build
# time, every downloaded source pinned by a checksum (or a commit); and, in what this
# build installs, that every file Flatpak exports is named under the app ID, so that
# natterd's D-Bus activation, the app's and the Shell search provider reach the host.
# Prints TAP.
#
#   test-manifest.py BUILDDIR/meson-info/intro-installed.json BINDIR DATADIR

import configparser
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = os.path.join(HERE, "io.github.natter.Natter.json")
APP_ID = "io.github.natter.Natter"
DAEMON_BUS_NAME = APP_ID + ".Daemon"

# GNOME runtime branches past their end of life, as of 2026-12-07: 43 since 20 September
# 2023, 47 since October 2025, 48 since March 2026, and every branch before them. Flathub
# takes no app on one and GNOME Software warns every user of it. When GNOME ends the next
# branch, add it here and move the manifest on.
END_OF_LIFE_BEFORE = 49

FINISH_ARGS = {
    "--share=network",       # natterd hosts (host mode) or connects out (upstream mode)
    "--share=ipc",           # X11 shared memory, with fallback-x11
    "--socket=wayland",
    "--socket=fallback-x11",
    "--device=dri",          # GTK's GL renderer
}
# Notifications go through the notification portal, the account's secrets through the
# Secret portal (libsecret does that by itself in a sandbox) and host-mode data into the
# app's own data directory: no --talk-name and no --filesystem.

BUILDSYSTEMS = {"autotools", "cmake", "cmake-ninja", "meson", "simple", "qmake"}
PINNED_TYPES = {"archive", "file"}
CLUSTER_LIBRARIES = ("libpq", "postgresql", "hiredis")
# What the protobuf-c module must not leave in the app; its shared library stays, natterd
# links it.
PROTOBUF_C_BUILD_ONLY = {"/bin", "/include", "/lib/pkgconfig", "*.la", "*.a"}

# Where Flatpak exports files from, relative to the data directory.
EXPORTED_DIRS = ("applications", "icons", "dbus-1/services", "gnome-shell/search-providers",
                 "metainfo", "mime/packages")

results = []


def check(name, condition, detail=""):
    results.append((name, bool(condition), detail))


def under_app_id(stem):
    """Whether Flatpak exports a file with this name (without its extension): the app ID
    itself, a name below it, or the app ID with a suffix such as `-symbolic`."""
    if not stem.startswith(APP_ID):
        return False
    rest = stem[len(APP_ID):]
    return rest == "" or rest[0] == "." or not re.match(r"[A-Za-z0-9_]", rest[0])


def is_bus_name_under_app_id(name):
    return name == APP_ID or re.fullmatch(re.escape(APP_ID) + r"(\.[A-Za-z_][A-Za-z0-9_-]*)+",
                                          name) is not None


# The manifest -------------------------------------------------------------------------

with open(MANIFEST, encoding="utf-8") as f:
    manifest = json.load(f)

check("app id", manifest.get("id") == APP_ID, manifest.get("id"))
check("GNOME runtime and SDK",
      (manifest.get("runtime"), manifest.get("sdk")) == ("org.gnome.Platform", "org.gnome.Sdk"))
version = str(manifest.get("runtime-version", ""))
check("runtime is a stable GNOME branch", re.fullmatch(r"[1-9][0-9]*", version), version)
check("runtime is not past its end of life",
      re.fullmatch(r"[0-9]+", version) and int(version) >= END_OF_LIFE_BEFORE,
      f"GNOME {version}: every branch before {END_OF_LIFE_BEFORE} is end-of-life")
check("command is the app", manifest.get("command") == "natter")

args = manifest.get("finish-args", [])
check("finish-args are exactly what the app needs",
      set(args) == FINISH_ARGS and len(args) == len(FINISH_ARGS),
      f"extra {sorted(set(args) - FINISH_ARGS)}, missing {sorted(FINISH_ARGS - set(args))}")
check("no --filesystem", not [a for a in args if a.startswith("--filesystem")])
check("no --talk-name (notifications and secrets go through portals)",
      not [a for a in args if a.startswith("--talk-name")])
check("no D-Bus name owned beyond the app ID's",
      not [a for a in args if a.startswith("--own-name=") and
           not is_bus_name_under_app_id(a.split("=", 1)[1])])

modules = manifest.get("modules", [])
names = [m.get("name") for m in modules if isinstance(m, dict)]
check("modules are objects with unique names", len(names) == len(modules) and
      len(set(names)) == len(names) and all(names), names)
check("natter is the last module", names and names[-1] == "natter")
for wanted in ("protobuf", "protobuf-c", "libsodium"):
    check(f"module {wanted} (not in the GNOME runtime)", wanted in names)
urls = [s.get("url", "") for m in modules for s in m.get("sources", [])]
check("no cluster library modules (libpq, hiredis)",
      not [n for n in names if any(lib in n.lower() for lib in CLUSTER_LIBRARIES)] and
      not [u for u in urls if any(lib in u.lower() for lib in CLUSTER_LIBRARIES)], names)

by_name = {m.get("name"): m for m in modules}
check("protobuf is build-time only: all of it cleaned up",
      by_name.get("protobuf", {}).get("cleanup") == ["*"])
protobuf_c = by_name.get("protobuf-c", {})
cleanup = set(protobuf_c.get("cleanup", []))
check("protobuf-c: protoc-c, headers, pkg-config and static libraries cleaned up",
      PROTOBUF_C_BUILD_ONLY <= cleanup, sorted(PROTOBUF_C_BUILD_ONLY - cleanup))
check("protobuf-c: its shared library stays for natterd",
      not cleanup & {"*", "/lib", "/lib/*", "*.so", "*.so.*"}, sorted(cleanup))
check("protobuf-c: no static library built", "--disable-static" in protobuf_c.get("config-opts", []))

for module in modules:
    name = module.get("name")
    check(f"{name}: known buildsystem", module.get("buildsystem", "autotools") in BUILDSYSTEMS,
          module.get("buildsystem"))
    if module.get("buildsystem") == "simple":
        check(f"{name}: simple module has build-commands", module.get("build-commands"))
    sources = module.get("sources", [])
    check(f"{name}: has sources", sources)
    for i, source in enumerate(sources):
        kind = source.get("type")
        label = f"{name}: source {i} ({kind})"
        if kind in PINNED_TYPES:
            url = source.get("url", "")
            check(f"{label} is fetched over https", url.startswith("https://"), url)
            check(f"{label} is pinned by sha256",
                  re.fullmatch(r"[0-9a-f]{64}", source.get("sha256", "")), source.get("sha256"))
        elif kind == "git":
            check(f"{label} is pinned by commit",
                  re.fullmatch(r"[0-9a-f]{40}", source.get("commit", "")), source.get("commit"))
        elif kind == "dir":
            check(f"{label} is this repository, for the natter module only",
                  name == "natter" and os.path.isfile(os.path.join(HERE, source.get("path", ""),
                                                                   "meson.build")))
        else:
            check(f"{label} is a known, pinnable source type", False, kind)

natter = modules[-1] if modules else {}
check("natter builds with meson", natter.get("buildsystem") == "meson")
check("natter is built without the cluster backends",
      "-Dcluster=disabled" in natter.get("config-opts", []), natter.get("config-opts"))

# What the build installs --------------------------------------------------------------

if len(sys.argv) != 4:
    sys.exit(f"usage: {sys.argv[0]} INTRO-INSTALLED.JSON BINDIR DATADIR")
installed_json, bindir, datadir = sys.argv[1:]
with open(installed_json, encoding="utf-8") as f:
    installed = {dest: src for src, dest in json.load(f).items()}


def installed_in(subdir):
    """{file name: path of its source or build file} installed in DATADIR/SUBDIR."""
    top = os.path.join(datadir, subdir) + "/"
    return {os.path.basename(dest): src for dest, src in installed.items()
            if dest.startswith(top)}


check("the command is installed", os.path.join(bindir, manifest.get("command", "")) in installed)
check("natterd is installed", os.path.join(bindir, "natterd") in installed)

for subdir in EXPORTED_DIRS:
    for filename in sorted(installed_in(subdir)):
        stem = filename.rsplit(".", 1)[0]
        check(f"exported {subdir}/{filename} is named under the app ID", under_app_id(stem))

desktop_files = installed_in("applications")
check("desktop file is the app ID's", f"{APP_ID}.desktop" in desktop_files, sorted(desktop_files))

# Flatpak exports a D-Bus service file only under its exact bus name, and rewrites its
# Exec to run the command in the sandbox.
services = installed_in("dbus-1/services")
for filename, src in sorted(services.items()):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(src, encoding="utf-8")
    bus_name = parser.get("D-BUS Service", "Name", fallback="")
    check(f"{filename}: Name={bus_name} is its file name, under the app ID",
          filename == f"{bus_name}.service" and is_bus_name_under_app_id(bus_name))
    exec_line = parser.get("D-BUS Service", "Exec", fallback="").split()
    check(f"{filename}: Exec runs an installed program",
          exec_line and exec_line[0] in installed, exec_line)
check("the app is D-Bus-activatable", f"{APP_ID}.service" in services, sorted(services))
check("natterd is D-Bus-activatable under the app ID", f"{DAEMON_BUS_NAME}.service" in services,
      sorted(services))

providers = installed_in("gnome-shell/search-providers")
check("a Shell search provider is installed", providers)
for filename, src in sorted(providers.items()):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(src, encoding="utf-8")
    section = "Shell Search Provider"
    bus_name = parser.get(section, "BusName", fallback="")
    check(f"{filename}: its bus name {bus_name} is activatable",
          f"{bus_name}.service" in services and is_bus_name_under_app_id(bus_name))
    check(f"{filename}: its desktop file is the app's",
          parser.get(section, "DesktopId", fallback="") in desktop_files)

print(f"1..{len(results)}")
failed = 0
for n, (name, ok, detail) in enumerate(results, 1):
    print(f"{'ok' if ok else 'not ok'} {n} - {name}")
    if not ok:
        failed += 1
        print(f"# {detail}")
sys.exit(1 if failed else 0)
