"""A real redis-server (Debian's package) on 127.0.0.1 for the distributed tests, started per session.

The Celery broker of `casaudit worker` / `scan --broker` is Redis: the tests talk to
the real server rather than a fake, so acknowledgement, re-delivery and visibility
timeouts behave as in production. The server has no persistence (a throw-away
temporary directory), listens on loopback only, and requires a password, so that
broker URLs carry one as a real broker's would (and the tests can check it never
leaks). Each test takes a database number of its own with `new_url()`, emptied first.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.system_packages import ensure_debian_packages

PASSWORD = "r3dis-Thr0waway-Pa55"  # noqa: S105 - a throw-away server on loopback
START_SECONDS = 20
STOP_SECONDS = 10
# Redis's default `databases 16`: the numbers a URL's path may name
DATABASES = 16


@dataclass
class RedisServer:
    port: int
    _next_database: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def url(self, db: int = 0, password: str = PASSWORD) -> str:
        return f"redis://:{password}@127.0.0.1:{self.port}/{db}"

    def client(self, db: int = 0, password: str | None = PASSWORD) -> Any:
        """A `redis.Redis` client of database `db` (no password: `password=None`)."""
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, db=db, password=password,
                           socket_timeout=5, socket_connect_timeout=5)

    def new_url(self) -> str:
        """The URL of the next database number (0..15, then 0 again), emptied first.

        Session-wide numbers cycle, so a test must not leave a worker running on its
        database past its end: a test 16 numbers later would share it."""
        with self._lock:
            db = self._next_database
            self._next_database = (db + 1) % DATABASES
        with self.client(db) as connection:
            connection.flushdb()
        return self.url(db)


def redis_server_binary() -> str:
    """The path of redis-server, installing Debian's `redis-server` when missing."""
    pytest.importorskip("redis", reason="the redis client is not installed (pip install -e '.[test]')")
    return ensure_debian_packages("redis-server", "redis-server")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _server_account() -> pwd.struct_passwd | None:
    """The package's `redis` account when the tests run as root (redis-server runs as root
    too, but need not); None otherwise."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("redis")
    except KeyError:
        return None


def _as_account(account: pwd.struct_passwd | None) -> dict[str, Any]:
    """Popen arguments that run the server as `account`: directly, not through runuser,
    so that terminate() reaches the server itself."""
    if account is None:
        return {}
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": [],
            "env": {**os.environ, "HOME": str(account.pw_dir)}}


def _server_command(binary: str, port: int, workdir: Path) -> list[str]:
    return [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir),
            "--save", "", "--appendonly", "no", "--protected-mode", "yes",
            "--requirepass", PASSWORD, "--daemonize", "no", "--databases", str(DATABASES)]


@contextmanager
def running_redis() -> Iterator[RedisServer]:
    binary = redis_server_binary()
    workdir = Path(tempfile.mkdtemp(prefix="casaudit-redis-"))
    account = _server_account()
    try:
        if account is not None:
            os.chown(workdir, account.pw_uid, account.pw_gid)
        port = _free_port()
        log_path = workdir / "redis.log"
        with log_path.open("w") as log:
            server = subprocess.Popen(_server_command(binary, port, workdir), stdout=log,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      cwd=workdir, **_as_account(account))
            try:
                _wait_ready(RedisServer(port), server, log_path)
                yield RedisServer(port)
            finally:
                _stop(server)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()  # SIGTERM: redis-server's clean shutdown (nothing to save)
    try:
        server.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=STOP_SECONDS)


def _wait_ready(server: RedisServer, process: subprocess.Popen[bytes], log: Path) -> None:
    import redis

    deadline = time.monotonic() + START_SECONDS
    while True:
        if process.poll() is not None:
            pytest.fail(f"redis-server exited with {process.returncode}: {log.read_text()[-1500:]}")
        try:
            with server.client() as connection:
                if connection.ping():
                    return
        except (redis.ConnectionError, redis.TimeoutError):
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"redis-server did not answer PING in {START_SECONDS} s: {log.read_text()[-800:]}")
        time.sleep(0.1)
