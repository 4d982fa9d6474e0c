# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Harness for the D-Bus tests: each test gets a private session bus (its own dbus-daemon)
# and the built natterd on it, as power-profiles-daemon's integration tests do. Tests
# drive the daemon the way users do: `gdbus` on the command line, Gio clients (the GTK
# app's and GNOME Shell's library), gjs, and WebSocket clients from tests/integration.
#
# Environment (set by tests/dbus/meson.build): NATTERD, the built daemon;
# NATTER_DBUS_SERVICE_DIR, a directory with an activation file for it.

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import unittest

import gi
gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from natter_fixture import (JSON_PROTOCOL, JsonClient, eventually, open_ws,  # noqa: E402
                            password_for, wait_for)

BUS_NAME = "io.github.natter.Natter.Daemon"
NOTIFICATIONS = ("org.freedesktop.Notifications", "/org/freedesktop/Notifications")
ROOT_PATH = "/io/github/natter/Chat"
ROOMS_PATH = ROOT_PATH + "/rooms"
CHAT_IFACE = "io.github.natter.Chat"
ROOM_IFACE = "io.github.natter.Chat.Room"
MESSAGE_IFACE = "io.github.natter.Chat.Message"
SEARCH_PATH = "/io/github/natter/Natter/SearchProvider"
SEARCH_IFACE = "org.gnome.Shell.SearchProvider2"
ERROR_PREFIX = "io.github.natter.Chat.Error."
OWNER = "desk"

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
# Generous so that tests not about rate limits never hit them (as tests/integration does).
DEFAULT_DAEMON_ARGS = ("--rate", "10000", "--rate-burst", "10000",
                       "--password-burst", "100000", "--registrations-per-hour", "10000000",
                       "--rooms-per-hour", "10000000", "--event-burst", "100000",
                       "--invites-per-hour", "10000000", "--directory-per-minute", "10000000")

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={dir}</listen>
  {servicedir}
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def required_env(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: run the D-Bus tests through `meson test`")
    return value


def room_path(name):
    """The object path of room @name, escaped as g_dbus_escape_object_path() does."""
    out = []
    for byte in name.encode():
        c = chr(byte)
        if c.isascii() and c.isalnum():
            out.append(c)
        else:
            out.append("_%02x" % byte)
    return ROOMS_PATH + "/" + "".join(out)


def parse_gvariant(text):
    """Parses what `gdbus call` prints (GVariant text) into Python values."""
    try:
        return GLib.Variant.parse(None, text.strip(), None, None).unpack()
    except GLib.Error as e:
        raise AssertionError(f"cannot parse {text!r}: {e.message}") from None


# --------------------------------------------------------------------------------------
# The bus

class PrivateBus:
    """A dbus-daemon of our own, optionally with a directory of activation files."""

    def __init__(self, workdir, service_dir=None, env=None):
        self.workdir = workdir
        self.service_dir = service_dir
        self.env = env
        self.proc = None
        self.address = None

    def start(self):
        sockdir = tempfile.mkdtemp(prefix="bus-", dir=self.workdir)
        conf = os.path.join(self.workdir, "bus.conf")
        servicedir = f"<servicedir>{self.service_dir}</servicedir>" if self.service_dir else ""
        with open(conf, "w") as f:
            f.write(BUS_CONFIG.format(dir=sockdir, servicedir=servicedir))
        self.proc = subprocess.Popen(["dbus-daemon", "--config-file", conf, "--nofork",
                                      "--print-address=1"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env=self.env)
        line = self.proc.stdout.readline().decode().strip()
        if not line:
            raise AssertionError("dbus-daemon printed no address")
        self.address = line

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        if self.proc is not None:
            self.proc.stdout.close()


class BusWatcher:
    """A Gio connection to the bus whose main loop runs in a thread of its own, so that
    asyncio tests can record signals while they await WebSocket frames. It is also the
    long-lived caller for methods that track their caller (SetViewed)."""

    def __init__(self, address):
        self.address = address
        self.signals = []
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        self.ready.wait(10)
        if self.error is not None:
            raise self.error

    def _run(self):
        self.context = GLib.MainContext.new()
        self.context.push_thread_default()
        try:
            flags = (Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
                     Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION)
            self.connection = Gio.DBusConnection.new_for_address_sync(self.address, flags,
                                                                      None, None)
            self.connection.set_exit_on_close(False)
            self.connection.signal_subscribe(None, None, None, None, None,
                                             Gio.DBusSignalFlags.NONE, self._on_signal)
            self.loop = GLib.MainLoop.new(self.context, False)
        except Exception as e:  # reported by start()
            self.error = e
            self.ready.set()
            return
        self.ready.set()
        self.loop.run()
        self.context.pop_thread_default()

    def _on_signal(self, connection, sender, path, iface, member, params):
        with self.lock:
            self.signals.append((sender, path, iface, member, params.unpack()))

    def stop(self):
        if getattr(self, "loop", None) is not None:
            self.context.invoke_full(GLib.PRIORITY_DEFAULT, self.loop.quit)
            self.thread.join(10)
            self.connection.close_sync(None)

    def received(self, member=None, path=None, iface=None):
        """Signals seen so far: (path, member, args) for those matching."""
        with self.lock:
            return [(p, m, a) for (_, p, i, m, a) in self.signals
                    if (member is None or m == member) and (path is None or p == path) and
                    (iface is None or i == iface)]

    def call_sync(self, dest, path, iface, method, params=None, reply_type=None, timeout=20):
        reply = self.connection.call_sync(dest, path, iface, method, params,
                                          GLib.VariantType(reply_type) if reply_type else None,
                                          Gio.DBusCallFlags.NONE, int(timeout * 1000), None)
        return reply.unpack() if reply is not None else None

    async def call(self, *args, **kwargs):
        return await asyncio.to_thread(self.call_sync, *args, **kwargs)

    async def call_error(self, *args, **kwargs):
        """Calls a method that must fail; returns the D-Bus error name and message."""
        try:
            await self.call(*args, **kwargs)
        except GLib.Error as e:
            return Gio.DBusError.get_remote_error(e), e.message
        raise AssertionError(f"{args[3]} succeeded, an error was expected")

    def name_owner(self, name):
        try:
            return self.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                  "org.freedesktop.DBus", "GetNameOwner",
                                  GLib.Variant("(s)", (name,)), "(s)")[0]
        except GLib.Error:
            return None


# --------------------------------------------------------------------------------------
# The daemon

class DBusDaemon:
    """natterd on the private bus, with a data directory that outlives restarts."""

    def __init__(self, workdir, env, extra_args=()):
        self.workdir = workdir
        self.env = env
        self.data_dir = os.path.join(workdir, "data")
        self.log_path = os.path.join(workdir, "natterd.log")
        self.extra_args = tuple(extra_args)
        self.proc = None
        self.port = None
        self.n_starts = 0

    def _log_note(self, text):
        with open(self.log_path, "a") as log:
            log.write(f"\n===== {text}\n")

    def spawn(self, *args, data_dir=None):
        """Starts a natterd on the bus without waiting for it; returns the Popen."""
        self.n_starts += 1
        ready = os.path.join(self.workdir, f"ready-{self.n_starts}")
        argv = [required_env("NATTERD"), "--listen", "127.0.0.1:0",
                "--data-dir", data_dir or self.data_dir, "--ready-file", ready,
                "--owner", OWNER, "--node-id", "testnode", *DEFAULT_DAEMON_ARGS, *args]
        self._log_note(f"start #{self.n_starts}: " + " ".join(argv))
        with open(self.log_path, "ab") as log:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    env=self.env)
        proc.ready_file = ready
        return proc

    def start(self, *args):
        assert not self.running
        self.proc = self.spawn(*self.extra_args, *args)

        def ready_or_dead():
            if self.proc.poll() is not None:
                return True
            try:
                with open(self.proc.ready_file) as f:
                    return f.read().endswith("\n")
            except FileNotFoundError:
                return False

        wait_for(ready_or_dead, START_TIMEOUT,
                 message=f"natterd wrote no ready file within {START_TIMEOUT} s")
        if self.proc.poll() is not None:
            raise AssertionError(f"natterd exited with status {self.proc.returncode}")
        with open(self.proc.ready_file) as f:
            self.port = int(f.read().strip())

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"natterd did not exit within {timeout} s of {sig}")
        self._log_note(f"natterd exited with status {self.proc.returncode}")
        return self.proc.returncode

    def url(self, path="/ws"):
        return f"ws://127.0.0.1:{self.port}{path}"

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


def daemon_args(*args):
    """Decorates a test method: natterd gets these extra command line arguments."""
    def decorate(func):
        func.natterd_args = args
        return func
    return decorate


def no_daemon(func):
    """Decorates a test method that starts natterd itself (or lets the bus do it)."""
    func.no_daemon = True
    return func


def own_activation(func):
    """Decorates a test method: the bus reads activation files from the test's own
    directory, WORKDIR/services, which the test writes (and may rewrite: the bus
    notices)."""
    func.own_activation = True
    return func


def activatable(func):
    """Decorates a test method: the bus can start natterd through its activation file."""
    func.service_dir = required_env("NATTER_DBUS_SERVICE_DIR")
    return func


# --------------------------------------------------------------------------------------
# The test case base

class DBusTestCase(unittest.IsolatedAsyncioTestCase):
    """Each test gets a private bus with natterd on it; the daemon's log is printed on
    failure."""

    async def asyncSetUp(self):
        method = getattr(self, self._testMethodName)
        # For gdbus, gjs and dbusmock: GLib prints debug messages to standard output.
        self.env = dict(os.environ)
        self.env.pop("G_MESSAGES_DEBUG", None)
        self.env["XDG_DATA_HOME"] = os.path.join(self.workdir, "xdg-data")
        self.env.pop("DISPLAY", None)
        service_dir = getattr(method, "service_dir", None)
        if getattr(method, "own_activation", False):
            service_dir = os.path.join(self.workdir, "services")
            os.makedirs(service_dir)
        self.bus = PrivateBus(self.workdir, service_dir, self.env)
        self.bus.start()
        self.env["DBUS_SESSION_BUS_ADDRESS"] = self.bus.address
        self.watcher = BusWatcher(self.bus.address)
        self.watcher.start()
        self.clients = []
        self.daemon = DBusDaemon(self.workdir, dict(self.env, G_MESSAGES_DEBUG="all"),
                                 getattr(method, "natterd_args", ()))
        if not getattr(method, "no_daemon", False):
            await self.start_daemon()

    async def start_daemon(self, *args):
        await asyncio.to_thread(self.daemon.start, *args)
        await self.wait_for_service()

    async def wait_for_service(self):
        """Waits until natterd owns its name and has loaded the account's rooms."""
        await eventually(lambda: self.watcher.name_owner(BUS_NAME), START_TIMEOUT,
                         message=f"natterd did not take {BUS_NAME}")
        await eventually(lambda: room_path("system") in self.managed_objects_sync(),
                         START_TIMEOUT, message="the system room never appeared")

    async def asyncTearDown(self):
        for client in self.clients:
            try:
                await asyncio.wait_for(client.close(), 10)
            except Exception:
                pass
        if self.daemon.running:
            rc = await asyncio.to_thread(self.daemon.stop)
            self.assertEqual(rc, 0, "natterd did not exit cleanly on SIGTERM")

    def run(self, result=None):
        if result is None:
            result = self.defaultTestResult()
        self.workdir = tempfile.mkdtemp(prefix="natter-dbus-")
        self.daemon = None
        self.bus = None
        self.watcher = None
        self.helpers = []
        n_before = len(result.failures) + len(result.errors)
        try:
            return super().run(result)
        finally:
            for proc in self.helpers + ([self.daemon.proc] if self.daemon else []):
                if proc is not None and proc.poll() is None:
                    proc.kill()
                    proc.wait()
            if self.watcher is not None:
                self.watcher.stop()
            if self.bus is not None:
                self.bus.stop()
            if len(result.failures) + len(result.errors) > n_before and self.daemon is not None:
                sys.stderr.write(f"\n----- natterd log ({self._testMethodName}) -----\n")
                sys.stderr.write(self.daemon.log_text())
                sys.stderr.write("\n----- end of natterd log -----\n")
                sys.stderr.flush()
            shutil.rmtree(self.workdir, ignore_errors=True)

    # Processes on the bus ---------------------------------------------------------------

    def spawn_helper(self, argv, **kwargs):
        """Starts a helper (gjs, a dbusmock server) on the bus; killed after the test."""
        proc = subprocess.Popen(argv, env=self.env, **kwargs)
        self.helpers.append(proc)
        return proc

    async def start_mock(self, *args):
        """Starts `python3 -m dbusmock ARGS` and waits for its bus name."""
        name = None if "-t" in args else args[0]
        proc = self.spawn_helper([sys.executable, "-m", "dbusmock", "--session", *args],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if name is None:
            name = {"notification_daemon": "org.freedesktop.Notifications"}[args[args.index("-t") + 1]]
        await eventually(lambda: self.watcher.name_owner(name), 10,
                         message=f"dbusmock did not take {name}")
        return proc

    async def mock_calls(self, name, path):
        """The calls a dbusmock object received: [(method, args)]."""
        calls = await self.watcher.call(name, path, "org.freedesktop.DBus.Mock", "GetCalls",
                                        None, "(a(tsav))")
        return [(method, list(args)) for (_, method, args) in calls[0]]

    async def notification_calls(self, method):
        """The arguments of each call of @method that the mock notification server
        (`start_mock("-t", "notification_daemon")`) received."""
        return [args for (m, args) in await self.mock_calls(*NOTIFICATIONS) if m == method]

    def notification_calls_reach(self, method, n):
        """For eventually(): the mock notification server had @n calls of @method."""
        async def check():
            return len(await self.notification_calls(method)) >= n
        return check

    # gdbus, as a user types it ----------------------------------------------------------

    async def gdbus(self, *args, check=True):
        """Runs `gdbus ARGS` on the private bus; returns (returncode, stdout, stderr)."""
        proc = await asyncio.create_subprocess_exec(
            "gdbus", *args, env=self.env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        out, err = out.decode(), err.decode()
        if check and proc.returncode != 0:
            raise AssertionError(f"gdbus {' '.join(args)} failed ({proc.returncode}): {err}")
        return proc.returncode, out, err

    async def gdbus_call(self, path, method, *args):
        """`gdbus call` on natterd; returns the reply as Python values."""
        _, out, _ = await self.gdbus("call", "--session", "--dest", BUS_NAME,
                                     "--object-path", path, "--method", method, *args)
        return parse_gvariant(out)

    async def gdbus_call_error(self, path, method, *args):
        """`gdbus call` that must fail; returns (error name, message)."""
        rc, out, err = await self.gdbus("call", "--session", "--dest", BUS_NAME,
                                        "--object-path", path, "--method", method, *args,
                                        check=False)
        self.assertNotEqual(rc, 0, f"{method} {args!r} succeeded: {out}")
        prefix = "Error: GDBus.Error:"
        line = err.strip().splitlines()[0]
        self.assertTrue(line.startswith(prefix), err)
        name, _, message = line[len(prefix):].partition(": ")
        return name, message

    async def join(self, room):
        (path,) = await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".JoinRoom", room)
        return path

    async def send(self, room, body):
        (seq,) = await self.gdbus_call(room_path(room), ROOM_IFACE + ".Send", body)
        return seq

    # Objects ----------------------------------------------------------------------------

    def managed_objects_sync(self):
        try:
            (objects,) = self.watcher.call_sync(BUS_NAME, ROOT_PATH,
                                                "org.freedesktop.DBus.ObjectManager",
                                                "GetManagedObjects", None,
                                                "(a{oa{sa{sv}}})")
        except GLib.Error:
            return {}
        return objects

    async def managed_objects(self):
        return await asyncio.to_thread(self.managed_objects_sync)

    async def room_props(self, room):
        objects = await self.managed_objects()
        return objects[room_path(room)][ROOM_IFACE]

    async def message_objects(self, room):
        """{seq: properties} of the room's message objects."""
        prefix = room_path(room) + "/"
        objects = await self.managed_objects()
        return {props[MESSAGE_IFACE]["Seq"]: props[MESSAGE_IFACE]
                for path, props in objects.items()
                if path.startswith(prefix) and MESSAGE_IFACE in props}

    # Modes ------------------------------------------------------------------------------

    async def remote_server(self, port=0):
        """A second natterd, hosting without D-Bus: the server the desktop connects to
        (self.remote), on @port (a free one for 0; the same one again to restart it).
        Returns its WebSocket URL and a client of alice, registered on the first start,
        in remote-room."""
        proc = self.daemon.spawn("--no-dbus", "--listen", f"127.0.0.1:{port}",
                                 data_dir=os.path.join(self.workdir, "remote"))
        self.helpers.append(proc)
        self.remote = proc

        def ready():
            try:
                with open(proc.ready_file) as f:
                    return f.read().endswith("\n")
            except FileNotFoundError:
                return False

        await eventually(ready, START_TIMEOUT, message="the remote natterd did not start")
        with open(proc.ready_file) as f:
            url = f"ws://127.0.0.1:{int(f.read())}/ws"
        ws = await open_ws(url, [JSON_PROTOCOL])
        alice = JsonClient(ws, "alice")
        self.clients.append(alice)
        if port == 0:
            await alice.register("alice", password_for("alice"))
        else:
            await alice.login("alice", password_for("alice"))
        await alice.call("join", {"room": "remote-room"}, "joined")
        return url, alice

    def root_props_sync(self):
        """The properties of the root interface, io.github.natter.Chat."""
        (props,) = self.watcher.call_sync(BUS_NAME, ROOT_PATH, "org.freedesktop.DBus.Properties",
                                          "GetAll", GLib.Variant("(s)", (CHAT_IFACE,)), "(a{sv})")
        return props

    async def root_props(self):
        return await asyncio.to_thread(self.root_props_sync)

    def mode_file(self):
        try:
            with open(os.path.join(self.daemon.data_dir, "mode.ini")) as f:
                return f.read()
        except FileNotFoundError:
            return None

    # WebSocket clients ------------------------------------------------------------------

    async def ws_user(self, name):
        ws = await open_ws(self.daemon.url(), [JSON_PROTOCOL])
        client = JsonClient(ws, name)
        self.clients.append(client)
        await client.register(name, password_for(name))
        return client

