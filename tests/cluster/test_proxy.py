#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# natterd behind a load balancer sees the balancer's address on every connection. From
# the proxies it is told to trust (--trusted-proxy), it takes the client's address from a
# PROXY protocol v2 header (HAProxy's send-proxy-v2) or from X-Forwarded-For (nginx), so
# that per-address limits apply to each client; from anyone else those mean nothing.
# "Clients" on different addresses are sockets bound to 127.0.0.2 and 127.0.0.3.

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import websockets  # noqa: E402

import servers  # noqa: E402
from natter_fixture import JSON_PROTOCOL, NatterTestCase, daemon_args, wait_for  # noqa: E402

START_TIMEOUT = 15.0
# Two WebSockets per address: the third from one address is refused with 429.
LIMIT_ARGS = ("--max-connections-per-ip", "2")

HAPROXY_CONFIG = """\
global
    maxconn 100

defaults
    mode http
    timeout connect 2s
    timeout client  30s
    timeout server  30s
    timeout tunnel  1h

frontend natter
    bind 127.0.0.1:{port}
    default_backend natterd

backend natterd
    server n1 127.0.0.1:{natterd} send-proxy-v2
"""

NGINX_CONFIG = """\
daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/nginx.log info;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{natterd};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
"""


class Balancer:
    """HAProxy or nginx in front of one natterd, in the foreground, on a free port."""

    def __init__(self, workdir, kind, natterd_port):
        self.kind = kind
        self.port = servers.free_port()
        self.dir = os.path.join(workdir, kind)
        os.makedirs(self.dir)
        config = os.path.join(self.dir, f"{kind}.conf")
        template = HAPROXY_CONFIG if kind == "haproxy" else NGINX_CONFIG
        with open(config, "w") as f:
            f.write(template.format(port=self.port, natterd=natterd_port, dir=self.dir))
        if shutil.which(kind) is None:
            raise AssertionError(f"{kind} is not installed: apt-get install {kind}")
        args = (["haproxy", "-db", "-f", config] if kind == "haproxy"
                else ["nginx", "-p", self.dir, "-c", config])
        self.log_path = os.path.join(self.dir, "stdout.log")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        wait_for(self._listening, START_TIMEOUT, message=f"{kind} did not start")

    def _listening(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.kind} exited: {self.log_text()}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def url(self):
        return f"ws://127.0.0.1:{self.port}/ws"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def log_text(self):
        text = ""
        for name in os.listdir(self.dir):
            if name.endswith(".log"):
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    text += f"--- {name}\n{f.read()}"
        return text


class ClientAddressTest(NatterTestCase):

    async def asyncSetUp(self):
        await super().asyncSetUp()
        self.balancer = None
        self.sockets = []

    async def asyncTearDown(self):
        for ws in self.sockets:
            await ws.close()
        if self.balancer is not None:
            self.balancer.stop()
        await super().asyncTearDown()

    def start_balancer(self, kind):
        self.balancer = Balancer(self.workdir, kind, self.daemon.port)

    async def open_from(self, address, url=None, headers=None):
        """A WebSocket from @address; its HTTP status when refused."""
        try:
            ws = await websockets.connect(url or self.balancer.url(),
                                          subprotocols=[JSON_PROTOCOL], ping_interval=None,
                                          open_timeout=10, close_timeout=5,
                                          local_addr=(address, 0),
                                          extra_headers=headers or {})
        except websockets.InvalidStatusCode as e:
            return e.status_code
        self.sockets.append(ws)
        return ws

    async def assertSeparateLimits(self, url=None, headers_for=lambda i: None):
        """Two connections from each of two addresses are taken; a third from either is
        refused with 429."""
        for address in ("127.0.0.2", "127.0.0.3"):
            for i in range(2):
                ws = await self.open_from(address, url, headers_for(i))
                self.assertNotIsInstance(ws, int, f"connection {i} from {address} refused")
        for address in ("127.0.0.2", "127.0.0.3"):
            self.assertEqual(await self.open_from(address, url, headers_for(2)), 429)

    @daemon_args(*LIMIT_ARGS, "--trusted-proxy", "127.0.0.1")
    async def test_haproxy_proxy_v2(self):
        self.start_balancer("haproxy")
        await self.assertSeparateLimits()

    @daemon_args(*LIMIT_ARGS, "--trusted-proxy", "127.0.0.1/32")
    async def test_nginx_forwarded_for(self):
        self.start_balancer("nginx")
        # A client's own X-Forwarded-For is kept by nginx, which adds the address it
        # sees: the last untrusted address counts, not the forged one.
        await self.assertSeparateLimits(
            headers_for=lambda i: {"X-Forwarded-For": f"198.51.100.{i}"})

    @daemon_args(*LIMIT_ARGS)
    async def test_untrusted_forwarded_for_changes_nothing(self):
        # Without --trusted-proxy, a balancer's clients share its address ...
        self.start_balancer("nginx")
        for i in range(2):
            self.assertNotIsInstance(await self.open_from(f"127.0.0.{2 + i}"), int)
        self.assertEqual(await self.open_from("127.0.0.4"), 429)
        # ... and a client that claims another address, directly, is still counted as
        # itself.
        direct = self.daemon.url()
        for i in range(2):
            ws = await self.open_from("127.0.0.5", direct, {"X-Forwarded-For": f"127.0.0.{9 + i}"})
            self.assertNotIsInstance(ws, int)
        self.assertEqual(await self.open_from("127.0.0.5", direct,
                                              {"X-Forwarded-For": "127.0.0.20"}), 429)

    @daemon_args(*LIMIT_ARGS, "--trusted-proxy", "127.0.0.1")
    async def test_trusted_peer_without_header_is_itself(self):
        # A trusted address that sends no PROXY header and no X-Forwarded-For (a health
        # check, a client on the balancer's host) is counted as itself.
        direct = self.daemon.url()
        for i in range(2):
            self.assertNotIsInstance(await self.open_from("127.0.0.1", direct), int)
        self.assertEqual(await self.open_from("127.0.0.1", direct), 429)


if __name__ == "__main__":
    unittest.main()
