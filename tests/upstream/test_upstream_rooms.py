#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Rooms people control in upstream mode: `natterd --upstream` on a private session bus
# mirrors an account of a host natterd; what the desktop does with rooms (CreateRoom,
# Invite, SetRole, SetTopic, Kick, Directory) goes to the host as wire requests, and what
# people do there reaches the mirrored rooms. Run one case with
#   NATTERD=… /usr/bin/python3 test_upstream_rooms.py UpstreamRoomsTest.test_rooms_people_control

import unittest

from upstream_fixture import (CHAT_IFACE, ERROR_PREFIX, ROOM_IFACE, ROOT_PATH,
                              UpstreamTestCase, eventually, room_path)


class UpstreamRoomsTest(UpstreamTestCase):

    async def asyncSetUp(self):
        await super().asyncSetUp()
        await self.register_on_host("alice")
        await self.register_on_host("bob")

    async def room_props(self, room):
        return (await self.managed_objects())[room_path(room)][ROOM_IFACE]

    def props_are(self, room, **expected):
        async def check():
            objects = await self.managed_objects()
            props = objects.get(room_path(room), {}).get(ROOM_IFACE)
            return props is not None and all(props.get(k) == v for k, v in expected.items())
        return check

    def member_changes(self, room):
        return [tuple(a) for (_, _, a) in
                self.watcher.received("MemberChanged", room_path(room), ROOM_IFACE)]

    async def test_rooms_people_control(self):
        """A private room created from the desktop, an invitation, roles and topics both
        ways, the directory, and the mirror's answers while offline."""
        await self.start_upstream()
        await self.connect()
        bob = await self.ws_login("bob")

        (path,) = await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".CreateRoom", "crew", "true",
                                        "Ours")
        self.assertEqual(path, room_path("crew"))
        props = await self.room_props("crew")
        self.assertEqual((props["Private"], props["Role"], props["Topic"]),
                         (True, "owner", "Ours"))

        await self.gdbus_call(path, ROOM_IFACE + ".Invite", "bob")
        event = await bob.next_event("invite", room="crew")
        self.assertEqual(event["by"], "alice")
        joined = await bob.call("join", {"room": "crew"}, "joined")
        self.assertEqual(joined["owners"], ["alice"])
        await self.gdbus_call(path, ROOM_IFACE + ".SetRole", "bob", "moderator")
        await eventually(self.props_are("crew", MemberRoles={"alice": "owner", "bob": "moderator"}),
                         message="MemberRoles did not follow")
        await eventually(lambda: ("bob", True, "moderator", "alice") in self.member_changes("crew"),
                         message="no MemberChanged for the role")

        await bob.call("set_topic", {"room": "crew", "topic": "Bob's"}, "ok")
        await eventually(self.props_are("crew", Topic="Bob's"),
                         message="the host's topic event did not reach the room")

        (rooms,) = await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Directory", "", "0")
        self.assertEqual(rooms, [])
        await bob.call("create", {"room": "open-house", "topic": "Everyone"}, "joined")
        (rooms,) = await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Directory", "", "0")
        self.assertEqual([tuple(r) for r in rooms], [("open-house", "Everyone", 1)])

        # Offline, the mirror still knows what the room is and who is what.
        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Disconnect")
        await self.wait_status("offline")
        self.assertEqual(await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".JoinRoom", "crew"),
                         (path,))
        props = await self.room_props("crew")
        self.assertEqual((props["Private"], props["Role"], props["Topic"], props["MemberRoles"]),
                         (True, "owner", "Bob's", {"alice": "owner", "bob": "moderator"}))
        name, _ = await self.gdbus_call_error(path, ROOM_IFACE + ".Kick", "bob", "")
        self.assertEqual(name, ERROR_PREFIX + "Unavailable")

    async def test_kicked_room_goes_away(self):
        """Kicked on the host, the account's room object goes away, after MemberChanged
        says by whom; banned, it cannot join again."""
        await self.start_upstream()
        await self.connect()
        bob = await self.ws_login("bob")
        await bob.call("create", {"room": "bobs"}, "joined")
        await self.join("bobs")
        await eventually(self.props_are("bobs", Role="member"))

        await bob.call("kick", {"room": "bobs", "user": "alice"}, "ok")
        await eventually(lambda: ("alice", False, "", "bob") in self.member_changes("bobs"),
                         message="no MemberChanged for the kick")
        await eventually(lambda: self.has_no_object_under(room_path("bobs")),
                         message="the kicked room stayed")

        await bob.call("ban", {"room": "bobs", "user": "alice"}, "ok")
        name, _ = await self.gdbus_call_error(ROOT_PATH, CHAT_IFACE + ".JoinRoom", "bobs")
        self.assertEqual(name, ERROR_PREFIX + "Forbidden")


if __name__ == "__main__":
    unittest.main(verbosity=2)
