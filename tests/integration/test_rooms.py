#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Rooms people control, as an outside client sees them: create, private rooms and
# invitations, the directory, roles, kick, ban, topics and blocks, with the answers a
# client gets when it may not (forbidden), names what does not exist (not_found) or
# sends what makes no sense (bad_request).

import unittest

from natter_fixture import NatterTestCase, password_for


class RoomsTest(NatterTestCase):

    async def assert_not_delivered(self, client, room):
        """Nothing of @room reached @client since the last take_pending(): a reply to a
        later request comes after anything that was already on its way."""
        await client.call("rooms", {}, "room_list")
        for kind in ("message", "typing", "receipt", "member", "topic"):
            self.assertEqual(client.take_pending(kind, room=room), [],
                             f"{client.label} received {kind} of {room}")

    async def test_create_public_and_private(self):
        alice = await self.user("alice")
        bob = await self.user("bob")

        joined = await alice.call("create", {"room": "plans", "private": True,
                                             "topic": "Secret plans"}, "joined")
        self.assertEqual(joined["room"], "plans")
        self.assertIs(joined.get("private"), True)
        self.assertEqual(joined.get("role"), "owner")
        self.assertEqual(joined.get("topic"), "Secret plans")
        self.assertEqual(joined.get("members"), ["alice"])

        joined = await alice.call("create", {"room": "lobby"}, "joined")
        self.assertIs(joined.get("private", False), False)
        self.assertEqual(joined.get("role"), "owner")

        # Taken names, by any room, are a conflict.
        await self.expect_error(bob, "create", {"room": "plans"}, "conflict")
        await self.expect_error(bob, "create", {"room": "lobby", "private": True}, "conflict")

        # Bad fields.
        await self.expect_error(bob, "create", {}, "bad_request")
        await self.expect_error(bob, "create", {"room": "Not A Name"}, "bad_request")
        await self.expect_error(bob, "create", {"room": "t", "topic": "x" * 2000}, "bad_request")

        # The room list carries private and the caller's role.
        listing = await alice.call("rooms", {}, "room_list")
        by_name = {r["name"]: r for r in listing["rooms"]}
        self.assertIs(by_name["plans"].get("private"), True)
        self.assertEqual(by_name["plans"].get("role"), "owner")
        self.assertEqual(by_name["lobby"].get("role"), "owner")

    async def test_join_of_a_new_name_makes_its_creator_owner(self):
        alice = await self.user("alice")
        bob = await self.user("bob")

        joined = await alice.call("join", {"room": "general"}, "joined")
        self.assertEqual(joined.get("role"), "owner")
        self.assertIs(joined.get("private", False), False)
        joined = await bob.call("join", {"room": "general"}, "joined")
        self.assertEqual(joined.get("role"), "member")

    async def test_private_room_is_invisible_to_others(self):
        alice = await self.user("alice")
        eve = await self.user("eve")
        await alice.call("create", {"room": "plans", "private": True}, "joined")
        await alice.call("create", {"room": "lobby", "topic": "Say hi"}, "joined")
        sent = await alice.call("send", {"room": "plans", "body": "the secret ingredient",
                                         "client_msg_id": "p1"}, "sent")

        # Not in the directory, not in search, no join, no history.
        directory = await eve.call("directory", {}, "directory")
        self.assertEqual([r["name"] for r in directory.get("rooms", [])], ["lobby"])
        found = await eve.call("search", {"query": "ingredient"}, "search_results")
        self.assertEqual(found.get("messages", []), [])
        await self.expect_error(eve, "join", {"room": "plans"}, "forbidden")
        await self.expect_error(eve, "history", {"room": "plans"}, "forbidden")
        await self.expect_error(eve, "send", {"room": "plans", "body": "hi",
                                              "client_msg_id": "e1"}, "forbidden")
        await self.expect_error(eve, "read", {"room": "plans", "seq": sent["seq"]}, "forbidden")
        # Moderation of a room one cannot see names nothing.
        await self.expect_error(eve, "set_topic", {"room": "plans", "topic": "x"}, "not_found")
        await self.expect_error(eve, "invite", {"room": "plans", "user": "eve"}, "not_found")

        # Nothing of it reaches her.
        eve.take_pending()
        await alice.send_frame({"typing": {"room": "plans", "active": True}})
        await alice.call("send", {"room": "plans", "body": "more", "client_msg_id": "p2"}, "sent")
        await self.assert_not_delivered(eve, "plans")

    async def test_invite(self):
        alice = await self.user("alice")
        bob = await self.user("bob")
        await alice.call("create", {"room": "plans", "private": True}, "joined")

        await alice.call("invite", {"room": "plans", "user": "bob"}, "ok")
        invite = await bob.next_event("invite", room="plans")
        self.assertEqual(invite.get("by"), "alice")

        joined = await bob.call("join", {"room": "plans"}, "joined")
        self.assertEqual(joined.get("role"), "member")
        self.assertIs(joined.get("private"), True)
        self.assertEqual(sorted(joined["members"]), ["alice", "bob"])
        member = await alice.next_event("member", room="plans", user="bob")
        self.assertIs(member.get("joined"), True)

        await self.expect_error(alice, "invite", {"room": "plans", "user": "nobody"}, "not_found")
        await self.expect_error(alice, "invite", {"room": "nowhere", "user": "bob"}, "not_found")
        await self.expect_error(alice, "invite", {"room": "plans"}, "bad_request")
        await self.expect_error(alice, "invite", {"room": "plans", "user": "Bad Name"},
                                "bad_request")

    async def test_directory(self):
        alice = await self.user("alice")
        bob = await self.user("bob")
        await alice.call("create", {"room": "knitting", "topic": "Wool and yarn"}, "joined")
        await bob.call("join", {"room": "knitting"}, "joined")
        await alice.call("create", {"room": "chess"}, "joined")
        await alice.call("create", {"room": "hidden", "private": True, "topic": "wool"}, "joined")

        listing = await bob.call("directory", {}, "directory")
        rooms = {r["name"]: r for r in listing["rooms"]}
        self.assertEqual(sorted(rooms), ["chess", "knitting"])
        self.assertEqual(rooms["knitting"].get("topic"), "Wool and yarn")
        self.assertEqual(rooms["knitting"].get("members"), 2)
        self.assertJsonInt(rooms["knitting"]["members"], "members")

        found = await bob.call("directory", {"query": "Wool"}, "directory")
        self.assertEqual([r["name"] for r in found["rooms"]], ["knitting"])
        limited = await bob.call("directory", {"limit": 1}, "directory")
        self.assertEqual(len(limited["rooms"]), 1)

        await self.expect_error(bob, "directory", {"limit": 101}, "bad_request")
        await self.expect_error(bob, "directory", {"limit": 0}, "bad_request")
        await self.expect_error(bob, "directory", {"query": "x" * 300}, "bad_request")

    async def test_directory_ignores_case(self):
        alice = await self.user("alice")
        await alice.call("create", {"room": "knitting", "topic": "Wool and needles"}, "joined")
        await alice.call("create", {"room": "chess", "topic": "Openings"}, "joined")
        await alice.call("create", {"room": "cafe", "topic": "Crème BRÛLÉE"}, "joined")

        for query in ("wool", "WOOL", "Needles", "KNIT"):
            found = await alice.call("directory", {"query": query}, "directory")
            self.assertEqual([r["name"] for r in found["rooms"]], ["knitting"], query)
        # Beyond ASCII: the SQLite store folds as GLib does.
        found = await alice.call("directory", {"query": "brûlée"}, "directory")
        self.assertEqual([r["name"] for r in found["rooms"]], ["cafe"])
        found = await alice.call("directory", {"query": "yarn"}, "directory")
        self.assertEqual(found.get("rooms", []), [])

    async def test_set_role(self):
        alice = await self.user("alice")
        bob = await self.user("bob")
        carol = await self.user("carol")
        await alice.call("create", {"room": "club"}, "joined")
        await bob.call("join", {"room": "club"}, "joined")
        await carol.call("join", {"room": "club"}, "joined")

        await alice.call("set_role", {"room": "club", "user": "bob", "role": "moderator"}, "ok")
        for client in (alice, bob, carol):
            event = await client.next_event("member", room="club", user="bob",
                                            role="moderator")
            self.assertIs(event.get("joined"), True)
        listing = await bob.call("rooms", {}, "room_list")
        self.assertEqual({r["name"]: r.get("role") for r in listing["rooms"]}["club"],
                         "moderator")
        # A join lists who holds which role, so a member list can show them.
        joined = await carol.call("join", {"room": "club"}, "joined")
        self.assertEqual(joined.get("owners"), ["alice"])
        self.assertEqual(joined.get("moderators"), ["bob"])

        # Owners only; moderators and members may not.
        await self.expect_error(bob, "set_role", {"room": "club", "user": "carol",
                                                  "role": "moderator"}, "forbidden")
        await self.expect_error(carol, "set_role", {"room": "club", "user": "carol",
                                                    "role": "owner"}, "forbidden")
        # The last owner stays one.
        await self.expect_error(alice, "set_role", {"room": "club", "user": "alice",
                                                    "role": "member"}, "forbidden")
        await self.expect_error(alice, "set_role", {"room": "club", "user": "dave",
                                                    "role": "member"}, "not_found")
        await self.expect_error(alice, "set_role", {"room": "nowhere", "user": "bob",
                                                    "role": "member"}, "not_found")
        await self.expect_error(alice, "set_role", {"room": "club", "user": "bob",
                                                    "role": "admin"}, "bad_request")
        await self.expect_error(alice, "set_role", {"room": "club", "user": "bob"},
                                "bad_request")

    async def test_kick(self):
        alice = await self.user("alice")
        bob = await self.user("bob")
        mallory = await self.user("mallory")
        mallory2 = await self.session_of(mallory)
        await alice.call("create", {"room": "club"}, "joined")
        await bob.call("join", {"room": "club"}, "joined")
        await mallory.call("join", {"room": "club"}, "joined")
        await mallory2.call("join", {"room": "club"}, "joined")

        # Members may not kick.
        await self.expect_error(bob, "kick", {"room": "club", "user": "mallory"}, "forbidden")
        await alice.call("set_role", {"room": "club", "user": "bob", "role": "moderator"}, "ok")
        await bob.call("kick", {"room": "club", "user": "mallory", "reason": "spam"}, "ok")
        for client in (alice, bob, mallory, mallory2):
            event = await client.next_event("member", room="club", user="mallory",
                                            joined=False)
            self.assertEqual(event.get("by"), "bob")

        # Every session of the kicked user stops receiving the room at once.
        mallory.take_pending()
        mallory2.take_pending()
        await alice.call("send", {"room": "club", "body": "after", "client_msg_id": "a1"},
                         "sent")
        await self.assert_not_delivered(mallory, "club")
        await self.assert_not_delivered(mallory2, "club")
        await self.expect_error(mallory, "history", {"room": "club"}, "forbidden")

        # A moderator cannot kick an owner; nobody is kicked who is not there.
        await self.expect_error(bob, "kick", {"room": "club", "user": "alice"}, "forbidden")
        await self.expect_error(bob, "kick", {"room": "club", "user": "mallory"}, "not_found")
        await self.expect_error(bob, "kick", {"room": "nowhere", "user": "alice"}, "not_found")
        await self.expect_error(bob, "kick", {"room": "club"}, "bad_request")

        # A kick is not a ban: she may come back.
        await mallory.call("join", {"room": "club"}, "joined")

    async def test_ban_and_unban(self):
        alice = await self.user("alice")
        mallory = await self.user("mallory")
        await alice.call("create", {"room": "club"}, "joined")
        await mallory.call("join", {"room": "club"}, "joined")
        await alice.call("send", {"room": "club", "body": "llamas are great",
                                  "client_msg_id": "a1"}, "sent")

        await alice.call("ban", {"room": "club", "user": "mallory", "reason": "spam"}, "ok")
        event = await mallory.next_event("member", room="club", user="mallory", joined=False)
        self.assertEqual(event.get("by"), "alice")

        # Banned: no join, read, search or send there.
        await self.expect_error(mallory, "join", {"room": "club"}, "forbidden")
        await self.expect_error(mallory, "history", {"room": "club"}, "forbidden")
        await self.expect_error(mallory, "send", {"room": "club", "body": "hi",
                                                  "client_msg_id": "m1"}, "forbidden")
        found = await mallory.call("search", {"query": "llamas"}, "search_results")
        self.assertEqual(found.get("messages", []), [])
        mallory.take_pending()
        await alice.call("send", {"room": "club", "body": "after", "client_msg_id": "a2"},
                         "sent")
        await self.assert_not_delivered(mallory, "club")
        # Nor may anyone invite her back.
        await self.expect_error(alice, "invite", {"room": "club", "user": "mallory"},
                                "forbidden")

        await self.expect_error(mallory, "unban", {"room": "club", "user": "mallory"},
                                "forbidden")
        await alice.call("unban", {"room": "club", "user": "mallory"}, "ok")
        await mallory.call("join", {"room": "club"}, "joined")

        await self.expect_error(alice, "ban", {"room": "nowhere", "user": "mallory"},
                                "not_found")
        await self.expect_error(alice, "ban", {"room": "club", "user": "Bad Name"},
                                "bad_request")

    async def test_set_topic(self):
        alice = await self.user("alice")
        bob = await self.user("bob")
        await alice.call("create", {"room": "club"}, "joined")
        await bob.call("join", {"room": "club"}, "joined")

        await alice.call("set_topic", {"room": "club", "topic": "Board games"}, "ok")
        for client in (alice, bob):
            event = await client.next_event("topic", room="club")
            self.assertEqual((event.get("topic"), event.get("by")), ("Board games", "alice"))
        listing = await bob.call("rooms", {}, "room_list")
        self.assertEqual({r["name"]: r.get("topic") for r in listing["rooms"]}["club"],
                         "Board games")

        await self.expect_error(bob, "set_topic", {"room": "club", "topic": "Mine"},
                                "forbidden")
        await self.expect_error(alice, "set_topic", {"room": "nowhere", "topic": "x"},
                                "not_found")
        await self.expect_error(alice, "set_topic", {"room": "club", "topic": "x" * 2000},
                                "bad_request")

    async def test_block(self):
        alice = await self.user("alice")
        mallory = await self.user("mallory")
        await mallory.call("send", {"to": "alice", "body": "hi", "client_msg_id": "m1"}, "sent")

        await alice.call("block", {"user": "mallory"}, "ok")
        await self.expect_error(mallory, "send", {"to": "alice", "body": "hi again",
                                                  "client_msg_id": "m2"}, "forbidden")
        # One way only.
        await alice.call("send", {"to": "mallory", "body": "stop", "client_msg_id": "a1"},
                         "sent")

        await alice.call("unblock", {"user": "mallory"}, "ok")
        await mallory.call("send", {"to": "alice", "body": "sorry", "client_msg_id": "m3"},
                           "sent")

        await self.expect_error(alice, "block", {"user": "nobody"}, "not_found")
        await self.expect_error(alice, "block", {"user": "alice"}, "bad_request")
        await self.expect_error(alice, "block", {}, "bad_request")

    async def test_directory_most_members_first(self):
        """The limit keeps the busiest rooms, not the first by name; ties go by name."""
        alice, bob, carol = [await self.user(name) for name in ("alice", "bob", "carol")]
        await alice.call("create", {"room": "aaa-quiet"}, "joined")
        for room, members in (("crowded", (bob, carol)), ("busy", (bob,)), ("bustling", (carol,))):
            await alice.call("create", {"room": room}, "joined")
            for member in members:
                await member.call("join", {"room": room}, "joined")

        listing = await bob.call("directory", {}, "directory")
        self.assertEqual([(r["name"], r["members"]) for r in listing["rooms"]],
                         [("crowded", 3), ("bustling", 2), ("busy", 2), ("aaa-quiet", 1)])
        top = await bob.call("directory", {"limit": 2}, "directory")
        self.assertEqual([r["name"] for r in top["rooms"]], ["crowded", "bustling"])
        queried = await bob.call("directory", {"query": "bus", "limit": 1}, "directory")
        self.assertEqual([r["name"] for r in queried["rooms"]], ["bustling"])


class AdminRoomsTest(NatterTestCase):
    admin_account = ("root", password_for("root"))

    async def test_admin_may_do_what_an_owner_may(self):
        alice = await self.user("alice")
        bob = await self.user("bob")
        root = await self.user("root", register=False)
        await alice.call("create", {"room": "plans", "private": True}, "joined")
        await alice.call("invite", {"room": "plans", "user": "bob"}, "ok")
        await bob.call("join", {"room": "plans"}, "joined")

        await root.call("set_role", {"room": "plans", "user": "bob", "role": "owner"}, "ok")
        await root.call("set_topic", {"room": "plans", "topic": "Audited"}, "ok")
        await root.call("kick", {"room": "plans", "user": "alice"}, "ok")
        await root.call("join", {"room": "plans"}, "joined")


if __name__ == "__main__":
    unittest.main()
