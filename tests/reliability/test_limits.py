#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Abuse limits a hostile client runs into (docs/reliability.md, "Hostile network"):
password checks, login guessing, registrations, room creation, typing and read markers.
Each case runs the attack from one loopback address and checks that the attacker is
slowed, that everyone else (another address, the account's owner) is not, and that the
daemon still serves. Limits are set low in each case so that it runs fast."""

import asyncio
import sys
import unittest

from reliability_common import NatterTestCase, daemon_args, password_for

ATTACKER = "127.0.0.2"
OWNER = "127.0.0.3"


class AbuseLimitTest(NatterTestCase):

    async def from_address(self, source, label):
        return await self.connect(label, source=source)

    async def attempt(self, client, op, body):
        """Sends a request; returns its reply frame, error or not."""
        request_id = client.take_id()
        await client.send_frame({"id": request_id, op: body})
        return await client.reply(request_id)

    # Password checks -------------------------------------------------------------------

    @daemon_args("--password-rate", "0.01", "--password-burst", "5",
                 "--max-password-queue", "64")
    async def test_bogus_logins_from_one_address_do_not_starve_others(self):
        """Thirty connections from one address each try a password login at once: five
        are checked (and fail), the rest are refused at once with rate_limited and a
        retry_after_ms; a login from another address goes through."""
        await (await self.from_address(OWNER, "setup")).register("alice", password_for("alice"))
        crowd = [await self.from_address(ATTACKER, f"bogus{i}") for i in range(30)]
        replies = await asyncio.gather(*[
            self.attempt(c, "login", {"user": "alice", "password": f"guess-{i}-0123"})
            for i, c in enumerate(crowd)])
        codes = sorted(r["error"]["code"] for r in replies)
        self.assertEqual(codes.count("unauthorized"), 5, codes)
        self.assertEqual(codes.count("rate_limited"), 25, codes)
        for reply in replies:
            if reply["error"]["code"] == "rate_limited":
                self.assertGreater(reply["error"].get("retry_after_ms", 0), 0, reply)

        owner = await self.from_address(OWNER, "alice")
        await owner.login("alice", password_for("alice"))
        await self.assert_chat_works()

    @daemon_args("--max-password-queue", "1")
    async def test_password_queue_is_bounded(self):
        """With room for one password check, a crowd of logins from many addresses is
        answered at once, not queued: every one gets unauthorized or rate_limited, and a
        login after the crowd still works."""
        await (await self.connect("setup")).register("alice", password_for("alice"))
        crowd = [await self.from_address(f"127.0.1.{i + 1}", f"bogus{i}") for i in range(12)]
        replies = await asyncio.gather(*[
            self.attempt(c, "login", {"user": "alice", "password": f"guess-{i}-0123"})
            for i, c in enumerate(crowd)])
        codes = [r["error"]["code"] for r in replies]
        self.assertEqual(set(codes) - {"unauthorized", "rate_limited"}, set(), codes)
        busy = [r["error"] for r in replies if r["error"]["code"] == "rate_limited"]
        self.assertTrue(busy, f"twelve logins at once all found room for one: {codes}")
        for error in busy:
            self.assertIn("busy", error["message"])
            self.assertGreater(error.get("retry_after_ms", 0), 0, error)
        # Once the crowd's checks are done there is room again; a client that honours
        # retry_after_ms gets in.
        owner = await self.from_address(OWNER, "alice")
        for _ in range(60):
            reply = await self.attempt(owner, "login", {"user": "alice",
                                                        "password": password_for("alice")})
            if "welcome" in reply:
                break
            self.assertEqual(reply["error"]["code"], "rate_limited", reply)
            await asyncio.sleep(reply["error"]["retry_after_ms"] / 1000)
        self.assertIn("welcome", reply)

    # Guessing -----------------------------------------------------------------------------

    @daemon_args("--login-failures", "3")
    async def test_strangers_guesses_do_not_lock_out_the_owner(self):
        """Wrong guesses for alice's password from another address throttle the guesser
        after three; alice, from her own address, logs in with her password at once."""
        await (await self.from_address(OWNER, "setup")).register("alice", password_for("alice"))
        stranger = await self.from_address(ATTACKER, "stranger")
        codes = []
        for i in range(5):
            reply = await self.attempt(stranger, "login",
                                       {"user": "alice", "password": f"guess-{i}-0123"})
            codes.append(reply["error"]["code"])
        self.assertEqual(codes, ["unauthorized"] * 3 + ["rate_limited"] * 2)
        # Even the right password waits, from the stranger's address.
        reply = await self.attempt(stranger, "login",
                                   {"user": "alice", "password": password_for("alice")})
        self.assertEqual(reply["error"]["code"], "rate_limited", reply)

        owner = await self.from_address(OWNER, "alice")
        await owner.login("alice", password_for("alice"))

    @daemon_args("--address-login-failures", "5", "--login-failures", "100")
    async def test_guessing_across_accounts_is_slowed(self):
        """One guess at each of eight accounts from one address: after five failures the
        address waits, whatever account it names next; other addresses do not."""
        setup = await self.from_address(OWNER, "setup")
        names = [f"user{i}" for i in range(8)]
        for name in names:
            other = await self.from_address(OWNER, name)
            await other.register(name, password_for(name))
        guesser = await self.from_address(ATTACKER, "guesser")
        codes = []
        for name in names:
            reply = await self.attempt(guesser, "login", {"user": name, "password": "guess-0123"})
            codes.append(reply["error"]["code"])
        self.assertEqual(codes, ["unauthorized"] * 5 + ["rate_limited"] * 3)
        reply = await self.attempt(guesser, "login", {"user": "user0", "password": "guess-0123"})
        self.assertIn("from this address", reply["error"]["message"])
        await (await self.from_address(OWNER, "user7")).login("user7", password_for("user7"))
        del setup

    # Registrations and rooms -----------------------------------------------------------

    @daemon_args("--registrations-per-hour", "3")
    async def test_registrations_per_address(self):
        """Three accounts an hour from one address; the fourth is rate_limited, and
        another address registers as usual."""
        codes = []
        for i in range(5):
            client = await self.from_address(ATTACKER, f"spam{i}")
            reply = await self.attempt(client, "register",
                                       {"user": f"spam{i}", "password": password_for("spam")})
            codes.append("welcome" if "welcome" in reply else reply["error"]["code"])
        self.assertEqual(codes, ["welcome"] * 3 + ["rate_limited"] * 2)
        await (await self.from_address(OWNER, "fine")).register("fine", password_for("fine"))

    @daemon_args("--rooms-per-hour", "3")
    async def test_room_creation_per_account(self):
        """Three new rooms an hour per account; joining rooms that exist is not limited,
        and other accounts create rooms as usual."""
        spammer = await self.user("spammer")
        codes = []
        for i in range(5):
            reply = await self.attempt(spammer, "join", {"room": f"spam{i}"})
            codes.append("joined" if "joined" in reply else reply["error"]["code"])
        self.assertEqual(codes, ["joined"] * 3 + ["rate_limited"] * 2)
        other = await self.user("other")
        await other.call("join", {"room": "elsewhere"}, "joined")
        await spammer.call("join", {"room": "elsewhere"}, "joined")

    # Typing and read markers ------------------------------------------------------------

    @daemon_args("--event-rate", "0.01", "--event-burst", "5")
    async def test_typing_and_reads_are_throttled(self):
        """Forty typing notices and forty read markers in a burst: five of each kind of
        budget reach the room, the rest are rate_limited, and the room still chats."""
        alice = await self.user("alice")
        bob = await self.user("bob")
        await alice.call("join", {"room": "busy"}, "joined")
        await bob.call("join", {"room": "busy"}, "joined")
        seqs = [(await bob.call("send", {"room": "busy", "body": f"m{i}",
                                         "client_msg_id": f"m{i}"}, "sent"))["seq"]
                for i in range(40)]

        # Typing has no reply unless it is refused: the errors are counted up to the reply
        # of a request sent after them.
        ids = []
        for i in range(40):
            ids.append(alice.take_id())
            await alice.send_frame({"id": ids[-1], "typing": {"room": "busy",
                                                              "active": i % 2 == 0}})
        await alice.call("rooms", {}, "room_list")
        limited = [f for _, f in alice.received if f.get("id") in ids]
        self.assertEqual(len(limited), 35, limited)
        for frame in limited:
            self.assertEqual(frame["error"]["code"], "rate_limited", frame)
            self.assertGreater(frame["error"].get("retry_after_ms", 0), 0, frame)

        # Reads share the budget, which the typing spent.
        reply = await self.attempt(alice, "read", {"room": "busy", "seq": seqs[-1]})
        self.assertEqual(reply.get("error", {}).get("code"), "rate_limited", reply)

        # What bob saw of it, up to a message alice sends after the burst.
        sent = await alice.call("send", {"room": "busy", "body": "after",
                                         "client_msg_id": "after"}, "sent")
        await bob.next_event("message", room="busy", seq=sent["seq"])
        seen = [f for _, f in bob.received if "typing" in f and "id" not in f]
        receipts = [f for _, f in bob.received if "receipt" in f and "id" not in f]
        self.assertEqual(len(seen), 5, seen)
        self.assertEqual(receipts, [])
        await self.assert_chat_works()


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], *sys.argv[1:]], verbosity=2)
