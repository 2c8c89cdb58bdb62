"""Benchmark: casaudit's TLS assessment of five services vs sslyze's default scan of one.

On one nginx host (HTTPS + IMAP/POP3 mail proxy, tests/interop/nginx/), time as
whole processes, alternating, N runs each:

  casaudit  `python -m casaudit scan ... --probes tls`: five TLS services (443,
            993, 995, STARTTLS 143 and STLS 110) plus the certificate of the two
            Autodiscover names, everything the tls.* checks need;
  sslyze    `python -m sslyze HOST:PORT{127.0.0.1}`: its default scan of the HTTPS
            port alone.

It prints both medians, their ratio (target <= 1.5) and each tool's peak RSS.
With --rtt-ms 20 it re-runs itself inside a private network namespace
(`unshare -n`) whose loopback is delayed by half the RTT each way with netem,
because real servers are not on loopback and concurrency is what hides latency.

    sudo .venv/bin/python benchmarks/tls_benchmark.py            # loopback, then 20 ms RTT
    .venv/bin/python benchmarks/tls_benchmark.py --rtt-ms 0      # loopback only

Needs root for the namespace and nginx (installed from Debian if missing, as the
interop suite does). Loopback only: every name is pinned to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.interop.nginx_runner import HOST, NginxInstance, NginxServer  # noqa: E402


def find_nginx() -> str:
    for candidate in ("/usr/sbin/nginx", shutil.which("nginx")):
        if candidate and Path(candidate).exists():
            return candidate
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "nginx",
                    "libnginx-mod-mail"], check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    return "/usr/sbin/nginx"


def timed(command: list[str]) -> tuple[float, int, int]:
    """Wall seconds, peak RSS in KiB and exit code of one whole child process."""
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
    return elapsed, usage.ru_maxrss, process.returncode


def measure(nginx: NginxInstance, runs: int, output: Path) -> dict[str, object]:
    python = sys.executable
    casaudit = [python, "-m", "casaudit", "scan", *nginx.scan_args(), "--probes", "tls",
                "--timeout", "10", "--json", str(output)]
    sslyze = [python, "-m", "sslyze", "--quiet", f"{HOST}:{nginx.ports['https']}{{127.0.0.1}}"]
    # one warm-up each: the page cache, not the tools, would otherwise win the first run
    timed(casaudit)
    timed(sslyze)
    times: dict[str, list[float]] = {"casaudit": [], "sslyze": []}
    peaks: dict[str, int] = {"casaudit": 0, "sslyze": 0}
    for _ in range(runs):
        for name, command in (("casaudit", casaudit), ("sslyze", sslyze)):
            elapsed, rss, _ = timed(command)
            times[name].append(elapsed)
            peaks[name] = max(peaks[name], rss)
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {"medians": medians, "peaks": peaks, "times": times,
            "ratio": medians["casaudit"] / medians["sslyze"]}


def report(label: str, result: dict[str, object]) -> None:
    medians = result["medians"]
    peaks = result["peaks"]
    assert isinstance(medians, dict) and isinstance(peaks, dict)
    print(f"\n== {label}")
    print(f"  casaudit, 5 TLS services (+2 names' certificates): median {medians['casaudit']:.2f} s, "
          f"peak RSS {peaks['casaudit'] / 1024:.0f} MiB")
    print(f"  sslyze default scan, HTTPS port only:               median {medians['sslyze']:.2f} s, "
          f"peak RSS {peaks['sslyze'] / 1024:.0f} MiB")
    verdict = "meets" if float(result["ratio"]) <= 1.5 else "misses"  # type: ignore[arg-type]
    print(f"  ratio casaudit/sslyze: {result['ratio']:.2f} ({verdict} the <= 1.5 target)")
    times = result["times"]
    assert isinstance(times, dict)
    for name, values in times.items():
        print(f"  {name} runs: {', '.join(f'{v:.2f}' for v in values)}")


def run_here(runs: int, config: str, label: str) -> None:
    with tempfile.TemporaryDirectory(prefix="casaudit-bench-") as workdir:
        with NginxServer(find_nginx(), config, Path(workdir) / "nginx") as nginx:
            report(label, measure(nginx, runs, Path(workdir) / "scan.json"))


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
        subprocess.run(["tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", delay], check=True)
        run_here(args.runs, args.config,
                 f"{args.config} nginx, loopback with {args.rtt_ms} ms RTT (netem {delay} each way)")
        return
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.runs} runs per tool")
    run_here(args.runs, args.config, f"{args.config} nginx on loopback")
    if args.rtt_ms > 0:
        subprocess.run(
            ["unshare", "-n", sys.executable, __file__, "--inside-namespace", "--runs", str(args.runs),
             "--config", args.config, "--rtt-ms", str(args.rtt_ms)],
            check=True,
        )


if __name__ == "__main__":
    main()
