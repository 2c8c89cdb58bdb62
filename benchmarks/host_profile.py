"""Where one host's scan spends CPU and handshakes, per probe family and per sslyze command.

    PYTHONPATH=. python benchmarks/host_profile.py [--repeat 3] [--posture exchange2007-legacy]

A lab process serves the posture on 127.0.2.1. The scanner (this process)
audits it with `casaudit.api.audit`, once per probe family alone and once
with every family, after one warm-up scan (imports, sslyze's trust stores),
and reports the scanner's CPU seconds (getrusage), the lab's (getrusage in
the lab process, asked before and after), and the connections the scanner
opened, by who opened them: sslyze's connectivity test, each sslyze scan
command, casaudit's suite enumeration, the TLS pre-handshake, and the other
families. Counts are of TCP connections (socket.create_connection, which
sslyze uses too), by port.
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import resource
import sys
import threading
import traceback
from multiprocessing.connection import Connection
from typing import Any

ADDRESS = "127.0.2.1"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def serve(connection: Connection, posture: str) -> None:
    from casaudit.lab import Lab

    with Lab.start(posture, address=ADDRESS) as lab:
        connection.send({"args": lab.scan_args(), "ports": lab.ports})
        while connection.recv() == "usage":
            connection.send(_cpu())


class Connections:
    """Counts every TCP connection this process opens, keyed by (opener, port)."""

    def __init__(self) -> None:
        import socket

        self.counts: collections.Counter[tuple[str, int]] = collections.Counter()
        self._lock = threading.Lock()
        create = socket.create_connection  # sslyze's connections go through it too

        def counted_create(address: Any, *args: Any, **kwargs: Any) -> Any:
            self._count(address[1])
            return create(address, *args, **kwargs)

        socket.create_connection = counted_create

    def _count(self, port: int) -> None:
        who = "other"
        for frame in reversed(traceback.extract_stack(limit=40)):
            path = frame.filename.replace("\\", "/")
            if "/sslyze/plugins/" in path:
                who = "sslyze:" + path.split("/sslyze/plugins/")[1].split("/")[0]
                break
            if path.endswith("sslyze/server_connectivity.py"):
                who = "sslyze:connectivity"
                break
            if path.endswith("casaudit/probes/tls_suites.py"):
                who = "casaudit:suite_enumeration"
                break
            if path.endswith("casaudit/probes/tls_preflight.py"):
                who = "casaudit:tls_preflight"
                break
            if "/casaudit/probes/" in path:
                who = "casaudit:" + path.rsplit("/", 1)[1].removesuffix(".py")
                break
        with self._lock:
            self.counts[(who, port)] += 1

    def take(self) -> collections.Counter[tuple[str, int]]:
        with self._lock:
            counts, self.counts = self.counts, collections.Counter()
        return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posture", default="exchange2007-legacy")
    parser.add_argument("--repeat", type=int, default=3, help="scans per row; CPU is the median")
    parser.add_argument("--families", default="", help="comma-separated; default: each, then all")
    args = parser.parse_args()

    from casaudit.api import ScanOptions, audit
    from casaudit.plan import Target
    from casaudit.probes import families
    from casaudit.resolve import parse_dns_server, parse_pin

    ours, theirs = multiprocessing.Pipe()
    lab_process = multiprocessing.Process(target=serve, args=(theirs, args.posture), daemon=True)
    lab_process.start()
    lab = ours.recv()
    scan_args: list[str] = lab["args"]
    host = scan_args[0]
    values = collections.defaultdict(list)
    for flag, value in zip(scan_args[1::2], scan_args[2::2], strict=True):
        values[flag].append(value)
    ports = dict(item.split("=") for item in values["--port"])
    from pathlib import Path

    base = ScanOptions(
        pins=dict(parse_pin(p) for p in values["--resolve"]),
        dns_server=parse_dns_server(values["--dns-server"][0]),
        ca_file=Path(values["--ca-file"][0]),
        timeout=10,
    )
    target = Target(host=host, domain=host.split(".", 1)[1],
                    ports={service: int(port) for service, port in ports.items()})
    port_names = {int(port): service for service, port in ports.items()}
    counter = Connections()

    def measure(probes: tuple[str, ...]) -> tuple[float, float, collections.Counter[tuple[str, int]]]:
        from dataclasses import replace

        scanner, lab_cpu = [], []
        counts: collections.Counter[tuple[str, int]] = collections.Counter()
        for _ in range(args.repeat):
            ours.send("usage")
            lab_before = ours.recv()
            before = _cpu()
            audit(target, replace(base, probes=probes))
            scanner.append(_cpu() - before)
            ours.send("usage")
            lab_cpu.append(ours.recv() - lab_before)
            counts = counter.take()
        return sorted(scanner)[len(scanner) // 2], sorted(lab_cpu)[len(lab_cpu) // 2], counts

    measure(())  # warm-up: imports, trust stores, check catalogue
    chosen = args.families.split(",") if args.families else [*families(), "all"]
    print(f"{args.posture} on {ADDRESS}; median of {args.repeat} scans; CPU seconds")
    print("| probes | scanner CPU s | lab CPU s | TCP connections |")
    print("|---|---|---|---|")
    detail = None
    for name in chosen:
        probes = () if name == "all" else (name,)
        scanner, lab_cpu, counts = measure(probes)
        print(f"| {name} | {scanner:.3f} | {lab_cpu:.3f} | {sum(counts.values())} |", flush=True)
        if name in ("tls", "all"):
            detail = counts
    if detail is not None:
        print("\nconnections of the last scan with TLS, by opener and service:")
        by_who: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        for (who, port), count in detail.items():
            by_who[who][port_names.get(port, str(port))] += count
        for who, per_port in sorted(by_who.items(), key=lambda item: -sum(item[1].values())):
            print(f"  {who:40} {sum(per_port.values()):4}  {dict(sorted(per_port.items()))}")
    ours.send("stop")
    lab_process.join(10)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
