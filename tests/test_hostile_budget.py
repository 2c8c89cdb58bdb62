"""Issue #14's budget: the hostile host at the default step timeout, through the real CLI.

The hostile host of tests/unassessed_hosts.py (a tarpit on 443, a slowloris on 80,
silence after the IMAP connect, garbage for a POP3 greeting, garbage on 993 and
995) used to take 101 s at ``--timeout 10``: every request to a port that had
already proved dead waited out its own timeout again. With the per-port breaker
it finishes in under 60 s, and every port's evidence says why it stopped; with
``--deadline 20`` it stops in under 35 s with one clear line and exit 3.

One scan per test: these are the slow ones (`-m "not slow"` leaves them out).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.unassessed_hosts import UnassessedHost, hostile_host, scan

pytestmark = pytest.mark.slow

TIMEOUT_S = 10


def _at_default_timeout(host: UnassessedHost) -> UnassessedHost:
    argv = list(host.argv)
    argv[argv.index("--timeout") + 1] = str(TIMEOUT_S)
    return dataclasses.replace(host, argv=tuple(argv))


def _errors_by_port(document: dict[str, Any]) -> dict[int, list[dict[str, str] | None]]:
    """Each evidence item's failure (its first exchange's for HTTP), grouped by port."""
    found: dict[int, list[dict[str, str] | None]] = {}
    for item in document["evidence"]:
        if item["kind"] == "autodiscover" and item["method"] == "srv":
            continue  # a DNS question, answered by the lab's DNS server
        error = item["exchanges"][0]["error"] if item.get("exchanges") else item.get("error")
        port = urlsplit(item["endpoint"]).port
        assert port is not None, item["endpoint"]
        found.setdefault(port, []).append(error)
    return found


def test_the_hostile_host_finishes_in_under_a_minute_and_every_port_says_why(tmp_path: Path) -> None:
    with hostile_host() as host:
        run = scan(_at_default_timeout(host), tmp_path)
        ports = set(host.ports.values())
    print(f"hostile host at --timeout {TIMEOUT_S}: {run.seconds:.1f} s, exit {run.code}")
    assert run.seconds < 60, run.seconds
    assert run.code == 3, run.stderr
    by_port = _errors_by_port(run.doc)
    assert set(by_port) == ports
    for port, errors in by_port.items():
        # Nothing answered: every item on every port carries its reason...
        assert all(error is not None and error["kind"] and error["detail"] for error in errors), port
        # ...and at least one of them is the port's own failure, not only "skipped".
        assert any(error["kind"] != "skipped" for error in errors if error), port
        for error in errors:
            if error and error["kind"] == "skipped":
                assert f"port {port} stopped answering earlier in this scan" in error["detail"]
    # The tarpit and the slowloris were cut short by the breaker.
    assert sum(e["kind"] == "skipped" for e in by_port[host.ports["https"]] if e) >= 10
    assert sum(e["kind"] == "skipped" for e in by_port[host.ports["http"]] if e) >= 10


def test_the_hostile_host_stops_at_its_deadline_with_one_clear_line(tmp_path: Path) -> None:
    with hostile_host() as host:
        run = scan(_at_default_timeout(host), tmp_path, "--deadline", "20")
    print(f"hostile host at --timeout {TIMEOUT_S} --deadline 20: {run.seconds:.1f} s, exit {run.code}")
    assert run.seconds < 35, run.seconds
    assert run.code == 3, run.stderr
    assert run.stderr.strip().splitlines() == [
        "casaudit: error: the host's scan did not finish within its deadline of 20 s: "
        "the host was not assessed; give it more time with --deadline"]
    assert "Traceback" not in run.stderr
