#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The daemon's whole start/serve/stop cycle under the sanitizers. In a build configured
# with -Db_sanitize=address,undefined, NATTERD is the instrumented binary: at exit
# LeakSanitizer reports anything that was not freed, and ASan and UBSan report what went
# wrong on the way. The test serves a busy little chat, stops the daemon with SIGTERM
# while sessions are open, and requires exit status 0 and a log without a report. In any
# other build it still requires the clean exit.

import asyncio
import os
import unittest

from natter_fixture import NatterTestCase, natterd_path, password_for

ADMIN = ("root", "admin-password-0123")

# What the sanitizers print; none of it may appear in the daemon's log.
REPORTS = (
    "ERROR: LeakSanitizer",
    "ERROR: AddressSanitizer",
    "runtime error:",  # UBSan
    "SUMMARY: AddressSanitizer",
    "SUMMARY: UndefinedBehaviorSanitizer",
)

SUPPRESSIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lsan.supp")


def natterd_is_instrumented():
    with open(natterd_path(), "rb") as f:
        return b"__asan_init" in f.read()


def sanitizer_environment():
    """The daemon's environment for a leak check, whatever the caller's: later options
    win, so these are appended."""
    env = {
        # Every GObject and GList from malloc(), so that a leaked one is seen.
        "G_SLICE": "always-malloc",
        # Full stacks through GLib (built without frame pointers), so that the
        # suppressions, which name GLib functions, match.
        "ASAN_OPTIONS": "detect_leaks=1:fast_unwind_on_malloc=0",
        "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
        "LSAN_OPTIONS": f"suppressions={os.path.normpath(SUPPRESSIONS)}:print_suppressions=0",
    }
    for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if os.environ.get(name):
            env[name] = os.environ[name] + ":" + env[name]
    return env


class LeakCheckTest(NatterTestCase):

    admin_account = ADMIN

    async def asyncSetUp(self):
        # The fixture copies os.environ for each daemon it starts.
        self.saved_environ = dict(os.environ)
        os.environ.update(sanitizer_environment())
        self.addCleanup(self.restore_environ)
        await super().asyncSetUp()

    def restore_environ(self):
        os.environ.clear()
        os.environ.update(self.saved_environ)

    async def chat(self):
        """A bit of everything a session does, over both codecs."""
        alice = await self.user("alice")
        bob = await self.user("bob")
        carol = await self.connect_proto("carol")
        await carol.register("carol", password_for("carol"))
        root = await self.connect("root")
        await root.login(*ADMIN)

        for client in (alice, bob):
            await client.call("join", {"room": "general"}, "joined")
        await carol.call("join", "joined", room="general")

        for i in range(20):
            sent = await alice.call("send", {"room": "general", "body": f"message {i}",
                                             "client_msg_id": f"a-{i}"}, "sent")
        # A retry is answered from the store, not sent again.
        again = await alice.call("send", {"room": "general", "body": "message 19",
                                          "client_msg_id": "a-19"}, "sent")
        self.assertEqual(again["seq"], sent["seq"])
        await bob.next_event("message", room="general", seq=sent["seq"])
        await carol.call("send", "sent", room="general", body="from protobuf",
                         client_msg_id="c-1")

        await bob.call("send", {"to": "carol", "body": "psst", "client_msg_id": "b-1"}, "sent")
        await carol.call("history", "history", room="dm:bob:carol")
        await bob.call("history", {"room": "general", "before_seq": 15, "limit": 5}, "history")
        await bob.call("search", {"query": "message"}, "search_results")
        await bob.call("read", {"room": "general", "seq": sent["seq"]}, "ok")
        await bob.send_frame({"typing": {"room": "general", "active": True}})
        await alice.call("rooms", None, "room_list")
        await root.call("broadcast", {"body": "maintenance at noon"}, "sent")

        # A bad frame and a refused request: answered, nothing kept.
        await alice.send_raw("{not json")
        await alice.error_reply(None)
        await bob.request("broadcast", {"body": "not an admin"}, expect_error=True)

        # A second session of alice resumes from her token; bob leaves and comes back.
        again = await self.session_of(alice)
        await again.call("join", {"room": "general", "since_seq": 10}, "joined")
        await bob.call("leave", {"room": "general"}, "ok")
        await bob.call("join", {"room": "general"}, "joined")

        # One client goes away without a close handshake, as a crashed peer does.
        bob.ws.transport.abort()
        return alice, carol, again

    async def test_serve_and_stop_clean(self):
        open_sessions = await self.chat()

        # SIGTERM with sessions open: they are closed with 1001, the store is closed, and
        # everything is freed before exit.
        status = await self.daemon.stop_async()
        for client in open_sessions:
            code, _ = await client.wait_closed()
            self.assertEqual(code, 1001)

        log = self.daemon.log_text()
        reports = [line for line in log.splitlines() if any(r in line for r in REPORTS)]
        self.assertEqual(reports, [], "natterd's sanitizers reported errors")
        self.assertEqual(status, 0, "natterd did not exit cleanly on SIGTERM")
        if not natterd_is_instrumented():
            print("natterd is not built with -Db_sanitize=address: checked the exit status "
                  "only")


if __name__ == "__main__":
    unittest.main(verbosity=2)
