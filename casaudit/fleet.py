"""Scanning many hosts at once, and the `casaudit.fleet/1` document that reports them.

`run_fleet` audits each target in a pool of `parallel` worker threads (the
global limit: hosts scanned at once). Inside a host, `casaudit.api.audit` keeps
its own per-host limit (`concurrency` connections), rate limit and deadline.
Whatever happens to a host (unresolvable, deadline passed, a bug) becomes an
error entry; nothing one host does can end the run.

With `workers` > 1 the hosts are spread over that many worker processes
(forked, each with a `parallel / workers` share of the global limit and the same
per-host limits), so that the scanner's Python work runs on every core instead
of one (the GIL). Workers take the next host from a shared counter as they free
up, and send each HostResult back; only the parent calls `on_result`, so the
history and the outputs keep a single writer. Workers ignore SIGINT and SIGTERM
(a terminal or systemd signals the whole group): the parent tells them to stop,
and they stop by themselves if the parent disappears.

Results are handed to `on_result(index, result)` in the calling thread as each
host finishes (it may return an updated result: baseline applied, history id,
the audit itself dropped once written), so the caller (history, progress)
never needs a lock. Ctrl-C (KeyboardInterrupt
in the calling thread) sets the shared cancel flag: queued hosts are not
started, running ones stop at their next request, and `run_fleet` returns what
finished with the rest marked `interrupted`.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import pickle
import queue
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any, TextIO

from casaudit import __version__
from casaudit.api import audit
from casaudit.errors import CasauditError
from casaudit.model import AuditResult, Severity
from casaudit.probes.http import now
from casaudit.probes.pacing import HostDeadlineExceeded, ScanCancelled
from casaudit.shard import Shard
from casaudit.targets import ScanTarget

FLEET_SCHEMA = "casaudit.fleet/1"
#: After Ctrl-C, how long running hosts get to notice before they are reported as interrupted.
INTERRUPT_GRACE_SECONDS = 2.0
#: How often workers and the parent look at each other (stop flag, parent alive, results).
_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class HostError:
    #: `target` (cannot start: unresolvable host...), `deadline`, `interrupted`, `error` (a bug),
    #: `pending` (`--broker`: no worker has recorded the host yet).
    kind: str
    detail: str


@dataclass(frozen=True)
class HostResult:
    """One host of a fleet scan: its audit, or why there is none."""

    scan_target: ScanTarget
    started_at: str
    finished_at: str
    result: AuditResult | None = None
    error: HostError | None = None
    #: Filled by the caller: the history row id of this scan, and its diff to the previous one.
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return self.scan_target.target.host

    @property
    def status(self) -> str:
        # Not `result is not None`: a caller may drop the audit once it is written.
        return "assessed" if self.error is None else "error"


@dataclass
class FleetRun:
    started_at: str
    finished_at: str
    parallel: int
    results: list[HostResult]
    interrupted: bool = False
    #: `--shard I/N`: the run scanned only this shard of its targets file.
    shard: Shard | None = None
    #: `--broker`: the run's id in the history, where its workers recorded it.
    run_id: str | None = None


def scan_host(scan_target: ScanTarget, cancel: threading.Event) -> HostResult:
    """Audit one host; every failure becomes a HostError, never an exception."""
    started = now()
    error: HostError | None = None
    result: AuditResult | None = None
    try:
        result = audit(scan_target.target, scan_target.options, cancel=cancel)
    except HostDeadlineExceeded as exc:
        error = HostError("deadline", str(exc))
    except ScanCancelled as exc:
        error = HostError("interrupted", str(exc))
    except CasauditError as exc:
        error = HostError("target", str(exc))
    except Exception as exc:  # noqa: BLE001 - one host's bug is that host's error entry
        error = HostError("error", f"{type(exc).__name__}: {exc}")
    return HostResult(scan_target, started, now(), result, error)


OnResult = Callable[[int, HostResult], HostResult]
#: Told `(index, target)` as a host's scan starts, in the thread that scans it.
OnStart = Callable[[int, ScanTarget], None]


def run_fleet(
    targets: Sequence[ScanTarget],
    parallel: int,
    on_result: OnResult | None = None,
    cancel: threading.Event | None = None,
    workers: int = 1,
    on_start: OnStart | None = None,
) -> FleetRun:
    """`on_start` is called only with workers == 1: worker processes do not report starts."""
    cancel = cancel or threading.Event()
    workers = min(workers, len(targets), max(1, parallel))
    if workers > 1:
        return _run_workers(targets, parallel, workers, on_result, cancel)
    started = now()
    results: dict[int, HostResult] = {}
    interrupted = False
    pool = ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="host")
    futures: dict[Future[HostResult], int] = {}

    def scan(index: int, target: ScanTarget) -> HostResult:
        if on_start is not None and not cancel.is_set():
            on_start(index, target)
        return scan_host(target, cancel)

    try:
        futures = {pool.submit(scan, i, t): i for i, t in enumerate(targets)}
        pending = set(futures)
        while pending:
            # A timed wait, so that Ctrl-C reaches this thread promptly.
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                _collect(future, futures[future], results, on_result)
    except KeyboardInterrupt:
        interrupted = True
        cancel.set()
        for future in futures:
            future.cancel()
        grace = time.monotonic() + INTERRUPT_GRACE_SECONDS
        for future, index in futures.items():
            if index in results or future.cancelled():
                continue
            try:
                future.result(timeout=max(0.0, grace - time.monotonic()))
            except Exception:  # noqa: BLE001, S110 - still running: reported as interrupted below
                continue
            _collect(future, index, results, on_result)
    finally:
        pool.shutdown(wait=not interrupted, cancel_futures=True)
    finished = now()
    ordered = [
        results.get(i) or HostResult(t, finished, finished, error=HostError(
            "interrupted", "the scan was interrupted before this host finished"))
        for i, t in enumerate(targets)
    ]
    return FleetRun(started, finished, parallel, ordered, interrupted)


def _collect(
    future: Future[HostResult],
    index: int,
    results: dict[int, HostResult],
    on_result: OnResult | None,
) -> None:
    result = future.result()
    with _signals_held():
        results[index] = on_result(index, result) if on_result is not None else result


@contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C or SIGTERM arriving while a host is recorded takes effect once it is: a host
    in the history is also in the outputs."""
    held = {signal.SIGINT, signal.SIGTERM}
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


# --------------------------------------------------------------------------- worker processes


def _run_workers(
    targets: Sequence[ScanTarget],
    parallel: int,
    workers: int,
    on_result: OnResult | None,
    cancel: threading.Event,
) -> FleetRun:
    methods = multiprocessing.get_all_start_methods()
    context: Any = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    _warm_up()  # once here, not once per worker: forked workers inherit it
    started = now()
    next_index = context.Value("l", 0)
    outbox: multiprocessing.Queue[bytes] = context.Queue()
    # A lock-free flag, not an Event: a process ending inside Event.wait() would leave the
    # Event's condition waiting for it, and the parent's set() blocked for ever.
    stop = context.RawValue("b", 0)
    share = -(-max(1, parallel) // workers)  # ceil: hosts at once per worker
    processes = [
        context.Process(target=_worker, args=(list(targets), share, next_index, outbox, stop, os.getpid()),
                        name=f"casaudit-worker-{number}", daemon=True)
        for number in range(workers)
    ]
    results: dict[int, HostResult] = {}
    interrupted = False

    def collect(until: float | None) -> None:
        """Hand results to on_result until all are in, every worker is gone, or `until`."""
        while len(results) < len(targets):
            if until is not None and time.monotonic() >= until:
                return
            left = _POLL_SECONDS if until is None else until - time.monotonic()
            try:
                data = outbox.get(timeout=max(0.01, min(_POLL_SECONDS, left)))
            except queue.Empty:
                if any(process.is_alive() for process in processes):
                    continue
                try:  # every worker is gone: whatever they sent last
                    data = outbox.get(timeout=_POLL_SECONDS)
                except queue.Empty:
                    return
            index, host = pickle.loads(data)  # noqa: S301 - from our own worker processes
            with _signals_held():
                results[index] = on_result(index, host) if on_result is not None else host

    try:
        for process in processes:
            process.start()
        collect(None)
    except KeyboardInterrupt:
        interrupted = True
        cancel.set()
        stop.value = 1
        collect(time.monotonic() + INTERRUPT_GRACE_SECONDS)
    finally:
        stop.value = 1
        for process in processes:
            if process.pid is None:
                continue
            process.join(timeout=0.5 if interrupted else 5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
        outbox.close()
        outbox.cancel_join_thread()
    finished = now()
    lost = "the scan was interrupted before this host finished" if interrupted else \
        "the worker process scanning this host ended without a result"
    ordered = [
        results.get(i) or HostResult(t, finished, finished, error=HostError(
            "interrupted" if interrupted else "error", lost))
        for i, t in enumerate(targets)
    ]
    return FleetRun(started, finished, parallel, ordered, interrupted)


def _warm_up() -> None:
    """What every scan loads once per process: loaded before forking, shared by the workers."""
    from sslyze.plugins.certificate_info.trust_stores.trust_store_repository import TrustStoresRepository

    # First: loading the trust store warns about its certificates unless tls_scan's
    # process-wide warning filter is in place.
    import casaudit.probes.tls_scan  # noqa: F401
    from casaudit.catalog import load_checks

    load_checks()
    TrustStoresRepository.get_default()


def _worker(
    targets: list[ScanTarget],
    parallel: int,
    next_index: Any,
    outbox: multiprocessing.Queue[bytes],
    stop: Any,
    parent: int,
) -> None:
    """One worker process: scan hosts `parallel` at a time until none is left or told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    cancel = threading.Event()

    def watch() -> None:
        while not cancel.wait(_POLL_SECONDS):
            if stop.value or os.getppid() != parent:
                cancel.set()

    def scan() -> None:
        while not cancel.is_set():
            with next_index.get_lock():
                index = int(next_index.value)
                if index >= len(targets):
                    return
                next_index.value = index + 1
            host = scan_host(targets[index], cancel)
            # Pickled here, not in the queue's feeder thread, which would drop it silently.
            try:
                data = pickle.dumps((index, host))
            except Exception as exc:  # noqa: BLE001 - that host's error entry
                error = HostError("error", f"cannot send the result: {type(exc).__name__}: {exc}")
                data = pickle.dumps((index, HostResult(host.scan_target, host.started_at, host.finished_at,
                                                       error=error)))
            outbox.put(data)

    threading.Thread(target=watch, name="casaudit-watch", daemon=True).start()
    threads = [threading.Thread(target=scan, name=f"host-{number}", daemon=True)
               for number in range(parallel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(_POLL_SECONDS)
            if cancel.is_set():
                thread.join(INTERRUPT_GRACE_SECONDS)
                break
    outbox.close()
    outbox.join_thread()  # every result sent is in the pipe
    os._exit(0)  # not the parent's atexit handlers, nor its history connection's finaliser


def fleet_entry(host: HostResult, scan: dict[str, Any] | None) -> dict[str, Any]:
    """One host's entry of `results`; `scan` is its casaudit.scan/1 document (None: an error entry)."""
    status = host.status if scan is None else scan["summary"]["status"]
    return {
        "host": host.host,
        "domain": host.scan_target.target.domain,
        "tags": dict(host.scan_target.tags),
        "status": status,
        "error": None if host.error is None else {"kind": host.error.kind, "detail": host.error.detail},
        "started_at": host.started_at,
        "finished_at": host.finished_at,
        "history_id": host.extra.get("history_id"),
        "diff": host.extra.get("diff"),
        "scan": scan,
    }


def _document(run: FleetRun, entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    counts = {severity.value: 0 for severity in Severity}
    for entry in entries:
        if entry["scan"] is not None:
            for finding in entry["scan"]["findings"]:
                counts[finding["severity"]] += 1
    return {
        "schema": FLEET_SCHEMA,
        "tool": {"name": "casaudit", "version": __version__},
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "interrupted": run.interrupted,
        "options": {"parallel": run.parallel,
                    **({"shard": run.shard.to_dict()} if run.shard is not None else {}),
                    **({"run_id": run.run_id} if run.run_id is not None else {})},
        "summary": {
            "hosts": len(entries),
            "assessed": sum(1 for e in entries if e["status"] == "assessed"),
            "partially_assessed": sum(1 for e in entries if e["status"] == "partially_assessed"),
            "not_assessed": sum(1 for e in entries if e["status"] == "not_assessed"),
            "errors": sum(1 for e in entries if e["status"] == "error"),
            "findings_by_severity": counts,
        },
        "results": list(entries),
    }


def fleet_document(run: FleetRun) -> dict[str, Any]:
    """The `casaudit.fleet/1` document: one entry per target, in targets-file order."""
    return _document(run, [
        fleet_entry(host, host.result.to_dict() if host.result is not None else None)
        for host in run.results
    ])


class FleetSpool:
    """The fleet document without holding every host's scan in memory.

    `add` takes each host's entry as it finishes: its full JSON goes to an
    anonymous temporary file (only if `keep_scans`), and a slim copy stays in
    memory with what the terminal table, the HTML index and the exit code read
    (status, severity counts, headline, each area's grade, each recommendation's
    verdict; each finding's id, severity, check, endpoint, acceptance): a subset
    of the scan document, in its shape.
    `document` is the fleet document made of slim entries; `write` streams the
    full one, entries in targets-file order read back one at a time.
    """

    def __init__(self, keep_scans: bool) -> None:
        self._file: IO[bytes] | None = (
            tempfile.TemporaryFile(prefix="casaudit-fleet-") if keep_scans else None)
        self._spans: dict[int, tuple[int, int]] = {}
        self._slim: dict[int, dict[str, Any]] = {}

    def add(self, index: int, entry: dict[str, Any]) -> None:
        if self._file is not None:
            data = _nested(entry).encode("utf-8")
            start = self._file.seek(0, 2)
            self._file.write(data)
            self._spans[index] = (start, len(data))
        self._slim[index] = {**entry, "scan": _slim_scan(entry["scan"])}

    def document(self, run: FleetRun) -> dict[str, Any]:
        """The fleet document with slim scans (see the class docstring)."""
        return _document(run, [
            self._slim.get(index) or fleet_entry(host, None) for index, host in enumerate(run.results)])

    def write(self, run: FleetRun, out: TextIO) -> None:
        """The full `casaudit.fleet/1` document, as `report.document.dumps` would write it."""
        if self._file is None:
            raise ValueError("this spool keeps no scans (keep_scans=False)")
        head = self.document(run)
        del head["results"]
        text = _dumps(head)
        out.write(text[: text.rindex("\n}")] + ',\n  "results": [')
        for number, chunk in enumerate(self._entries(run)):
            out.write(("," if number else "") + "\n" + chunk)
        out.write("\n  ]\n}\n" if run.results else "]\n}\n")

    def _entries(self, run: FleetRun) -> Iterator[str]:
        for index, host in enumerate(run.results):
            span = self._spans.get(index)
            if span is None or self._file is None:
                yield _nested(self._slim.get(index) or fleet_entry(host, None))
                continue
            self._file.seek(span[0])
            yield self._file.read(span[1]).decode("utf-8")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _dumps(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _nested(entry: dict[str, Any]) -> str:
    """An entry as it reads inside `results` (str.splitlines would split inside strings)."""
    return "    " + _dumps(entry).replace("\n", "\n    ")


def _slim_scan(scan: dict[str, Any] | None) -> dict[str, Any] | None:
    if scan is None:
        return None
    keep = ("id", "severity", "check", "endpoint", "accepted")
    summary = scan["summary"]
    return {
        "summary": {
            **{key: summary[key] for key in ("status", "status_reason", "findings_by_severity", "headline")},
            "areas": [{"id": area["id"], "grade": area["grade"]} for area in summary["areas"]],
        },
        "findings": [{key: finding[key] for key in keep if key in finding} for finding in scan["findings"]],
        "recommendations": [{"id": r["id"], "verdict": r["verdict"]} for r in scan["recommendations"]],
    }
