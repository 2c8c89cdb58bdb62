"""Benchmark: `casaudit scan --targets` over N lab hosts on loopback.

    PYTHONPATH=. python benchmarks/fleet_bench.py --hosts 1,8,32,128
    PYTHONPATH=. python benchmarks/fleet_bench.py --hosts 1,32 --delay-ms 10   # 20 ms round trip

One lab process serves the exchange2007-legacy posture on 127.0.0.1; N targets
named mail-NNN.bench.test are pinned to it (--resolve pins in the targets
file), so each host is a distinct name, certificate check and scan, while the
server side stays one process. The scanner is the real CLI in its own process;
its wall time and peak resident memory (wait4 rusage) are measured from
outside. Requests are counted from the JSON: every HTTP exchange sent.

--delay-ms D puts a forwarding proxy in front of each lab port that holds
every chunk D ms in each direction (round trip 2*D for each request, TLS
handshake flights included; the TCP handshake itself is not delayed). It
stands in for `tc qdisc ... netem` where the kernel has no sch_netem.
Loopback only, no DNS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

POSTURE = "exchange2007-legacy"


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


async def _proxy(upstream_port: int, delay: float, ready: list[int]) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer, delay), _pipe(up_reader, writer, delay))

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    ready.append(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


def serve_lab(connection: multiprocessing.connection.Connection, delay_ms: float) -> None:
    from casaudit.lab import Lab

    with Lab.start(POSTURE) as lab:
        ports = dict(lab.ports)
        if delay_ms:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, daemon=True).start()
            for service, port in list(ports.items()):
                found: list[int] = []
                asyncio.run_coroutine_threadsafe(_proxy(port, delay_ms / 1000, found), loop)
                while not found:
                    time.sleep(0.01)
                ports[service] = found[0]
        connection.send({"ports": ports, "ca_file": str(lab.ca_file)})
        connection.recv()  # until told to stop


# --------------------------------------------------------------------------- the scanner side


def targets_file(path: Path, hosts: int, ports: dict[str, int], ca_file: str, timeout: float) -> None:
    port_table = ", ".join(f"{service} = {port}" for service, port in ports.items())
    lines = ["[defaults]", f"timeout = {timeout}", f"ports = {{ {port_table} }}",
             f'ca_file = "{ca_file}"', ""]
    for number in range(hosts):
        host = f"mail-{number:03d}.bench.test"
        lines += ["[[targets]]", f'host = "{host}"',
                  f'resolve = ["{host}:127.0.0.1", "autodiscover.bench.test:127.0.0.1", '
                  '"bench.test:127.0.0.1"]',
                  f'tags = {{ n = "{number}" }}', ""]
    path.write_text("\n".join(lines))


def _seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def run_point(
    hosts: int, lab: dict, workdir: Path, parallel: int, concurrency: int, timeout: float
) -> dict:
    targets, out = workdir / f"t{hosts}.toml", workdir / f"fleet{hosts}.json"
    db = workdir / f"h{hosts}.db"
    targets_file(targets, hosts, lab["ports"], lab["ca_file"], timeout)
    command = [sys.executable, "-m", "casaudit", "scan", "--targets", str(targets),
               "--parallel", str(parallel), "--concurrency", str(concurrency),
               "--json", str(out), "--db", str(db)]
    began = time.monotonic()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - began
    child.returncode = os.waitstatus_to_exitcode(status)
    document = json.loads(out.read_text())
    results = document["results"]
    # HTTP exchanges of every probe family that records them (web, Autodiscover);
    # TLS handshakes and mail dialogues are not counted here.
    requests = sum(len(item.get("exchanges") or ()) for entry in results if entry["scan"]
                   for item in entry["scan"]["evidence"])
    durations = [_seconds(e["finished_at"]) - _seconds(e["started_at"]) for e in results]
    return {
        "hosts": hosts,
        "exit": child.returncode,
        "assessed": document["summary"]["assessed"],
        "errors": document["summary"]["errors"],
        "wall_s": round(wall, 2),
        "requests": requests,
        "requests_per_s": round(requests / wall, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "wall_per_host_s": round(wall / hosts, 3),
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
    args = parser.parse_args()

    ours, theirs = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve_lab, args=(theirs, args.delay_ms), daemon=True)
    server.start()
    lab = ours.recv()
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="casaudit-bench-") as work:
            for hosts in (int(n) for n in args.hosts.split(",")):
                runs = [run_point(hosts, lab, Path(work), args.parallel, args.concurrency, args.timeout)
                        for _ in range(args.repeat)]
                row = min(runs, key=lambda r: r["wall_s"])
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        ours.send("stop")
        server.join(10)
    base = rows[0]["wall_s"]
    print(f"\nround trip added: {2 * args.delay_ms:g} ms; parallel {args.parallel}, "
          f"concurrency {args.concurrency}, {os.cpu_count()} CPUs")
    print("| hosts | wall s | x of first | requests | req/s | peak RSS MB | CPU s | wall/host s "
          "| median host scan s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['hosts']} | {r['wall_s']} | {r['wall_s'] / base:.1f} | {r['requests']} "
              f"| {r['requests_per_s']} | {r['peak_rss_mb']} | {r['cpu_s']} | {r['wall_per_host_s']} "
              f"| {r['median_host_scan_s']} |")


if __name__ == "__main__":
    main()
