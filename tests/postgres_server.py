"""A real PostgreSQL (Debian's package) on 127.0.0.1 for the history tests, started per session.

`postgres` refuses to run as root and the tests run as root in CI: the server runs
as the package's `postgres` account (else `nobody`), in a temporary
data directory, password authentication on (so that a URL carries a password, as a
shared history's would). Each test gets a database of its own.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.system_packages import ensure_debian_packages

USER = "casaudit"
PASSWORD = "s3cret-Pa55word"  # noqa: S105 - a throw-away server on loopback
START_SECONDS = 30


@dataclass(frozen=True)
class PostgresServer:
    port: int

    def url(self, database: str = "postgres", password: str = PASSWORD) -> str:
        return f"postgresql://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.url(), autocommit=True, connect_timeout=10) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        return self.url(name)


def _binaries() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    return found[-1].parent if found else None


def postgres_binaries() -> Path:
    """The directory of initdb and postgres, installing Debian's `postgresql` when missing."""
    directory = _binaries()
    if directory is None:
        pytest.importorskip("psycopg", reason="psycopg is not installed (pip install -e '.[test]')")
        ensure_debian_packages("pg_ctlcluster", "postgresql")
        directory = _binaries()
    if directory is None:
        pytest.skip("the postgresql package is installed but no server binary was found")
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install -e '.[test]')")
    return directory


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_server_user() -> dict[str, Any]:
    """Popen arguments that run the child as the server account when the tests are root.

    Not through runuser: a signal to runuser may not reach the server, which would
    outlive the session."""
    if os.geteuid() != 0:
        return {}
    account = _server_account()
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": [],
            "env": {**os.environ, "HOME": str(account.pw_dir)}}


def _server_account() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        return pwd.getpwnam("nobody")


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    binaries = postgres_binaries()
    workdir = Path(tempfile.mkdtemp(prefix="casaudit-postgres-"))
    try:
        if os.geteuid() == 0:
            account = _server_account()
            os.chown(workdir, account.pw_uid, account.pw_gid)
        (workdir / "pw").write_text(PASSWORD + "\n")
        if os.geteuid() == 0:
            os.chown(workdir / "pw", account.pw_uid, account.pw_gid)
        data = workdir / "data"
        done = subprocess.run(
            [str(binaries / "initdb"), "-D", str(data), "-U", USER, "-E", "UTF8",
             "--locale=C", "--auth=scram-sha-256", f"--pwfile={workdir / 'pw'}"],
            capture_output=True, text=True, timeout=120, cwd=workdir, **_as_server_user())
        if done.returncode != 0:
            pytest.fail(f"initdb failed: {done.stderr[-1500:]}")
        port = _free_port()
        log = (workdir / "postgres.log").open("w")
        server = subprocess.Popen(
            [str(binaries / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port),
             "-k", str(workdir), "-c", "fsync=off", "-c", "max_connections=50"],
            stdout=log, stderr=subprocess.STDOUT, cwd=workdir, **_as_server_user())
        try:
            _wait_ready(PostgresServer(port), server, workdir / "postgres.log")
            yield PostgresServer(port)
        finally:
            server.send_signal(2)  # SIGINT: PostgreSQL's fast shutdown
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)
            log.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_ready(server: PostgresServer, process: subprocess.Popen[bytes], log: Path) -> None:
    import psycopg

    deadline = time.monotonic() + START_SECONDS
    while True:
        if process.poll() is not None:
            pytest.fail(f"postgres exited with {process.returncode}: {log.read_text()[-1500:]}")
        try:
            psycopg.connect(server.url(), connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                pytest.fail(f"postgres did not accept connections in {START_SECONDS} s")
            time.sleep(0.1)
