"""Benchmark: casaudit's TLS assessment of five services vs sslyze's default scan of one.

On one nginx host (HTTPS + IMAP/POP3 mail proxy, tests/interop/nginx/), time as
whole processes, alternating, N runs each:

  casaudit  `python -m casaudit scan ... --probes tls`: five TLS services (443,
            993, 995, STARTTLS 143 and STLS 110) plus the certificate of the two
            Autodiscover names, everything the tls.* checks need;
  sslyze    `python -m sslyze HOST:PORT{127.0.0.1}`: its default scan of the HTTPS
            port alone.

It prints both medians, their ratio (target <= 1.5), each tool's median CPU seconds
(user + system from wait4: steadier than wall time on a busy machine) and peak RSS.
With --rtt-ms 20 it re-runs itself inside a private network namespace
(`unshare -n`) whose loopback is delayed by half the RTT each way with netem,
because real servers are not on loopback and concurrency is what hides latency.
A kernel without netem (sch_netem) gets the same delay from a userspace TCP
relay in front of nginx instead, and the report says so.

    sudo .venv/bin/python benchmarks/tls_benchmark.py            # loopback, then 20 ms RTT
    .venv/bin/python benchmarks/tls_benchmark.py --rtt-ms 0      # loopback only

Needs root for the namespace and nginx (installed from Debian if missing, as the
interop suite does). Loopback only: every name is pinned to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NO_NETEM = 3
sys.path.insert(0, str(ROOT))

from tests.interop.nginx_runner import HOST, NginxInstance, NginxServer  # noqa: E402


def find_nginx() -> str:
    for candidate in ("/usr/sbin/nginx", shutil.which("nginx")):
        if candidate and Path(candidate).exists():
            return candidate
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "nginx",
                    "libnginx-mod-mail"], check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    return "/usr/sbin/nginx"


def timed(command: list[str]) -> tuple[float, int, int, float]:
    """Wall seconds, peak RSS in KiB, exit code and CPU seconds (user + system) of one child."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.stderr:
        process.stderr.close()
    if process.returncode not in (0, 1):
        raise RuntimeError(f"{command[:4]} exited {process.returncode}: {stderr[-600:]}")
    return elapsed, usage.ru_maxrss, process.returncode, usage.ru_utime + usage.ru_stime


def measure(nginx: NginxInstance, runs: int, output: Path) -> dict[str, object]:
    python = sys.executable
    casaudit = [python, "-m", "casaudit", "scan", *nginx.scan_args(), "--probes", "tls",
                "--timeout", "10", "--json", str(output)]
    sslyze = [python, "-m", "sslyze", "--quiet", f"{HOST}:{nginx.ports['https']}{{127.0.0.1}}"]
    # one warm-up each: the page cache, not the tools, would otherwise win the first run
    timed(casaudit)
    timed(sslyze)
    times: dict[str, list[float]] = {"casaudit": [], "sslyze": []}
    cpu: dict[str, list[float]] = {"casaudit": [], "sslyze": []}
    peaks: dict[str, int] = {"casaudit": 0, "sslyze": 0}
    for _ in range(runs):
        for name, command in (("casaudit", casaudit), ("sslyze", sslyze)):
            elapsed, rss, _, seconds = timed(command)
            times[name].append(elapsed)
            cpu[name].append(seconds)
            peaks[name] = max(peaks[name], rss)
    medians = {name: statistics.median(values) for name, values in times.items()}
    cpu_medians = {name: statistics.median(values) for name, values in cpu.items()}
    return {"medians": medians, "peaks": peaks, "times": times, "cpu": cpu_medians,
            "ratio": medians["casaudit"] / medians["sslyze"]}


def report(label: str, result: dict[str, object]) -> None:
    medians = result["medians"]
    peaks = result["peaks"]
    cpu = result["cpu"]
    assert isinstance(medians, dict) and isinstance(peaks, dict) and isinstance(cpu, dict)
    print(f"\n== {label}")
    print(f"  casaudit, 5 TLS services (+2 names' certificates): median {medians['casaudit']:.2f} s, "
          f"CPU {cpu['casaudit']:.2f} s, peak RSS {peaks['casaudit'] / 1024:.0f} MiB")
    print(f"  sslyze default scan, HTTPS port only:               median {medians['sslyze']:.2f} s, "
          f"CPU {cpu['sslyze']:.2f} s, peak RSS {peaks['sslyze'] / 1024:.0f} MiB")
    verdict = "meets" if float(result["ratio"]) <= 1.5 else "misses"  # type: ignore[arg-type]
    print(f"  ratio casaudit/sslyze: {result['ratio']:.2f} ({verdict} the <= 1.5 target)")
    times = result["times"]
    assert isinstance(times, dict)
    for name, values in times.items():
        print(f"  {name} runs: {', '.join(f'{v:.2f}' for v in values)}")


class DelayProxy:
    """A TCP relay on loopback adding `rtt` seconds of round-trip time, for kernels without netem.

    Each connection first waits one RTT (the TCP handshake a real network would
    cost), then every chunk is delivered half an RTT after it was read, in each
    direction, in order. Both tools go through the same relay.
    """

    def __init__(self, upstream: dict[str, int], rtt: float) -> None:
        self._delay = rtt / 2
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._servers: list[asyncio.AbstractServer] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.ports: dict[str, int] = {}
        for service, port in upstream.items():
            server = asyncio.run_coroutine_threadsafe(self._listen(port), self._loop).result(10)
            self._servers.append(server)
            self.ports[service] = server.sockets[0].getsockname()[1]

    async def _listen(self, upstream_port: int) -> asyncio.AbstractServer:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._tasks.add(task)  # the loop keeps only weak references to tasks
            try:
                await asyncio.wait_for(self._relay(reader, writer, upstream_port), 120)
            except (TimeoutError, OSError):
                writer.close()
            except asyncio.CancelledError:
                # Cancelled at shutdown with connections still open: nothing to report.
                writer.close()
            finally:
                self._tasks.discard(task)
        return await asyncio.start_server(handle, "127.0.0.1", 0)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int) -> None:
        loop = asyncio.get_running_loop()
        ready = loop.time() + 2 * self._delay
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            writer.close()
            return
        try:
            await asyncio.gather(self._pipe(reader, up_writer, ready), self._pipe(up_reader, writer, ready))
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for w in (writer, up_writer):
                w.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ready: float) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def pump() -> None:
            while True:
                try:
                    data = await reader.read(65536)
                except Exception:  # noqa: BLE001 - any end of the stream ends the relay
                    data = b""
                queue.put_nowait((max(loop.time(), ready) + self._delay, data))
                if not data:
                    return

        async def deliver() -> None:
            while True:
                at, data = await queue.get()
                await asyncio.sleep(max(0.0, at - loop.time()))
                try:
                    if not data:
                        if writer.can_write_eof():
                            writer.write_eof()
                        return
                    writer.write(data)
                    await writer.drain()
                except OSError:
                    return

        await asyncio.gather(pump(), deliver())

    def close(self) -> None:
        async def shutdown() -> None:
            for server in self._servers:
                server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def run_here(runs: int, config: str, label: str, proxy_rtt_ms: int = 0) -> None:
    with tempfile.TemporaryDirectory(prefix="casaudit-bench-") as workdir:
        with NginxServer(find_nginx(), config, Path(workdir) / "nginx") as nginx:
            if not proxy_rtt_ms:
                report(label, measure(nginx, runs, Path(workdir) / "scan.json"))
                return
            proxy = DelayProxy(nginx.ports, proxy_rtt_ms / 1000)
            try:
                delayed = dataclasses.replace(nginx, ports=proxy.ports)
                report(label, measure(delayed, runs, Path(workdir) / "scan.json"))
            finally:
                proxy.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per tool (default 7)")
    parser.add_argument("--config", choices=("modern", "legacy"), default="modern",
                        help="which nginx TLS configuration to scan (tests/interop/nginx/)")
    parser.add_argument("--rtt-ms", type=int, default=20,
                        help="also measure with this round-trip time added in a network "
                             "namespace (0: loopback only)")
    parser.add_argument("--inside-namespace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside_namespace:
        delay = f"{args.rtt_ms / 2:g}ms"
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        netem = subprocess.run(["tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", delay],
                               capture_output=True, text=True)
        if netem.returncode != 0:
            print(f"netem unavailable in this kernel ({netem.stderr.strip()})", file=sys.stderr)
            sys.exit(NO_NETEM)
        run_here(args.runs, args.config,
                 f"{args.config} nginx, loopback with {args.rtt_ms} ms RTT (netem {delay} each way)")
        return
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.runs} runs per tool, "
          f"load average {os.getloadavg()[0]:.1f}")
    run_here(args.runs, args.config, f"{args.config} nginx on loopback")
    if args.rtt_ms > 0:
        namespace = subprocess.run(
            ["unshare", "-n", sys.executable, __file__, "--inside-namespace", "--runs", str(args.runs),
             "--config", args.config, "--rtt-ms", str(args.rtt_ms)],
        )
        if namespace.returncode == NO_NETEM:
            run_here(args.runs, args.config,
                     f"{args.config} nginx, {args.rtt_ms} ms RTT added by a userspace relay "
                     "(this kernel has no netem)", proxy_rtt_ms=args.rtt_ms)
        elif namespace.returncode != 0:
            sys.exit(namespace.returncode)


if __name__ == "__main__":
    main()
