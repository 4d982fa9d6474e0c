# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Harness for the integration tests: starts the built natterd on a temporary data
# directory and a free port, and talks to it the way clients outside the project do
# (Python websockets, Python protobuf, a raw socket for the hostile cases).
#
# Environment: NATTERD (the built daemon) and NATTER_PROTO (proto/natter.proto), both set
# by tests/meson.build.

import asyncio
import base64
import importlib
import inspect
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

import websockets

JSON_PROTOCOL = "natter.v1.json"
PROTO_PROTOCOL = "natter.v1.proto"

# Generous defaults so that tests which are not about rate limiting never hit it.
DEFAULT_DAEMON_ARGS = ("--rate", "10000", "--rate-burst", "10000",
                       "--password-burst", "100000", "--registrations-per-hour", "10000000",
                       "--rooms-per-hour", "10000000", "--event-burst", "100000",
                       "--invites-per-hour", "10000000", "--directory-per-minute", "10000000")

RECV_TIMEOUT = 10.0
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


def _required_env(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: run the integration tests through `meson test`")
    return value


def natterd_path():
    return _required_env("NATTERD")


def _exit_on_sigterm(signum, frame):
    # meson sends SIGTERM on timeout: unwind, so that the daemon is stopped and the
    # temporary directory removed.
    raise SystemExit(f"terminated by signal {signum}")


signal.signal(signal.SIGTERM, _exit_on_sigterm)


# --------------------------------------------------------------------------------------
# Waiting for conditions (never a fixed sleep)

def wait_for(predicate, timeout=10.0, interval=0.02, message=None):
    """Polls @predicate until it returns a true value, which is returned; fails after
    @timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(message or f"condition not met within {timeout} s")
        time.sleep(interval)


async def eventually(predicate, timeout=10.0, interval=0.05, message=None):
    """Async form of wait_for(); @predicate may be a plain function or a coroutine
    function."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(message or f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


# --------------------------------------------------------------------------------------
# Protobuf classes, generated at test time from the one schema

_pb2 = None


def natter_pb2():
    """Returns the module protoc generates from proto/natter.proto (package `natter`)."""
    global _pb2
    if _pb2 is None:
        proto = os.path.abspath(_required_env("NATTER_PROTO"))
        outdir = tempfile.mkdtemp(prefix="natter-pb2-")
        subprocess.run(["protoc", "--proto_path", os.path.dirname(proto),
                        "--python_out", outdir, proto], check=True)
        sys.path.insert(0, outdir)
        try:
            _pb2 = importlib.import_module(os.path.splitext(os.path.basename(proto))[0] + "_pb2")
        finally:
            sys.path.remove(outdir)
            shutil.rmtree(outdir, ignore_errors=True)
    return _pb2


# --------------------------------------------------------------------------------------
# The daemon

class Daemon:
    """One natterd process on a data directory that outlives restarts."""

    def __init__(self, workdir, extra_args=()):
        self.workdir = workdir
        self.data_dir = os.path.join(workdir, "data")
        os.makedirs(self.data_dir, mode=0o700, exist_ok=True)
        self.log_path = os.path.join(workdir, "natterd.log")
        self.extra_args = tuple(extra_args)
        self.proc = None
        self.port = None
        self.n_starts = 0
        self.env = dict(os.environ)
        # Run in the child before natterd starts (e.g. to lower its descriptor limit).
        self.preexec_fn = None

    def _log_note(self, text):
        with open(self.log_path, "a") as log:
            log.write(f"\n===== {text}\n")

    def create_admin(self, name, password):
        """Runs `natterd --create-admin`; returns the CompletedProcess."""
        return self.run_tool("--create-admin", name, stdin=password + "\n")

    def run_tool(self, *options, stdin=None):
        """Runs natterd with an operator's command line option on this daemon's data
        directory, running or not; returns the CompletedProcess."""
        args = [natterd_path(), "--data-dir", self.data_dir, *options]
        self._log_note("tool: " + " ".join(args))
        result = subprocess.run(args, input=(stdin or "").encode(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=self.env, timeout=60)
        with open(self.log_path, "ab") as log:
            log.write(result.stdout + result.stderr)
        self._log_note(f"tool exited with status {result.returncode}")
        return result

    def start(self):
        assert not self.running, "natterd is already running"
        self.n_starts += 1
        ready = os.path.join(self.workdir, f"ready-{self.n_starts}")
        args = [natterd_path(), "--listen", "127.0.0.1:0", "--data-dir", self.data_dir,
                "--ready-file", ready, "--no-dbus", *DEFAULT_DAEMON_ARGS, *self.extra_args]
        self._log_note(f"start #{self.n_starts}: " + " ".join(args))
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=log, env=self.env,
                                         preexec_fn=self.preexec_fn)
        finally:
            log.close()

        def ready_or_dead():
            if self.proc.poll() is not None:
                return True
            try:
                with open(ready) as f:
                    content = f.read()
            except FileNotFoundError:
                return False
            return content.endswith("\n")

        wait_for(ready_or_dead, START_TIMEOUT,
                 message=f"natterd wrote no ready file within {START_TIMEOUT} s")
        if self.proc.poll() is not None:
            raise AssertionError(f"natterd exited with status {self.proc.returncode} "
                                 "before it was ready")
        with open(ready) as f:
            content = f.read()
        self.port = int(content.strip())
        assert 0 < self.port < 65536, content

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Sends @sig and waits for the exit; returns the exit status (negative: the
        signal that killed it)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"natterd did not exit within {timeout} s of signal {sig}")
        self._log_note(f"natterd exited with status {self.proc.returncode}")
        return self.proc.returncode

    async def start_async(self):
        await asyncio.to_thread(self.start)

    async def stop_async(self, sig=signal.SIGTERM):
        # In a thread, so that the clients on this event loop can answer the close
        # handshake while the daemon shuts down.
        return await asyncio.to_thread(self.stop, sig)

    async def kill_async(self):
        return await self.stop_async(signal.SIGKILL)

    async def restart_async(self):
        """SIGTERM (which must exit 0), then start again on the same data directory."""
        if self.running:
            rc = await self.stop_async()
            assert rc == 0, f"natterd exited with status {rc}"
        await self.start_async()

    def url(self, path="/ws"):
        return f"ws://127.0.0.1:{self.port}{path}"

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


# --------------------------------------------------------------------------------------
# Clients

class UnexpectedClose(AssertionError):
    pass


class _Client:
    """A WebSocket client that keeps every frame it has not consumed yet, so a test can
    wait for a reply while pushed events of other kinds keep arriving."""

    def __init__(self, ws, label):
        self.ws = ws
        self.label = label
        self.pending = []        # decoded frames received but not consumed yet
        self.received = []       # (raw, decoded) of every frame, in order
        self.next_id = 1
        self.welcome = None

    # Overridden per codec
    def _decode(self, data):
        raise NotImplementedError

    def _frame_id(self, frame):
        raise NotImplementedError

    def _frame_kind(self, frame):
        raise NotImplementedError

    def _payload(self, frame):
        raise NotImplementedError

    def _get(self, payload, field):
        raise NotImplementedError

    @property
    def subprotocol(self):
        return self.ws.subprotocol

    def take_id(self):
        n = self.next_id
        self.next_id += 1
        return n

    async def send_raw(self, data):
        await self.ws.send(data)

    async def _recv_one(self, timeout):
        try:
            data = await asyncio.wait_for(self.ws.recv(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"{self.label}: no frame within {timeout} s; "
                                 f"unconsumed: {self.pending!r}") from None
        except websockets.ConnectionClosed:
            raise UnexpectedClose(
                f"{self.label}: connection closed with {self.ws.close_code} "
                f"{self.ws.close_reason!r}; unconsumed: {self.pending!r}") from None
        frame = self._decode(data)
        self.received.append((data, frame))
        return frame

    async def recv_until(self, predicate, timeout=RECV_TIMEOUT):
        """Returns (and consumes) the first frame, pending or new, for which @predicate
        is true; frames that do not match stay pending."""
        for i, frame in enumerate(self.pending):
            if predicate(frame):
                return self.pending.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{self.label}: no matching frame within {timeout} s; "
                                     f"unconsumed: {self.pending!r}")
            frame = await self._recv_one(remaining)
            if predicate(frame):
                return frame
            self.pending.append(frame)

    def _matches(self, frame, kind, fields):
        if self._frame_kind(frame) != kind:
            return False
        payload = self._payload(frame)
        return all(v(self._get(payload, k)) if callable(v) else self._get(payload, k) == v
                   for k, v in fields.items())

    async def next_event(self, kind, timeout=RECV_TIMEOUT, **fields):
        """Waits for a pushed event (a frame without id) of @kind whose fields equal
        @fields (or satisfy them, for callables); returns its payload."""
        frame = await self.recv_until(
            lambda f: self._frame_id(f) is None and self._matches(f, kind, fields), timeout)
        return self._payload(frame)

    def take_pending(self, kind=None, **fields):
        """Consumes and returns the payloads of pending events of @kind matching @fields."""
        taken, kept = [], []
        for frame in self.pending:
            if (self._frame_id(frame) is None and
                    (kind is None or self._matches(frame, kind, fields))):
                taken.append(self._payload(frame) if kind else frame)
            else:
                kept.append(frame)
        self.pending = kept
        return taken

    async def reply(self, request_id, timeout=RECV_TIMEOUT):
        return await self.recv_until(lambda f: self._frame_id(f) == request_id, timeout)

    async def error_reply(self, request_id, timeout=RECV_TIMEOUT):
        """The reply to @request_id, or an error that lost its id (so that a missing id
        fails an assertion at once instead of a timeout)."""
        return await self.recv_until(
            lambda f: ((request_id is not None and self._frame_id(f) == request_id) or
                       (self._frame_id(f) is None and self._frame_kind(f) == "error")),
            timeout)

    async def wait_closed(self, timeout=RECV_TIMEOUT):
        """Reads until the server closes the connection; returns (code, reason)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{self.label}: still open after {timeout} s; "
                                     f"received meanwhile: {self.pending!r}")
            try:
                data = await asyncio.wait_for(self.ws.recv(), remaining)
            except asyncio.TimeoutError:
                continue
            except websockets.ConnectionClosed:
                await self.ws.wait_closed()
                return self.ws.close_code, self.ws.close_reason
            frame = self._decode(data)
            self.received.append((data, frame))
            self.pending.append(frame)

    async def close(self):
        await self.ws.close()


class JsonClient(_Client):
    """Frames are dicts as json.loads() returns them; `raw` texts are kept in `received`."""

    def _decode(self, data):
        if not isinstance(data, str):
            raise AssertionError(f"{self.label}: binary frame on the JSON subprotocol: {data!r}")
        frame = json.loads(data)
        if not isinstance(frame, dict):
            raise AssertionError(f"{self.label}: frame is not an object: {data!r}")
        return frame

    def _frame_id(self, frame):
        return frame.get("id")

    def _frame_kind(self, frame):
        kinds = [k for k in frame if k != "id"]
        if len(kinds) != 1:
            raise AssertionError(f"{self.label}: frame must name exactly one event: {frame!r}")
        return kinds[0]

    def _payload(self, frame):
        return frame[self._frame_kind(frame)]

    def _get(self, payload, field):
        return payload.get(field)

    async def send_frame(self, frame):
        await self.ws.send(json.dumps(frame))

    async def request(self, op, body=None, request_id=None, expect_error=False):
        """Sends {id, op: body}; returns the whole reply frame."""
        if request_id is None:
            request_id = self.take_id()
        await self.send_frame({"id": request_id, op: {} if body is None else body})
        if expect_error:
            return await self.error_reply(request_id)
        return await self.reply(request_id)

    async def call(self, op, body=None, expect=None):
        """Sends a request that must succeed; returns the payload of the reply, whose kind
        must be @expect when given."""
        frame = await self.request(op, body)
        kind = self._frame_kind(frame)
        if kind == "error":
            raise AssertionError(f"{self.label}: {op} {body!r} failed: {frame['error']!r}")
        if expect is not None and kind != expect:
            raise AssertionError(f"{self.label}: {op} replied {kind}, expected {expect}: {frame!r}")
        return frame[kind]

    async def register(self, user, password):
        self.welcome = await self.call("register", {"user": user, "password": password}, "welcome")
        return self.welcome

    async def login(self, user=None, password=None, token=None):
        body = {"token": token} if token is not None else {"user": user, "password": password}
        self.welcome = await self.call("login", body, "welcome")
        return self.welcome


class ProtoClient(_Client):
    """Frames are natter.ServerFrame messages, sent and received as binary frames."""

    def __init__(self, ws, label):
        super().__init__(ws, label)
        self.pb = natter_pb2()

    def _decode(self, data):
        if not isinstance(data, bytes):
            raise AssertionError(f"{self.label}: text frame on the protobuf subprotocol: {data!r}")
        frame = self.pb.ServerFrame()
        frame.ParseFromString(data)
        return frame

    def _frame_id(self, frame):
        return frame.id if frame.HasField("id") else None

    def _frame_kind(self, frame):
        return frame.WhichOneof("event")

    def _payload(self, frame):
        return getattr(frame, self._frame_kind(frame))

    def _get(self, payload, field):
        return getattr(payload, field)

    def build(self, op, request_id=None, **fields):
        frame = self.pb.ClientFrame()
        if request_id is not None:
            frame.id = request_id
        sub = getattr(frame, op)
        sub.SetInParent()
        for k, v in fields.items():
            setattr(sub, k, v)
        return frame

    async def request(self, op, **fields):
        request_id = self.take_id()
        await self.ws.send(self.build(op, request_id, **fields).SerializeToString())
        return await self.reply(request_id)

    async def call(self, op, expect=None, **fields):
        frame = await self.request(op, **fields)
        kind = self._frame_kind(frame)
        if kind == "error":
            raise AssertionError(f"{self.label}: {op} {fields!r} failed: {frame.error}")
        if expect is not None and kind != expect:
            raise AssertionError(f"{self.label}: {op} replied {kind}, expected {expect}: {frame}")
        return getattr(frame, kind)

    async def register(self, user, password):
        self.welcome = await self.call("register", "welcome", user=user, password=password)
        return self.welcome

    async def login(self, user=None, password=None, token=None):
        if token is not None:
            self.welcome = await self.call("login", "welcome", token=token)
        else:
            self.welcome = await self.call("login", "welcome", user=user, password=password)
        return self.welcome


async def open_ws(url, subprotocols, compression="deflate", max_queue=32, source=None,
                  user_agent=None):
    # ping_interval=None: the client only answers the server's pings, it never sends its
    # own, so the daemon's heartbeat is what keeps the connection alive. Compression is
    # offered by default, as browsers do. max_queue: received messages the library holds
    # before it stops reading (None: no bound), 32 by default as in websockets. source: a
    # loopback address to connect from (127.0.0.2, …), for limits per client address.
    # user_agent: the handshake's User-Agent instead of the library's own.
    extra = {"local_addr": (source, 0)} if source else {}
    if user_agent is not None:
        extra["user_agent_header"] = user_agent
    return await websockets.connect(url, subprotocols=subprotocols, ping_interval=None,
                                    compression=compression, max_size=2 ** 24,
                                    max_queue=max_queue, open_timeout=10, close_timeout=5,
                                    **extra)


# --------------------------------------------------------------------------------------
# A raw WebSocket client for what a well-behaved library refuses to do

class RawWebSocket:
    """Blocking, byte-level WebSocket client: sends arbitrary frames (invalid UTF-8,
    anything) and, if asked, never answers the server's pings."""

    def __init__(self, port, path="/ws", subprotocols=None, timeout=10.0, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            # Before connecting, so the window is small from the start.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.buf = b""
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                 "Sec-WebSocket-Version: 13"]
        if subprotocols:
            lines.append("Sec-WebSocket-Protocol: " + ", ".join(subprotocols))
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        parts = status_line.split(" ", 2)
        self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        self.headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()

    def send_frame(self, opcode, payload, fin=True):
        header = bytes([(0x80 if fin else 0) | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def _read_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def recv_frame(self):
        """Returns (opcode, payload), or None at end of stream."""
        head = self._read_exact(2)
        if head is None:
            return None
        opcode = head[0] & 0x0F
        n = head[1] & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read_exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read_exact(8))[0]
        if head[1] & 0x80:
            self._read_exact(4)  # a server never masks, but be tolerant
        payload = self._read_exact(n)
        if payload is None:
            return None
        return opcode, payload

    def read_until_close(self, timeout):
        """Reads frames, answering nothing, until a close frame or end of stream.
        Returns (close_code, reason, n_pings); close_code is None without a close frame."""
        deadline = time.monotonic() + timeout
        n_pings = 0
        while True:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                frame = self.recv_frame()
            except socket.timeout:
                raise AssertionError(f"raw client: no close within {timeout} s") from None
            except ConnectionResetError:
                return None, None, n_pings
            if frame is None:
                return None, None, n_pings
            opcode, payload = frame
            if opcode == 0x9:
                n_pings += 1
            elif opcode == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                return code, payload[2:].decode("utf-8", "replace"), n_pings

    def close(self):
        self.sock.close()


# --------------------------------------------------------------------------------------
# The test case base

def daemon_args(*args):
    """Decorates a test method: natterd gets these extra command line arguments."""
    def decorate(func):
        func.natterd_args = args
        return func
    return decorate


def password_for(user):
    return f"pw-{user}-0123"


class NatterTestCase(unittest.IsolatedAsyncioTestCase):
    """Each test gets its own natterd on a temporary data directory. On failure the
    daemon's log is printed."""

    # (name, password) of an admin created with --create-admin before the daemon starts
    admin_account = None

    async def asyncSetUp(self):
        method = getattr(self, self._testMethodName)
        self.daemon = Daemon(self.workdir, getattr(method, "natterd_args", ()))
        if self.admin_account is not None:
            name, password = self.admin_account
            result = await asyncio.to_thread(self.daemon.create_admin, name, password)
            self.assertEqual(result.returncode, 0,
                             f"--create-admin failed: {result.stderr.decode(errors='replace')}")
        await self.daemon.start_async()
        self.clients = []

    async def asyncTearDown(self):
        for client in self.clients:
            try:
                await asyncio.wait_for(client.close(), 10)
            except Exception:
                pass
        if self.daemon.running:
            rc = await self.daemon.stop_async()
            self.assertEqual(rc, 0, "natterd did not exit cleanly on SIGTERM")
        # Expected errors (bad input included) are answered, never logged as warnings.
        warnings = [line for line in self.daemon.log_text().splitlines()
                    if "-WARNING **" in line or "-CRITICAL **" in line]
        self.assertEqual(warnings, [], "natterd logged warnings")

    def run(self, result=None):
        if result is None:
            result = self.defaultTestResult()
        self.workdir = tempfile.mkdtemp(prefix="natter-it-")
        self.daemon = None
        n_before = len(result.failures) + len(result.errors)
        try:
            return super().run(result)
        finally:
            if self.daemon is not None and self.daemon.running:
                self.daemon.proc.kill()
                self.daemon.proc.wait()
            if len(result.failures) + len(result.errors) > n_before and self.daemon is not None:
                sys.stderr.write(f"\n----- natterd log ({self._testMethodName}) -----\n")
                sys.stderr.write(self.daemon.log_text())
                sys.stderr.write("\n----- end of natterd log -----\n")
                sys.stderr.flush()
            shutil.rmtree(self.workdir, ignore_errors=True)

    # Clients ---------------------------------------------------------------------------

    async def connect(self, label="client", subprotocols=(JSON_PROTOCOL,), **kwargs):
        ws = await open_ws(self.daemon.url(), list(subprotocols) if subprotocols else None,
                           **kwargs)
        client = JsonClient(ws, label)
        self.clients.append(client)
        return client

    async def connect_proto(self, label="proto-client"):
        ws = await open_ws(self.daemon.url(), [PROTO_PROTOCOL])
        self.assertEqual(ws.subprotocol, PROTO_PROTOCOL)
        client = ProtoClient(ws, label)
        self.clients.append(client)
        return client

    async def user(self, name, register=True):
        """A JSON client logged in as @name (registered first unless @register is
        false)."""
        client = await self.connect(name)
        if register:
            await client.register(name, password_for(name))
        else:
            await client.login(name, password_for(name))
        return client

    async def session_of(self, client):
        """Another session of @client's user, logged in with its token."""
        other = await self.connect(client.label + "'")
        await other.login(token=client.welcome["token"])
        return other

    # Assertions ------------------------------------------------------------------------

    def assertJsonInt(self, value, what="value"):
        self.assertIsInstance(value, int, f"{what} must be a JSON number: {value!r}")
        self.assertNotIsInstance(value, bool, f"{what} must be a JSON number: {value!r}")

    def assertError(self, frame, code, request_id):
        self.assertIn("error", frame, f"expected error {code}, got {frame!r}")
        self.assertEqual(frame["error"].get("code"), code, frame)
        self.assertIsInstance(frame["error"].get("message"), str, frame)
        self.assertNotEqual(frame["error"]["message"], "", frame)
        self.assertEqual(frame.get("id"), request_id, f"request id not echoed: {frame!r}")

    async def expect_error(self, client, op, body, code):
        """Sends a request that must fail with @code; returns the error payload."""
        request_id = client.take_id()
        frame = await client.request(op, body, request_id, expect_error=True)
        self.assertError(frame, code, request_id)
        return frame["error"]

    async def assert_chat_works(self, room="healthy"):
        """A well-behaved pair of clients on the same daemon still chats both ways."""
        self.assertTrue(self.daemon.running, "natterd is no longer running")
        n = len(self.clients)
        a = await self.connect(f"well-a{n}")
        b = await self.connect(f"well-b{n}")
        await a.register(f"well-a{n}", password_for("well"))
        await b.register(f"well-b{n}", password_for("well"))
        await a.call("join", {"room": room}, "joined")
        await b.call("join", {"room": room}, "joined")
        sent = await a.call("send", {"room": room, "body": "ping", "client_msg_id": "w1"}, "sent")
        msg = await b.next_event("message", room=room, seq=sent["seq"])
        self.assertEqual((msg["sender"], msg["body"]), (f"well-a{n}", "ping"))
        sent = await b.call("send", {"room": room, "body": "pong", "client_msg_id": "w2"}, "sent")
        msg = await a.next_event("message", room=room, seq=sent["seq"])
        self.assertEqual((msg["sender"], msg["body"]), (f"well-b{n}", "pong"))
