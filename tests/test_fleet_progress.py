"""Fleet progress (issue #15, item 12): live on a terminal, hosts in flight shown; silent otherwise."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from tests.conftest import run_cli
from tests.fleet_support import target_entry, write_targets
from tests.unassessed_hosts import partial_timeout_host

#: The whole fleet run under the pseudo-terminal is killed past this many seconds.
RUN_LIMIT_S = 150
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _run_on_a_terminal(args: list[str], stdout: Path) -> tuple[int, str]:
    """The CLI with stderr on a pseudo-terminal (120x40), stdout to a file: (exit code, what
    the terminal received, escape sequences removed)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    with stdout.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "casaudit", *args], stdin=subprocess.DEVNULL, stdout=out, stderr=slave,
            env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"},
        )
    os.close(slave)
    received = b""
    deadline = time.monotonic() + RUN_LIMIT_S
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    chunk = b""
                if not chunk and process.poll() is not None:
                    break
                received += chunk
            elif process.poll() is not None:
                break
        code = process.wait(timeout=max(0.1, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        os.close(master)
    return code, _ANSI.sub("", received.decode("utf-8", errors="replace"))


def test_on_a_terminal_hosts_in_flight_show_before_they_finish(legacy_lab, tmp_path):
    # Given a fast host and a slow one (a lab that never answers under /EWS and /owa)
    with partial_timeout_host() as slow:
        targets = write_targets(
            tmp_path / "fleet.toml",
            target_entry(legacy_lab, dns_server=legacy_lab.dns_server),
            target_entry(slow.lab, dns_server=slow.lab.dns_server),
            defaults="timeout = 2\nconcurrency = 4\n",
        )
        # When the fleet runs with stderr on a terminal
        code, screen = _run_on_a_terminal(
            ["scan", "--targets", str(targets), "--parallel", "2", "--no-history"], tmp_path / "out.txt")
    # Then the run ended, and the slow host was on screen (in flight) before its finished line
    assert code in (1, 3), screen
    finished = re.search(rf"\[\d/2\] {re.escape(slow.lab.host)}: ", screen)
    assert finished is not None, screen
    assert screen.find(slow.lab.host) < finished.start(), screen
    # with the overall count, and both finished lines kept above the live area
    assert "0/2" in screen and "1/2" in screen, screen
    assert re.search(rf"\[\d/2\] {re.escape(legacy_lab.host)}: ", screen), screen
    # and the summary went to stdout, not into the live area
    assert slow.lab.host in (tmp_path / "out.txt").read_text()


def test_when_stderr_is_not_a_terminal_there_is_no_progress_at_all(legacy_lab, tmp_path):
    entry = target_entry(legacy_lab, dns_server=legacy_lab.dns_server)
    targets = write_targets(tmp_path / "fleet.toml", entry)
    run = run_cli("scan", "--targets", str(targets), "--no-history", timeout=120)
    assert run.code == 1, run.stderr
    # Nothing but, once the build table is over 90 days old, the one line saying so (issue #17)
    assert [line for line in run.stderr.splitlines()
            if not line.startswith("casaudit: the Exchange build table is ")] == []
    assert legacy_lab.host in run.stdout
