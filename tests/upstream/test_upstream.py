#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Upstream mode, tested with two natterd processes on one machine: a host natterd, and
# `natterd --upstream` on a private session bus with gnome-keyring-daemon, driven with
# gdbus and secret-tool as a desktop user would, while Python websockets clients chat
# on the host. Each test case is its own meson test; run one with
#   NATTERD=… /usr/bin/python3 test_upstream.py UpstreamTest.test_connect_remember_and_chat

import asyncio
import glob
import os
import shutil
import signal
import subprocess
import unittest

from gi.repository import GLib

from upstream_fixture import (CHAT_IFACE, ERROR_PREFIX, MESSAGE_IFACE, RECONNECT_TIMEOUT,
                              ROOM_IFACE, ROOT_PATH, SEARCH_IFACE, SEARCH_PATH,
                              UpstreamTestCase, eventually, password_for, room_path)


class UpstreamTest(UpstreamTestCase):

    async def asyncSetUp(self):
        await super().asyncSetUp()
        await self.register_on_host("alice")
        await self.register_on_host("bob")

    def signalled_seqs(self, room):
        return [seq for (seq, _, _) in self.received(room)]

    async def kill_host(self):
        await asyncio.to_thread(self.host.stop, signal.SIGKILL)

    async def restart_host(self):
        """Same data directory, same port: the server came back."""
        await asyncio.to_thread(self.host.start)

    # ----------------------------------------------------------------------------------

    async def test_connect_remember_and_chat(self):
        """Connect(remember=true) logs in and keeps the server's session token (not the
        password) in the Secret Service; a gdbus send reaches a WebSocket client on the
        host with the same seq, and its answer becomes a signal and a message object."""
        url = self.host.url()
        await self.start_upstream()
        await self.wait_status("offline")
        props = (await self.props())[0]
        self.assertEqual((props["Mode"], props["Connected"]), ("upstream", False))
        self.assertIn("call Connect()", props["StatusMessage"])

        _, out, _ = await self.run_tool("gdbus", "introspect", "--session", "--dest",
                                        "io.github.natter.Natter.Daemon", "--object-path",
                                        ROOT_PATH)
        for needle in ("Connect(in  s url,", "in  s password,", "in  b remember);",
                       "Disconnect();", "ForgetAccount();", "readonly s StatusMessage"):
            self.assertIn(needle, out)

        await self.connect()
        props = (await self.props())[0]
        self.assertEqual((props["Mode"], props["Account"], props["Connected"], props["Status"]),
                         ("upstream", "alice", True, "connected"))

        token = await self.secret_lookup(server=url, user="alice")
        self.assertTrue(token, "nothing stored in the Secret Service")
        self.assertNotEqual(token, password_for("alice"))
        self.assertEqual(await self.secret_lookup(server=url, user="alice", kind="token"), token)
        self.assertIsNone(await self.secret_lookup(server=url, user="alice", kind="password"))
        _, out, _ = await self.run_tool("secret-tool", "search", "--all", "server", url)
        self.assertIn("schema = io.github.natter.Account", out)

        bob = await self.ws_login("bob")
        await bob.call("join", {"room": "general"}, "joined")
        self.assertEqual(await self.join("general"), room_path("general"))
        event = await bob.next_event("member", room="general", user="alice")
        self.assertIs(event["joined"], True)

        seq = await self.send("general", "hello from the desktop")
        message = await bob.next_event("message", room="general", seq=seq)
        self.assertEqual((message["sender"], message["body"]), ("alice", "hello from the desktop"))
        self.assertTrue(message["client_msg_id"].startswith("dbus-"), message)

        sent = await bob.call("send", {"room": "general", "body": "hi desktop",
                                       "client_msg_id": "b-1"}, "sent")
        await eventually(lambda: sent["seq"] in self.signalled_seqs("general"),
                         message="no MessageReceived for bob's message")
        self.assertEqual(self.received("general"),
                         [(seq, "alice", "hello from the desktop"),
                          (sent["seq"], "bob", "hi desktop")])
        objects = await self.managed_objects()
        props = objects[f"{room_path('general')}/{sent['seq']}"][MESSAGE_IFACE]
        self.assertEqual((props["Sender"], props["Body"], props["Timestamp"]),
                         ("bob", "hi desktop", sent["ts"]))
        room = objects[room_path("general")][ROOM_IFACE]
        self.assertEqual((room["Members"], room["LastSeq"], room["UnreadCount"]),
                         (["alice", "bob"], sent["seq"], 1))

        # Nothing secret in D-Bus properties or the daemon's (debug) log.
        props = (await self.props())[0]
        for value in props.values():
            self.assertNotIn(token, str(value))
            self.assertNotIn(password_for("alice"), str(value))
        log = self.upstream.log_text()
        self.assertNotIn(token, log)
        self.assertNotIn(password_for("alice"), log)

    async def test_wrong_password_is_auth_failed(self):
        """A refused password is Error.Unauthorized and Status auth-failed; nothing is
        stored, sends fail at once instead of waiting; the right password then works."""
        url = self.host.url()
        await self.start_upstream("--user", "alice")
        await self.wait_status("offline")
        self.assertEqual((await self.props())[0]["Account"], "alice")

        name, message = await self.gdbus_call_error(ROOT_PATH, CHAT_IFACE + ".Connect", url,
                                                    "alice", "not-the-password", "true")
        self.assertEqual(name, ERROR_PREFIX + "Unauthorized", message)
        props = (await self.props())[0]
        self.assertEqual((props["Status"], props["Connected"]), ("auth-failed", False))
        self.assertIn("refused the account alice", props["StatusMessage"])
        self.assertIsNone(await self.secret_lookup(server=url, user="alice"))

        name, message = await self.gdbus_call_error(ROOT_PATH, CHAT_IFACE + ".SendDirect",
                                                    "bob", "hello?")
        self.assertEqual(name, ERROR_PREFIX + "Unavailable", message)
        self.assertIn("auth-failed", message)

        await self.connect()
        self.assertEqual(await self.status(), "connected")

    async def test_host_killed_sends_wait_and_arrive_once(self):
        """kill -9 the host: Status goes to reconnecting, sends made meanwhile wait, and
        once the host is back (same data, same port) they are sent; every message
        arrives exactly once on both sides."""
        await self.start_upstream()
        await self.connect()
        bob = await self.ws_login("bob")
        await bob.call("join", {"room": "general"}, "joined")
        await self.join("general")
        first = await self.send("general", "before the crash")
        await bob.next_event("message", room="general", seq=first)

        await self.kill_host()
        await self.wait_status("reconnecting")
        pending = [self.call_async(room_path("general"), ROOM_IFACE, "Send",
                                   GLib.Variant("(s)", (f"while down {i}",)), "(t)")
                   for i in range(3)]
        # Reads keep working from the local copy meanwhile.
        page, _ = await self.history("general")
        self.assertEqual([m[3] for m in page], ["before the crash"])
        self.assertFalse(any(f.done() for f in pending), "a send returned while offline")

        await self.restart_host()
        await self.wait_status("connected")
        results = [await asyncio.wait_for(asyncio.wrap_future(f), RECONNECT_TIMEOUT)
                   for f in pending]
        self.assertEqual([error for (_, error, _) in results], [None] * 3, results)
        seqs = [value[0] for (value, _, _) in results]
        self.assertEqual(sorted(seqs), [first + 1, first + 2, first + 3])

        bob = await self.ws_login("bob")
        sent = await bob.call("send", {"room": "general", "body": "after the restart",
                                       "client_msg_id": "b-after"}, "sent")
        await eventually(lambda: sent["seq"] in self.signalled_seqs("general"),
                         RECONNECT_TIMEOUT, message="bob's message never reached D-Bus")

        page = await bob.call("history", {"room": "general", "limit": 50}, "history")
        bodies = [m["body"] for m in page["messages"]]
        for body in ("before the crash", "while down 0", "while down 1", "while down 2",
                     "after the restart"):
            self.assertEqual(bodies.count(body), 1, bodies)
        self.assertEqual(len(bodies), 5, bodies)
        # Once each, in seq order, on D-Bus too.
        self.assertEqual(self.signalled_seqs("general"), list(range(1, sent["seq"] + 1)))

    async def test_restart_logs_in_from_keyring_and_resumes(self):
        """natterd --upstream restarted logs in by itself with the stored token, and the
        messages sent while it was away are signalled once each, in order."""
        await self.start_upstream()
        await self.connect()
        await self.join("general")
        first = await self.send("general", "one")
        await eventually(lambda: first in self.signalled_seqs("general"))
        await self.stop_upstream()
        n_before = len(self.received("general"))

        bob = await self.ws_login("bob")
        await bob.call("join", {"room": "general"}, "joined")
        for i in range(3):
            await bob.call("send", {"room": "general", "body": f"missed {i}",
                                    "client_msg_id": f"m-{i}"}, "sent")

        # No --user and no Connect(): the account and its token come from the keyring.
        await self.start_upstream()
        await self.wait_status("connected")
        self.assertEqual((await self.props())[0]["Account"], "alice")
        await eventually(lambda: len(self.received("general")) >= n_before + 3,
                         RECONNECT_TIMEOUT, message="the missed messages were not signalled")
        self.assertEqual(self.received("general")[n_before:],
                         [(first + 1 + i, "bob", f"missed {i}") for i in range(3)])
        page, has_more = await self.history("general")
        self.assertEqual([m[3] for m in page], ["one", "missed 0", "missed 1", "missed 2"])
        self.assertIs(has_more, False)
        self.assertNotIn(password_for("alice"), self.upstream.log_text())

    async def test_offline_copy_serves_history_and_search(self):
        """With the server gone, a restarted upstream natterd shows the rooms from its
        local copy at once, and History, Search and the Shell's search provider answer
        from it; after Disconnect(), sends fail instead of waiting."""
        await self.start_upstream()
        await self.connect()
        await self.join("general")
        bob = await self.ws_login("bob")
        await bob.call("join", {"room": "general"}, "joined")
        mine = await self.send("general", "the quarterly report is ready")
        sent = await bob.call("send", {"room": "general", "body": "thanks for the report",
                                       "client_msg_id": "b-r"}, "sent")
        await eventually(lambda: sent["seq"] in self.signalled_seqs("general"))

        await self.kill_host()
        await self.stop_upstream()
        await self.start_upstream()
        await eventually(lambda: self.has_object(room_path("general")),
                         message="the cached room did not appear")
        self.assertIn(await self.status(), ("connecting", "reconnecting"))
        self.assertEqual((await self.props())[0]["Account"], "alice")

        page, _ = await self.history("general")
        self.assertEqual([(m[0], m[2], m[3]) for m in page],
                         [(mine, "alice", "the quarterly report is ready"),
                          (sent["seq"], "bob", "thanks for the report")])
        (results,) = await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Search", "report", "", "0")
        self.assertEqual([(r[0], r[1]) for r in results],
                         [("general", sent["seq"]), ("general", mine)])
        (ids,) = await self.gdbus_call(SEARCH_PATH, SEARCH_IFACE + ".GetInitialResultSet",
                                       "['quarterly']")
        self.assertEqual(ids, [f"general#{mine}"])

        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Disconnect")
        props = (await self.props())[0]
        self.assertEqual((props["Status"], props["Connected"]), ("offline", False))
        name, message = await self.gdbus_call_error(room_path("general"), ROOM_IFACE + ".Send",
                                                    "anyone?")
        self.assertEqual(name, ERROR_PREFIX + "Unavailable", message)

    async def test_forget_account(self):
        """ForgetAccount() removes the secret and the local copy; the rooms go away and
        a restart stays offline."""
        url = self.host.url()
        await self.start_upstream()
        await self.connect()
        await self.join("general")
        await self.send("general", "to be forgotten")
        self.assertTrue(await self.secret_lookup(server=url, user="alice"))
        self.assertTrue(glob.glob(os.path.join(self.upstream.data_dir, "upstream-*.db")))

        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".ForgetAccount")
        self.assertIsNone(await self.secret_lookup(server=url, user="alice"))
        props = (await self.props())[0]
        self.assertEqual((props["Status"], props["Account"]), ("offline", ""))
        await eventually(lambda: self.has_no_object_under(room_path("general")),
                         message="the rooms stayed")
        self.assertEqual(glob.glob(os.path.join(self.upstream.data_dir, "upstream-*")), [])

        await self.stop_upstream()
        await self.start_upstream()
        await self.wait_status("offline")
        self.assertFalse((await self.props())[0]["Connected"])

    async def test_queue_is_bounded(self):
        """While the server is down, 100 sends wait; the 101st fails at once with
        Error.Unavailable. Once back, the 100 are sent exactly once."""
        await self.start_upstream()
        await self.connect()
        await self.join("general")
        await self.kill_host()
        await self.wait_status("reconnecting")

        pending = [self.call_async(room_path("general"), ROOM_IFACE, "Send",
                                   GLib.Variant("(s)", (f"queued {i}",)), "(t)")
                   for i in range(100)]
        value, name, message = await asyncio.wait_for(asyncio.wrap_future(
            self.call_async(room_path("general"), ROOM_IFACE, "Send",
                            GLib.Variant("(s)", ("one too many",)), "(t)")), 20)
        self.assertEqual(name, ERROR_PREFIX + "Unavailable", (value, message))
        self.assertIn("100 messages are already waiting", message)
        # Connect() again while the server is still down: it fails, the queue stays.
        name, message = await self.gdbus_call_error(ROOT_PATH, CHAT_IFACE + ".Connect",
                                                    "", "", "", "true")
        self.assertEqual(name, ERROR_PREFIX + "Unavailable", message)
        self.assertIn("cannot reach", message.lower())
        self.assertFalse(any(f.done() for f in pending))

        await self.restart_host()
        await self.wait_status("connected")
        results = [await asyncio.wait_for(asyncio.wrap_future(f), RECONNECT_TIMEOUT)
                   for f in pending]
        self.assertEqual([r for r in results if r[1] is not None], [])
        self.assertEqual(sorted(value[0] for (value, _, _) in results), list(range(1, 101)))

        bob = await self.ws_login("bob")
        await bob.call("join", {"room": "general"}, "joined")
        page = await bob.call("history", {"room": "general", "limit": 200}, "history")
        self.assertEqual(sorted(m["body"] for m in page["messages"]),
                         sorted(f"queued {i}" for i in range(100)))
        await eventually(lambda: len(self.received("general")) >= 100, RECONNECT_TIMEOUT)
        self.assertEqual(self.signalled_seqs("general"), list(range(1, 101)))

    async def test_silent_server_is_dropped(self):
        """A server that stops answering (SIGSTOP: the TCP connection stays open) is
        noticed by the heartbeat; natterd reconnects once it answers again."""
        await self.start_upstream("--ping-interval", "1", "--ping-timeout", "3")
        await self.connect()
        os.kill(self.host.proc.pid, signal.SIGSTOP)
        try:
            await self.wait_status("reconnecting", 15)
            self.assertIn("no answer from the server",
                          (await self.props())[0]["StatusMessage"].lower())
        finally:
            os.kill(self.host.proc.pid, signal.SIGCONT)
        await self.wait_status("connected")

    async def test_send_in_flight_is_retried_once(self):
        """A send already on the wire when the link is dropped is sent again on the next
        link with the same client_msg_id: the frozen server, once thawed, stores the first
        copy and answers the retry with it, so the message exists once."""
        await self.start_upstream("--ping-interval", "1", "--ping-timeout", "3")
        await self.connect()
        await self.join("general")
        os.kill(self.host.proc.pid, signal.SIGSTOP)
        try:
            pending = self.call_async(room_path("general"), ROOM_IFACE, "Send",
                                      GLib.Variant("(s)", ("sent into the void",)), "(t)")
            await self.wait_status("reconnecting", 15)
            self.assertFalse(pending.done())
        finally:
            os.kill(self.host.proc.pid, signal.SIGCONT)
        await self.wait_status("connected")
        value, error, message = await asyncio.wait_for(asyncio.wrap_future(pending),
                                                       RECONNECT_TIMEOUT)
        self.assertIsNone(error, message)
        self.assertEqual(value, (1,))

        bob = await self.ws_login("bob")
        await bob.call("join", {"room": "general"}, "joined")
        page = await bob.call("history", {"room": "general"}, "history")
        self.assertEqual([(m["seq"], m["body"]) for m in page["messages"]],
                         [(1, "sent into the void")])
        await eventually(lambda: self.signalled_seqs("general"))
        self.assertEqual(self.signalled_seqs("general"), [1])

    async def test_disconnect_then_connect_resumes(self):
        """Disconnect() and Connect("", "", "", false) (the session token natterd still
        holds) resume where the link stopped: what came meanwhile is signalled once."""
        await self.start_upstream()
        await self.connect()
        await self.join("general")
        bob = await self.ws_login("bob")
        await bob.call("join", {"room": "general"}, "joined")
        first = await self.send("general", "before")
        await eventually(lambda: first in self.signalled_seqs("general"))

        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Disconnect")
        self.assertEqual(await self.status(), "offline")
        n_before = len(self.received("general"))
        for i in range(2):
            await bob.call("send", {"room": "general", "body": f"meanwhile {i}",
                                    "client_msg_id": f"w-{i}"}, "sent")

        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Connect", "", "", "", "false")
        self.assertEqual(await self.status(), "connected")
        await eventually(lambda: len(self.received("general")) >= n_before + 2)
        self.assertEqual(self.received("general")[n_before:],
                         [(first + 1, "bob", "meanwhile 0"), (first + 2, "bob", "meanwhile 1")])

    async def test_direct_messages(self):
        """SendDirect() reaches the other party; a conversation someone else starts
        appears as a room object of kind dm."""
        await self.start_upstream()
        await self.connect()
        bob = await self.ws_login("bob")
        (seq,) = await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".SendDirect", "bob", "psst")
        message = await bob.next_event("message", room="dm:alice:bob", seq=seq)
        self.assertEqual((message["sender"], message["body"]), ("alice", "psst"))
        await eventually(lambda: self.has_object(room_path("dm:alice:bob")))
        room = (await self.managed_objects())[room_path("dm:alice:bob")][ROOM_IFACE]
        self.assertEqual((room["Name"], room["Kind"]), ("dm:alice:bob", "dm"))

        sent = await bob.call("send", {"to": "alice", "body": "back at you",
                                       "client_msg_id": "d-1"}, "sent")
        await eventually(lambda: sent["seq"] in self.signalled_seqs("dm:alice:bob"))
        self.assertEqual(self.received("dm:alice:bob"),
                         [(seq, "alice", "psst"), (sent["seq"], "bob", "back at you")])

    async def test_token_refused_falls_back_to_stored_password(self):
        """A stored token the server refuses is replaced: natterd logs in with a password
        stored in the keyring (by the user, with secret-tool) and keeps the new token."""
        url = self.host.url()
        for kind, secret in (("password", password_for("alice")), ("token", "not-a-token")):
            await self.run_tool("secret-tool", "store", "--label=natter test",
                                "xdg:schema", "io.github.natter.Account", "server", url,
                                "user", "alice", "kind", kind, input_data=secret.encode())
        await self.start_upstream("--user", "alice")
        await self.wait_status("connected")
        token = await self.secret_lookup(server=url, user="alice", kind="token")
        self.assertTrue(token)
        self.assertNotEqual(token, "not-a-token")
        self.assertEqual(await self.secret_lookup(server=url, user="alice", kind="password"),
                         password_for("alice"))

    async def test_server_store_replaced(self):
        """A server whose store was replaced (a new epoch) no longer knows the token:
        Status is auth-failed; after Connect() with the password, the stale copy and its
        rooms are gone and the new server's history is what shows."""
        await self.start_upstream()
        await self.connect()
        await self.join("general")
        await self.send("general", "old world")
        old_epoch = (await self.props())[0]["Epoch"]
        await self.stop_upstream()

        await asyncio.to_thread(self.host.stop)
        shutil.rmtree(self.host.data_dir)
        await asyncio.to_thread(self.host.start)
        await self.register_on_host("alice")

        await self.start_upstream()
        await self.wait_status("auth-failed")
        # Until then the old copy shows.
        self.assertTrue(await self.has_object(room_path("general")))
        await self.connect()
        props = (await self.props())[0]
        self.assertEqual(props["Status"], "connected")
        self.assertNotEqual(props["Epoch"], old_epoch)
        await eventually(lambda: self.has_no_object_under(room_path("general")),
                         message="the stale room stayed")

        await self.join("general")
        self.assertEqual(await self.send("general", "new world"), 1)
        page, _ = await self.history("general")
        self.assertEqual([(m[0], m[3]) for m in page], [(1, "new world")])


class FirstSyncTest(UpstreamTestCase):

    def host_args(self):
        return ("--resume-cap", "10")

    async def test_first_sync_copies_history_quietly(self):
        """The first connection copies a room's whole history, beyond the server's resume
        cap, without signalling it as new; what comes after is signalled."""
        await self.register_on_host("bob")
        bob = await self.ws_login("bob")
        await bob.call("join", {"room": "big"}, "joined")
        for i in range(1, 26):
            await bob.call("send", {"room": "big", "body": f"old {i}",
                                    "client_msg_id": f"o-{i}"}, "sent")
        await self.register_on_host("alice")
        alice = await self.ws_login("alice")
        await alice.call("join", {"room": "big"}, "joined")

        await self.start_upstream()
        await self.connect()
        await eventually(lambda: self.has_object(room_path("big")))
        sent = await bob.call("send", {"room": "big", "body": "new", "client_msg_id": "n"},
                              "sent")
        await eventually(lambda: self.received("big"), RECONNECT_TIMEOUT)
        self.assertEqual(self.received("big"), [(sent["seq"], "bob", "new")])

        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Disconnect")

        async def copied():
            page, has_more = await self.history("big")
            return [m[0] for m in page] == list(range(1, 27)) and not has_more
        await eventually(copied, message="the local copy is incomplete")
        page, _ = await self.history("big")
        self.assertEqual([m[3] for m in page], [f"old {i}" for i in range(1, 26)] + ["new"])


class TlsTest(UpstreamTestCase):
    """The host serves wss:// with a self-signed certificate made for this test."""

    def host_args(self):
        self.cert = os.path.join(self.workdir, "cert.pem")
        key = os.path.join(self.workdir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", key, "-out", self.cert, "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return ("--tls-cert", self.cert, "--tls-key", key)

    async def asyncSetUp(self):
        await super().asyncSetUp()
        await self.register_on_host("alice")
        await self.register_on_host("bob")

    async def test_self_signed_certificate_refused(self):
        """By default the self-signed certificate is refused, with an error that says
        what is wrong with it; nothing is sent, nothing stored."""
        url = self.host.url()
        self.assertTrue(url.startswith("wss://"))
        await self.start_upstream()
        name, message = await self.gdbus_call_error(ROOT_PATH, CHAT_IFACE + ".Connect", url,
                                                    "alice", password_for("alice"), "true")
        self.assertEqual(name, ERROR_PREFIX + "Unavailable", message)
        self.assertIn("TLS certificate", message)
        self.assertIn("not signed by a trusted certificate authority", message)
        self.assertIn("--ca-file", message)
        props = (await self.props())[0]
        self.assertEqual((props["Status"], props["Connected"]), ("certificate-error", False))
        self.assertIn("not signed by a trusted certificate authority", props["StatusMessage"])
        self.assertIsNone(await self.secret_lookup(server=url, user="alice"))

    async def test_ca_file_makes_it_trusted(self):
        """With --ca-file naming the certificate, the same server is accepted."""
        await self.start_upstream("--ca-file", self.cert)
        await self.connect()
        self.assertEqual(await self.status(), "connected")
        bob = await self.ws_login("bob")
        await bob.call("join", {"room": "general"}, "joined")
        await self.join("general")
        seq = await self.send("general", "over TLS")
        message = await bob.next_event("message", room="general", seq=seq)
        self.assertEqual(message["body"], "over TLS")


class HostModeTest(UpstreamTestCase):

    async def test_host_mode_has_no_connect(self):
        """A hosting natterd on the bus refuses Disconnect() and ForgetAccount() with
        BadRequest, and Connect() without a server to switch to; it says Status connected,
        StatusMessage empty. (Connect() with a server switches modes: tests/dbus.)"""
        data = os.path.join(self.workdir, "desk-data")
        self.upstream.spawn([os.environ["NATTERD"], "--listen", "127.0.0.1:0", "--data-dir",
                             data, "--owner", "desk"])
        await eventually(lambda: self.watcher.name_owner("io.github.natter.Natter.Daemon"),
                         20, message="the hosting natterd did not take its name")
        props = (await self.props())[0]
        self.assertEqual((props["Mode"], props["Status"], props["StatusMessage"]),
                         ("host", "connected", ""))
        for method in ("Disconnect", "ForgetAccount"):
            name, message = await self.gdbus_call_error(ROOT_PATH, f"{CHAT_IFACE}.{method}")
            self.assertEqual(name, ERROR_PREFIX + "BadRequest", message)
            self.assertIn("upstream mode", message)
        name, message = await self.gdbus_call_error(ROOT_PATH, f"{CHAT_IFACE}.Connect", "",
                                                    "alice", "x", "false")
        self.assertEqual(name, ERROR_PREFIX + "BadRequest", message)
        self.assertIn("address of the server", message)
        self.assertEqual((await self.props())[0]["Mode"], "host")


class CleartextTest(UpstreamTestCase):

    async def test_cleartext_to_another_machine_refused(self):
        """ws:// (no TLS) is refused for anything but this machine, at start and over
        D-Bus, with an error that says why and what to do; loopback is allowed, and
        --allow-insecure-upstream allows the rest."""
        await self.register_on_host("alice")
        rc, _, err = await self.run_tool(os.environ["NATTERD"], "--upstream",
                                         "ws://chat.example.org/ws", check=False, timeout=20)
        self.assertEqual(rc, 2)
        self.assertIn("is not encrypted", err)
        self.assertIn("--allow-insecure-upstream", err)

        await self.start_upstream()
        await self.wait_status("offline")
        name, message = await self.gdbus_call_error(ROOT_PATH, CHAT_IFACE + ".Connect",
                                                    "ws://chat.example.org/ws", "alice",
                                                    password_for("alice"), "false")
        self.assertEqual(name, ERROR_PREFIX + "BadRequest")
        self.assertIn("is not encrypted", message)
        # Connecting to 0.0.0.0 reaches this machine on Linux, but it is not a loopback
        # address: refused as well. (The test can use it below without leaving the machine.)
        other = self.host.url().replace("127.0.0.1", "0.0.0.0")
        name, _ = await self.gdbus_call_error(ROOT_PATH, CHAT_IFACE + ".Connect", other,
                                              "alice", password_for("alice"), "false")
        self.assertEqual(name, ERROR_PREFIX + "BadRequest")
        await self.connect(remember=False)
        self.assertEqual(await self.status(), "connected")
        await self.stop_upstream()

        # Allowed explicitly, the same address signs in.
        await self.start_upstream("--allow-insecure-upstream", url=other)
        await self.connect(remember=False, url=other)
        self.assertEqual(await self.status(), "connected")


if __name__ == "__main__":
    unittest.main(verbosity=2)
