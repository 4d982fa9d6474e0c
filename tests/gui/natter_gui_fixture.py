# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Harness for the GUI tests: each test gets an X server of its own (Xvfb), a private
# session bus with the built natterd on it, and the built app, started as a user starts
# it. Tests drive the app from outside, through the GActions it exports on the bus
# (`gdbus call … org.gtk.Actions.Activate`), as natterd's notifications and GNOME
# Shell do. An app built with -Dtest_hooks=true also exports test-* actions that report
# what its widgets show, type into the composer, scroll, open menus and take
# screenshots; without them every test fails and says so. The other side of each
# conversation is a Python `websockets` client.
#
# Any warning or critical the app logs (GTK, GLib, libadwaita or its own) fails the test.
#
# Environment (set by tests/gui/meson.build): NATTERD, the built daemon; NATTER_APP, the
# built app; NATTER_SCHEMA_DIR, its compiled GSettings schema; NATTER_LOCALEDIR, the
# build tree's translations; NATTER_ARTIFACTS_DIR, where screenshots go.

import ctypes
import os
import re
import shutil
import subprocess
import sys
import tempfile

import gi
gi.require_version("Gio", "2.0")
from gi.repository import GLib  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "dbus"))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from natter_dbus_fixture import (BUS_NAME, OWNER, DBusTestCase, eventually,  # noqa: E402
                                 no_daemon, own_activation, required_env, room_path)
from natter_fixture import JSON_PROTOCOL, JsonClient, open_ws, password_for  # noqa: E402

APP_ID = "io.github.natter.Natter"
APP_PATH = "/io/github/natter/Natter"
APP_TIMEOUT = 30.0
# GLib's log lines for warnings and criticals, with or without a domain:
# "(natter:42): Gtk-WARNING **: …", "(natter:42): Adwaita-CRITICAL **: …",
# "** (natter:42): WARNING **: …".
LOG_PROBLEM = re.compile(r"(^|[\s-])(WARNING|CRITICAL|ERROR) \*\*")

__all__ = ["APP_ID", "APP_PATH", "BUS_NAME", "OWNER", "GuiTestCase", "eventually", "no_daemon", "required_env",
           "room_path"]


class Xvfb:
    """An X server of our own; -displayfd picks a free display number."""

    def __init__(self, workdir, width=1280, height=800):
        self.workdir = workdir
        self.size = f"{width}x{height}x24"
        self.proc = None
        self.display = None

    def start(self):
        read_fd, write_fd = os.pipe()
        with open(os.path.join(self.workdir, "xvfb.log"), "wb") as log:
            self.proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0",
                                          self.size, "-nolisten", "tcp", "-noreset"],
                                         pass_fds=(write_fd,), stdout=subprocess.DEVNULL,
                                         stderr=log)
        os.close(write_fd)
        with os.fdopen(read_fd) as f:
            number = f.readline().strip()
        if not number:
            raise AssertionError("Xvfb did not start (see xvfb.log)")
        self.display = ":" + number

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class Pointer:
    """The X server's pointer, moved and clicked through the XTEST extension as a
    user's mouse would (tooltips, links)."""

    def __init__(self, display):
        self.x11 = ctypes.CDLL("libX11.so.6")
        self.xtst = ctypes.CDLL("libXtst.so.6")
        self.x11.XOpenDisplay.restype = ctypes.c_void_p
        self.x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
        self.x11.XFlush.argtypes = [ctypes.c_void_p]
        self.x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
        self.xtst.XTestFakeMotionEvent.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                                                   ctypes.c_int, ctypes.c_ulong]
        self.xtst.XTestFakeButtonEvent.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_int,
                                                   ctypes.c_ulong]
        self.dpy = self.x11.XOpenDisplay(display.encode())
        if not self.dpy:
            raise AssertionError(f"cannot open X display {display}")

    def move(self, x, y):
        # Windows sit at the screen's origin: Xvfb runs no window manager to place them.
        self.xtst.XTestFakeMotionEvent(self.dpy, -1, x, y, 0)
        self.x11.XFlush(self.dpy)

    def click(self, x, y):
        self.move(x, y)
        self.xtst.XTestFakeButtonEvent(self.dpy, 1, True, 0)
        self.xtst.XTestFakeButtonEvent(self.dpy, 1, False, 0)
        self.x11.XFlush(self.dpy)

    def close(self):
        self.x11.XCloseDisplay(self.dpy)


class App:
    """The built app on the private bus and X server."""

    def __init__(self, workdir, env):
        self.workdir = workdir
        self.env = env
        self.log_path = os.path.join(workdir, "natter.log")
        self.proc = None
        self.n_describes = 0

    def start(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([required_env("NATTER_APP")], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT, env=self.env)

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.running:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc is not None else None

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


def first_run(func):
    """Decorates a test method: nobody has chosen natterd's mode yet (no mode.ini)."""
    func.first_run = True
    return func


def gvariant_text(value, type_string):
    return GLib.Variant(type_string, value).print_(True)


class GuiTestCase(DBusTestCase):
    """A private bus with natterd (from the D-Bus tests' fixture), plus Xvfb and the app.
    On failure the app's log is printed too."""

    app_env = {}

    async def asyncSetUp(self):
        self.xvfb = Xvfb(self.app_dir)
        self.xvfb.start()
        # The user chose to host on an earlier run, so the app does not ask: only the
        # tests of the first run start without that choice.
        if not getattr(getattr(self, self._testMethodName), "first_run", False):
            data_dir = os.path.join(self.workdir, "data")
            os.makedirs(data_dir, mode=0o700, exist_ok=True)
            with open(os.path.join(data_dir, "mode.ini"), "w") as f:
                f.write("[desktop]\nmode=host\n")
        await super().asyncSetUp()

    def app_environment(self, **extra):
        env = dict(self.env)
        runtime_dir = os.path.join(self.app_dir, "runtime")
        home = os.path.join(self.app_dir, "home")
        config = os.path.join(self.app_dir, "config")
        os.makedirs(runtime_dir, mode=0o700, exist_ok=True)
        os.makedirs(home, exist_ok=True)
        # No animations: a screenshot or a check never catches a transition half-way.
        os.makedirs(os.path.join(config, "gtk-4.0"), exist_ok=True)
        with open(os.path.join(config, "gtk-4.0", "settings.ini"), "w") as f:
            f.write("[Settings]\ngtk-enable-animations=false\n")
        env.update({
            "DISPLAY": self.xvfb.display,
            "GDK_BACKEND": "x11",
            "GSK_RENDERER": "cairo",
            "GTK_A11Y": "none",
            "NO_AT_BRIDGE": "1",
            "GSETTINGS_BACKEND": "memory",
            "GSETTINGS_SCHEMA_DIR": required_env("NATTER_SCHEMA_DIR"),
            "NATTER_LOCALEDIR": required_env("NATTER_LOCALEDIR"),
            "XDG_RUNTIME_DIR": runtime_dir,
            "XDG_CONFIG_HOME": config,
            "HOME": home,
            "LANG": "C.UTF-8",
            "LC_ALL": "",
            "LANGUAGE": "",
            # Not fatal-criticals: the app goes on, and the log check below names every
            # warning and critical at once.
            "G_DEBUG": "",
            "G_MESSAGES_DEBUG": "",
        })
        env.update(self.app_env)
        env.update(extra)
        return env

    def browser_environment(self, opened):
        """XDG_DATA_DIRS with a web browser that writes the URI it is given to @opened,
        the default for http and https."""
        data = os.path.join(self.app_dir, "browser-data")
        applications = os.path.join(data, "applications")
        os.makedirs(applications, exist_ok=True)
        script = os.path.join(self.app_dir, "browser.sh")
        with open(script, "w") as f:
            f.write(f'#!/bin/sh\nprintf "%s\\n" "$1" > "{opened}.part" && mv "{opened}.part" "{opened}"\n')
        os.chmod(script, 0o755)
        with open(os.path.join(applications, "test-browser.desktop"), "w") as f:
            f.write("[Desktop Entry]\nType=Application\nName=Test Browser\n"
                    f"Exec={script} %u\nMimeType=x-scheme-handler/http;x-scheme-handler/https;\n")
        with open(os.path.join(applications, "mimeapps.list"), "w") as f:
            f.write("[Default Applications]\nx-scheme-handler/http=test-browser.desktop\n"
                    "x-scheme-handler/https=test-browser.desktop\n")
        system = os.environ.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share"
        return {"XDG_DATA_DIRS": f"{data}:{system}", "XDG_DATA_HOME": data}

    def chinese_environment(self):
        """LANG and LANGUAGE for zh_CN. These machines generate no locales, so the test
        makes its own."""
        locales = os.path.join(self.app_dir, "locale")
        os.makedirs(locales, exist_ok=True)
        subprocess.run(["localedef", "-i", "zh_CN", "-f", "UTF-8", os.path.join(locales, "zh_CN.UTF-8")],
                       check=True, stdout=subprocess.DEVNULL)
        return {"LOCPATH": locales, "LANG": "zh_CN.UTF-8", "LANGUAGE": "zh_CN"}

    async def app_in_general_notified_of_random(self):
        """A mock notification server, the account and alice (a WebSocket client, returned)
        in "general" and "random", and the app showing "general": what alice says in
        "random" is notified."""
        await self.start_mock("-t", "notification_daemon")
        alice = await self.ws_user("alice")
        for room in ("general", "random"):
            await self.join(room)
            await alice.call("join", {"room": room}, "joined")
        await self.start_app()
        await self.open_room("general")
        return alice

    async def start_app(self, **extra_env):
        self.app = App(self.app_dir, self.app_environment(**extra_env))
        self.app.start()
        await eventually(lambda: not self.app.running or self.watcher.name_owner(APP_ID),
                         APP_TIMEOUT, message=f"the app did not take {APP_ID}")
        self.assertTrue(self.app.running, "the app exited")
        await self.check_test_hooks()
        # The window is up once it can describe itself.
        await eventually(self._window_described, APP_TIMEOUT, message="the app shows no window")

    async def check_test_hooks(self):
        _, out, _ = await self.gdbus("call", "--session", "--dest", APP_ID, "--object-path", APP_PATH,
                                     "--method", "org.gtk.Actions.List")
        if "'test-describe'" not in out:
            raise AssertionError(f"{required_env('NATTER_APP')} has no test hooks: the GUI tests need "
                                 "a build configured with -Dtest_hooks=true")

    def log_problems(self):
        """The warnings and criticals in the app's log so far."""
        return [line for line in self.app.log_text().splitlines() if LOG_PROBLEM.search(line)]

    async def _window_described(self):
        try:
            return await self.describe() is not None
        except AssertionError:
            return False

    async def asyncTearDown(self):
        returncode = self.app.stop() if self.app is not None and self.app.running else 0
        await super().asyncTearDown()
        if self.app is not None:
            self.assertEqual(self.log_problems(), [], "the app logged warnings")
        self.assertEqual(returncode, 0, "the app did not exit cleanly on SIGTERM")

    def run(self, result=None):
        if result is None:
            result = self.defaultTestResult()
        n_before = len(result.failures) + len(result.errors)
        self.app_dir = tempfile.mkdtemp(prefix="natter-gui-")
        self.app = None
        self.xvfb = None
        self._pointer = None
        try:
            return super().run(result)
        finally:
            if self.app is not None and self.app.running:
                self.app.proc.kill()
                self.app.proc.wait()
            if self._pointer is not None:
                self._pointer.close()
            if self.xvfb is not None:
                self.xvfb.stop()
            if len(result.failures) + len(result.errors) > n_before and self.app is not None:
                sys.stderr.write(f"\n----- natter log ({self._testMethodName}) -----\n")
                sys.stderr.write(self.app.log_text())
                sys.stderr.write("\n----- end of natter log -----\n")
                sys.stderr.flush()
            shutil.rmtree(self.app_dir, ignore_errors=True)

    # Actions ---------------------------------------------------------------------------

    async def activate(self, action, parameter=None, path=APP_PATH):
        """Activates an exported action with `gdbus call … org.gtk.Actions.Activate`."""
        params = "[]" if parameter is None else f"[<{parameter}>]"
        await self.gdbus("call", "--session", "--dest", APP_ID, "--object-path", path,
                         "--method", "org.gtk.Actions.Activate", action, params, "{}")

    async def click(self, text):
        """Clicks the button of that label, or activates the row of that title, in any
        window of the app (test-activate)."""
        await self.action_string("test-activate", text)

    async def fill(self, title, text):
        """Types @text into the entry row of that title (test-fill)."""
        await self.activate("test-fill", gvariant_text((title, text), "(ss)"))

    async def enter(self, title):
        """Presses Enter in the entry row of that title (test-enter)."""
        await self.action_string("test-enter", title)

    async def action_string(self, action, value):
        await self.activate(action, gvariant_text(value, "s"))

    async def set_action_state(self, action, value):
        """Changes a stateful action with `gdbus call … org.gtk.Actions.SetState`."""
        await self.gdbus("call", "--session", "--dest", APP_ID, "--object-path", APP_PATH,
                         "--method", "org.gtk.Actions.SetState", action, f"<{value}>", "{}")

    async def describe(self):
        """What the window shows, read from its widgets by the app's test-describe."""
        self.app.n_describes += 1
        path = os.path.join(self.app_dir, f"describe-{self.app.n_describes}.txt")
        await self.action_string("test-describe", path)
        try:
            with open(path) as f:
                text = f.read()
        except FileNotFoundError:
            raise AssertionError("test-describe wrote nothing") from None
        os.unlink(path)
        return GLib.Variant.parse(None, text, None, None).unpack()

    async def eventually_shows(self, predicate, message, timeout=15.0):
        """Waits until predicate(description) holds; returns that description."""
        seen = {}

        async def check():
            seen["last"] = await self.describe()
            return predicate(seen["last"])

        try:
            await eventually(check, timeout, message=message)
        except AssertionError:
            raise AssertionError(f"{message}; the window showed: {seen.get('last')!r}") from None
        return seen["last"]

    async def open_room(self, name):
        await self.action_string("open-room", name)
        return await self.eventually_shows(lambda d: d["room"] == name,
                                           f"room {name} is not on screen")

    async def resize(self, width, height):
        """Resizes the window (test-resize), again until the window manager-less X
        server has applied it; returns the description at the new size."""
        async def resized():
            await self.activate("test-resize", gvariant_text(("", width, height), "(sii)"))
            shown = await self.describe()
            return abs(shown["width"] - width) <= 20 and abs(shown["height"] - height) <= 20

        await eventually(resized, 20, message=f"the window did not take {width}×{height}")
        return await self.describe()

    async def resize_window(self, window, width, height):
        """Resizes the window of that title (test-resize) as far as it goes: a dialog
        may need more than was asked."""
        await self.activate("test-resize", gvariant_text((window, width, height), "(sii)"))
        return await self.eventually_shows(
            lambda d: any(w[0] == window and w[1] <= max(width, w[3]) for w in d["window-sizes"]),
            f"{window} did not get narrower")

    @property
    def pointer(self):
        if self._pointer is None:
            self._pointer = Pointer(self.xvfb.display)
        return self._pointer

    async def hover(self, button):
        """Rests the pointer on a menu button of the main window until its tooltip shows;
        returns the description with it."""
        shown = await self.describe()
        (x, y), = [(b[1], b[2]) for b in shown["menu-buttons"] if b[0] == button]
        self.pointer.move(0, 0)
        self.pointer.move(x, y)
        return await self.eventually_shows(lambda d: d["tooltips"] != [] and d["tooltips"][0][1] > 0,
                                           f"{button} shows no tooltip")

    async def type_text(self, text):
        await self.action_string("test-type", text)

    async def press(self, accelerator):
        await self.action_string("test-key", accelerator)

    async def popup(self, button):
        """Opens the menu of a menu button by its id in natter-window.ui (test-popup)."""
        await self.action_string("test-popup", button)
        return await self.eventually_shows(lambda d: d["popovers"] == [button],
                                           f"the menu of {button} did not open")

    async def close_others(self):
        """Closes every window but the main one, and any menu (test-close)."""
        await self.activate("test-close")
        return await self.eventually_shows(lambda d: d["windows"] == [] and d["popovers"] == [],
                                           "a window or menu stays open")

    async def screenshot(self, name, window=""):
        """Saves the main window (with its open menus) or the window of that title."""
        directory = required_env("NATTER_ARTIFACTS_DIR")
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, name)
        if os.path.exists(path):
            os.unlink(path)

        # A window with a redraw pending has nothing to render yet: ask again.
        async def saved():
            await self.activate("test-screenshot", gvariant_text((window, path), "(ss)"))
            return os.path.exists(path) and os.path.getsize(path) > 0

        await eventually(saved, message=f"no screenshot {name}")
        return path

    # WebSocket clients ------------------------------------------------------------------

    async def ws_user(self, name):
        ws = await open_ws(self.daemon.url(), [JSON_PROTOCOL])
        client = JsonClient(ws, name)
        self.clients.append(client)
        await client.register(name, password_for(name))
        return client
