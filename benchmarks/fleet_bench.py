"""Benchmark: `casaudit scan --targets` over N lab hosts on N loopback addresses.

    PYTHONPATH=. python benchmarks/fleet_bench.py --hosts 1,8,32,128
    PYTHONPATH=. python benchmarks/fleet_bench.py --hosts 1,32 --delay-ms 10   # 20 ms round trip

One lab process serves max(N) hosts of the exchange2007-legacy posture, each a
whole lab of its own on its own loopback address (127.0.1.1, 127.0.1.2, ...;
Linux routes all of 127.0.0.0/8 to lo): its own names mail.hNNN.bench.test,
hNNN.bench.test and autodiscover.hNNN.bench.test, its own CA and certificate,
listeners and DNS server. Host n of the targets file is pinned (--resolve
pins) to lab n and asks lab n's DNS server for SRV, so nothing is shared
between hosts but the lab process and the scanner process. Point N scans the
first N labs.

The scanner is the real CLI in its own process; its wall time and CPU time
(worker processes included) come from wait4, as does the peak resident memory
of its largest process; the memory of all its processes together is sampled
from /proc every 0.1 s (summed RSS, and PSS, which counts pages the forked
workers share with the parent once). The lab's CPU time over the same
interval comes from getrusage inside the lab process (asked before and after),
as do its TLS handshakes (server-side wraps) and TCP connections accepted, so
work is compared in CPU seconds and handshakes, which other jobs on the
machine do not distort as they do wall time. Requests are the HTTP exchanges
recorded in the JSON.

The lab's listeners poll for shutdown every 50 ms, which at 128 labs x 7
listeners would burn most of a core doing nothing; the benchmark's lab
process lengthens those polls to 2 s (it never shuts its labs down; it exits)
and reports the idle CPU it still uses.

--delay-ms D puts a forwarding proxy (on the host's own address) in front of
each lab port that holds every chunk D ms in each direction (round trip 2*D
for each request, TLS handshake flights included; the TCP handshake itself is
not delayed). It stands in for `tc qdisc ... netem` where the kernel has no
sch_netem. Loopback only, no system DNS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path

POSTURE = "exchange2007-legacy"
OPENSSL_LEGACY_CIPHERS = ("AES128-SHA256:AES128-SHA:AES256-SHA256:AES256-SHA:ECDHE-RSA-AES128-SHA256:"
                          "ECDHE-RSA-AES256-SHA384:ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA")
#: Seconds between the lab listeners' shutdown polls in the benchmark (the lab's own: 0.05).
IDLE_POLL = 2.0


def address_of(number: int) -> str:
    """127.0.1.1, 127.0.1.2, ... 127.0.1.250, 127.0.2.1, ...: one loopback address per host."""
    return f"127.0.{1 + number // 250}.{1 + number % 250}"


# --------------------------------------------------------------------------- the lab side


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def pump() -> None:
        while True:
            due, chunk = await queue.get()
            if not chunk:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(chunk)
            await writer.drain()

    task = asyncio.create_task(pump())
    try:
        while chunk := await reader.read(65536):
            queue.put_nowait((time.monotonic() + delay, chunk))
    except OSError:
        pass
    queue.put_nowait((0.0, b""))
    try:
        await task
    except OSError:
        pass
    try:
        writer.close()
    except OSError:
        pass


async def _proxy(address: str, upstream_port: int, delay: float, ready: list[int]) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(address, upstream_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer, delay), _pipe(up_reader, writer, delay))

    server = await asyncio.start_server(handle, address, 0, backlog=1024)
    ready.append(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


class _Counters:
    """TLS handshakes the lab's servers start and TCP connections they accept."""

    def __init__(self) -> None:
        import socket
        import ssl

        self.handshakes = 0
        self.accepted = 0
        self._lock = threading.Lock()
        wrap, accept = ssl.SSLContext.wrap_socket, socket.socket.accept
        counters = self

        def counted_wrap(context, sock, *args, **kwargs):  # type: ignore[no-untyped-def]
            if kwargs.get("server_side"):
                with counters._lock:
                    counters.handshakes += 1
            return wrap(context, sock, *args, **kwargs)

        def counted_accept(sock):  # type: ignore[no-untyped-def]
            result = accept(sock)
            with counters._lock:
                counters.accepted += 1
            return result

        ssl.SSLContext.wrap_socket = counted_wrap  # type: ignore[method-assign]
        socket.socket.accept = counted_accept  # type: ignore[method-assign]


def _slow_idle_polls() -> None:
    """Lengthen the lab listeners' shutdown polls (see the module docstring)."""
    import socketserver

    from casaudit.lab import mail_server

    serve_forever = socketserver.BaseServer.serve_forever
    socketserver.BaseServer.serve_forever = (  # type: ignore[method-assign]
        lambda self, poll_interval=IDLE_POLL: serve_forever(self, IDLE_POLL))
    init = mail_server.MailListener.__init__

    def mail_init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        init(self, *args, **kwargs)
        self._socket.settimeout(IDLE_POLL)

    mail_server.MailListener.__init__ = mail_init  # type: ignore[method-assign]


def _posture(number: int):  # type: ignore[no-untyped-def]
    from casaudit.lab.posture import load_posture

    base = load_posture(POSTURE)
    domain = f"h{number:03d}.bench.test"
    host = f"mail.{domain}"
    assert base.tls is not None
    return replace(
        base, host=host, domain=domain,
        # OpenSSL serves every TLS port with Schannel's TLS 1.0-1.2 suites as the posture did
        # before its SSL 3.0/RC4 ports moved to tlslite-ng: pure-Python server handshakes
        # (about 2 CPU-s per host) would take the cores the scanner is measured on.
        tls=replace(base.tls, names=(host,), tlslite=None, min_version="TLSv1",
                    max_version="TLSv1.2", ciphers=OPENSSL_LEGACY_CIPHERS),
        srv=tuple(replace(srv, name=f"_autodiscover._tcp.{domain}", target=host) for srv in base.srv),
    )


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def serve_labs(connection: Connection, hosts: int, delay_ms: float, workdir: str) -> None:
    """The lab process: `hosts` labs, then answer "usage" until told to stop, then exit."""
    from casaudit.lab import Lab

    _slow_idle_polls()
    counters = _Counters()
    loop = asyncio.new_event_loop()
    if delay_ms:
        threading.Thread(target=loop.run_forever, daemon=True).start()
    labs = []
    for number in range(hosts):
        address = address_of(number)
        lab = Lab.start(_posture(number), Path(workdir) / f"lab{number}", address=address).instance
        ports = dict(lab.ports)
        if delay_ms:
            for service, port in list(ports.items()):
                found: list[int] = []
                asyncio.run_coroutine_threadsafe(_proxy(address, port, delay_ms / 1000, found), loop)
                while not found:
                    time.sleep(0.005)
                ports[service] = found[0]
        labs.append({"host": lab.host, "domain": lab.domain, "address": address, "ports": ports,
                     "names": list(lab.names), "dns": lab.dns_server, "ca_file": str(lab.ca_file)})
    connection.send(labs)
    while connection.recv() == "usage":
        connection.send({"cpu_s": _cpu(), "handshakes": counters.handshakes,
                         "accepted": counters.accepted, "threads": threading.active_count()})
    connection.close()
    os._exit(0)  # the labs' threads are daemons; the temp dir goes with the benchmark's


# --------------------------------------------------------------------------- the scanner side


def targets_file(path: Path, labs: list[dict], timeout: float) -> None:
    lines = ["[defaults]", f"timeout = {timeout}", ""]
    for number, lab in enumerate(labs):
        port_table = ", ".join(f"{service} = {port}" for service, port in lab["ports"].items())
        pins = ", ".join(f'"{name}:{lab["address"]}"' for name in lab["names"])
        lines += ["[[targets]]", f'host = "{lab["host"]}"', f'domain = "{lab["domain"]}"',
                  f"ports = {{ {port_table} }}", f"resolve = [{pins}]",
                  f'dns_server = "{lab["dns"]}"', f'ca_file = "{lab["ca_file"]}"',
                  f'tags = {{ n = "{number}" }}', ""]
    path.write_text("\n".join(lines))


def _seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants."""
    pids, index = [pid], 0
    while index < len(pids):
        try:
            for task in os.listdir(f"/proc/{pids[index]}/task"):
                with open(f"/proc/{pids[index]}/task/{task}/children") as children:
                    pids += [int(child) for child in children.read().split()]
        except OSError:
            pass
        index += 1
    return pids


def _memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in KiB; PSS shares copy-on-write pages among the forks."""
    values = {"Rss:": 0, "Pss:": 0}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                name, _, rest = line.partition(" ")
                if name in values:
                    values[name] = int(rest.split()[0])
    except (OSError, ValueError):
        pass
    return values["Rss:"], values["Pss:"]


class TreeMemory(threading.Thread):
    """Samples the summed memory of the scanner and its worker processes every 0.1 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.rss_kb, self.pss_kb = pid, 0, 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.1):
            sizes = [_memory_kb(pid) for pid in _tree(self.pid)]
            self.rss_kb = max(self.rss_kb, sum(rss for rss, _ in sizes))
            self.pss_kb = max(self.pss_kb, sum(pss for _, pss in sizes))


def _usage(lab: Connection) -> dict:
    lab.send("usage")
    return lab.recv()


def run_point(
    hosts: int, labs: list[dict], lab: Connection, workdir: Path, extra: list[str], timeout: float
) -> dict:
    targets, out = workdir / f"t{hosts}.toml", workdir / f"fleet{hosts}.json"
    db = workdir / f"h{hosts}.db"
    db.unlink(missing_ok=True)
    targets_file(targets, labs[:hosts], timeout)
    command = [sys.executable, "-m", "casaudit", "scan", "--targets", str(targets),
               "--json", str(out), "--db", str(db), *extra]
    load = os.getloadavg()[0]
    before = _usage(lab)
    began = time.monotonic()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    memory = TreeMemory(child.pid)
    memory.start()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - began
    memory.done.set()
    memory.join()
    after = _usage(lab)
    child.returncode = os.waitstatus_to_exitcode(status)
    document = json.loads(out.read_text())
    results = document["results"]
    # HTTP exchanges of every probe family that records them (web, Autodiscover).
    requests = sum(len(item.get("exchanges") or ()) for entry in results if entry["scan"]
                   for item in entry["scan"]["evidence"])
    durations = [_seconds(e["finished_at"]) - _seconds(e["started_at"]) for e in results]
    scanner_cpu = usage.ru_utime + usage.ru_stime
    lab_cpu = after["cpu_s"] - before["cpu_s"]
    return {
        "hosts": hosts,
        "load": round(load, 2),
        "exit": child.returncode,
        "assessed": document["summary"]["assessed"],
        "errors": document["summary"]["errors"],
        "findings": sum(document["summary"]["findings_by_severity"].values()),
        "wall_s": round(wall, 2),
        "requests": requests,
        "handshakes": after["handshakes"] - before["handshakes"],
        "connections": after["accepted"] - before["accepted"],
        # wait4: the largest single process (the scanner, or one of its workers);
        # sampled: the sum over the scanner and its workers, RSS and PSS.
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "tree_rss_mb": round(memory.rss_kb / 1024, 1),
        "tree_pss_mb": round(memory.pss_kb / 1024, 1),
        "scanner_cpu_s": round(scanner_cpu, 2),
        "lab_cpu_s": round(lab_cpu, 2),
        "cpu_per_host_s": round((scanner_cpu + lab_cpu) / hosts, 3),
        "median_host_scan_s": round(statistics.median(durations), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", default="1,8,32,128")
    parser.add_argument("--parallel", type=int, default=32, help="hosts at once (scan --parallel)")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="connections per host (scan --concurrency)")
    parser.add_argument("--timeout", type=float, default=10)
    parser.add_argument("--delay-ms", type=float, default=0, help="one-way delay per direction")
    parser.add_argument("--repeat", type=int, default=1, help="runs per point; the fastest is kept")
    parser.add_argument("scan_args", nargs="*", help="more `casaudit scan` options, after --")
    args = parser.parse_args()
    points = [int(n) for n in args.hosts.split(",")]
    extra = ["--parallel", str(args.parallel), "--concurrency", str(args.concurrency), *args.scan_args]

    rows = []
    with tempfile.TemporaryDirectory(prefix="casaudit-bench-") as work:
        ours, theirs = multiprocessing.Pipe()
        server = multiprocessing.Process(
            target=serve_labs, args=(theirs, max(points), args.delay_ms, work), daemon=True)
        server.start()
        labs = ours.recv()
        idle = _usage(ours)
        time.sleep(3)
        idle_rate = (_usage(ours)["cpu_s"] - idle["cpu_s"]) / 3
        print(f"{len(labs)} labs up ({labs[0]['address']} .. {labs[-1]['address']}); "
              f"idle lab CPU {idle_rate:.3f} s/s", flush=True)
        try:
            for hosts in points:
                runs = [run_point(hosts, labs, ours, Path(work), extra, args.timeout)
                        for _ in range(args.repeat)]
                row = min(runs, key=lambda r: r["wall_s"])
                rows.append(row)
                print(json.dumps(row), flush=True)
        finally:
            ours.send("stop")
            server.join(10)
    base = rows[0]["wall_s"]
    print(f"\nround trip added: {2 * args.delay_ms:g} ms; {' '.join(extra)}; {os.cpu_count()} CPUs; "
          f"idle lab CPU {idle_rate:.3f} s/s")
    print("| hosts | load | wall s | x of first | requests | TLS handshakes | connections "
          "| peak RSS MB (largest process / all, RSS / all, PSS) | scanner CPU s | lab CPU s "
          "| CPU s/host | median host scan s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['hosts']} | {r['load']} | {r['wall_s']} | {r['wall_s'] / base:.1f} | {r['requests']} "
              f"| {r['handshakes']} | {r['connections']} "
              f"| {r['peak_rss_mb']} / {r['tree_rss_mb']} / {r['tree_pss_mb']} | {r['scanner_cpu_s']} "
              f"| {r['lab_cpu_s']} | {r['cpu_per_host_s']} | {r['median_host_scan_s']} |")


if __name__ == "__main__":
    main()
