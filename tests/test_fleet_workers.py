"""run_fleet over worker processes: every host once, in order, recorded by the parent only."""

from __future__ import annotations

import multiprocessing
import os
import socket
import time

import pytest

from casaudit.api import ScanOptions
from casaudit.fleet import HostResult, run_fleet
from casaudit.plan import Target
from casaudit.targets import ScanTarget


def _closed_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("workers", [1, 2])
def test_every_host_reaches_on_result_once_in_the_parent(workers: int) -> None:
    # Given hosts nobody can resolve (their DNS server is a closed loopback port)
    options = ScanOptions(dns_server=("127.0.0.1", _closed_udp_port()), timeout=0.5)
    targets = [ScanTarget(Target(f"mail{n}.gone.test", "gone.test"), options, {"n": str(n)})
               for n in range(5)]
    seen: list[int] = []
    children: list[int] = []

    def on_result(index: int, host: HostResult) -> HostResult:
        assert os.getpid() == parent
        seen.append(index)
        children.append(len(multiprocessing.active_children()))
        host.extra["history_id"] = index
        return host

    parent = os.getpid()
    began = time.monotonic()
    run = run_fleet(targets, 2, on_result, workers=workers)
    # Then each is an error entry of its own, in targets order, each handed over once
    assert time.monotonic() - began < 20
    assert sorted(seen) == list(range(5))
    assert [host.host for host in run.results] == [f"mail{n}.gone.test" for n in range(5)]
    assert [host.extra["history_id"] for host in run.results] == list(range(5))
    assert {host.error.kind for host in run.results if host.error} == {"target"}
    assert all(host.status == "error" for host in run.results)
    assert not run.interrupted
    # And with workers the scans ran in other processes, which are gone afterwards
    assert (max(children) > 0) == (workers > 1)
    assert not multiprocessing.active_children()
