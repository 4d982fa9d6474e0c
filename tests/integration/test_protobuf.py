#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The one schema, both wire formats: natter.v1.proto end to end with Python protobuf
# classes generated from proto/natter.proto, natterd's JSON read by protobuf's own JSON
# parser, JSON written by protobuf's own printer read by natterd, and the two kinds of
# client talking to each other.

import unittest

from google.protobuf import json_format

from natter_fixture import NatterTestCase, natter_pb2, password_for


def same_json(ours, theirs):
    """Compares a natterd JSON value with protobuf's MessageToDict() of the same frame,
    which writes 64-bit integers as strings."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        return ours.keys() == theirs.keys() and all(same_json(ours[k], theirs[k]) for k in ours)
    if isinstance(ours, list) and isinstance(theirs, list):
        return len(ours) == len(theirs) and all(same_json(a, b) for a, b in zip(ours, theirs))
    if isinstance(ours, int) and not isinstance(ours, bool) and isinstance(theirs, str):
        return str(ours) == theirs
    return ours == theirs


class ProtobufTest(NatterTestCase):

    def setUp(self):
        self.pb = natter_pb2()

    async def proto_user(self, name):
        client = await self.connect_proto(name)
        await client.register(name, password_for(name))
        return client

    async def test_protobuf_end_to_end(self):
        alice = await self.proto_user("alice")
        bob = await self.proto_user("bob")
        welcome = alice.welcome
        self.assertEqual(welcome.user, "alice")
        self.assertGreater(len(welcome.token), 16)
        self.assertNotEqual(welcome.epoch, "")
        self.assertEqual([r.kind for r in welcome.rooms if r.name == "system"], ["system"])

        joined = await alice.call("join", "joined", room="general")
        self.assertEqual((joined.room, joined.last_seq, list(joined.members), joined.kind),
                         ("general", 0, ["alice"], "room"))
        joined = await bob.call("join", "joined", room="general")
        self.assertEqual(sorted(joined.members), ["alice", "bob"])

        sent = await alice.call("send", "sent", room="general", body="binary ✓",
                                client_msg_id="p-1")
        self.assertEqual((sent.room, sent.seq, sent.client_msg_id), ("general", 1, "p-1"))
        self.assertGreater(sent.ts, 1_600_000_000_000)
        expected = self.pb.Message(room="general", seq=1, ts=sent.ts, sender="alice",
                                   body="binary ✓", client_msg_id="p-1", kind="text")
        self.assertEqual(await bob.next_event("message", room="general", seq=1), expected)
        self.assertEqual(await alice.next_event("message", room="general", seq=1), expected)

        sent = await bob.call("send", "sent", to="alice", body="dm", client_msg_id="p-2")
        self.assertEqual((sent.room, sent.seq), ("dm:alice:bob", 1))
        message = await alice.next_event("message", room="dm:alice:bob")
        self.assertEqual((message.sender, message.body), ("bob", "dm"))

        page = await bob.call("history", "history", room="general")
        self.assertEqual(list(page.messages), [expected])
        self.assertFalse(page.has_more)
        rooms = await bob.call("rooms", "room_list")
        # system first, then by name.
        self.assertEqual([(r.name, r.kind, r.last_seq) for r in rooms.rooms],
                         [("system", "system", 0), ("dm:alice:bob", "dm", 1),
                          ("general", "room", 1)])
        self.assertEqual(await bob.call("read", "ok", room="general", seq=1), self.pb.Ok())
        receipt = await alice.next_event("receipt", room="general", user="bob")
        self.assertEqual(receipt.seq, 1)
        results = await alice.call("search", "search_results", query="binary")
        self.assertEqual(list(results.messages), [expected])

        # Errors are ServerFrames too, with the request id.
        frame = await alice.request("send", room="general", body="", client_msg_id="p-3")
        self.assertEqual(frame.WhichOneof("event"), "error")
        self.assertEqual(frame.error.code, "bad_request")
        self.assertEqual(frame.id, alice.next_id - 1)
        frame = await alice.request("history", room="general", limit=201)
        self.assertEqual(frame.error.code, "bad_request")
        frame = await alice.request("join", room="dm:bob:carol")
        self.assertEqual(frame.error.code, "forbidden")

        # A frame that is not a protobuf message: bad_request without id, still open.
        await alice.send_raw(b"\xff\xff\xff")
        frame = await alice.recv_until(lambda f: f.WhichOneof("event") == "error")
        self.assertEqual(frame.error.code, "bad_request")
        self.assertFalse(frame.HasField("id"))
        # And a protobuf frame without an operation.
        await alice.send_raw(self.pb.ClientFrame(id=99).SerializeToString())
        frame = await alice.error_reply(99)
        self.assertEqual(frame.error.code, "bad_request")
        # A string that is not UTF-8 (proto2 does not check; natterd must):
        # ClientFrame {id: 98, send {room: "general", body: "\xff", client_msg_id: "c"}}
        send = b"\x0a\x07general" + b"\x1a\x01\xff" + b"\x22\x01c"
        await alice.send_raw(b"\x08\x62" + b"\x32" + bytes([len(send)]) + send)
        frame = await alice.error_reply(98)
        self.assertEqual(frame.error.code, "bad_request")
        self.assertEqual(frame.id, 98, "request id not echoed")
        # A text frame on the protobuf subprotocol.
        await alice.send_raw('{"id": 97, "rooms": {}}')
        frame = await alice.recv_until(lambda f: f.WhichOneof("event") == "error")
        self.assertEqual(frame.error.code, "bad_request")
        page = await alice.call("history", "history", room="general")
        self.assertEqual([m.seq for m in page.messages], [1])
        await alice.call("rooms", "room_list")

    async def test_json_frames_parse_with_protobuf(self):
        alice = await self.user("alice")
        bob = await self.user("bob")
        await alice.call("join", {"room": "general"}, "joined")
        await bob.call("join", {"room": "general"}, "joined")
        await alice.call("send", {"room": "general", "body": "parse me", "client_msg_id": "j1"},
                         "sent")
        await bob.next_event("message", room="general")
        await bob.call("history", {"room": "general"}, "history")
        await bob.call("rooms", {}, "room_list")
        await bob.call("read", {"room": "general", "seq": 1}, "ok")
        await alice.next_event("receipt", room="general")
        await bob.send_frame({"typing": {"room": "general", "active": True}})
        await alice.next_event("typing", room="general")
        await alice.call("search", {"query": "parse"}, "search_results")
        await self.expect_error(alice, "send", {"room": "general", "body": ""}, "bad_request")
        await alice.send_raw("nonsense")
        await alice.recv_until(lambda f: "error" in f and "id" not in f)
        carol = await self.user("carol")
        await carol.call("join", {"room": "general"}, "joined")
        await alice.next_event("member", room="general", user="carol")
        await carol.close()
        await alice.next_event("presence", user="carol", online=lambda online: not online)

        kinds = set()
        for client in (alice, bob):
            for raw, ours in client.received:
                with self.subTest(frame=raw):
                    parsed = json_format.Parse(raw, self.pb.ServerFrame())
                    kind = parsed.WhichOneof("event")
                    kinds.add(kind)
                    self.assertIn(kind, ours)
                    theirs = json_format.MessageToDict(parsed, preserving_proto_field_name=True)
                    self.assertTrue(same_json(ours, theirs), f"{ours!r} != {theirs!r}")
        self.assertLessEqual({"welcome", "joined", "sent", "message", "history", "room_list",
                              "ok", "receipt", "typing", "search_results", "error", "member",
                              "presence"}, kinds)

    async def test_protobuf_printed_json_accepted(self):
        pb = self.pb
        bob = await self.user("bob")
        await bob.call("join", {"room": "mixed"}, "joined")
        client = await self.connect("printed")

        async def request(frame, expect, compact=False):
            # MessageToJson writes uint64 fields (id, seq) as strings, as the protobuf
            # JSON mapping allows; the reply's id is a JSON number all the same.
            text = json_format.MessageToJson(frame, preserving_proto_field_name=True,
                                             indent=None if compact else 2)
            await client.send_raw(text)
            reply = await client.reply(frame.id)
            self.assertIn(expect, reply, f"{text} -> {reply!r}")
            self.assertJsonInt(reply["id"], "id")
            return reply[expect]

        welcome = await request(pb.ClientFrame(id=1, register=pb.Register(
            user="alice", password=password_for("alice"))), "welcome")
        self.assertEqual(welcome["user"], "alice")
        joined = await request(pb.ClientFrame(id=2, join=pb.Join(room="mixed", since_seq=0)),
                               "joined", compact=True)
        self.assertEqual(sorted(joined["members"]), ["alice", "bob"])
        sent = await request(pb.ClientFrame(id=3, send=pb.Send(
            room="mixed", body="printed by protobuf", client_msg_id="pj-1")), "sent")
        self.assertEqual(sent["seq"], 1)
        message = await bob.next_event("message", room="mixed", seq=1)
        self.assertEqual((message["sender"], message["body"]), ("alice", "printed by protobuf"))
        page = await request(pb.ClientFrame(id=4, history=pb.History(
            room="mixed", before_seq=2, limit=10)), "history")
        self.assertEqual([m["seq"] for m in page["messages"]], [1])
        rooms = await request(pb.ClientFrame(id=5, rooms=pb.Rooms()), "room_list",
                              compact=True)
        self.assertIn("mixed", [r["name"] for r in rooms["rooms"]])
        await request(pb.ClientFrame(id=6, read=pb.Read(room="mixed", seq=1)), "ok")
        results = await request(pb.ClientFrame(id=7, search=pb.Search(query="printed",
                                                                      limit=5)),
                                "search_results")
        self.assertEqual(len(results["messages"]), 1)
        sent = await request(pb.ClientFrame(id=8, send=pb.Send(
            to="bob", body="dm", client_msg_id="pj-2")), "sent", compact=True)
        self.assertEqual(sent["room"], "dm:alice:bob")
        await bob.next_event("message", room="dm:alice:bob", seq=1)
        # A large id survives the round trip exactly.
        big = 2 ** 53 + 1
        await request(pb.ClientFrame(id=big, rooms=pb.Rooms()), "room_list")

        # Typing, whose reply is none, with a bool and a string field.
        frame = pb.ClientFrame(typing=pb.Typing(room="mixed", active=True))
        await client.send_raw(json_format.MessageToJson(frame, preserving_proto_field_name=True))
        event = await bob.next_event("typing", room="mixed")
        self.assertEqual(event, {"room": "mixed", "user": "alice", "active": True})

    async def test_protobuf_and_json_clients_chat(self):
        alice = await self.proto_user("alice")
        bob = await self.user("bob")
        await alice.call("join", "joined", room="mixed")
        await bob.call("join", {"room": "mixed"}, "joined")

        sent = await alice.call("send", "sent", room="mixed", body="from protobuf ✓",
                                client_msg_id="a1")
        message = await bob.next_event("message", room="mixed", seq=1)
        self.assertEqual(message, {"room": "mixed", "seq": 1, "ts": sent.ts, "sender": "alice",
                                   "body": "from protobuf ✓", "client_msg_id": "a1",
                                   "kind": "text"})

        sent = await bob.call("send", {"room": "mixed", "body": "from json ✓",
                                       "client_msg_id": "b1"}, "sent")
        message = await alice.next_event("message", room="mixed", seq=2)
        self.assertEqual(message, self.pb.Message(
            room="mixed", seq=2, ts=sent["ts"], sender="bob", body="from json ✓",
            client_msg_id="b1", kind="text"))

        sent = await bob.call("send", {"to": "alice", "body": "dm from json",
                                       "client_msg_id": "b2"}, "sent")
        message = await alice.next_event("message", room="dm:alice:bob", seq=1)
        self.assertEqual((message.sender, message.body, message.ts),
                         ("bob", "dm from json", sent["ts"]))
        sent = await alice.call("send", "sent", to="bob", body="dm from protobuf",
                                client_msg_id="a2")
        message = await bob.next_event("message", room="dm:alice:bob", seq=2)
        self.assertEqual((message["sender"], message["body"], message["ts"]),
                         ("alice", "dm from protobuf", sent.ts))

        await bob.send_frame({"typing": {"room": "mixed", "active": True}})
        typing = await alice.next_event("typing", room="mixed")
        self.assertEqual((typing.user, typing.active), ("bob", True))
        await alice.call("read", "ok", room="mixed", seq=2)
        receipt = await bob.next_event("receipt", room="mixed", user="alice")
        self.assertEqual(receipt, {"room": "mixed", "user": "alice", "seq": 2})

        # The same history through both codecs.
        proto_page = await alice.call("history", "history", room="mixed")
        json_page = await bob.call("history", {"room": "mixed"}, "history")
        theirs = json_format.MessageToDict(proto_page, preserving_proto_field_name=True)
        self.assertTrue(same_json(json_page, theirs), f"{json_page!r} != {theirs!r}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
