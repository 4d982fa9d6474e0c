#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Lists the test cases of a unittest file as CLASS.METHOD, one a line, without importing
# it (meson runs this at configure time, when the file's imports may not be usable yet),
# so that tests/dbus/meson.build registers each case as its own test.

import ast
import sys

with open(sys.argv[1]) as f:
    tree = ast.parse(f.read(), sys.argv[1])
for node in tree.body:
    if isinstance(node, ast.ClassDef) and node.name.endswith("Test"):
        for item in node.body:
            if (isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and
                    item.name.startswith("test_")):
                print(f"{node.name}.{item.name}")
