#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Pending invitations (docs/protocol.md, "Rooms people control"): `invitations` lists
# what an account was invited to, also while it had no session open; `decline` drops one;
# joining uses one up; banning the inviter withdraws what they gave. And the `banned` flag
# that tells a ban from a kick. From JSON and protobuf WebSocket clients. Run one with
#   NATTERD=… NATTER_PROTO=… /usr/bin/python3 test_invitations.py \
#     InvitationsTest.test_listed_after_login

import time
import unittest

from natter_fixture import NatterTestCase, password_for


def rooms_of(listing):
    return [(i["room"], i["by"]) for i in listing.get("invitations", [])]


class InvitationsTest(NatterTestCase):

    async def test_listed_after_login(self):
        """An invitation given while the invitee was offline is listed at their next
        login, with who gave it and when, oldest first; joining uses it up."""
        alice = await self.user("alice")
        bob = await self.user("bob")
        await bob.close()
        await alice.call("create", {"room": "plans", "private": True}, "joined")
        await alice.call("create", {"room": "garden", "private": True}, "joined")
        before = int(time.time() * 1000) - 1000
        await alice.call("invite", {"room": "plans", "user": "bob"}, "ok")
        await alice.call("invite", {"room": "garden", "user": "bob"}, "ok")

        bob = await self.user("bob", register=False)
        listing = await bob.call("invitations", {}, "invitation_list")
        self.assertEqual(sorted(rooms_of(listing)), [("garden", "alice"), ("plans", "alice")])
        for invitation in listing["invitations"]:
            self.assertJsonInt(invitation["ts"], "ts")
            self.assertGreaterEqual(invitation["ts"], before)
        # Oldest first; two given in the same millisecond come by room name.
        order = [(i["ts"], i["room"]) for i in listing["invitations"]]
        self.assertEqual(order, sorted(order))
        self.assertLessEqual(order[0][0], order[1][0])
        if order[0][0] < order[1][0]:
            self.assertEqual(order[0][1], "plans")

        await bob.call("join", {"room": "plans"}, "joined")
        listing = await bob.call("invitations", {}, "invitation_list")
        self.assertEqual(rooms_of(listing), [("garden", "alice")])
        # Others see only their own.
        carol = await self.user("carol")
        self.assertEqual(rooms_of(await carol.call("invitations", {}, "invitation_list")), [])

    async def test_decline(self):
        """decline drops the invitation: the room is private to the invitee again."""
        alice = await self.user("alice")
        bob = await self.user("bob")
        await alice.call("create", {"room": "plans", "private": True}, "joined")
        await alice.call("invite", {"room": "plans", "user": "bob"}, "ok")
        await bob.next_event("invite", room="plans")

        await bob.call("decline", {"room": "plans"}, "ok")
        self.assertEqual(rooms_of(await bob.call("invitations", {}, "invitation_list")), [])
        await self.expect_error(bob, "join", {"room": "plans"}, "forbidden")
        # Once: there is nothing left to decline.
        await self.expect_error(bob, "decline", {"room": "plans"}, "not_found")
        await self.expect_error(bob, "decline", {"room": "nowhere"}, "not_found")
        # Of a room one is a member of, there is no invitation either.
        await self.expect_error(alice, "decline", {"room": "plans"}, "not_found")
        await self.expect_error(bob, "decline", {}, "bad_request")
        await self.expect_error(bob, "decline", {"room": "Bad Room"}, "bad_request")

        # Invited again, the invitation is back.
        await alice.call("invite", {"room": "plans", "user": "bob"}, "ok")
        self.assertEqual(rooms_of(await bob.call("invitations", {}, "invitation_list")),
                         [("plans", "alice")])

    async def test_banning_the_inviter_withdraws_their_invitations(self):
        """A member banned from a room leaves no invitation into it behind; those that
        others gave stay."""
        alice = await self.user("alice")
        mallory = await self.user("mallory")
        bob = await self.user("bob")
        carol = await self.user("carol")
        await alice.call("create", {"room": "club", "private": True}, "joined")
        await alice.call("invite", {"room": "club", "user": "mallory"}, "ok")
        await mallory.call("join", {"room": "club"}, "joined")
        await mallory.call("invite", {"room": "club", "user": "bob"}, "ok")
        await alice.call("invite", {"room": "club", "user": "carol"}, "ok")

        await alice.call("ban", {"room": "club", "user": "mallory"}, "ok")
        self.assertEqual(rooms_of(await bob.call("invitations", {}, "invitation_list")), [])
        await self.expect_error(bob, "join", {"room": "club"}, "forbidden")
        self.assertEqual(rooms_of(await carol.call("invitations", {}, "invitation_list")),
                         [("club", "alice")])
        await carol.call("join", {"room": "club"}, "joined")

    async def test_ban_and_kick_told_apart(self):
        """The member event of a ban says banned: true; that of a kick does not."""
        alice = await self.user("alice")
        bob = await self.user("bob")
        mallory = await self.user("mallory")
        await alice.call("create", {"room": "club"}, "joined")
        await bob.call("join", {"room": "club"}, "joined")
        await mallory.call("join", {"room": "club"}, "joined")

        await alice.call("kick", {"room": "club", "user": "bob"}, "ok")
        kicked = await bob.next_event("member", room="club", user="bob", joined=False)
        self.assertEqual(kicked.get("by"), "alice")
        self.assertNotIn("banned", kicked)
        seen = await mallory.next_event("member", room="club", user="bob", joined=False)
        self.assertNotIn("banned", seen)

        await bob.call("join", {"room": "club"}, "joined")
        await alice.call("ban", {"room": "club", "user": "bob"}, "ok")
        banned = await bob.next_event("member", room="club", user="bob", joined=False,
                                      banned=True)
        self.assertEqual(banned.get("by"), "alice")
        seen = await mallory.next_event("member", room="club", user="bob", joined=False)
        self.assertIs(seen.get("banned"), True)
        # A leave is neither.
        await mallory.call("leave", {"room": "club"}, "ok")
        left = await alice.next_event("member", room="club", user="mallory", joined=False)
        self.assertNotIn("banned", left)
        self.assertNotIn("by", left)

    async def test_protobuf_client(self):
        """The ops and events in protobuf: ClientFrame.invitations and .decline,
        ServerFrame.invitation_list, Member.banned."""
        alice = await self.user("alice")
        proto = await self.connect_proto("bob-pb")
        await proto.register("bob", password_for("bob"))
        await alice.call("create", {"room": "plans", "private": True}, "joined")
        await alice.call("create", {"room": "club"}, "joined")
        await alice.call("invite", {"room": "plans", "user": "bob"}, "ok")
        await alice.call("invite", {"room": "club", "user": "bob"}, "ok")

        listing = await proto.call("invitations", "invitation_list")
        self.assertEqual([(i.room, i.by) for i in listing.invitations],
                         [("plans", "alice"), ("club", "alice")])
        self.assertTrue(all(i.ts > 1_600_000_000_000 for i in listing.invitations))
        await proto.call("decline", "ok", room="plans")
        frame = await proto.request("decline", room="plans")
        self.assertEqual(frame.error.code, "not_found")
        listing = await proto.call("invitations", "invitation_list")
        self.assertEqual([i.room for i in listing.invitations], ["club"])

        await proto.call("join", "joined", room="club")
        await alice.call("ban", {"room": "club", "user": "bob"}, "ok")
        event = await proto.next_event("member", room="club", user="bob", joined=False)
        self.assertEqual((event.joined, event.by, event.banned), (False, "alice", True))


if __name__ == "__main__":
    unittest.main()
