#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A room's moderation log (docs/protocol.md, "Moderation log"): kicks, bans, unbans, role
# and topic changes as a feed of their own, read with `moderation_log` by whoever may read
# the room's history, from JSON and protobuf clients. Run one with
#   NATTERD=… NATTER_PROTO=… /usr/bin/python3 test_moderation_log.py ModerationLogTest.test_events_in_order

import unittest

from natter_fixture import NatterTestCase, password_for


class ModerationLogTest(NatterTestCase):

    async def moderated_room(self, room="club", private=False):
        """alice owns @room; carol is a moderator; bob was kicked, banned and unbanned;
        the topic was set. Returns the clients alice, bob, carol."""
        alice = await self.user("alice")
        bob = await self.user("bob")
        carol = await self.user("carol")
        await alice.call("create", {"room": room, "private": private}, "joined")
        if private:
            await alice.call("invite", {"room": room, "user": "bob"}, "ok")
            await alice.call("invite", {"room": room, "user": "carol"}, "ok")
        await bob.call("join", {"room": room}, "joined")
        await carol.call("join", {"room": room}, "joined")
        await alice.call("set_role", {"room": room, "user": "carol", "role": "moderator"}, "ok")
        await carol.call("set_topic", {"room": room, "topic": "Be kind"}, "ok")
        await carol.call("kick", {"room": room, "user": "bob", "reason": "spam"}, "ok")
        await alice.call("ban", {"room": room, "user": "bob"}, "ok")
        await alice.call("unban", {"room": room, "user": "bob"}, "ok")
        return alice, bob, carol

    async def test_events_in_order(self):
        alice, bob, carol = await self.moderated_room()
        page = await carol.call("moderation_log", {"room": "club"}, "moderation_log")
        self.assertEqual(page["room"], "club")
        events = page["events"]
        self.assertEqual([e["kind"] for e in events], ["role", "topic", "kick", "ban", "unban"])
        role, topic, kick, ban, unban = events
        self.assertEqual((role["user"], role["by"], role["role"]), ("carol", "alice", "moderator"))
        self.assertEqual((topic["user"], topic["by"], topic["topic"]), ("carol", "carol", "Be kind"))
        self.assertEqual((kick["user"], kick["by"], kick["reason"]), ("bob", "carol", "spam"))
        self.assertEqual((ban["user"], ban["by"]), ("bob", "alice"))
        self.assertNotIn("reason", ban)
        self.assertEqual((unban["user"], unban["by"]), ("bob", "alice"))
        for e in events:
            self.assertJsonInt(e["ts"], "ts")
        stamps = [e["ts"] for e in events]
        self.assertEqual(stamps, sorted(set(stamps)), "ts must rise, one per event")

        # A clearing of the topic has no topic field.
        await carol.call("set_topic", {"room": "club", "topic": ""}, "ok")
        page = await alice.call("moderation_log", {"room": "club", "limit": 1}, "moderation_log")
        self.assertEqual(page["events"][0]["kind"], "topic")
        self.assertNotIn("topic", page["events"][0])

        # Not messages: the room's seqs and unread counts are untouched.
        rooms = await alice.call("rooms", None, "room_list")
        self.assertEqual([r.get("last_seq", 0) for r in rooms["rooms"] if r["name"] == "club"], [0])
        history = await alice.call("history", {"room": "club"}, "history")
        self.assertEqual(history.get("messages", []), [])

        # Whoever joins later reads it too.
        await bob.call("join", {"room": "club"}, "joined")
        page = await bob.call("moderation_log", {"room": "club"}, "moderation_log")
        self.assertEqual(len(page["events"]), 6)

    async def test_limit_and_paging(self):
        alice, _bob, _carol = await self.moderated_room()
        page = await alice.call("moderation_log", {"room": "club", "limit": 2}, "moderation_log")
        self.assertEqual([e["kind"] for e in page["events"]], ["ban", "unban"])
        older = await alice.call("moderation_log",
                                 {"room": "club", "limit": 2, "before_ts": page["events"][0]["ts"]},
                                 "moderation_log")
        self.assertEqual([e["kind"] for e in older["events"]], ["topic", "kick"])
        oldest = await alice.call("moderation_log",
                                  {"room": "club", "limit": 100,
                                   "before_ts": older["events"][0]["ts"]}, "moderation_log")
        self.assertEqual([e["kind"] for e in oldest["events"]], ["role"])
        empty = await alice.call("moderation_log",
                                 {"room": "club", "before_ts": oldest["events"][0]["ts"]},
                                 "moderation_log")
        self.assertEqual(empty.get("events", []), [])

    async def test_private_room_invisible(self):
        alice, bob, _carol = await self.moderated_room("secret", private=True)
        eve = await self.user("eve")
        # Exactly what history answers, for a non-member, a user no longer a member, and a
        # room that does not exist.
        for client, room in ((eve, "secret"), (bob, "secret"), (eve, "nowhere")):
            history = await self.expect_error(client, "history", {"room": room},
                                              "forbidden" if room == "secret" else "not_found")
            log = await self.expect_error(client, "moderation_log", {"room": room},
                                          history["code"])
            self.assertEqual(log["code"], history["code"])
        # A public room's log is as readable as its history: to members.
        await alice.call("create", {"room": "open"}, "joined")
        await alice.call("kick", {"room": "secret", "user": "carol"}, "ok")
        await self.expect_error(eve, "moderation_log", {"room": "open"}, "forbidden")
        await eve.call("join", {"room": "open"}, "joined")
        page = await eve.call("moderation_log", {"room": "open"}, "moderation_log")
        self.assertEqual(page.get("events", []), [])
        # Nothing of the private room's log reached eve's public one.
        page = await alice.call("moderation_log", {"room": "secret"}, "moderation_log")
        self.assertEqual(page["events"][-1]["kind"], "kick")

    async def test_bad_input(self):
        alice, _bob, _carol = await self.moderated_room()
        for body in ({}, {"room": "Not A Room"}, {"room": "club", "limit": 0},
                     {"room": "club", "limit": 101}, {"room": "club", "before_ts": 0},
                     {"room": "club", "before_ts": -5}, {"room": "club", "limit": "ten"},
                     {"room": 7}):
            await self.expect_error(alice, "moderation_log", body, "bad_request")
        await self.assert_chat_works()

    async def test_protobuf_client(self):
        await self.moderated_room()
        client = await self.connect_proto("carol-pb")
        await client.login("carol", password_for("carol"))
        page = await client.call("moderation_log", "moderation_log", room="club", limit=3)
        self.assertEqual(page.room, "club")
        self.assertEqual([e.kind for e in page.events], ["kick", "ban", "unban"])
        self.assertEqual(page.events[0].reason, "spam")
        self.assertEqual(page.events[0].by, "carol")
        self.assertFalse(page.events[1].HasField("reason"))
        self.assertGreater(page.events[2].ts, page.events[1].ts)
        older = await client.call("moderation_log", "moderation_log", room="club",
                                  before_ts=page.events[0].ts)
        self.assertEqual([e.kind for e in older.events], ["role", "topic"])
        frame = await client.request("moderation_log", room="club", limit=0)
        self.assertEqual(frame.WhichOneof("event"), "error")
        self.assertEqual(frame.error.code, "bad_request")


if __name__ == "__main__":
    unittest.main()
