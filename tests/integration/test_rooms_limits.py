#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Rooms people control, the limits: invitations and directory queries are rate-limited
# per account (--invites-per-hour, --directory-per-minute), and the last owner of a room
# with other members cannot leave it.

import unittest

from natter_fixture import NatterTestCase, daemon_args


class RoomsLimitsTest(NatterTestCase):

    @daemon_args("--invites-per-hour", "2")
    async def test_invitations_are_rate_limited_per_account(self):
        alice = await self.user("alice")
        for name in ("bob", "carol", "dave"):
            await self.user(name)
        await alice.call("create", {"room": "plans", "private": True}, "joined")
        await alice.call("invite", {"room": "plans", "user": "bob"}, "ok")
        # An unknown user costs an invitation too: guessing names is no cheaper.
        await self.expect_error(alice, "invite", {"room": "plans", "user": "nobody"}, "not_found")
        error = await self.expect_error(alice, "invite", {"room": "plans", "user": "carol"},
                                        "rate_limited")
        self.assertGreater(error.get("retry_after_ms", 0), 0)

        # The limit is the account's, on every connection: a second one is limited too.
        again = await self.user("alice", register=False)
        await self.expect_error(again, "invite", {"room": "plans", "user": "dave"},
                                "rate_limited")
        # Bad requests are answered as such, before the limit.
        await self.expect_error(again, "invite", {"room": "plans"}, "bad_request")
        # Other accounts have their own.
        bob = await self.user("bob", register=False)
        await bob.call("join", {"room": "plans"}, "joined")
        await bob.call("invite", {"room": "plans", "user": "carol"}, "ok")

    @daemon_args("--directory-per-minute", "2")
    async def test_directory_is_rate_limited_per_account(self):
        alice = await self.user("alice")
        bob = await self.user("bob")
        await alice.call("create", {"room": "lobby"}, "joined")
        for _ in range(2):
            listing = await alice.call("directory", {}, "directory")
            self.assertEqual([r["name"] for r in listing["rooms"]], ["lobby"])
        error = await self.expect_error(alice, "directory", {"query": "lob"}, "rate_limited")
        self.assertGreater(error.get("retry_after_ms", 0), 0)
        await self.expect_error(alice, "directory", {"limit": 500}, "bad_request")
        listing = await bob.call("directory", {}, "directory")
        self.assertEqual([r["name"] for r in listing["rooms"]], ["lobby"])

    async def test_last_owner_cannot_leave_while_others_stay(self):
        alice = await self.user("alice")
        bob = await self.user("bob")
        await alice.call("create", {"room": "club"}, "joined")
        await bob.call("join", {"room": "club"}, "joined")

        error = await self.expect_error(alice, "leave", {"room": "club"}, "forbidden")
        self.assertIn("owner first", error["message"])
        # Still a member: alice reads the room.
        await alice.call("history", {"room": "club"}, "history")
        await alice.call("send", {"room": "club", "body": "still here",
                                  "client_msg_id": "1"}, "sent")

        # Another owner, then she may.
        await alice.call("set_role", {"room": "club", "user": "bob", "role": "owner"}, "ok")
        await alice.call("leave", {"room": "club"}, "ok")
        event = await bob.next_event("member", room="club", user="alice", joined=False)
        self.assertIs(event["joined"], False)

        # The last member may leave a room they own alone; a member may always leave.
        await bob.call("create", {"room": "solo"}, "joined")
        await bob.call("leave", {"room": "solo"}, "ok")
        carol = await self.user("carol")
        await carol.call("join", {"room": "club"}, "joined")
        await carol.call("leave", {"room": "club"}, "ok")
        # A moderator is no owner: it does not keep the last owner in.
        await carol.call("join", {"room": "club"}, "joined")
        await bob.call("set_role", {"room": "club", "user": "carol", "role": "moderator"}, "ok")
        await self.expect_error(bob, "leave", {"room": "club"}, "forbidden")


if __name__ == "__main__":
    unittest.main(verbosity=2)
