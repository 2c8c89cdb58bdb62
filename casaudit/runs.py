"""What `casaudit scan` does around `audit()` for scheduled use: baseline, history, diff, exit code.

The CLI only wires options to these functions:

- `after_scan` applies a baseline, compares with the host's previous scan in
  the history, and records the new one (one transaction);
- `scan_targets` runs a whole targets file through `casaudit.fleet`, doing the
  same for each host as it finishes, and writes the `casaudit.fleet/1` outputs;
- `exit_code` decides 0/1/3 (docs/verdicts.md): 3 when a host was not
  assessed (or, with ``--fail-on-unassessed``, only partly), whatever its
  findings; else 1 from what counts: findings not accepted by the baseline,
  and with ``--diff-only`` only the new ones.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from casaudit import __version__
from casaudit.baseline import Baseline
from casaudit.diff import ScanDiff, diff_documents
from casaudit.errors import UsageError
from casaudit.history import HistoryStore
from casaudit.model import AuditResult, Severity
from casaudit.report.terminal import safe
from casaudit.report.view import status_label

if TYPE_CHECKING:
    from casaudit.fleet import FleetRun, FleetSpool, HostResult
    from casaudit.report.fleet_formats import FleetFormatPaths, FleetFormats
    from casaudit.shard import Shard
    from casaudit.targets import ScanTarget

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_HOST_ERRORS, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


@dataclass(frozen=True)
class Scheduled:
    """The scheduled-scan options of one `casaudit scan`."""

    history: HistoryStore | None
    baseline: Baseline | None
    diff_only: bool
    fail_on: Severity
    #: --fail-on-unassessed: a partially assessed host exits 3 like a host not assessed.
    fail_on_unassessed: bool = False
    #: Compare each host with its previous scan when recording it (a worker leaves that to
    #: whoever collects the run).
    compare: bool = True

    def unassessed(self, status: str) -> bool:
        """Does a host with this `summary.status` (or "error") make the run exit 3?"""
        return status in ("not_assessed", "error") or (
            self.fail_on_unassessed and status == "partially_assessed")


@dataclass(frozen=True)
class Checked:
    """One host's result after baseline and history, with what counts for the exit code."""

    result: AuditResult
    document: dict[str, Any]
    diff: ScanDiff | None
    diff_dict: dict[str, Any] | None
    history_id: int | None
    #: Expired baseline rules (by number) and how many of this host's findings count again.
    lapsed: dict[int, int] = field(default_factory=dict)
    #: The baseline rules (by number) that matched at least one of this host's findings.
    matched: frozenset[int] = frozenset()

    def counted(self, diff_only: bool) -> list[dict[str, Any]]:
        """Findings that count: not accepted, and new when diff_only."""
        pool = list(self.diff.new) if diff_only and self.diff is not None else self.document["findings"]
        return [dict(f) for f in pool if not f.get("accepted")]


@contextmanager
def open_history(db: str | None, enabled: bool, diff_only: bool) -> Iterator[HistoryStore | None]:
    """`--db`: an SQLite path or a postgresql:// URL (default: the SQLite file under XDG_DATA_HOME)."""
    from casaudit.history import default_path, open_store

    if not enabled:
        if diff_only:
            raise UsageError("--diff-only compares with the previous scan in the history: drop --no-history")
        yield None
        return
    with open_store(db or default_path()) as history:
        yield history


def after_scan(result: AuditResult, tags: dict[str, str], options: Scheduled) -> Checked:
    lapsed: dict[int, int] = {}
    matched: frozenset[int] = frozenset()
    if options.baseline is not None:
        result, expired, matched = options.baseline.apply(result)
        for _, rule in expired:
            lapsed[rule.number] = lapsed.get(rule.number, 0) + 1
    document = result.to_dict()
    diff = diff_dict = history_id = None
    if options.history is not None:
        target = result.targets[0]
        if options.compare:
            diff, diff_dict = compare_with_previous(options.history, target.host, document)
        history_id = options.history.record(
            host=target.host, domain=target.domain, tags=tags, started_at=result.started_at,
            finished_at=result.finished_at, document=document, tool_version=__version__,
        )
    return Checked(result, document, diff, diff_dict, history_id, lapsed, matched)


def compare_with_previous(history: HistoryStore, host: str, document: dict[str, Any],
                          before_id: int | None = None,
                          ) -> tuple[ScanDiff | None, dict[str, Any] | None]:
    """The document against the host's latest assessed scan (before `before_id`, when the
    document is itself in the history); (None, None) for a host not assessed."""
    if document["summary"]["status"] == "not_assessed":
        # A host that gave no answer resolved nothing: it is not compared.
        return None, None
    previous = history.latest_assessed(host, before_id=before_id)
    old = history.document(previous[0].id) if previous else None
    diff = diff_documents(old, document)
    return diff, diff.to_dict(previous[0].summary() if previous else None)


def baseline_warnings(baseline: Baseline, lapsed: dict[int, int], matched: frozenset[int],
                      assessed: bool, hosts: dict[int, int] | None = None) -> list[str]:
    """The stderr lines about a baseline after a scan: expired rules, then rules that matched
    nothing. A scan that assessed nothing cannot tell an unused rule, so it names none."""
    lines = baseline.expired_lines(lapsed, hosts)
    if assessed:
        from casaudit.catalog import load_checks

        lines += baseline.unused_lines(matched, (check.meta.id for check in load_checks()))
    return [f"casaudit: baseline: {safe(line, 600)}" for line in lines]


def exit_code(counted: Sequence[dict[str, Any]], fail_on: Severity, unassessed_hosts: int = 0) -> int:
    """3 beats 1: a gate must not read "findings" as "everything was looked at"."""
    if unassessed_hosts:
        return EXIT_HOST_ERRORS
    if any(Severity(f["severity"]).rank >= fail_on.rank for f in counted):
        return EXIT_FINDINGS
    return EXIT_OK


def diff_only_summary(checked: Checked, out: TextIO) -> None:
    """The terminal text of `scan HOST --diff-only`: only what is new since the previous scan."""
    target = checked.document["targets"][0]
    if checked.diff is None or checked.diff_dict is None:
        out.write(f"casaudit {__version__}: {safe(target['host'])} not assessed, not compared: "
                  f"{safe(checked.document['summary']['status_reason'], 300)}\n")
        return
    previous = checked.diff_dict["previous"]
    since = f"since scan {previous['history_id']} of {previous['started_at']}" if previous else \
        "(no previous scan of this host: everything is new)"
    out.write(f"casaudit {__version__}: {safe(target['host'])} {since}\n")
    _write_diff_counts(checked.diff, out)
    for finding in checked.diff.new:
        out.write("  " + finding_line(finding) + "\n")


def _write_diff_counts(diff: ScanDiff, out: TextIO) -> None:
    out.write(f"{len(diff.new)} new, {len(diff.changed)} changed, {len(diff.resolved)} resolved, "
              f"{diff.unchanged} unchanged\n")


def finding_line(finding: Any, prefix: str = "") -> str:
    accepted = finding.get("accepted")
    note = f"  [accepted until {safe(accepted['expires'])}]" if accepted else ""
    return (f"{prefix}{finding['severity'].upper():8} {safe(finding['check']):24} "
            f"{safe(finding['endpoint'])}{note}")


# --------------------------------------------------------------------------- many hosts


def scan_targets(
    targets: list[ScanTarget],
    parallel: int,
    options: Scheduled,
    json_out: str | None,
    html_dir: Path | None,
    workers: int = 1,
    formats: FleetFormatPaths | None = None,
    shard: Shard | None = None,
) -> int:
    """Scan every target, write outputs (even after Ctrl-C), return the exit code.

    Memory stays bounded by the hosts in flight: as each host finishes it is
    recorded in the history, its HTML (and PDF) report written, its fleet entry
    spooled to a temporary file (for --json), its SARIF, JUnit and CSV parts
    to others, and only a slim summary is kept.
    """
    # Imported here: a single-host scan never needs the fleet runner.
    from casaudit.fleet import run_fleet

    collector = FleetCollector(len(targets), options, json_out, html_dir, formats)
    try:
        def on_result(index: int, host: HostResult) -> HostResult:
            return collector.add(index, *record_host(host, options))

        try:
            with sigterm_as_interrupt():
                run = run_fleet(targets, parallel, on_result, threading.Event(), workers=workers,
                                on_start=collector.progress.started)
            run.shard = shard
        finally:
            collector.progress.close()  # before the summary goes to stdout
        return collector.finish(run)
    finally:
        collector.close()


def record_host(host: HostResult, options: Scheduled) -> tuple[HostResult, Checked | None]:
    """A finished host through baseline and history (an error entry is recorded as one);
    the host without its audit (written once, not kept), and what counts of it."""
    if host.result is not None:
        item = after_scan(host.result, dict(host.scan_target.tags), options)
        host.extra.update(history_id=item.history_id, diff=item.diff_dict)
        return replace(host, result=None), item
    if options.history is not None and host.error is not None and host.error.kind != "interrupted":
        target = host.scan_target.target
        host.extra["history_id"] = options.history.record(
            host=target.host, domain=target.domain, tags=host.scan_target.tags,
            started_at=host.started_at, finished_at=host.finished_at, document=None,
            error=(host.error.kind, host.error.detail), tool_version=__version__,
        )
    return host, None


class FleetCollector:
    """Everything a fleet run writes, fed one finished host at a time by whoever scanned it
    (threads or processes here, workers of a broker elsewhere): progress, fleet entries,
    per-host HTML and PDF, SARIF/JUnit/CSV parts, the exit code's counts; `finish` writes
    the run's outputs and returns its exit code."""

    def __init__(self, total: int, options: Scheduled, json_out: str | None, html_dir: Path | None,
                 formats: FleetFormatPaths | None) -> None:
        from casaudit.fleet import FleetSpool
        from casaudit.report import fleet as fleet_report
        from casaudit.report.fleet_formats import FleetFormatPaths, FleetFormats

        if html_dir is not None:
            fleet_report.prepare_html(html_dir)
        self.options, self.json_out, self.html_dir = options, json_out, html_dir
        self.formats = FleetFormats(formats or FleetFormatPaths())
        self.spool = FleetSpool(keep_scans=json_out is not None)
        self.counted: list[dict[str, Any]] = []
        self.unassessed = 0
        self._added: set[int] = set()
        self.used = _BaselineUse()
        self.progress = _Progress(total)

    def add(self, index: int, host: HostResult, checked: Checked | None,
            document: dict[str, Any] | None = None, counted: Sequence[dict[str, Any]] | None = None,
            ) -> HostResult:
        """One finished host: `checked` after `record_host`, or (from the history) its
        `document` and the findings that count."""
        from casaudit.fleet import fleet_entry
        from casaudit.report import fleet as fleet_report

        if checked is not None:
            document = checked.document
            counted = checked.counted(self.options.diff_only)
            self.used.add(checked)
        elif document is not None and self.options.baseline is not None:
            # Scanned by a worker, which applied the same baseline: what it did, read back.
            self.used.add_usage(document, *self.options.baseline.usage(document))
        self.counted.extend({"severity": f["severity"]} for f in counted or ())
        entry = fleet_entry(host, document)
        self._added.add(index)
        if self.options.unassessed(entry["status"]):
            self.unassessed += 1
        self.spool.add(index, entry)
        if self.html_dir is not None:
            fleet_report.write_host_html(entry, self.html_dir, self.formats.paths.evidence)
        if document is not None:
            self.formats.add(index, document)
        self.progress.done(index, host, entry["status"])
        return host

    def finish(self, run: FleetRun) -> int:
        document = self.spool.document(run)
        _write_fleet_outputs(run, self.spool, document, self.used, self.options, self.json_out,
                             self.html_dir, self.formats)
        if run.interrupted:
            return EXIT_INTERRUPTED
        # Hosts that never finished (a lost worker process, a host no worker recorded yet)
        # are error entries the run made up: not assessed either.
        missing = sum(1 for index in range(len(run.results)) if index not in self._added)
        return exit_code(self.counted, self.options.fail_on, self.unassessed + missing)

    def close(self) -> None:
        self.progress.close()
        self.spool.close()
        self.formats.close()


def _write_fleet_outputs(
    run: FleetRun,
    spool: FleetSpool,
    document: dict[str, Any],
    used: _BaselineUse,
    options: Scheduled,
    json_out: str | None,
    html_dir: Path | None,
    formats: FleetFormats,
) -> None:
    from casaudit.report import fleet as fleet_report

    if json_out == "-":
        spool.write(run, sys.stdout)
    else:
        fleet_report.summary(document, sys.stdout, diff_only=options.diff_only)
    if options.baseline is not None:
        # Once for the whole run: a waiver is one line, however many hosts it covered. After
        # Ctrl-C a rule may be unused only because its hosts did not finish: none is named.
        for line in baseline_warnings(options.baseline, used.lapsed, frozenset(used.matched),
                                      used.assessed and not run.interrupted, used.hosts):
            sys.stderr.write(line + "\n")
    stream = sys.stderr if json_out == "-" else sys.stdout
    if json_out and json_out != "-":
        try:
            with open(json_out, "w", encoding="utf-8") as out:
                spool.write(run, out)
        except OSError as exc:
            raise UsageError(f"--json {json_out!r}: cannot write ({exc.strerror or exc})") from None
        stream.write(f"JSON report: {json_out}\n")
    if html_dir is not None:
        from casaudit.report.trend import load_trend

        history_trend = None if options.history is None else \
            load_trend(options.history, (entry["host"] for entry in document["results"]))
        index = fleet_report.write_index(document, html_dir, history_trend)
        stream.write(f"HTML reports: {index}\n")
    for label, path in formats.write(run.results):
        stream.write(f"{label}: {path}\n")
    stream.flush()


class _BaselineUse:
    """What a baseline did across a fleet: expired rules by findings and hosts, rules used."""

    def __init__(self) -> None:
        self.lapsed: dict[int, int] = {}
        self.hosts: dict[int, int] = {}
        self.matched: set[int] = set()
        self.assessed = False

    def add(self, host: Checked) -> None:
        self.add_usage(host.document, host.lapsed, host.matched)

    def add_usage(self, document: dict[str, Any], lapsed: dict[int, int], matched: frozenset[int]) -> None:
        self.assessed |= document["summary"]["status"] != "not_assessed"
        self.matched |= matched
        for number, count in lapsed.items():
            self.lapsed[number] = self.lapsed.get(number, 0) + count
            self.hosts[number] = self.hosts.get(number, 0) + 1


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """systemd stops a service with SIGTERM: end the scan as Ctrl-C does, writing what finished."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Progress:
    """Fleet progress on stderr, only when stderr is a terminal; nothing at all otherwise.

    A live area (rich) shows the overall bar (done/total, elapsed) and each host in flight
    with how long it has run; a line per finished host is printed above it, so that what
    finished stays in the scrollback. Hosts in flight are reported by the scanning
    threads (`started`), finished ones by the caller's thread (`done`).
    """

    def __init__(self, total: int) -> None:
        self._total, self._count = total, 0
        self._live: Any = None
        self._in_flight: dict[int, Any] = {}
        if sys.stderr.isatty():
            self._live = _live_progress()
            self._overall = self._live.add_task("hosts", total=total, count=f"0/{total}")
            self._live.start()

    def started(self, index: int, target: ScanTarget) -> None:
        live = self._live  # once: close() may run meanwhile (Ctrl-C)
        if live is not None:
            # total=None: a pulsing bar, as nobody knows how long a host takes.
            self._in_flight[index] = live.add_task(safe(target.target.host, 80), total=None, count="")

    def done(self, index: int, host: HostResult, status: str) -> None:
        """`status` is the host's fleet entry status: its scan's summary.status, or "error"."""
        self._count += 1
        if self._live is None:
            return
        state = status_label(status) if host.error is None else f"error ({host.error.kind})"
        task = self._in_flight.pop(index, None)
        if task is not None:
            self._live.remove_task(task)
        self._live.update(self._overall, advance=1, count=f"{self._count}/{self._total}")
        from rich.text import Text

        self._live.console.print(Text(f"[{self._count}/{self._total}] {safe(host.host)}: {state}"))

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def _live_progress() -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    # markup=False: host names come from a file, "[" in one must not be read as style.
    return Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TextColumn("{task.fields[count]}", markup=False),
        TimeElapsedColumn(),
        console=Console(stderr=True, highlight=False),
        transient=True,
    )
