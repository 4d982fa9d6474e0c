#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A natterd built with -Dcluster=disabled: no libpq or hiredis in the binary, and a clear
error (not a crash, not a silent single node) when started as a cluster node. TAP output."""

import subprocess
import sys
import tempfile

natterd = sys.argv[1]
results = []


def check(name, ok, detail=""):
    results.append((name, ok, detail))


linked = subprocess.run(["ldd", natterd], capture_output=True, text=True, check=True).stdout
check("natterd links neither libpq nor hiredis",
      "libpq" not in linked and "hiredis" not in linked, linked)

with tempfile.TemporaryDirectory() as data_dir:
    for args in (["--postgres", "host=/nonexistent"],
                 ["--postgres", "host=/nonexistent", "--redis", "unix:///nonexistent"]):
        run = subprocess.run([natterd, "--no-dbus", "--data-dir", data_dir, "--listen",
                              "127.0.0.1:0"] + args,
                             capture_output=True, text=True, timeout=60,
                             stdin=subprocess.DEVNULL)
        check(f"natterd {' '.join(args[::2])} fails with a clear error",
              run.returncode not in (0, -6, -11) and
              "built without cluster support" in run.stderr,
              f"exit {run.returncode}: {run.stderr}")

print(f"1..{len(results)}")
for i, (name, ok, detail) in enumerate(results, 1):
    print(f"{'ok' if ok else 'not ok'} {i} - {name}")
    if not ok:
        for line in detail.splitlines():
            print(f"# {line}")
sys.exit(0 if all(ok for _, ok, _ in results) else 1)
