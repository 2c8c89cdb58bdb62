"""``--rate`` seen from the server: new connections per second to one lab host, every listener.

The lab logs each connection its HTTP, HTTPS, POP3 and IMAP4 listeners accept
(`LabInstance.connections`); these tests scan one host through the real CLI and
count, in every sliding one-second window, the connections the host accepted.
Ten a second evenly spaced give 11 in a closed window (0.0, 0.1 ... 1.0).

Posture: exchange2016-direct, the cheapest shipped host with findings in every
area the families report (about 110 connections per scan: 46 TLS handshakes,
the rest HTTP, NTLM, host-less and Autodiscover requests; its mail ports are the
lab's closed port, whose refused attempts no listener sees). At 10 a second each
paced scan takes about 8 s; the module about 30 s.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from casaudit.api import ScanOptions, audit
from casaudit.lab import Lab, LabInstance
from casaudit.lab.connections import AcceptedConnection, busiest_window
from casaudit.plan import Target
from tests.conftest import run_cli

POSTURE = "exchange2016-direct"
RATE = 10
#: The most connections 10 a second allow in a closed one-second window.
BOUND = RATE + 1


@dataclass(frozen=True)
class Scan:
    document: dict[str, Any]
    connections: list[AcceptedConnection]
    seconds: float

    def busiest(self) -> int:
        return busiest_window(c.at for c in self.connections)

    def findings(self) -> list[tuple[str, str, str, str]]:
        return [(f["id"], f["check"], f["endpoint"], f["severity"]) for f in self.document["findings"]]

    def rows(self) -> list[tuple[str, str, str]]:
        return sorted((r["check"], r["endpoint"], r["status"]) for r in self.document["checks"])


@pytest.fixture(scope="module")
def lab() -> Iterator[LabInstance]:
    with Lab.start(POSTURE) as lab:
        yield lab


def _scan(lab: LabInstance, tmp: Path, *options: str) -> Scan:
    time.sleep(0.3)  # let the lab accept whatever an earlier scan left in its backlog
    lab.connection_log.clear()
    output = tmp / "scan.json"
    started = time.monotonic()
    run = run_cli("scan", *lab.scan_args(), "--no-history", "--json", str(output), *options,
                  timeout=180)
    seconds = time.monotonic() - started
    assert run.code in (0, 1), run.stderr
    time.sleep(0.3)
    return Scan(json.loads(output.read_text()), lab.connections(), seconds)


@pytest.fixture(scope="module")
def unpaced(lab: LabInstance, tmp_path_factory: pytest.TempPathFactory) -> Scan:
    return _scan(lab, tmp_path_factory.mktemp("unpaced"))


@pytest.fixture(scope="module")
def paced(lab: LabInstance, tmp_path_factory: pytest.TempPathFactory) -> Scan:
    return _scan(lab, tmp_path_factory.mktemp("paced"), "--rate", str(RATE))


@pytest.fixture(scope="module")
def paced_tls_http(lab: LabInstance, tmp_path_factory: pytest.TempPathFactory) -> Scan:
    return _scan(lab, tmp_path_factory.mktemp("paced-tls"), "--rate", str(RATE),
                 "--probes", "tls,http")


def test_unpaced_the_host_sees_bursts(unpaced: Scan) -> None:
    # The measurement can fail: without --rate nearly every connection lands in one second.
    assert len(unpaced.connections) >= 80
    assert unpaced.busiest() > 3 * BOUND


def test_rate_10_bounds_tls_handshakes_and_http_requests_at_the_server(paced_tls_http: Scan) -> None:
    # Given --rate 10 and the TLS family (sslyze, suite enumeration, pre-handshakes) and HTTP
    scan = paced_tls_http
    # Then the host never accepted more than 11 connections in any one second,
    # over at least the seconds that many connections need at 10 a second
    assert len(scan.connections) >= 60
    assert {c.service for c in scan.connections} == {"http", "https"}
    assert scan.busiest() <= BOUND, _per_second(scan.connections)
    assert scan.seconds >= (len(scan.connections) - 1) / RATE


def test_rate_10_bounds_new_connections_across_every_family_at_the_server(paced: Scan) -> None:
    # Given --rate 10 and every probe family
    # Then the host never accepted more than 11 connections in any one second
    assert paced.busiest() <= BOUND, _per_second(paced.connections)


def test_a_paced_scan_finds_what_an_unpaced_scan_finds(unpaced: Scan, paced: Scan) -> None:
    # Given the same host scanned without and with --rate 10 (every family)
    # Then the findings, ids included, and every check row's status are the same
    assert paced.findings() == unpaced.findings()
    assert paced.rows() == unpaced.rows()
    assert paced.document["summary"]["status"] == unpaced.document["summary"]["status"]
    assert len(paced.findings()) >= 20
    # and pacing spread about the same connections out instead of dropping them (HTTP
    # keep-alive reuse varies with timing by a connection or two)
    assert abs(len(paced.connections) - len(unpaced.connections)) <= len(unpaced.connections) // 20
    assert paced.seconds > 3 * unpaced.seconds


def _per_second(connections: list[AcceptedConnection]) -> str:
    """Connections per whole second of the scan, by service, for a failure message."""
    if not connections:
        return "no connections"
    start = connections[0].at
    seconds: dict[int, dict[str, int]] = {}
    for c in connections:
        second = seconds.setdefault(int(c.at - start), {})
        second[c.service] = second.get(c.service, 0) + 1
    return "; ".join(f"{s}s: {counts}" for s, counts in sorted(seconds.items()))


def test_the_deadline_stops_a_paced_tls_scan_inside_sslyze(lab: LabInstance) -> None:
    # Given a TLS scan that needs about 9 s at 5 connections a second, and a deadline of 3 s
    time.sleep(0.3)
    lab.connection_log.clear()
    started = time.monotonic()
    run = run_cli("scan", *lab.scan_args(), "--no-history", "--probes", "tls", "--rate", "5",
                  "--deadline", "3", timeout=60)
    ended = time.monotonic()
    # Then the host is an error at its deadline, and the process (which waits for the TLS
    # step's thread) ends soon after: sslyze's queued connections failed at once instead
    # of being paced to the end of the batch
    assert run.code not in (0, 1), run.stdout
    assert "deadline" in run.stderr and "Traceback" not in run.stderr
    assert ended - started < 3 + 3, ended - started
    time.sleep(0.5)
    connections = lab.connections()
    assert 5 <= len(connections) <= 5 * 3 + 1, _per_second(connections)
    assert busiest_window(c.at for c in connections) <= 5 + 1


def test_two_hosts_scanned_at_once_in_one_process_each_keep_their_own_rate(lab: LabInstance) -> None:
    # Given a second host of the same name on another loopback address, and both scanned
    # at once in one process (a fleet's --parallel threads), TLS only, 10 a second each
    time.sleep(0.3)
    lab.connection_log.clear()
    with Lab.start(POSTURE, address="127.0.0.2") as other:
        def scan(host: LabInstance) -> None:
            audit(Target(host.host, host.domain, host.target_ports()),
                  ScanOptions(pins={name: host.address for name in host.names},
                              ca_file=host.ca_file, probes=("tls",), rate=RATE))

        threads = [threading.Thread(target=scan, args=(host,)) for host in (lab, other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        time.sleep(0.3)
        mine, theirs = lab.connections(), other.connections()
    # Then each host saw at most 11 connections a second, while together they saw about
    # twice that: each scan waited for its own host's pacer, not for a shared one
    assert len(mine) == len(theirs) >= 40
    assert busiest_window(c.at for c in mine) <= BOUND, _per_second(mine)
    assert busiest_window(c.at for c in theirs) <= BOUND, _per_second(theirs)
    assert busiest_window(c.at for c in mine + theirs) >= 2 * RATE - 2
