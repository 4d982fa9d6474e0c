#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Notification levels (docs/protocol.md, "Notification levels"): set_notification_level,
# the level in joined and room_list, the account's other sessions told, kept across a
# restart; from JSON and protobuf WebSocket clients. Run one with
#   NATTERD=… NATTER_PROTO=… /usr/bin/python3 test_notification_levels.py \
#     NotificationLevelsTest.test_set_and_read_back

import unittest

from natter_fixture import NatterTestCase


class NotificationLevelsTest(NatterTestCase):

    def level_in(self, rooms, name):
        (room,) = [r for r in rooms if r["name"] == name]
        return room["notification_level"]

    async def test_set_and_read_back(self):
        """A room starts at "all"; set_notification_level answers ok, the account's other
        session hears it, joined and room_list carry it, and it survives a restart."""
        alice = await self.user("alice")
        joined = await alice.call("join", {"room": "general"}, "joined")
        self.assertEqual(joined["notification_level"], "all")
        other = await self.session_of(alice)
        bob = await self.user("bob")
        await bob.call("join", {"room": "general"}, "joined")

        reply = await alice.call("set_notification_level",
                                 {"room": "general", "level": "mentions"}, "ok")
        self.assertEqual(reply, {})
        event = await other.next_event("notification_level", room="general")
        self.assertEqual(event, {"room": "general", "level": "mentions"})
        # Nobody else hears of it, and the asking session gets only the reply.
        await bob.call("send", {"room": "general", "body": "after", "client_msg_id": "b1"},
                       "sent")
        await alice.next_event("message", room="general")
        self.assertEqual(alice.take_pending("notification_level"), [])
        await bob.next_event("message", room="general")
        self.assertEqual(bob.take_pending("notification_level"), [])

        rooms = (await alice.call("rooms", {}, "room_list"))["rooms"]
        self.assertEqual(self.level_in(rooms, "general"), "mentions")
        self.assertEqual(self.level_in(rooms, "system"), "all")
        self.assertEqual(self.level_in((await bob.call("rooms", {}, "room_list"))["rooms"],
                                       "general"), "all")
        again = await alice.call("join", {"room": "general"}, "joined")
        self.assertEqual(again["notification_level"], "mentions")

        # The system room (no membership row until needed) and "none".
        await alice.call("set_notification_level", {"room": "system", "level": "none"}, "ok")
        await other.next_event("notification_level", room="system")

        await self.daemon.restart_async()
        alice = await self.user("alice", register=False)
        self.assertEqual(self.level_in(alice.welcome["rooms"], "general"), "mentions")
        self.assertEqual(self.level_in(alice.welcome["rooms"], "system"), "none")

        # Back to all.
        await alice.call("set_notification_level", {"room": "general", "level": "all"}, "ok")
        rooms = (await alice.call("rooms", {}, "room_list"))["rooms"]
        self.assertEqual(self.level_in(rooms, "general"), "all")

    async def test_leaving_forgets_the_level(self):
        alice = await self.user("alice")
        await alice.call("join", {"room": "general"}, "joined")
        await alice.call("set_notification_level", {"room": "general", "level": "none"}, "ok")
        await alice.call("leave", {"room": "general"}, "ok")
        joined = await alice.call("join", {"room": "general"}, "joined")
        self.assertEqual(joined["notification_level"], "all")

    async def test_errors(self):
        """A bad level is bad_request, an unknown room not_found, a room one is not in
        forbidden; nothing changes."""
        alice = await self.user("alice")
        await alice.call("join", {"room": "general"}, "joined")
        bob = await self.user("bob")
        await bob.call("join", {"room": "elsewhere"}, "joined")

        for body, code in (({"room": "general", "level": "loud"}, "bad_request"),
                           ({"room": "general", "level": "ALL"}, "bad_request"),
                           ({"room": "general"}, "bad_request"),
                           ({"level": "none"}, "bad_request"),
                           ({"room": "Bad Name", "level": "none"}, "bad_request"),
                           ({"room": "nowhere", "level": "none"}, "not_found"),
                           ({"room": "elsewhere", "level": "none"}, "forbidden"),
                           ({"room": "dm:bob:carol", "level": "none"}, "forbidden")):
            frame = await alice.request("set_notification_level", body, expect_error=True)
            self.assertEqual(frame["error"]["code"], code, body)
        rooms = (await alice.call("rooms", {}, "room_list"))["rooms"]
        self.assertEqual(self.level_in(rooms, "general"), "all")

    async def test_protobuf_client(self):
        """The op and the event in protobuf: ClientFrame.set_notification_level and
        ServerFrame.notification_level."""
        proto = await self.connect_proto("alice-pb")
        await proto.register("alice", "correct horse battery")
        joined = await proto.call("join", "joined", room="general")
        self.assertEqual(joined.notification_level, "all")
        other = await self.connect_proto("alice-pb'")
        await other.login(token=proto.welcome.token)

        await proto.call("set_notification_level", "ok", room="general", level="mentions")
        event = await other.next_event("notification_level", room="general")
        self.assertEqual((event.room, event.level), ("general", "mentions"))
        # The cluster's field stays between the nodes.
        self.assertFalse(event.HasField("user"))
        rooms = (await proto.call("rooms", "room_list")).rooms
        self.assertEqual([r.notification_level for r in rooms if r.name == "general"],
                         ["mentions"])

        frame = await proto.request("set_notification_level", room="general", level="loud")
        self.assertEqual(frame.error.code, "bad_request")
        frame = await proto.request("set_notification_level", room="nowhere", level="none")
        self.assertEqual(frame.error.code, "not_found")


if __name__ == "__main__":
    unittest.main()
