"""Fleet scans spread over Celery workers with a Redis broker, meeting in a shared history.

`casaudit scan --targets FILE --broker URL --db URL` (`submit`) records a run
(its hosts, in targets-file order) in the history and enqueues one task per host;
`casaudit worker` (`run_worker`) takes tasks, scans each host with the code a local
fleet scan runs (`fleet.scan_host`, `runs.record_host`: per-host rate, deadline,
baseline) and records it under the run's id; the submitter (`collect`), or later
`casaudit report --run`, reads the run back from the history and writes exactly
the outputs a local run writes.

Delivery is at least once, recording exactly once:

- tasks are acknowledged late (after the host is recorded) and rejected when
  their worker is lost; a worker killed mid-scan leaves its tasks unacknowledged
  and Redis hands them to another worker after the visibility timeout, which
  must exceed a host's deadline (a worker refuses a task whose deadline does not
  fit, as an error entry);
- a task first looks whether its (run, host) is already recorded (a re-delivery
  after the work was done) and the history keeps the first row of a (run, host)
  (`INSERT ... ON CONFLICT DO NOTHING`), so two deliveries finishing at once
  still make one row;
- each start is counted in the history: the start after MAX_STARTS is recorded
  as an error entry without scanning, so a host that kills its workers ends the
  run as an error, not a hole, and is not re-delivered for ever.

What the broker sees: per task the run id, the host's name, domain, e-mail
address, ports, tags, --resolve pins, DNS server, probe families and timing
options, and the SHA-256 digests of its CA file and baseline, whose texts the run
keeps in the history (read once per task by the worker). Never a password:
`--authenticated` is refused with `--broker`. Messages are JSON only (never
pickle: whoever can write to the broker must not run code on the workers).
"""

from __future__ import annotations

import hashlib
import os
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from casaudit.errors import UsageError
from casaudit.history import HistoryStore, RunHost, RunRow, masked_url, open_store, scrubbed

if TYPE_CHECKING:
    from casaudit.report.fleet_formats import FleetFormatPaths
    from casaudit.runs import Scheduled
    from casaudit.shard import Shard
    from casaudit.targets import ScanTarget

TASK_NAME = "casaudit.scan_host"
QUEUE = "casaudit"
BROKER_SCHEMES = ("redis://", "rediss://")
#: A host's scan started this many times without being recorded is recorded as an error.
MAX_STARTS = 3
#: Seconds Redis waits for a worker to acknowledge a task before giving it to another.
DEFAULT_VISIBILITY_TIMEOUT = 3600
#: What a task's deadline must leave of the visibility timeout: recording, connection set-up.
VISIBILITY_MARGIN_SECONDS = 30
#: How long a submitter waits for its run with no host recorded before writing what it has.
STALL_SECONDS = 2 * 3600.0
#: How often idle workers look for tasks of dead workers to hand out again.
RESTORE_INTERVAL_SECONDS = 10
BROKER_CONNECT_SECONDS = 10
#: The largest CA file or baseline a run keeps for its workers.
MAX_ATTACHMENT_BYTES = 1 << 20


def check_broker_url(url: str) -> str:
    if not url.lower().startswith(BROKER_SCHEMES):
        raise UsageError(f"--broker {masked_url(url)}: give a Redis URL (redis://HOST:6379/0, "
                         "rediss:// for TLS)")
    return url


def celery_app(broker: str, visibility_timeout: float = DEFAULT_VISIBILITY_TIMEOUT) -> Any:
    """The Celery application of submitters and workers: JSON only, late acknowledgement."""
    try:
        from celery import Celery
    except ImportError:
        raise UsageError("--broker needs Celery and the Redis client: "
                         "pip install 'casaudit[distributed]'") from None
    app = Celery("casaudit", broker=check_broker_url(broker), set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_default_queue=QUEUE,
        # One task per thread at a time: a busy worker holds no task another could run.
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=BROKER_CONNECT_SECONDS,
        broker_transport_options={
            "visibility_timeout": visibility_timeout,
            # Look for a dead worker's tasks every RESTORE_INTERVAL_SECONDS (kombu's
            # default looks every 100 s).
            "unacked_restore_interval": RESTORE_INTERVAL_SECONDS,
            "unacked_restore_throttle": 1,
        },
    )
    return app


def check_broker(app: Any, url: str) -> None:
    """One connection to the broker, or one line saying why not: before anything is recorded."""
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=BROKER_CONNECT_SECONDS)
    except Exception as exc:  # noqa: BLE001 - kombu wraps every transport error differently
        raise UsageError(f"--broker {masked_url(url)}: cannot connect ({scrubbed(exc, url)})") from None


# --------------------------------------------------------------------------- tasks


def read_attachment(path: Path, option: str) -> str:
    """A file the workers need as text (CA certificates, a baseline), read once by the submitter."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{option} {str(path)!r}: cannot read ({exc.strerror or exc})") from None
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise UsageError(f"{option} {str(path)!r}: larger than {MAX_ATTACHMENT_BYTES // 1024} KiB, "
                         "too large to send with every task")
    return data.decode("utf-8", errors="replace")


def task_payload(run_id: str, scan_target: Any, ca_digest: str | None,
                 baseline: tuple[str, str] | None) -> dict[str, Any]:
    """One host's task: what `scan_target_from` needs, as JSON, never a secret. `ca_digest`
    names the target's CA file among the run's attachments, `baseline` the (file name, digest)
    of the baseline: the texts stay in the history, not once per host in the broker."""
    target, options = scan_target.target, scan_target.options
    if options.credentials is not None:
        raise UsageError("--authenticated cannot be used with --broker: the broker would carry the password")
    return {
        "run_id": run_id,
        "host": target.host,
        "domain": target.domain,
        "email": target.email,
        "ports": dict(target.ports),
        "tags": dict(scan_target.tags),
        "options": {
            "pins": dict(options.pins),
            "dns_server": list(options.dns_server) if options.dns_server else None,
            "timeout": options.timeout,
            "concurrency": options.concurrency,
            "cert_expiry_days": options.cert_expiry_days,
            "probes": list(options.probes),
            "rate": options.rate,
            "deadline": options.deadline,
        },
        "ca": ca_digest,
        "baseline": None if baseline is None else {"name": baseline[0], "digest": baseline[1]},
    }


class _Files:
    """The CA files tasks carry, written once each (by content) into a private directory."""

    def __init__(self) -> None:
        self._directory = tempfile.TemporaryDirectory(prefix="casaudit-worker-")
        self._lock = threading.Lock()

    def ca_file(self, pem: str) -> Path:
        path = Path(self._directory.name) / f"ca-{hashlib.sha256(pem.encode()).hexdigest()[:32]}.pem"
        with self._lock:
            if not path.exists():
                path.write_text(pem, encoding="utf-8")
        return path

    def close(self) -> None:
        self._directory.cleanup()


def scan_target_from(payload: Mapping[str, Any], files: _Files, attachments: Mapping[str, str]) -> Any:
    """The ScanTarget a task describes, its CA file from the run's `attachments`
    (KeyError/TypeError/ValueError when it is malformed)."""
    from casaudit.api import ScanOptions
    from casaudit.plan import DEFAULT_PORTS, Target, normalise_host
    from casaudit.probes import families

    given = payload["options"]
    dns = given.get("dns_server")
    options = ScanOptions(
        pins={str(k): str(v) for k, v in dict(given.get("pins") or {}).items()},
        dns_server=(str(dns[0]), int(dns[1])) if dns else None,
        ca_file=files.ca_file(str(attachments[payload["ca"]])) if payload.get("ca") else None,
        timeout=float(given["timeout"]),
        concurrency=int(given["concurrency"]),
        cert_expiry_days=int(given["cert_expiry_days"]),
        probes=tuple(str(p) for p in given.get("probes") or ()),
        rate=None if given.get("rate") is None else float(given["rate"]),
        deadline=None if given.get("deadline") is None else float(given["deadline"]),
    )
    # Whoever can write to the broker writes these: held to what the command line allows.
    if not (0.1 <= options.timeout <= 300 and 1 <= options.concurrency <= 64 and
            (options.rate is None or 0 <= options.rate <= 10000) and
            set(options.probes) <= set(families())):
        raise ValueError("timeout, concurrency, rate or probes out of the command line's bounds")
    ports = {str(k): int(v) for k, v in dict(payload["ports"]).items()}
    if not set(ports) <= set(DEFAULT_PORTS) or not all(0 < port < 65536 for port in ports.values()):
        raise ValueError(f"ports {ports!r}: services {', '.join(DEFAULT_PORTS)}, numbers 1 to 65535")
    target = Target(host=normalise_host(str(payload["host"])), domain=normalise_host(str(payload["domain"])),
                    ports=ports, email=None if payload.get("email") is None else str(payload["email"]))
    from casaudit.targets import ScanTarget

    return ScanTarget(target, options, {str(k): str(v) for k, v in dict(payload.get("tags") or {}).items()})


# --------------------------------------------------------------------------- submitting


def submit(targets: Sequence[Any], broker: str, history: HistoryStore, baseline_path: Path | None,
           options: Mapping[str, Any]) -> str:
    """Record a new run and enqueue one task per host; its run id."""
    seen: set[str] = set()
    for scan_target in targets:
        host = scan_target.target.host
        if host in seen:
            raise UsageError(f"--broker: host {host!r} is listed twice in the targets file "
                             "(a run records a host once)")
        seen.add(host)
    run_id = str(uuid.uuid4())
    attachments: dict[str, str] = {}
    digests: dict[Path, str] = {}

    def attach(path: Path, option: str) -> str:
        if path not in digests:
            text = read_attachment(path, option)
            digests[path] = hashlib.sha256(text.encode("utf-8")).hexdigest()
            attachments[digests[path]] = text
        return digests[path]

    baseline = None if baseline_path is None else (baseline_path.name, attach(baseline_path, "--baseline"))
    payloads = [task_payload(run_id, t, attach(t.options.ca_file, "--ca-file") if t.options.ca_file else None,
                             baseline) for t in targets]
    app = celery_app(broker)
    check_broker(app, broker)
    history.create_run(run_id, [(t.target.host, t.target.domain, t.tags) for t in targets],
                       {**options, "broker": masked_url(broker), "attachments": attachments})
    try:
        with app.producer_or_acquire() as producer:
            for payload in payloads:
                app.send_task(TASK_NAME, args=[payload], queue=QUEUE, producer=producer,
                              retry=True, retry_policy={"max_retries": 3, "interval_start": 1,
                                                        "interval_step": 2, "interval_max": 5})
    except Exception as exc:  # noqa: BLE001 - kombu's errors, one line
        raise UsageError(f"--broker {masked_url(broker)}: enqueueing run {run_id} failed part way "
                         f"({scrubbed(exc, broker)}); its hosts not enqueued stay pending") from None
    return run_id


# --------------------------------------------------------------------------- collecting


def scan_by_workers(
    targets: list[ScanTarget],
    broker: str,
    options: Scheduled,
    baseline_path: Path | None,
    json_out: str | None,
    html_dir: Path | None,
    formats: FleetFormatPaths | None = None,
    shard: Shard | None = None,
    detach: bool = False,
) -> int:
    """`scan --targets --broker`: enqueue the hosts for `casaudit worker`s, then (unless
    `detach`) collect them from the history as they are recorded and write what a local
    run writes; the exit code a local run would give."""
    assert options.history is not None
    run_options: dict[str, Any] = {"shard": shard.to_dict() if shard is not None else None}
    run_id = submit(targets, broker, options.history, baseline_path, run_options)
    where = options.history.where
    sys.stderr.write(f"casaudit: run {run_id}: {len(targets)} host{'s' if len(targets) != 1 else ''} "
                     f"queued on {masked_url(broker)} for `casaudit worker`s recording in {where}\n")
    if detach:
        sys.stdout.write(run_id + "\n")
        sys.stderr.write(f"casaudit: later: casaudit run-status {run_id} --db ...; "
                         f"casaudit report --run {run_id} --db ... --json FILE\n")
        return 0
    return collect_run(run_id, options, json_out, html_dir, formats, wait=True, shard=shard)


def collect_run(
    run_id: str,
    options: Scheduled,
    json_out: str | None,
    html_dir: Path | None,
    formats: FleetFormatPaths | None = None,
    *,
    wait: bool,
    shard: Shard | None = None,
    stall_seconds: float | None = None,
) -> int:
    """Write a submitted run's outputs from the history (waiting for its workers when `wait`)."""
    from casaudit.runs import FleetCollector, sigterm_as_interrupt
    from casaudit.shard import Shard

    assert options.history is not None
    state = run_state(options.history, run_id)
    collector = FleetCollector(len(state.hosts), options, json_out, html_dir, formats)
    try:
        try:
            with sigterm_as_interrupt():
                run = collect(options.history, state, collector, wait=wait, diff_only=options.diff_only,
                              stall_seconds=STALL_SECONDS if stall_seconds is None else stall_seconds)
        finally:
            collector.progress.close()
        recorded_shard = state.options.get("shard")
        run.shard = shard or (Shard(**recorded_shard) if recorded_shard else None)
        code = collector.finish(run)
    finally:
        collector.close()
    if run.interrupted:
        sys.stderr.write(f"casaudit: stopped waiting; the workers go on: casaudit report --run {run_id}\n")
    return code




@dataclass(frozen=True)
class RunState:
    """How far a submitted run is: hosts recorded (errors among them) and pending."""

    run_id: str
    created_at: str
    hosts: list[RunHost]
    #: What the submitter recorded with the run (shard, broker, attachments).
    options: Mapping[str, Any]

    @property
    def recorded(self) -> int:
        return sum(1 for host in self.hosts if host.scan_id is not None)

    @property
    def pending(self) -> int:
        return len(self.hosts) - self.recorded


def run_state(history: HistoryStore, run_id: str) -> RunState:
    row = history.run(run_id)
    if row is None:
        raise UsageError(f"no run {run_id!r} in the history {history.where} "
                         "(`casaudit scan --broker` prints the run id it submits)")
    return RunState(row.run_id, row.created_at, history.run_hosts(run_id), row.options)


def collect(history: HistoryStore, state: RunState, collector: Any, *, wait: bool, diff_only: bool = False,
            poll_seconds: float = 1.0, stall_seconds: float | None = None) -> Any:
    """Feed the run's recorded hosts to `collector` (a runs.FleetCollector) in the order they
    arrive, waiting for the rest when `wait` (until no host has arrived for `stall_seconds`);
    the FleetRun, hosts still pending as error entries of kind `pending`."""
    from casaudit.fleet import FleetRun, HostError, HostResult
    from casaudit.probes.common import now

    run_id = state.run_id
    fed: dict[int, HostResult] = {}
    interrupted = False
    last_arrival = time.monotonic()
    seen = -1
    try:
        while True:
            with history.errors_as(f"cannot read run {run_id}"):
                # The whole list only when something new was recorded: a run may hold 100,000 hosts.
                count = history.recorded_count(run_id)
                hosts = history.run_hosts(run_id) if count != seen else []
            seen = count
            for host in hosts:
                if host.scan_id is not None and host.position not in fed:
                    fed[host.position] = collector.add(host.position,
                                                            *_from_history(history, host, diff_only))
                    last_arrival = time.monotonic()
            if len(fed) == len(state.hosts) or not wait:
                break
            if stall_seconds is not None and time.monotonic() - last_arrival > stall_seconds:
                sys.stderr.write(f"casaudit: run {run_id}: no host recorded for {stall_seconds:.0f} s: "
                                 "writing what is recorded (is a `casaudit worker` running?)\n")
                break
            time.sleep(poll_seconds)
    except KeyboardInterrupt:
        interrupted = True
    finished = now()
    why = ("the scan was interrupted before this host finished" if interrupted else
           f"no worker has recorded this host yet (`casaudit run-status {run_id}`)")
    missing = HostError("interrupted" if interrupted else "pending", why)
    results = [fed.get(host.position) or HostResult(
        _scan_target(host.host, host.domain, host.tags), finished, finished, error=missing)
        for host in state.hosts]
    return FleetRun(state.created_at, finished, int(state.options.get("parallel", 1)), results, interrupted,
                    run_id=run_id)


def _scan_target(host: str, domain: str, tags: Mapping[str, str]) -> Any:
    """A ScanTarget naming a host that is not scanned here (recorded elsewhere, or not at all)."""
    from casaudit.api import ScanOptions
    from casaudit.plan import Target
    from casaudit.targets import ScanTarget

    return ScanTarget(Target(host, domain), ScanOptions(), dict(tags))


def _from_history(history: HistoryStore, host: RunHost, diff_only: bool,
                  ) -> tuple[Any, None, dict[str, Any] | None, list[dict[str, Any]]]:
    """`FleetCollector.add`'s arguments for a host a worker recorded."""
    from casaudit.fleet import HostError, HostResult
    from casaudit.runs import compare_with_previous

    assert host.scan_id is not None
    row = history.scan(host.scan_id)
    assert row is not None
    document = history.document(host.scan_id)
    error = None if document is not None else HostError(row.error_kind or "error", row.error_detail or "")
    result = HostResult(_scan_target(host.host, host.domain, host.tags), row.started_at, row.finished_at,
                        error=error)
    result.extra["history_id"] = row.id
    counted: list[dict[str, Any]] = []
    if document is not None:
        diff, result.extra["diff"] = compare_with_previous(history, host.host, document, before_id=row.id)
        # As `Checked.counted`: what a local run of the same hosts would count.
        pool = diff.new if diff_only and diff is not None else document["findings"]
        counted = [dict(f) for f in pool if not f.get("accepted")]
    return result, None, document, counted


# --------------------------------------------------------------------------- workers


class _Worker:
    """What a worker's task threads share: the history location, its files, its limits."""

    def __init__(self, db: str, visibility_timeout: float) -> None:
        self.db = db
        self.visibility_timeout = visibility_timeout
        self.files = _Files()
        self.cancel = threading.Event()
        self._local = threading.local()
        self._baselines: dict[str, Any] = {}
        self._runs: dict[str, RunRow] = {}
        self._lock = threading.Lock()

    def run(self, history: HistoryStore, run_id: str) -> RunRow | None:
        """The run a task belongs to, read once per worker (a run never changes once submitted)."""
        with self._lock:
            found = self._runs.get(run_id)
        if found is None:
            found = history.run(run_id)
            if found is not None:
                with self._lock:
                    self._runs[run_id] = found
        return found

    def history(self) -> HistoryStore:
        """This thread's own connection (a HistoryStore is not shared across threads)."""
        store = getattr(self._local, "history", None)
        if store is None:
            store = self._local.history = open_store(self.db)
        return store

    def drop_history(self) -> None:
        store = getattr(self._local, "history", None)
        self._local.history = None
        if store is not None:
            try:
                store.close()
            except Exception:  # noqa: BLE001, S110 - a broken connection is dropped either way
                pass

    def baseline(self, given: Mapping[str, Any] | None, attachments: Mapping[str, str]) -> Any:
        """The baseline a task names, parsed once per worker."""
        if not given:
            return None
        from casaudit.baseline import parse_baseline

        digest = str(given["digest"])
        with self._lock:
            if digest not in self._baselines:
                self._baselines[digest] = parse_baseline(str(attachments[digest]),
                                                         str(given.get("name") or "<baseline>"))
            return self._baselines[digest]


_WORKER: _Worker | None = None


def scan_task(payload: dict[str, Any]) -> str:
    """One host of a run, recorded once; what happened, for the worker's log."""
    from casaudit.fleet import scan_host
    from casaudit.model import Severity
    from casaudit.runs import Scheduled, record_host

    worker = _WORKER
    assert worker is not None, "scan_task runs in a casaudit worker"
    if not isinstance(payload, dict) or not isinstance(payload.get("run_id"), str) or \
            not isinstance(payload.get("host"), str):
        return "a task that is not a casaudit host task: dropped"
    run_id, host = payload["run_id"], payload["host"]
    history = worker.history()
    try:
        run = worker.run(history, run_id)
        if run is None:
            # A submitter with another --db: scanning would record where nobody collects.
            return (f"{host}: run {run_id} is not in this worker's history {history.where} "
                    "(the submitter and the workers must share one --db): dropped")
        attachments = dict(run.options.get("attachments") or {})
        if history.recorded(run_id, host) is not None:
            return f"{host}: already recorded in run {run_id}"
        starts = history.start_attempt(run_id, host)
        _log(f"{host}: started (start {starts}) in run {run_id}")
        try:
            scan_target = scan_target_from(payload, worker.files, attachments)
            baseline = worker.baseline(payload.get("baseline"), attachments)
        except (KeyError, TypeError, ValueError, IndexError, UsageError) as exc:
            scan_target, baseline = _scan_target(host, str(payload.get("domain", host)), {}), None
            result = _error(scan_target, "target", f"the task cannot be read: {type(exc).__name__}: {exc}")
        else:
            deadline = scan_target.options.deadline
            if starts > MAX_STARTS:
                result = _error(scan_target, "error", f"the scan of this host was started {starts - 1} "
                                "times and no worker finished it (each ended mid-scan)")
            elif deadline is None or deadline + VISIBILITY_MARGIN_SECONDS > worker.visibility_timeout:
                result = _error(scan_target, "target", f"its deadline ({deadline} s) does not fit in this "
                                f"worker's visibility timeout ({worker.visibility_timeout:.0f} s) less "
                                f"{VISIBILITY_MARGIN_SECONDS} s: another worker would scan it again")
            else:
                result = scan_host(scan_target, worker.cancel)
        if result.error is not None and result.error.kind == "interrupted":
            # The worker is stopping: leave the task to be delivered again.
            raise _Stopping(host)
        history.run_id = run_id
        # Not compared with the previous scan here: whoever collects the run does that.
        scheduled = Scheduled(history, baseline, diff_only=False, fail_on=Severity.INFO, compare=False)
        recorded, checked = record_host(result, scheduled)
        status = checked.document["summary"]["status"] if checked is not None else \
            f"error ({recorded.error.kind if recorded.error else '?'})"
        return f"{host}: {status} in run {run_id}"
    except _Stopping:
        raise
    except Exception:
        # A database error may have broken the connection: the retry opens a new one.
        worker.drop_history()
        raise


def _error(scan_target: Any, kind: str, detail: str) -> Any:
    from casaudit.fleet import HostError, HostResult
    from casaudit.probes.common import now

    moment = now()
    return HostResult(scan_target, moment, moment, error=HostError(kind, detail))


class _Stopping(Exception):
    pass


def run_worker(broker: str, db: str, parallel: int, visibility_timeout: float,
               name: str | None = None) -> None:
    """Run a worker until SIGTERM/SIGINT (warm shutdown: hosts in flight finish)."""
    global _WORKER
    from casaudit.fleet import _warm_up

    app = celery_app(broker, visibility_timeout)
    with open_store(db):
        pass  # creates or migrates the schema, or one line saying why not, before any task
    check_broker(app, broker)
    _WORKER = _Worker(db, visibility_timeout)
    app.task(name=TASK_NAME, bind=False, acks_late=True, reject_on_worker_lost=True,
             autoretry_for=(Exception,), dont_autoretry_for=(_Stopping,), max_retries=5,
             retry_backoff=5, retry_backoff_max=120, retry_jitter=True)(_task_entry)
    _warm_up()
    worker = app.Worker(
        pool="threads", concurrency=parallel, queues=[QUEUE], loglevel="WARNING",
        hostname=name or f"casaudit@{socket.gethostname()}.{os.getpid()}",
        without_gossip=True, without_mingle=True, without_heartbeat=True, quiet=True,
        optimization="fair",
    )
    sys.stderr.write(f"casaudit worker: {parallel} hosts at a time from {masked_url(broker)}, "
                     f"recording in {_WORKER.history().where}\n")
    sys.stderr.flush()
    from celery.signals import worker_ready

    # What a supervisor (or a benchmark) waits for: connected, consuming.
    worker_ready.connect(lambda **_: _log("ready: taking tasks"), weak=False)
    try:
        worker.start()
    finally:
        _WORKER.files.close()
    if worker.exitcode:
        raise SystemExit(worker.exitcode)


def _task_entry(payload: dict[str, Any]) -> str:
    line = scan_task(payload)
    _log(line)
    return line


def _log(line: str) -> None:
    """One line of the worker's log on stderr (host names come from the broker: escaped)."""
    from casaudit.report.terminal import safe

    sys.stderr.write(f"casaudit worker: {safe(line, 300)}\n")
    sys.stderr.flush()

