#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Notification levels across the nodes of a cluster: set through one node, the account's
# sessions on the other nodes hear of it and read it back (docs/protocol.md, "Notification
# levels"). Run with
#   NATTERD=… /usr/bin/python3 test_cluster_levels.py LevelsTest.test_level_reaches_every_node

import unittest

from test_cluster import ClusterTestCase
from natter_fixture import password_for


class LevelsTest(ClusterTestCase):

    async def test_level_reaches_every_node(self):
        n1, n2, n3 = (self.node(f"n{i}") for i in (1, 2, 3))
        alice = await self.connect("alice-n1", n1.url())
        await alice.register("alice", password_for("alice"))
        alice2 = await self.connect("alice-n2", n2.url())
        await alice2.login(token=alice.welcome["token"])
        bob = await self.connect("bob-n3", n3.url())
        await bob.register("bob", password_for("bob"))
        await alice.call("join", {"room": "club"}, "joined")
        await bob.call("join", {"room": "club"}, "joined")
        await alice2.call("join", {"room": "club"}, "joined")

        await alice.call("set_notification_level", {"room": "club", "level": "mentions"}, "ok")
        event = await alice2.next_event("notification_level", room="club")
        self.assertEqual(event, {"room": "club", "level": "mentions"})
        rooms = (await alice2.call("rooms", {}, "room_list"))["rooms"]
        self.assertEqual([r["notification_level"] for r in rooms if r["name"] == "club"],
                         ["mentions"])
        joined = await alice2.call("join", {"room": "club"}, "joined")
        self.assertEqual(joined["notification_level"], "mentions")

        # Only the account hears it: bob's next frame on the room is his own reply.
        await bob.call("rooms", {}, "room_list")
        self.assertEqual(bob.take_pending("notification_level"), [])
        self.assertEqual([r["notification_level"] for r in
                          (await bob.call("rooms", {}, "room_list"))["rooms"]
                          if r["name"] == "club"], ["all"])


if __name__ == "__main__":
    unittest.main()
