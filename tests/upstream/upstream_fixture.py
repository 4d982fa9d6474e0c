# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Harness for the upstream tests: two natterd processes on one machine.
#
# - The *host*: natterd serving WebSocket on a free port (`--no-dbus`), the remote server.
# - The *upstream* natterd: `natterd --upstream ws[s]://127.0.0.1:PORT/ws` on a private
#   session bus (a dbus-daemon of its own, as tests/dbus does) with gnome-keyring-daemon
#   started and unlocked on that bus, HOME and the XDG directories in the test's
#   temporary directory.
#
# Tests drive the upstream daemon the way a desktop does (`gdbus`, Gio, `secret-tool`)
# and talk to the host with Python websockets clients, which no one here wrote.
#
# Environment (set by tests/upstream/meson.build): NATTERD, the built daemon.

import asyncio
import concurrent.futures
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "dbus"))

import gi  # noqa: E402
import websockets  # noqa: E402

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

from natter_dbus_fixture import (BusWatcher, PrivateBus, parse_gvariant,  # noqa: E402
                                 required_env, room_path)
from natter_fixture import (JSON_PROTOCOL, JsonClient, eventually, open_ws,  # noqa: E402
                            password_for, wait_for)

BUS_NAME = "io.github.natter.Natter.Daemon"
ROOT_PATH = "/io/github/natter/Chat"
CHAT_IFACE = "io.github.natter.Chat"
ROOM_IFACE = "io.github.natter.Chat.Room"
MESSAGE_IFACE = "io.github.natter.Chat.Message"
SEARCH_PATH = "/io/github/natter/Natter/SearchProvider"
SEARCH_IFACE = "org.gnome.Shell.SearchProvider2"
ERROR_PREFIX = "io.github.natter.Chat.Error."
SECRETS_NAME = "org.freedesktop.secrets"

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
# Reconnects back off up to a few seconds while a test restarts the host.
RECONNECT_TIMEOUT = 30.0
DEFAULT_HOST_ARGS = ("--rate", "10000", "--rate-burst", "10000",
                     "--password-burst", "100000", "--registrations-per-hour", "10000000",
                     "--rooms-per-hour", "10000000", "--event-burst", "100000",
                     "--invites-per-hour", "10000000", "--directory-per-minute", "10000000")

__all__ = ["BUS_NAME", "ROOT_PATH", "CHAT_IFACE", "ROOM_IFACE", "MESSAGE_IFACE",
           "SEARCH_PATH", "SEARCH_IFACE", "ERROR_PREFIX", "RECONNECT_TIMEOUT",
           "UpstreamTestCase", "eventually", "room_path", "password_for"]


class Process:
    """A natterd with its log file; the log is printed when a test fails."""

    def __init__(self, label, workdir, env):
        self.label = label
        self.env = env
        self.log_path = os.path.join(workdir, f"{label}.log")
        self.proc = None
        self.n_starts = 0

    def note(self, text):
        with open(self.log_path, "a") as log:
            log.write(f"\n===== {text}\n")

    def spawn(self, argv):
        self.n_starts += 1
        self.note(f"start #{self.n_starts}: " + " ".join(argv))
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=log, env=self.env)

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"{self.label} did not exit within {timeout} s of {sig}")
        self.note(f"exited with status {self.proc.returncode}")
        return self.proc.returncode

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


class HostDaemon(Process):
    """The remote server: natterd without D-Bus on a data directory that outlives
    restarts, on a port that stays the same across them."""

    def __init__(self, workdir, env, extra_args=()):
        super().__init__("host", workdir, env)
        self.workdir = workdir
        self.data_dir = os.path.join(workdir, "host-data")
        self.extra_args = tuple(extra_args)
        self.port = None
        self.tls = "--tls-cert" in extra_args
        self.cert_path = extra_args[extra_args.index("--tls-cert") + 1] if self.tls else None

    def start(self):
        assert not self.running
        ready = os.path.join(self.workdir, f"host-ready-{self.n_starts + 1}")
        listen = f"127.0.0.1:{self.port or 0}"
        self.spawn([required_env("NATTERD"), "--listen", listen, "--data-dir", self.data_dir,
                    "--ready-file", ready, "--no-dbus", *DEFAULT_HOST_ARGS, *self.extra_args])

        def ready_or_dead():
            if self.proc.poll() is not None:
                return True
            try:
                with open(ready) as f:
                    return f.read().endswith("\n")
            except FileNotFoundError:
                return False

        wait_for(ready_or_dead, START_TIMEOUT, message="the host natterd wrote no ready file")
        if self.proc.poll() is not None:
            raise AssertionError(f"the host natterd exited with status {self.proc.returncode}")
        with open(ready) as f:
            self.port = int(f.read().strip())

    def url(self):
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.port}/ws"


class Keyring:
    """gnome-keyring-daemon's Secret Service on the private bus, its login keyring
    created and unlocked with an empty password (the `echo ""` of recipes.md)."""

    def __init__(self, workdir, env):
        self.env = env
        self.log_path = os.path.join(workdir, "keyring.log")
        self.proc = None

    def start(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(["gnome-keyring-daemon", "--foreground", "--unlock",
                                          "--components=secrets"],
                                         stdin=subprocess.PIPE, stdout=log, stderr=log,
                                         env=self.env)
        self.proc.stdin.write(b"\n")
        self.proc.stdin.close()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class UpstreamDaemon(Process):
    """natterd --upstream on the private bus; its data directory outlives restarts."""

    def __init__(self, workdir, env):
        super().__init__("upstream", workdir, env)
        self.data_dir = os.path.join(workdir, "upstream-data")

    def start(self, url, *args):
        assert not self.running
        self.spawn([required_env("NATTERD"), "--upstream", url, "--data-dir", self.data_dir,
                    *args])


class UpstreamTestCase(unittest.IsolatedAsyncioTestCase):
    """Each test gets a host natterd, a private bus with a Secret Service, and an
    upstream natterd on that bus (started by the test: start_upstream()). Logs of all
    three are printed on failure."""

    def host_args(self):
        """Extra arguments of the host natterd (a test class may override this)."""
        return ()

    async def asyncSetUp(self):
        self.env = dict(os.environ)
        for name in ("G_MESSAGES_DEBUG", "DISPLAY", "WAYLAND_DISPLAY", "SSH_AUTH_SOCK",
                     "GNOME_KEYRING_CONTROL", "DBUS_SESSION_BUS_ADDRESS"):
            self.env.pop(name, None)
        for name, sub in (("HOME", "home"), ("XDG_DATA_HOME", "xdg-data"),
                          ("XDG_CONFIG_HOME", "xdg-config"), ("XDG_CACHE_HOME", "xdg-cache"),
                          ("XDG_RUNTIME_DIR", "xdg-runtime")):
            path = os.path.join(self.workdir, sub)
            os.makedirs(path, mode=0o700, exist_ok=True)
            self.env[name] = path
        # Keyrings and the daemon's notifications must not look for a session.
        self.env["GSETTINGS_BACKEND"] = "memory"

        self.bus = PrivateBus(self.workdir, env=self.env)
        self.bus.start()
        self.env["DBUS_SESSION_BUS_ADDRESS"] = self.bus.address
        self.watcher = BusWatcher(self.bus.address)
        self.watcher.start()

        self.keyring = Keyring(self.workdir, self.env)
        self.keyring.start()
        await eventually(lambda: self.watcher.name_owner(SECRETS_NAME), START_TIMEOUT,
                         message="gnome-keyring-daemon did not take org.freedesktop.secrets")

        self.host = HostDaemon(self.workdir, self.env, self.host_args())
        await asyncio.to_thread(self.host.start)
        self.upstream = UpstreamDaemon(self.workdir, dict(self.env, G_MESSAGES_DEBUG="all"))
        self.clients = []

    async def asyncTearDown(self):
        for client in self.clients:
            try:
                await asyncio.wait_for(client.close(), 5)
            except Exception:
                pass
        if self.upstream.running:
            rc = await asyncio.to_thread(self.upstream.stop)
            self.assertEqual(rc, 0, "the upstream natterd did not exit cleanly on SIGTERM")

    def run(self, result=None):
        if result is None:
            result = self.defaultTestResult()
        self.workdir = tempfile.mkdtemp(prefix="natter-upstream-")
        self.bus = self.watcher = self.keyring = self.host = self.upstream = None
        n_before = len(result.failures) + len(result.errors)
        try:
            return super().run(result)
        finally:
            for proc in (self.upstream, self.host):
                if proc is not None and proc.running:
                    proc.proc.kill()
                    proc.proc.wait()
            if self.keyring is not None:
                self.keyring.stop()
            if self.watcher is not None:
                self.watcher.stop()
            if self.bus is not None:
                self.bus.stop()
            if len(result.failures) + len(result.errors) > n_before:
                for proc in (self.upstream, self.host):
                    if proc is not None:
                        sys.stderr.write(f"\n----- {proc.label} natterd log -----\n")
                        sys.stderr.write(proc.log_text())
                sys.stderr.write("\n----- end of logs -----\n")
                sys.stderr.flush()
            shutil.rmtree(self.workdir, ignore_errors=True)

    # The upstream daemon ---------------------------------------------------------------

    async def start_upstream(self, *args, url=None):
        """Starts natterd --upstream and waits for its D-Bus name."""
        await asyncio.to_thread(self.upstream.start, url or self.host.url(), *args)
        await eventually(lambda: self.watcher.name_owner(BUS_NAME) or not self.upstream.running,
                         START_TIMEOUT, message=f"the upstream natterd did not take {BUS_NAME}")
        self.assertTrue(self.upstream.running, "the upstream natterd exited")

    async def stop_upstream(self):
        rc = await asyncio.to_thread(self.upstream.stop)
        self.assertEqual(rc, 0, "the upstream natterd did not exit cleanly on SIGTERM")
        await eventually(lambda: not self.watcher.name_owner(BUS_NAME), STOP_TIMEOUT)

    async def props(self):
        return await self.watcher.call(BUS_NAME, ROOT_PATH, "org.freedesktop.DBus.Properties",
                                       "GetAll", GLib.Variant("(s)", (CHAT_IFACE,)),
                                       "(a{sv})")

    async def status(self):
        return (await self.props())[0]["Status"]

    async def wait_status(self, status, timeout=RECONNECT_TIMEOUT):
        async def check():
            return await self.status() == status
        await eventually(check, timeout, interval=0.1,
                         message=f"Status never became {status!r}")

    async def connect(self, user="alice", password=None, remember=True, url=None):
        """Connect() with `gdbus call`, as a user would type it."""
        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Connect", url or self.host.url(),
                              user, password if password is not None else password_for(user),
                              "true" if remember else "false")

    # gdbus and secret-tool, as a user types them ---------------------------------------

    async def run_tool(self, *argv, check=True, input_data=None, timeout=60):
        proc = await asyncio.create_subprocess_exec(
            *argv, env=self.env, stdin=asyncio.subprocess.PIPE if input_data else None,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(input_data), timeout)
        out, err = out.decode(), err.decode()
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} failed ({proc.returncode}): {err}")
        return proc.returncode, out, err

    async def gdbus_call(self, path, method, *args, timeout=60):
        _, out, _ = await self.run_tool("gdbus", "call", "--session", "--dest", BUS_NAME,
                                        "--object-path", path, "--method", method,
                                        "--timeout", str(timeout), *args, timeout=timeout + 10)
        return parse_gvariant(out)

    async def gdbus_call_error(self, path, method, *args):
        rc, out, err = await self.run_tool("gdbus", "call", "--session", "--dest", BUS_NAME,
                                           "--object-path", path, "--method", method, *args,
                                           check=False)
        self.assertNotEqual(rc, 0, f"{method} {args!r} succeeded: {out}")
        prefix = "Error: GDBus.Error:"
        line = err.strip().splitlines()[0]
        self.assertTrue(line.startswith(prefix), err)
        name, _, message = line[len(prefix):].partition(": ")
        return name, message

    async def secret_lookup(self, **attributes):
        """`secret-tool lookup`: the secret, or None if there is none."""
        argv = ["secret-tool", "lookup"]
        for k, v in attributes.items():
            argv += [k, v]
        rc, out, _ = await self.run_tool(*argv, check=False)
        return out if rc == 0 and out else None

    async def join(self, room):
        (path,) = await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".JoinRoom", room)
        return path

    async def send(self, room, body):
        (seq,) = await self.gdbus_call(room_path(room), ROOM_IFACE + ".Send", body)
        return seq

    async def history(self, room, before=0, limit=200):
        return await self.gdbus_call(room_path(room), ROOM_IFACE + ".History", str(before),
                                     str(limit))

    async def managed_objects(self):
        try:
            (objects,) = await self.watcher.call(BUS_NAME, ROOT_PATH,
                                                 "org.freedesktop.DBus.ObjectManager",
                                                 "GetManagedObjects", None,
                                                 "(a{oa{sa{sv}}})")
        except GLib.Error:
            return {}
        return objects

    async def has_object(self, path):
        return path in await self.managed_objects()

    async def has_no_object_under(self, path):
        return not any(p == path or p.startswith(path + "/") for p in await self.managed_objects())

    def received(self, room):
        """(seq, sender, body) of every MessageReceived signal of @room so far."""
        return [(a[0], a[2], a[3]) for (_, _, a) in
                self.watcher.received("MessageReceived", room_path(room), ROOM_IFACE)]

    def call_async(self, path, iface, method, params, reply_type, timeout=120):
        """Starts a D-Bus call on the watcher's connection without waiting; returns a
        concurrent Future for (value, error name, error message)."""
        future = concurrent.futures.Future()

        def done(connection, result):
            try:
                reply = connection.call_finish(result)
                future.set_result((reply.unpack(), None, None))
            except GLib.Error as e:
                future.set_result((None, Gio.DBusError.get_remote_error(e), e.message))

        def start():
            self.watcher.connection.call(BUS_NAME, path, iface, method, params,
                                         GLib.VariantType(reply_type), Gio.DBusCallFlags.NONE,
                                         int(timeout * 1000), None, done)
            return GLib.SOURCE_REMOVE

        self.watcher.context.invoke_full(GLib.PRIORITY_DEFAULT, start)
        return future

    # The host's side -------------------------------------------------------------------

    async def open_host_ws(self):
        if not self.host.tls:
            return await open_ws(self.host.url(), [JSON_PROTOCOL])
        # The test's own client trusts the test's certificate.
        context = ssl.create_default_context(cafile=self.host.cert_path)
        return await websockets.connect(self.host.url(), subprotocols=[JSON_PROTOCOL],
                                        ssl=context, ping_interval=None, open_timeout=10)

    async def register_on_host(self, name):
        client = JsonClient(await self.open_host_ws(), name)
        await client.register(name, password_for(name))
        await client.close()

    async def ws_login(self, name):
        client = JsonClient(await self.open_host_ws(), name)
        self.clients.append(client)
        await client.login(name, password_for(name))
        return client

