"""Benchmark: `casaudit worker`s over Redis (two by default) against one local process (issue #18).

    PYTHONPATH=. .venv/bin/python benchmarks/distributed_bench.py --hosts 64 --delay-ms 25 --parallel 16

The labs are fleet_bench's: one lab process serving N hosts of exchange2007-legacy
(OpenSSL TLS), each on its own loopback address with its own names, CA and DNS
server, behind a proxy that delays each direction by --delay-ms (25: 50 ms round
trip). One targets file lists the N hosts.

Run A, local: `casaudit scan --targets FILE --parallel P --db A.sqlite --json A.json`
in a child process; wall time and CPU (its SQLite writes included) from wait4.

Run B, distributed: a real redis-server and a real PostgreSQL on 127.0.0.1 (the
test helpers), --workers (2) `casaudit worker --broker URL --db PGURL --parallel P` started
and idle before the clock starts, then `casaudit scan --targets FILE --broker URL
--db PGURL --json B.json`, which returns once every host is recorded. Wall time is
the submitter's; CPU is the submitter's (wait4) plus, over the same interval, each
worker's, redis-server's and the PostgreSQL process tree's (postmaster and its
backends) from /proc/PID/stat: utime + stime + cutime + cstime summed over the live
tree, so backends that exited in between are counted through the postmaster that
reaped them.

The queue's overhead per host is (CPU of B's processes - CPU of A's scanner) / N;
the lab's CPU (getrusage in the lab process) is reported for both runs but is in
neither side. A.json and B.json must hold the same hosts with the same findings
(check, endpoint, severity): the script says whether they do.

Every wait is bounded (--budget seconds for the whole benchmark); workers get SIGTERM,
then SIGKILL; the servers stop with their context managers. Loopback only, no system DNS.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from multiprocessing.connection import Connection
from pathlib import Path

from benchmarks.fleet_bench import _seconds, _tree, _usage, serve_labs, targets_file
from tests.postgres_server import running_postgres
from tests.redis_server import running_redis

TICKS = os.sysconf("SC_CLK_TCK")
#: Seconds a worker may take to come up and fall idle (imports, schema check, broker connection).
WORKER_START_SECONDS = 120
#: Seconds a worker may take to stop after SIGTERM (nothing is in flight by then).
WORKER_STOP_SECONDS = 30
#: A worker is idle when it burns less than this many CPU-s per second (Redis polls).
IDLE_CPU_RATE = 0.05


class OutOfTime(Exception):
    """The benchmark's --budget ran out."""


class Budget:
    """One deadline for the whole benchmark: every wait asks it how long it may last."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise OutOfTime("the benchmark's time budget ran out")
        return remaining


# --------------------------------------------------------------------------- CPU from /proc


def _stat_fields(pid: int) -> tuple[str, list[str]] | None:
    """(command name, the fields after it) of /proc/PID/stat; None once the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            text = stat.read()
    except OSError:
        return None
    # The command name is in parentheses and may itself contain spaces or parentheses.
    name = text[text.index("(") + 1:text.rindex(")")]
    return name, text[text.rindex(")") + 2:].split()


def process_cpu(pid: int) -> tuple[float, float]:
    """(user, system) CPU-s of one process and of the children it has reaped."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0, 0.0
    # After the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
    utime, stime, cutime, cstime = (int(value) / TICKS for value in fields[1][11:15])
    return utime + cutime, stime + cstime


def tree_cpu(pid: int) -> tuple[float, float]:
    """(user, system) CPU-s of a process and of all its descendants, live or reaped."""
    times = [process_cpu(member) for member in _tree(pid)]
    return sum(user for user, _ in times), sum(system for _, system in times)


def tree_cpu_since(pid: int, before: tuple[float, float]) -> tuple[float, float]:
    user, system = tree_cpu(pid)
    return user - before[0], system - before[1]


def children_named(name: str) -> list[int]:
    """Children of this process named `name`: the servers the test helpers started (directly,
    so that the postmaster, not one of its backends, is found)."""
    found = []
    for pid in _tree(os.getpid())[1:]:
        fields = _stat_fields(pid)
        if fields is not None and fields[0] == name and int(fields[1][1]) == os.getpid():
            found.append(pid)
    return found


# --------------------------------------------------------------------------- child processes


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "casaudit", *args]


def timed_run(command: list[str], budget: Budget, log: Path) -> tuple[int, float, tuple[float, float]]:
    """(exit code, wall s, (user, system) CPU-s of it and its children from wait4); killed if the
    budget runs out."""
    began = time.monotonic()
    with log.open("w") as stream:
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stream, stdin=subprocess.DEVNULL)
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        try:
            budget.left()
        except OutOfTime:
            child.kill()
            child.wait(timeout=10)
            raise
        time.sleep(0.02)
    wall = time.monotonic() - began
    child.returncode = os.waitstatus_to_exitcode(status)
    return child.returncode, wall, (usage.ru_utime, usage.ru_stime)


def _wait_idle(process: subprocess.Popen[bytes], log: Path, budget: Budget) -> None:
    """Until the worker has said it takes tasks and then used under IDLE_CPU_RATE for a whole second."""
    give_up = time.monotonic() + min(WORKER_START_SECONDS, budget.left())
    while time.monotonic() < give_up:
        if process.poll() is not None:
            raise RuntimeError(f"a worker exited with {process.returncode}: {log.read_text()[-1500:]}")
        if "ready: taking tasks" in log.read_text(errors="replace"):
            before = sum(process_cpu(process.pid))
            time.sleep(1)
            if sum(process_cpu(process.pid)) - before < IDLE_CPU_RATE:
                return
        else:
            time.sleep(0.2)
    raise RuntimeError(f"a worker did not fall idle in {WORKER_START_SECONDS} s: {log.read_text()[-1500:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # warm shutdown: nothing is in flight by now
        try:
            process.wait(timeout=WORKER_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextmanager
def idle_workers(count: int, broker: str, db: str, parallel: int, workdir: Path,
                 budget: Budget) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` workers, each started and idle before this yields; stopped afterwards."""
    workers: list[subprocess.Popen[bytes]] = []
    try:
        for number in range(count):
            log = workdir / f"worker{number}.log"
            with log.open("w") as stream:
                workers.append(subprocess.Popen(
                    _command("worker", "--broker", broker, "--db", db, "--parallel", str(parallel),
                             "--name", f"bench{number}@localhost"),
                    stdout=stream, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        for number, process in enumerate(workers):
            _wait_idle(process, workdir / f"worker{number}.log", budget)
        yield workers
    finally:
        for process in workers:
            _stop(process)


# --------------------------------------------------------------------------- the two runs


def _findings(path: Path) -> dict[str, list[tuple[str, str, str]]]:
    """Per host, its sorted findings as (check, endpoint, severity)."""
    document = json.loads(path.read_text())
    return {entry["host"]: sorted((f["check"], f["endpoint"], f["severity"])
                                  for f in (entry["scan"] or {"findings": []})["findings"])
            for entry in document["results"]}


def _summary(path: Path) -> dict:
    return json.loads(path.read_text())["summary"]


def _median_host_seconds(path: Path) -> float:
    """The median of the hosts' own scan times (started_at to finished_at): the latency side."""
    results = json.loads(path.read_text())["results"]
    return statistics.median(_seconds(e["finished_at"]) - _seconds(e["started_at"]) for e in results)


def _statuses(path: Path) -> dict[str, str]:
    return {entry["host"]: entry["status"] for entry in json.loads(path.read_text())["results"]}


def differences(local: Path, distributed: Path) -> list[str]:
    """One line per host whose findings differ: its status and finding count in A and in B, and
    the findings only one run has (what a scan that timed out somewhere left unassessed)."""
    a_findings, b_findings = _findings(local), _findings(distributed)
    a_statuses, b_statuses = _statuses(local), _statuses(distributed)
    lines = []
    for host in sorted(set(a_findings) | set(b_findings)):
        a_set, b_set = set(a_findings.get(host, ())), set(b_findings.get(host, ()))
        if a_set != b_set:
            lines.append(f"{host}: A {a_statuses.get(host)} {len(a_set)} findings, "
                         f"B {b_statuses.get(host)} {len(b_set)}; only A: {sorted(a_set - b_set)[:4]}, "
                         f"only B: {sorted(b_set - a_set)[:4]}")
    return lines


def run_local(targets: Path, parallel: int, extra: list[str], lab: Connection, workdir: Path,
              round_number: int, budget: Budget) -> dict:
    out, db = workdir / f"A{round_number}.json", workdir / f"A{round_number}.sqlite"
    load = os.getloadavg()[0]
    lab_before = _usage(lab)["cpu_s"]
    code, wall, cpu = timed_run(
        _command("scan", "--targets", str(targets), "--parallel", str(parallel), "--db", str(db),
                 "--json", str(out), *extra), budget, workdir / f"A{round_number}.log")
    return {"run": "A", "load": round(load, 2), "exit": code, "wall_s": wall, "scanner_cpu_s": sum(cpu),
            "scanner_system_cpu_s": cpu[1], "lab_cpu_s": _usage(lab)["cpu_s"] - lab_before, "json": out}


def run_distributed(targets: Path, parallel: int, extra: list[str], lab: Connection, workdir: Path,
                    round_number: int, budget: Budget, broker: str, db: str, worker_count: int) -> dict:
    out = workdir / f"B{round_number}.json"
    redis_pids, postgres_pids = children_named("redis-server"), children_named("postgres")
    assert len(redis_pids) == 1 and len(postgres_pids) == 1, (redis_pids, postgres_pids)
    with idle_workers(worker_count, broker, db, parallel, workdir, budget) as workers:
        load = os.getloadavg()[0]
        lab_before = _usage(lab)["cpu_s"]
        workers_before = [tree_cpu(w.pid) for w in workers]
        redis_before, postgres_before = tree_cpu(redis_pids[0]), tree_cpu(postgres_pids[0])
        code, wall, (submitter_user, submitter_system) = timed_run(
            _command("scan", "--targets", str(targets), "--broker", broker, "--db", db,
                     "--json", str(out), *extra), budget, workdir / f"B{round_number}.log")
        workers_times = [tree_cpu_since(w.pid, before)
                         for w, before in zip(workers, workers_before, strict=True)]
        redis_cpu = sum(tree_cpu_since(redis_pids[0], redis_before))
        postgres_cpu = sum(tree_cpu_since(postgres_pids[0], postgres_before))
        lab_cpu = _usage(lab)["cpu_s"] - lab_before
    workers_cpu = [sum(times) for times in workers_times]
    submitter_cpu = submitter_user + submitter_system
    return {"run": "B", "load": round(load, 2), "exit": code, "wall_s": wall,
            "submitter_cpu_s": submitter_cpu, "workers_cpu_s": workers_cpu,
            "workers_system_cpu_s": [system for _, system in workers_times], "redis_cpu_s": redis_cpu,
            "postgres_cpu_s": postgres_cpu, "scanner_cpu_s": submitter_cpu + sum(workers_cpu),
            "scanner_system_cpu_s": submitter_system + sum(system for _, system in workers_times),
            "lab_cpu_s": lab_cpu, "json": out}


def compare(local: dict, distributed: dict, hosts: int) -> dict:
    """The figures of one A/B round, and whether both runs found the same."""
    a_findings, b_findings = _findings(local["json"]), _findings(distributed["json"])
    a_summary, b_summary = _summary(local["json"]), _summary(distributed["json"])
    queue_cpu = distributed["redis_cpu_s"] + distributed["postgres_cpu_s"]
    b_cpu = distributed["scanner_cpu_s"] + queue_cpu
    return {
        "hosts": hosts,
        "load_a": local["load"], "load_b": distributed["load"],
        "exit_a": local["exit"], "exit_b": distributed["exit"],
        "assessed_a": a_summary["assessed"], "assessed_b": b_summary["assessed"],
        "wall_a_s": round(local["wall_s"], 2), "wall_b_s": round(distributed["wall_s"], 2),
        "ratio_b_a": round(distributed["wall_s"] / local["wall_s"], 3),
        "median_host_a_s": round(_median_host_seconds(local["json"]), 2),
        "median_host_b_s": round(_median_host_seconds(distributed["json"]), 2),
        "scanner_cpu_a_s": round(local["scanner_cpu_s"], 2),
        "submitter_cpu_b_s": round(distributed["submitter_cpu_s"], 2),
        "workers_cpu_b_s": [round(cpu, 2) for cpu in distributed["workers_cpu_s"]],
        "redis_cpu_b_s": round(distributed["redis_cpu_s"], 2),
        "postgres_cpu_b_s": round(distributed["postgres_cpu_s"], 2),
        "scanner_cpu_per_host_a_s": round(local["scanner_cpu_s"] / hosts, 3),
        "scanner_cpu_per_host_b_s": round(distributed["scanner_cpu_s"] / hosts, 3),
        "system_share_a": round(local["scanner_system_cpu_s"] / local["scanner_cpu_s"], 3),
        "system_share_b": round(distributed["scanner_system_cpu_s"] / distributed["scanner_cpu_s"], 3),
        "queue_overhead_per_host_s": round((b_cpu - local["scanner_cpu_s"]) / hosts, 3),
        "redis_postgres_per_host_s": round(queue_cpu / hosts, 4),
        "lab_cpu_a_s": round(local["lab_cpu_s"], 2), "lab_cpu_b_s": round(distributed["lab_cpu_s"], 2),
        "same_hosts": sorted(a_findings) == sorted(b_findings),
        "same_findings": a_findings == b_findings,
        "findings_a": sum(len(f) for f in a_findings.values()),
        "findings_b": sum(len(f) for f in b_findings.values()),
    }


def print_table(rows: list[dict], args: argparse.Namespace) -> None:
    print(f"\n{args.hosts} hosts, round trip added {2 * args.delay_ms:g} ms, --parallel {args.parallel} "
          f"(A: one process; B: {args.workers} workers), {os.cpu_count()} CPUs")
    print("| round | load A / B | wall A s | wall B s | B/A | CPU-s/host A | CPU-s/host B (workers + "
          "submitter) | queue overhead CPU-s/host | redis + postgres CPU-s/host | lab CPU s A / B "
          "| same hosts and findings |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for number, r in enumerate(rows, 1):
        print(f"| {number} | {r['load_a']} / {r['load_b']} | {r['wall_a_s']} | {r['wall_b_s']} "
              f"| {r['ratio_b_a']} | {r['scanner_cpu_per_host_a_s']} | {r['scanner_cpu_per_host_b_s']} "
              f"| {r['queue_overhead_per_host_s']} | {r['redis_postgres_per_host_s']} "
              f"| {r['lab_cpu_a_s']} / {r['lab_cpu_b_s']} "
              f"| {'yes' if r['same_hosts'] and r['same_findings'] else 'NO'} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=64)
    parser.add_argument("--parallel", type=int, default=16,
                        help="hosts at once: scan --parallel in A, worker --parallel of each worker in B")
    parser.add_argument("--workers", type=int, default=2, help="worker processes in B")
    parser.add_argument("--worker-parallel", type=int, default=None,
                        help="worker --parallel in B when it should differ from A's --parallel "
                             "(e.g. 8 with two workers: as many hosts in flight as A)")
    parser.add_argument("--timeout", type=float, default=10, help="the targets file's timeout")
    parser.add_argument("--delay-ms", type=float, default=25, help="one-way delay per direction")
    parser.add_argument("--repeat", type=int, default=1, help="A/B rounds, alternating")
    parser.add_argument("--budget", type=float, default=1800, help="seconds the whole benchmark may take")
    parser.add_argument("scan_args", nargs="*", help="more `casaudit scan` options for both runs, after --")
    args = parser.parse_args()
    budget = Budget(args.budget)

    rows = []
    with tempfile.TemporaryDirectory(prefix="casaudit-dist-bench-") as work, ExitStack() as servers:
        workdir = Path(work)
        ours, theirs = multiprocessing.Pipe()
        lab_process = multiprocessing.Process(
            target=serve_labs, args=(theirs, args.hosts, args.delay_ms, work), daemon=True)
        lab_process.start()
        servers.callback(lab_process.join, 10)
        servers.callback(ours.send, "stop")
        if not ours.poll(min(600, budget.left())):
            raise OutOfTime("the labs did not come up")
        labs = ours.recv()
        targets = workdir / "targets.toml"
        targets_file(targets, labs, args.timeout)
        redis_server = servers.enter_context(running_redis())
        postgres = servers.enter_context(running_postgres())
        print(f"{len(labs)} labs up ({labs[0]['address']} .. {labs[-1]['address']}); "
              f"redis-server and PostgreSQL on 127.0.0.1", flush=True)
        for number in range(1, args.repeat + 1):
            local = run_local(targets, args.parallel, args.scan_args, ours, workdir, number, budget)
            print(json.dumps({k: v for k, v in local.items() if k != "json"}), flush=True)
            distributed = run_distributed(targets, args.worker_parallel or args.parallel, args.scan_args,
                                          ours, workdir, number,
                                          budget, redis_server.new_url(), postgres.new_database(),
                                          args.workers)
            print(json.dumps({k: v for k, v in distributed.items() if k != "json"}), flush=True)
            row = compare(local, distributed, args.hosts)
            rows.append(row)
            print(json.dumps(row), flush=True)
            for line in differences(local["json"], distributed["json"]):
                print(f"  differs: {line}", flush=True)
    print_table(rows, args)


if __name__ == "__main__":
    main()
