#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Hostile network clients (docs/reliability.md, "Hostile network"): each case runs an
# attack from raw sockets against the built natterd, with its limits lowered so that it
# runs fast, and asserts that natterd stays up, bounded and correct afterwards.

import asyncio
import base64
import http.client
import json
import os
import resource
import socket
import ssl
import stat
import struct
import subprocess
import sys
import time
import unittest

from reliability_common import (JSON_PROTOCOL, NatterTestCase, RawWebSocket, daemon_args,
                                eventually, metric)

OPCODE_TEXT, OPCODE_CLOSE, OPCODE_PING = 0x1, 0x8, 0x9


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def small_descriptor_limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))


class HostileNetworkTest(NatterTestCase):

    # Helpers ---------------------------------------------------------------------------

    def http_status(self, path="/healthz", source="127.0.0.1", headers=None, tls=None):
        """(status, headers) of a GET of @path, or (None, {}) if the connection failed."""
        if tls is not None:
            conn = http.client.HTTPSConnection("127.0.0.1", self.daemon.port, timeout=5,
                                               source_address=(source, 0), context=tls)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.daemon.port, timeout=5,
                                              source_address=(source, 0))
        try:
            conn.request("GET", path, headers=headers or {})
            response = conn.getresponse()
            body = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, body
        except (OSError, http.client.HTTPException):
            return None, {}, b""
        finally:
            conn.close()

    def handshake(self, extra=(), version="13"):
        """A raw WebSocket handshake; returns (status, headers, socket), the socket closed
        unless the status is 101."""
        sock = socket.create_connection(("127.0.0.1", self.daemon.port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = ["GET /ws HTTP/1.1", f"Host: 127.0.0.1:{self.daemon.port}",
                 "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                 f"Sec-WebSocket-Version: {version}", *extra]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
        status_line, *header_lines = head.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip()
                   for k, _, v in (line.partition(":") for line in header_lines)}
        status = int(status_line.split(" ")[1])
        if status != 101:
            sock.close()
        return status, headers, sock

    def half_sent_requests(self, n, source="127.0.0.1"):
        """@n connections, each with a request whose headers never end."""
        socks = []
        for _ in range(n):
            sock = socket.create_connection(("127.0.0.1", self.daemon.port), timeout=10,
                                            source_address=(source, 0))
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            socks.append(sock)
        self.addCleanup(lambda: [s.close() for s in socks])
        return socks

    @staticmethod
    def masked_frame(opcode, payload):
        """A client frame with a zero mask: no work to mask many of them."""
        return bytes([0x80 | opcode, 0x80 | len(payload)]) + bytes(4) + payload

    @staticmethod
    def hung_up(sock):
        """Whether the server closed @sock (reads the end of the stream or a reset)."""
        sock.setblocking(False)
        try:
            return sock.recv(4096) == b""
        except BlockingIOError:
            return False
        except ConnectionResetError:
            return True

    async def assert_serves(self, name):
        """natterd answers /healthz and a WebSocket client registers and chats."""
        status, _, _ = await asyncio.to_thread(self.http_status)
        self.assertEqual(status, 200)
        await self.assert_chat_works(room=name)

    # 1. Accepting ------------------------------------------------------------------------

    async def restart_with_few_descriptors(self, *args):
        self.assertEqual(await self.daemon.stop_async(), 0)
        self.daemon.preexec_fn = small_descriptor_limit
        self.daemon.extra_args = tuple(args)
        await self.daemon.start_async()

    async def test_half_sent_requests_under_descriptor_limit(self):
        # 150 requests that never end, with 128 descriptors: natterd holds at most the
        # limit less its reserve, keeps the rest waiting in the backlog, hangs up on each
        # at the header deadline, and serves again; the listener never stops.
        await self.restart_with_few_descriptors("--header-timeout", "2")
        socks = await asyncio.to_thread(self.half_sent_requests, 150)

        async def healthz_answers():
            return (await asyncio.to_thread(self.http_status))[0] == 200
        await eventually(healthz_answers, timeout=60, interval=0.5,
                         message="/healthz never answered after the attack")
        self.assertLessEqual(await asyncio.to_thread(metric, self.daemon.port,
                                                     "natter_connections"), 128 - 64)
        await self.assert_serves("after-half-sent")
        # Every half-sent request was hung up on: none holds a descriptor for good.
        await eventually(lambda: all(self.hung_up(s) or s.fileno() < 0 for s in socks),
                         timeout=60, interval=0.5,
                         message="half-sent requests still open past the deadline")
        self.assertTrue(self.daemon.running)

    async def test_accept_failure_pauses_and_resumes(self):
        # A --max-connections above what the descriptor limit allows: accept() fails with
        # EMFILE. natterd says so, pauses accepting and accepts again once descriptors are
        # free (libsoup's own listener would have stopped for good).
        await self.restart_with_few_descriptors("--header-timeout", "2",
                                                "--max-connections", "1000")
        await asyncio.to_thread(self.half_sent_requests, 150)
        await eventually(lambda: "Cannot accept connections" in self.daemon.log_text(),
                         timeout=30, message="no accept failure: the attack did not work")

        async def healthz_answers():
            return (await asyncio.to_thread(self.http_status))[0] == 200
        await eventually(healthz_answers, timeout=60, interval=0.5,
                         message="/healthz never answered: the listener stopped")
        self.assertIn("Accepting connections again", self.daemon.log_text())
        await self.assert_serves("after-emfile")

    @daemon_args("--max-connections-per-ip", "4", "--header-timeout", "60")
    async def test_requests_counted_per_address_at_accept(self):
        # Requests not yet upgraded count against their address from accept on: a fifth
        # is hung up on at once, while other addresses are served.
        socks = await asyncio.to_thread(self.half_sent_requests, 4)
        status, _, _ = await asyncio.to_thread(self.http_status)
        self.assertIsNone(status, "a fifth connection from the address was served")
        status, _, _ = await asyncio.to_thread(self.http_status, source="127.0.0.2")
        self.assertEqual(status, 200)
        for sock in socks:
            sock.close()

        async def healthz_answers():
            return (await asyncio.to_thread(self.http_status))[0] == 200
        await eventually(healthz_answers, timeout=10,
                         message="closed connections still counted")
        await self.assert_serves("per-address")

    @daemon_args("--header-timeout", "1")
    async def test_header_deadline(self):
        # A request whose headers never end is hung up on; a WebSocket that took longer
        # than the deadline to be used is not (the deadline ends with the request).
        client = await self.user("early")
        socks = await asyncio.to_thread(self.half_sent_requests, 3)
        await eventually(lambda: all(self.hung_up(s) for s in socks), timeout=30,
                         message="half-sent requests never timed out")
        rooms = await client.call("rooms", {}, "room_list")
        self.assertIsInstance(rooms["rooms"], list)

    # 2. Input after a close frame ---------------------------------------------------------

    # Queue bounds high enough that the pongs below wait in natterd instead of getting
    # the peer cut off as too slow.
    @daemon_args("--ping-interval", "100", "--ping-timeout", "200",
                 "--max-queue-frames", "1000000", "--max-queue-bytes", "100000000")
    async def test_close_then_flood_memory_bounded(self):
        # The peer asks for more pongs than the kernel's buffers hold and reads none, so
        # that natterd's answer to its Close waits behind them; then it sends Close and
        # 256 MiB behind it. natterd reads and drops them: its memory does not grow.
        self.assertEqual(await self.daemon.stop_async(), 0)
        self.daemon.env["ASAN_OPTIONS"] = ":".join(
            filter(None, [os.environ.get("ASAN_OPTIONS"), "quarantine_size_mb=0"]))
        await self.daemon.start_async()
        await self.assert_chat_works(room="warm-up")
        raw = RawWebSocket(self.daemon.port, subprotocols=[JSON_PROTOCOL], rcvbuf=4096)
        self.addCleanup(raw.close)
        self.assertEqual(raw.status, 101)
        pings = b"".join(self.masked_frame(OPCODE_PING, b"p" * 125) for _ in range(64))
        for _ in range(50000 // 64):
            raw.sock.sendall(pings)
        raw.send_frame(OPCODE_CLOSE, struct.pack("!H", 1000))
        before = rss(self.daemon.proc.pid)
        peak = before
        chunk = bytes(1 << 20)
        sent = 0
        raw.sock.settimeout(10)
        try:
            for _ in range(256):
                raw.sock.sendall(chunk)
                sent += len(chunk)
                peak = max(peak, rss(self.daemon.proc.pid))
        except OSError:
            pass  # natterd hung up at the end of its close grace: that is fine
        sys.stderr.write(f"sent {sent >> 20} MiB after Close; resident {before >> 20} MiB "
                         f"before, {peak >> 20} MiB at most\n")
        self.assertGreater(sent, 32 << 20, "natterd stopped reading too early for the test")
        self.assertLess(peak - before, 32 << 20,
                        f"resident size grew by {(peak - before) >> 20} MiB after Close")
        await self.assert_serves("after-close-flood")

    # 13-15. WebSocket conformance -----------------------------------------------------

    async def test_nul_is_valid_utf8(self):
        # RFC 6455 §8.1: U+0000 is UTF-8. In a text frame it reaches the JSON layer, which
        # answers with an error frame; in a close reason it is just text.
        alice = await self.user("alice")
        raw = RawWebSocket(self.daemon.port, subprotocols=[JSON_PROTOCOL])
        self.addCleanup(raw.close)

        def call(payload):
            raw.send_frame(OPCODE_TEXT, payload)
            while True:
                frame = raw.recv_frame()
                self.assertIsNotNone(frame, "natterd hung up")
                opcode, data = frame
                self.assertNotEqual(opcode, OPCODE_CLOSE, f"closed: {data!r}")
                if opcode == OPCODE_TEXT:
                    return json.loads(data)

        for payload in (b'{"id": 1, "join": {"room": "a\x00b"}}',
                        b'{"id": 2, "join": {"room": "a\\u0000b"}}',
                        b'{"id": 3, "rooms": {}}\x00'):
            reply = await asyncio.to_thread(call, payload)
            self.assertIn("error", reply, payload)
            self.assertEqual(reply["error"]["code"], "bad_request", reply)
        reply = await asyncio.to_thread(call, b'{"id": 4, "login": {"token": "x"}}')
        self.assertIn("error", reply)
        self.assertEqual(reply.get("id"), 4)

        def close_with_nul():
            raw.send_frame(OPCODE_CLOSE, struct.pack("!H", 1000) + b"bye\x00now")
            return raw.read_until_close(10)
        code, _, _ = await asyncio.to_thread(close_with_nul)
        self.assertEqual(code, 1000)
        await alice.call("rooms", {}, "room_list")

    async def test_unsupported_version_gets_426(self):
        status, headers, _ = await asyncio.to_thread(self.handshake, (), "8")
        self.assertEqual(status, 426)
        self.assertEqual(headers.get("sec-websocket-version"), "13")
        status, _, sock = await asyncio.to_thread(self.handshake)
        self.assertEqual(status, 101)
        sock.close()

    @daemon_args("--ping-interval", "1", "--ping-timeout", "2")
    async def test_client_pings_count_as_activity(self):
        # A peer that pings every half second and never answers ours is not idle.
        raw = RawWebSocket(self.daemon.port, subprotocols=[JSON_PROTOCOL])
        self.addCleanup(raw.close)
        silent = RawWebSocket(self.daemon.port, subprotocols=[JSON_PROTOCOL])
        self.addCleanup(silent.close)

        def ping_for(seconds):
            raw.sock.settimeout(0.5)
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                raw.send_frame(OPCODE_PING, b"hi")
                # Pacing, not waiting: the peer's pings are what is tested.
                end = time.monotonic() + 0.5
                while time.monotonic() < end:
                    try:
                        frame = raw.recv_frame()
                    except socket.timeout:
                        break
                    self.assertIsNotNone(frame, "natterd hung up on a pinging peer")
                    self.assertNotEqual(frame[0], OPCODE_CLOSE, f"closed: {frame[1]!r}")
        await asyncio.to_thread(ping_for, 6)
        # The one that sent nothing was dropped meanwhile: the timeout works.
        code, reason, _ = await asyncio.to_thread(silent.read_until_close, 10)
        self.assertEqual((code, reason), (1001, "idle timeout"))

        def still_answers():
            raw.sock.settimeout(10)
            raw.send_frame(OPCODE_TEXT, b'{"id": 1, "rooms": {}}')
            while True:
                opcode, data = raw.recv_frame()
                if opcode == OPCODE_TEXT:
                    return json.loads(data)
        self.assertEqual((await asyncio.to_thread(still_answers))["id"], 1)

    # 10-11. Browsers ----------------------------------------------------------------------

    @daemon_args("--allowed-origin", "https://chat.example.org, https://other.example.org")
    async def test_origin_must_match(self):
        port = self.daemon.port
        cases = [
            ([], 101),                                           # not a browser
            ([f"Origin: http://127.0.0.1:{port}"], 101),          # natterd's own page
            (["Origin: https://chat.example.org"], 101),          # allowed
            (["Origin: https://other.example.org"], 101),         # allowed, comma list
            (["Origin: https://evil.example.com"], 403),
            ([f"Origin: http://127.0.0.1:{port + 1}"], 403),      # another port, another site
            (["Origin: null"], 403),
        ]
        for extra, expected in cases:
            with self.subTest(origin=extra):
                status, _, sock = await asyncio.to_thread(self.handshake, extra)
                self.assertEqual(status, expected)
                if status == 101:
                    sock.close()
        await self.assert_serves("origins")

    async def test_web_page_talks_to_its_own_server_only(self):
        status, headers, _ = await asyncio.to_thread(self.http_status, "/")
        self.assertEqual(status, 200)
        policy = {d.split()[0]: d.split()[1:]
                  for d in headers["content-security-policy"].split(";") if d.strip()}
        self.assertEqual(policy["connect-src"], ["'self'"])
        status, _, body = await asyncio.to_thread(self.http_status, "/build.js")
        self.assertEqual(status, 200)
        self.assertIn(b"DEVELOPMENT = false;", body)

    # 9. Files ----------------------------------------------------------------------------

    async def test_database_files_private(self):
        alice = await self.user("alice")
        await alice.call("join", {"room": "secret"}, "joined")
        await alice.call("send", {"room": "secret", "body": "x", "client_msg_id": "1"}, "sent")
        data_dir = self.daemon.data_dir
        names = [n for n in os.listdir(data_dir) if n.startswith("natter.db")]
        self.assertIn("natter.db", names)
        for name in names:
            mode = stat.S_IMODE(os.stat(os.path.join(data_dir, name)).st_mode)
            self.assertEqual(mode & 0o077, 0, f"{name} is {mode:o}")
        await alice.close()
        # Files an older natterd left readable, in a directory others may open.
        self.assertEqual(await self.daemon.stop_async(), 0)
        os.chmod(data_dir, 0o755)
        for name in os.listdir(data_dir):
            if name.startswith("natter.db"):
                os.chmod(os.path.join(data_dir, name), 0o644)
        await self.daemon.start_async()
        for name in os.listdir(data_dir):
            if name.startswith("natter.db"):
                mode = stat.S_IMODE(os.stat(os.path.join(data_dir, name)).st_mode)
                self.assertEqual(mode, 0o600, f"{name} is {mode:o}")
        self.assertIn(f"{data_dir} can be opened by other users", self.daemon.log_text())
        await self.user("alice", register=False)

    # 8. TLS ------------------------------------------------------------------------------

    async def test_tls_1_2_or_later_only(self):
        cert = os.path.join(self.workdir, "cert.pem")
        key = os.path.join(self.workdir, "key.pem")
        await asyncio.to_thread(subprocess.run, [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert],
            check=True, capture_output=True)
        self.assertEqual(await self.daemon.stop_async(), 0)
        self.daemon.extra_args = ("--tls-cert", cert, "--tls-key", key)
        await self.daemon.start_async()

        def context(version):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            # The client must be willing: only the server may refuse.
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            ctx.minimum_version = version
            ctx.maximum_version = version
            return ctx

        for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
            with self.subTest(version=version.name):
                status, _, _ = await asyncio.to_thread(self.http_status, tls=context(version))
                self.assertIsNone(status, f"{version.name} was accepted")
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            with self.subTest(version=version.name):
                status, _, _ = await asyncio.to_thread(self.http_status, tls=context(version))
                self.assertEqual(status, 200, version.name)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], *sys.argv[1:]], verbosity=2)
