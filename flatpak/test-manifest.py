#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Checks flatpak/io.github.natter.Natter.json without flatpak-builder (which needs the
# GNOME runtime and the network): its structure, the runtime, exactly the permissions a
# chat app needs, that every downloaded source is pinned by a checksum (or a commit),
# and that the D-Bus names the app and natterd own in the sandbox are under the app ID.
# Prints TAP.

import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = os.path.join(HERE, "io.github.natter.Natter.json")
DATA = os.path.join(HERE, "..", "data")
APP_ID = "io.github.natter.Natter"

FINISH_ARGS = {
    "--share=network",                          # the chat server, local or remote
    "--share=ipc",                              # X11 shared memory
    "--socket=wayland",
    "--socket=fallback-x11",
    "--talk-name=org.freedesktop.secrets",      # libsecret: the account's password
    "--talk-name=org.freedesktop.Notifications",  # natterd's notifications
}
BUILDSYSTEMS = {"autotools", "cmake", "cmake-ninja", "meson", "simple", "qmake"}
PINNED_TYPES = {"archive", "file"}

results = []


def check(name, condition, detail=""):
    results.append((name, bool(condition), detail))


with open(MANIFEST, encoding="utf-8") as f:
    manifest = json.load(f)

check("app id", manifest.get("id") == APP_ID, manifest.get("id"))
check("GNOME 43 runtime",
      (manifest.get("runtime"), manifest.get("runtime-version"), manifest.get("sdk")) ==
      ("org.gnome.Platform", "43", "org.gnome.Sdk"))
check("command is the app", manifest.get("command") == "natter")
args = manifest.get("finish-args", [])
check("finish-args are exactly what a chat app needs", set(args) == FINISH_ARGS and
      len(args) == len(FINISH_ARGS), f"extra {sorted(set(args) - FINISH_ARGS)}, "
      f"missing {sorted(FINISH_ARGS - set(args))}")
check("no D-Bus name owned beyond the app ID's",
      not [a for a in args if a.startswith("--own-name=") and not a.startswith(f"--own-name={APP_ID}")])

modules = manifest.get("modules", [])
names = [m.get("name") for m in modules if isinstance(m, dict)]
check("modules are objects with unique names", len(names) == len(modules) and
      len(set(names)) == len(names) and all(names), names)
check("natter is the last module", names and names[-1] == "natter")
for wanted in ("protobuf-c", "hiredis", "libsodium", "libpq"):
    check(f"module {wanted} (not in the GNOME runtime)", wanted in names)

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

# In the sandbox natterd is D-Bus-activated through the service files the project
# installs; flatpak exports only those whose names start with the app ID.
services = sorted(f for f in os.listdir(DATA) if f.endswith(".service.in") and f.startswith("io."))
check("D-Bus service files exist", services, services)
for service in services:
    with open(os.path.join(DATA, service), encoding="utf-8") as f:
        text = f.read()
    bus_name = re.search(r"^Name=(.*)$", text, re.M)
    bus_name = bus_name.group(1).replace("@app_id@", APP_ID) if bus_name else ""
    check(f"{service}: bus name {bus_name} is under the app ID",
          bus_name == APP_ID or bus_name.startswith(APP_ID + "."))

print(f"1..{len(results)}")
failed = 0
for n, (name, ok, detail) in enumerate(results, 1):
    print(f"{'ok' if ok else 'not ok'} {n} - {name}")
    if not ok:
        failed += 1
        print(f"# {detail}")
sys.exit(1 if failed else 0)
