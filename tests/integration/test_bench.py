#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The benchmarks' load generator against the built natterd, at a size that takes a
second: the numbers in docs/benchmarks.md are only as good as the tool that measures
them. Nothing here asserts a timing."""

import asyncio
import json
import os
import subprocess
import unittest

from natter_fixture import NatterTestCase


class BenchToolsTest(NatterTestCase):

    async def test_loadgen_counts_every_delivery(self):
        """Two rooms of three, one sender each, over two worker processes: every message
        reaches every member once and in order, nothing counts as an error, and the merged
        --timeline accounts for each measured delivery and for the slowest."""
        result_path = os.path.join(self.workdir, "result.json")
        timeline_path = os.path.join(self.workdir, "timeline.txt")
        args = [os.environ["NATTER_LOADGEN"], "--port", str(self.daemon.port),
                "--server-pid", str(self.daemon.proc.pid), "--conns", "6", "--rooms", "2",
                "--rate", "100", "--duration", "1", "--warmup", "0.5", "--drain", "2",
                "--procs", "2", "--src-addrs", "0", "--auth", "register", "--label", "smoke",
                "--quiet", "--json", result_path, "--timeline", timeline_path]
        proc = await asyncio.to_thread(subprocess.run, args, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stdout)
        with open(result_path) as f:
            result = json.load(f)

        self.assertEqual(result["conns_ok"], 6, proc.stdout)
        self.assertEqual(result["errors_total"], 0, proc.stdout)
        self.assertEqual((result["seq_gaps"], result["seq_dups"], result["missed"]), (0, 0, 0))
        self.assertGreater(result["sent"], 0)
        self.assertEqual(result["acked"], result["sent"])
        # Each room's sender and its two other members all get the message event.
        self.assertEqual(result["delivered_all"], 3 * result["acked_all"])
        self.assertEqual(result["server"]["pid"], self.daemon.proc.pid)

        slots = []
        with open(timeline_path) as f:
            header = f.readline()
            self.assertIn("smoke", header)
            for line in f:
                if not line.startswith("#"):
                    ms, n, late, slowest = line.split()
                    self.assertEqual(int(ms) % 10, 0, line)
                    self.assertLessEqual(int(late), int(n), line)
                    slots.append((int(n), float(slowest)))
        self.assertEqual(sum(n for n, _ in slots), result["delivered"])
        self.assertAlmostEqual(max(s for _, s in slots), result["latency"]["max_ms"], delta=0.02)


if __name__ == "__main__":
    unittest.main()
