#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Real servers for the cluster tests, on loopback, in a temporary directory.

PostgreSQL (initdb in a temp dir, as the unprivileged `postgres` user when run as root:
it refuses root), Redis on a unix socket. Each class starts its server in the foreground
of a child process, waits until it answers, and raises with the server's log if it
does not: a fixture that cannot start its server fails the test, it never skips.

As a command, it runs another command with the servers it asks for:

    servers.py [--postgres] [--redis] -- COMMAND [ARGS...]

and exports NATTER_TEST_POSTGRES (a libpq conninfo for the `postgres` database, as a
superuser that may create databases), NATTER_TEST_REDIS (a unix:// URI) and
NATTER_TEST_REDIS_TCP (a redis:// URI on loopback), with NATTER_TEST_*_DIR and
NATTER_TEST_SERVERS for `servers.py ctl` (stop, kill and start them mid-test). The
command's standard output is left alone (TAP passes through); the fixture writes to
standard error only.
"""

import argparse
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

START_TIMEOUT = 60


def log(message):
    print(f"# servers: {message}", file=sys.stderr, flush=True)


class FixtureError(RuntimeError):
    pass


def wait_until(predicate, timeout, what, log_path=None):
    deadline = time.monotonic() + timeout
    delay = 0.01
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
    details = f"\n--- log ---\n{tail(log_path)}" if log_path else ""
    raise FixtureError(f"waiting for {what}: gave up after {timeout} s{details}")


def make_workdir(prefix):
    # Short paths: unix socket paths are limited to 107 bytes.
    path = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(path, 0o777)
    return path


def postgres_bindir():
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                        key=lambda p: int(p.split("/")[4]))
    if candidates:
        return os.path.dirname(candidates[-1])
    initdb = shutil.which("initdb")
    if initdb:
        return os.path.dirname(initdb)
    raise FixtureError("PostgreSQL is not installed (no initdb): "
                       "apt-get install postgresql")


def process_alive(pid):
    """True for a running process; a zombie (daemonized servers are reparented to a PID 1
    that may never reap them) counts as gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def children_of(pid):
    children = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            children.append(int(stat.split("/")[2]))
    return children


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.readline().strip())
    except (FileNotFoundError, ValueError):
        return None


def tail(path, n=8000):
    if not path or not os.path.exists(path):
        return ""
    with open(path, errors="replace") as f:
        return f.read()[-n:]


class Postgres:
    """A PostgreSQL server in its own data directory, on a unix socket only.

    Stateless: everything is found from the work directory, so another process (a C
    test, through `servers.py ctl postgres DIR stop`) can stop and start it again."""

    USER = "natter"

    def __init__(self, workdir=None):
        self.workdir = workdir or make_workdir("natter-pg-")
        self.datadir = os.path.join(self.workdir, "pg")
        self.logfile = os.path.join(self.workdir, "postgres.log")
        self.bindir = postgres_bindir()

    def _cmd(self, *args):
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        return cmd

    def _run(self, *args, check=True):
        result = subprocess.run(self._cmd(*args), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        if check and result.returncode != 0:
            raise FixtureError(f"{' '.join(args)} failed:\n{result.stdout}\n"
                               f"--- log ---\n{tail(self.logfile)}")
        return result

    @property
    def conninfo(self):
        return f"host={self.workdir} user={self.USER} dbname=postgres"

    def conninfo_for(self, dbname):
        return f"host={self.workdir} user={self.USER} dbname={dbname}"

    @property
    def pid(self):
        return read_pid(os.path.join(self.datadir, "postmaster.pid"))

    def start(self):
        if not os.path.exists(self.datadir):
            self._run(os.path.join(self.bindir, "initdb"), "-D", self.datadir, "-A", "trust",
                      "-U", self.USER, "-E", "UTF8", "--no-sync")
        # The server's own durability is not under test; speed is welcome.
        options = (f"-k {self.workdir} -c listen_addresses='' -c fsync=off "
                   "-c full_page_writes=off -c max_connections=300 -c shared_buffers=32MB")
        self._run(os.path.join(self.bindir, "pg_ctl"), "-D", self.datadir, "-l", self.logfile,
                  "-o", options, "-w", "-t", str(START_TIMEOUT), "start")
        wait_until(self.is_ready, START_TIMEOUT, "PostgreSQL", self.logfile)
        log(f"PostgreSQL ready on {self.workdir} (pid {self.pid})")
        return self

    def is_ready(self):
        result = subprocess.run(
            [os.path.join(self.bindir, "pg_isready"), "-h", self.workdir, "-U", self.USER,
             "-d", "postgres", "-q"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return result.returncode == 0

    def psql(self, sql, dbname="postgres"):
        result = subprocess.run(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-h", self.workdir, "-U", self.USER, "-d", dbname, "-c", sql],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if result.returncode != 0:
            raise FixtureError(f"psql {sql!r} failed: {result.stderr}")
        return result.stdout.strip()

    def create_database(self, name):
        self.psql(f'CREATE DATABASE "{name}"')
        return self.conninfo_for(name)

    def stop(self):
        """Fast shutdown: ends every session, as an operator's restart does."""
        if self.pid is not None and process_alive(self.pid):
            self._run(os.path.join(self.bindir, "pg_ctl"), "-D", self.datadir, "-m", "fast",
                      "-w", "-t", "60", "stop", check=False)

    def kill(self):
        """SIGKILL of the postmaster: the way a crashed server disappears."""
        pid = self.pid
        if pid is None or not process_alive(pid):
            return
        # Its backends notice and exit; until they have, clients may still reach them
        # (they are reparented at once, so they are listed before the kill).
        processes = [pid] + children_of(pid)
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not any(process_alive(p) for p in processes), 30,
                   "PostgreSQL and its backends to die")
        # An unreaped zombie still answers kill(pid, 0), which the next postmaster takes
        # for a live one: the lock file goes, as after a reboot.
        for lock in (os.path.join(self.datadir, "postmaster.pid"),
                     os.path.join(self.workdir, ".s.PGSQL.5432.lock")):
            if os.path.exists(lock):
                os.unlink(lock)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    """redis-server on a unix socket and a free loopback TCP port, in a temp dir, no
    persistence. Stateless like Postgres: `servers.py ctl redis DIR stop` works from
    another process, and a restart keeps the socket and the port."""

    def __init__(self, workdir=None):
        self.workdir = workdir or make_workdir("natter-redis-")
        self.socket = os.path.join(self.workdir, "redis.sock")
        self.logfile = os.path.join(self.workdir, "redis.log")
        self.pidfile = os.path.join(self.workdir, "redis.pid")
        self.portfile = os.path.join(self.workdir, "port")
        if shutil.which("redis-server") is None:
            raise FixtureError("redis-server is not installed: apt-get install redis-server")

    @property
    def uri(self):
        return f"unix://{self.socket}"

    @property
    def port(self):
        if not os.path.exists(self.portfile):
            with open(self.portfile, "w") as f:
                f.write(str(free_port()))
        with open(self.portfile) as f:
            return int(f.read())

    @property
    def tcp_uri(self):
        return f"redis://127.0.0.1:{self.port}"

    @property
    def pid(self):
        return read_pid(self.pidfile)

    def start(self):
        result = subprocess.run(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--unixsocket", self.socket,
             "--unixsocketperm", "777", "--save", "", "--appendonly", "no",
             "--daemonize", "yes", "--pidfile", self.pidfile, "--logfile", self.logfile,
             "--dir", self.workdir],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)
        if result.returncode != 0:
            raise FixtureError(f"redis-server failed: {result.stdout}")
        wait_until(self.ping, START_TIMEOUT, "Redis", self.logfile)
        log(f"Redis ready on {self.socket} (pid {self.pid})")
        return self

    def ping(self):
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(1)
                s.connect(self.socket)
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def _signal(self, signum):
        pid = self.pid
        if pid is not None and process_alive(pid):
            os.kill(pid, signum)
            wait_until(lambda: not process_alive(pid), 30, "Redis to stop")
        for path in (self.pidfile, self.socket):
            # A server killed hard leaves these behind; the next one must bind the socket.
            if os.path.exists(path):
                os.unlink(path)

    def stop(self):
        self._signal(signal.SIGTERM)

    def kill(self):
        self._signal(signal.SIGKILL)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


SERVERS = {"postgres": Postgres, "redis": Redis}


def ctl(argv):
    """servers.py ctl postgres|redis DIR start|stop|kill"""
    if len(argv) != 3 or argv[0] not in SERVERS or argv[2] not in ("start", "stop", "kill"):
        print(ctl.__doc__, file=sys.stderr)
        return 2
    server = SERVERS[argv[0]](argv[1])
    try:
        getattr(server, argv[2])()
    except FixtureError as e:
        log(f"FATAL: {e}")
        return 1
    return 0


def main():
    if sys.argv[1:2] == ["ctl"]:
        return ctl(sys.argv[2:])

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--redis", action="store_true")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command to run")

    servers = []
    env = dict(os.environ)
    env["NATTER_TEST_SERVERS"] = os.path.abspath(__file__)
    try:
        if args.postgres:
            pg = Postgres()
            servers.append(pg)
            pg.start()
            env["NATTER_TEST_POSTGRES"] = pg.conninfo
            env["NATTER_TEST_POSTGRES_DIR"] = pg.workdir
        if args.redis:
            redis = Redis()
            servers.append(redis)
            redis.start()
            env["NATTER_TEST_REDIS"] = redis.uri
            env["NATTER_TEST_REDIS_DIR"] = redis.workdir
            env["NATTER_TEST_REDIS_TCP"] = redis.tcp_uri
    except FixtureError as e:
        log(f"FATAL: {e}")
        for server in servers:
            server.cleanup()
        # Bail out of TAP explicitly so the harness reports an error, not a skip.
        print(f"Bail out! cannot start the test servers: {str(e).splitlines()[0]}", flush=True)
        return 1

    try:
        result = subprocess.run(command, env=env)
        returncode = result.returncode
        if returncode != 0:
            for server in servers:
                log(f"{server.logfile}:\n{tail(server.logfile, 4000)}")
    finally:
        for server in servers:
            server.cleanup()
    return returncode


if __name__ == "__main__":
    sys.exit(main())
