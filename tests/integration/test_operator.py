#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The operator's natterd commands on the store of a running and of a stopped server:
# list users, disable and enable, reset a password, revoke tokens, and an online backup
# of the SQLite store taken while clients keep sending.

import asyncio
import os
import sqlite3
import time
import unittest

from natter_fixture import (JSON_PROTOCOL, Daemon, JsonClient, NatterTestCase, open_ws,
                            password_for)

NEW_PASSWORD = "a-password-from-the-operator"


class OperatorTest(NatterTestCase):

    async def tool(self, *options, stdin=None, status=0):
        result = await asyncio.to_thread(self.daemon.run_tool, *options, stdin=stdin)
        self.assertEqual(result.returncode, status,
                         f"natterd {' '.join(options)}: {result.stderr.decode(errors='replace')}")
        if status != 0:
            self.assertNotEqual(result.stderr.strip(), b"")
        return result.stdout.decode()

    async def login_error(self, body):
        probe = await self.connect("probe")
        frame = await probe.request("login", body, expect_error=True)
        await probe.close()
        return frame.get("error", {}).get("code")

    async def test_commands_on_a_running_server(self):
        alice = await self.user("alice")
        bob = await self.user("bob")

        listing = await self.tool("--list-users")
        rows = [line.split("\t") for line in listing.splitlines()]
        self.assertEqual([(r[0], r[1], r[2]) for r in rows],
                         [("alice", "-", "-"), ("bob", "-", "-")])
        self.assertRegex(rows[0][3], r"^\d{4}-\d\d-\d\dT")

        out = await self.tool("--disable-user", "alice")
        self.assertIn("1 session ended", out)
        self.assertEqual(await self.login_error({"user": "alice", "password": password_for("alice")}),
                         "forbidden")
        self.assertEqual(await self.login_error({"token": alice.welcome["token"]}), "unauthorized")
        self.assertIn("alice\t-\tdisabled", await self.tool("--list-users"))
        await self.tool("--enable-user", "alice")
        await self.user("alice", register=False)

        await self.tool("--reset-password", "bob", stdin=NEW_PASSWORD + "\n")
        self.assertEqual(await self.login_error({"token": bob.welcome["token"]}), "unauthorized")
        self.assertEqual(await self.login_error({"user": "bob", "password": password_for("bob")}),
                         "unauthorized")
        fresh_bob = await self.connect("bob-again")
        await fresh_bob.login("bob", NEW_PASSWORD)

        out = await self.tool("--revoke-tokens", "bob")
        self.assertIn("1 session ended", out)
        self.assertEqual(await self.login_error({"token": fresh_bob.welcome["token"]}),
                         "unauthorized")

        # Bad input fails with a message and changes nothing.
        await self.tool("--disable-user", "nobody", status=1)
        await self.tool("--revoke-tokens", "nobody", status=1)
        await self.tool("--enable-user", "Not A Name", status=1)
        await self.tool("--reset-password", "bob", stdin="short\n", status=1)
        await self.tool("--reset-password", "bob", status=1)
        await self.tool("--list-users", "--disable-user", "bob", status=2)
        last_bob = await self.connect("bob-last")
        await last_bob.login("bob", NEW_PASSWORD)

    async def test_commands_on_a_stopped_server(self):
        await self.user("alice")
        self.assertEqual(await self.daemon.stop_async(), 0)
        await self.tool("--disable-user", "alice")
        await self.daemon.start_async()
        self.assertEqual(await self.login_error({"user": "alice", "password": password_for("alice")}),
                         "forbidden")

    async def test_backup_under_write_load(self):
        alice = await self.user("alice")
        await alice.call("join", {"room": "load"}, "joined")
        acked = []           # client_msg_ids whose `sent` arrived, in order
        stop = asyncio.Event()
        body = "x" * 2000    # a database of some size, so the copy takes a while

        async def write():
            i = 0
            while not stop.is_set():
                cmid = f"m{i}"
                await alice.call("send", {"room": "load", "body": body, "client_msg_id": cmid},
                                 "sent")
                acked.append(cmid)
                i += 1

        writer = asyncio.create_task(write())
        try:
            while len(acked) < 500:
                await asyncio.sleep(0.01)
            acked_before = list(acked)
            backup = os.path.join(self.workdir, "backup.db")
            started = time.monotonic()
            await self.tool("--backup", backup)
            duration = time.monotonic() - started
            n_during = len(acked) - len(acked_before)
            while len(acked) < len(acked_before) + n_during + 20:
                await asyncio.sleep(0.01)
        finally:
            stop.set()
            await writer
        self.assertFalse(writer.cancelled())

        # Every message acknowledged before the backup began is in it, and the copy is
        # one consistent moment: the room's seqs are gapless and match its last_seq.
        db = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
        try:
            cmids = {row[0] for row in db.execute(
                "SELECT client_msg_id FROM messages WHERE room = 'load'")}
            seqs = [row[0] for row in db.execute(
                "SELECT seq FROM messages WHERE room = 'load' ORDER BY seq")]
            (last_seq,) = db.execute("SELECT last_seq FROM rooms WHERE name = 'load'").fetchone()
            (check,) = db.execute("PRAGMA integrity_check").fetchone()
        finally:
            db.close()
        self.assertEqual(check, "ok")
        missing = [c for c in acked_before if c not in cmids]
        self.assertEqual(missing, [], f"acknowledged before the backup, missing from it "
                                      f"(backup took {duration:.3f} s)")
        self.assertEqual(seqs, list(range(1, len(seqs) + 1)))
        self.assertEqual(last_seq, len(seqs))

        # Restoring is starting natterd on the copy.
        restored = Daemon(os.path.join(self.workdir, "restored"))
        os.rename(backup, os.path.join(restored.data_dir, "natter.db"))
        await restored.start_async()
        try:
            ws = await open_ws(restored.url(), [JSON_PROTOCOL])
            client = JsonClient(ws, "restored-alice")
            await client.login("alice", password_for("alice"))
            rooms = await client.call("rooms", {}, "room_list")
            load = [r for r in rooms["rooms"] if r["name"] == "load"][0]
            self.assertEqual(load["last_seq"], last_seq)
            await client.close()
        finally:
            self.assertEqual(await restored.stop_async(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
