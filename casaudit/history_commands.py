"""`casaudit history` and `casaudit diff`: reading the scan history, no network.

Both open the history read-only and never create it: only `casaudit scan`
records. A `--db` that names no file is a mistake (exit 2); the default
database not existing yet only means nothing was recorded (exit 0).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from casaudit.diff import ScanDiff, diff_documents
from casaudit.errors import UsageError
from casaudit.history import HistoryStore, ScanRow, default_path, open_store
from casaudit.model import Severity
from casaudit.paths import check_output_file
from casaudit.report.terminal import safe
from casaudit.runs import EXIT_FINDINGS, EXIT_OK, finding_line

SEVERITY_LETTERS = (("critical", "c"), ("high", "h"), ("medium", "m"), ("low", "l"), ("info", "i"))


@contextmanager
def reading_history(db: str | None) -> Iterator[HistoryStore | None]:
    """The history to read: `--db` (a path or a postgresql:// URL) must hold one; None when the
    default one does not exist yet."""
    if db is None and not default_path().exists():
        yield None
        return
    with open_store(db or default_path(), read_only=True) as history:
        yield history


#: Hosts listed one by one under the history page's chart (every host is in the chart).
HISTORY_PAGE_HOSTS = 500


def html_target(path: Path) -> Path:
    """`--html PATH`, refused before the history is read (the same checks as every output)."""
    check_output_file("--html", path)
    return path


def write_history_html(db: str | None, host: str | None, path: Path, out: TextIO) -> None:
    """The findings trend of one host or all hosts as one self-contained page (history read-only)."""
    from casaudit.report.fleet import render_history_page
    from casaudit.report.trend import load_trend

    target = html_target(path)
    with reading_history(db) as history:
        if history is None:
            raise UsageError(f"--html: {nothing_recorded()}")
        hosts = [host] if host else history.hosts()
        if host and not history.scans(host, 1):
            raise UsageError(f"no scans of {safe(host)} in {safe(history.where)}")
        trend = load_trend(history, hosts)
    listed = hosts[:HISTORY_PAGE_HOSTS]
    text = render_history_page(trend, host, listed, len(hosts) - len(listed))
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--html {str(path)!r}: cannot write ({exc.strerror or exc})") from None
    out.write(f"HTML trend: {safe(str(path))}\n")


def nothing_recorded() -> str:
    return f"no scans recorded yet ({safe(default_path())})"


def run_history(db: str | None, host: str | None, limit: int, out: TextIO) -> None:
    with reading_history(db) as history:
        if history is None:
            out.write(nothing_recorded() + "\n")
            return
        print_history(history, host, limit, out)


def print_history(history: HistoryStore, host: str | None, limit: int, out: TextIO) -> None:
    rows = history.scans(host, limit)
    if not rows:
        where = f" of {host}" if host else ""
        out.write(f"no scans{where} in {safe(history.where)}\n")
        return
    width = max(len(r.host) for r in rows + [_HEADER_ROW])
    out.write(f"{'ID':>6}  {'STARTED':24}  {'HOST':{width}}  {'STATUS':8}  FINDINGS (c/h/m/l/i)  "
              "ACCEPTED  TAGS\n")
    for row in rows:
        if row.status == "assessed":
            counts = "/".join(str(row.findings_by_severity.get(s, 0)) for s, _ in SEVERITY_LETTERS)
            state = f"{counts:20}  {row.accepted:8}"
        else:
            state = f"error ({safe(row.error_kind)}): {safe(row.error_detail, 120)}"
        tags = " ".join(f"{safe(k)}={safe(v)}" for k, v in sorted(row.tags.items()))
        out.write(f"{row.id:>6}  {row.started_at:24}  {safe(row.host):{width}}  {row.status:8}  "
                  f"{state}  {tags}".rstrip() + "\n")


_HEADER_ROW = ScanRow(0, "HOST", "", {}, "", "", "", None, None, None, {}, 0)


@dataclass(frozen=True)
class _Scan:
    """One side of a diff: "scan 12" or the file's path, and how the header shows it."""

    name: str
    label: str
    document: dict[str, Any]


def run_diff(db: str | None, old: str | None, new: str | None, host: str | None,
             fail_on: Severity, out: TextIO) -> int:
    """Print the diffs asked for; exit 1 when a new, not accepted finding is at or above fail_on."""
    if (old is None) != (new is None):
        raise UsageError("give both OLD and NEW (scan ids from `casaudit history`, or scan JSON files), "
                         "or neither for the two latest scans of each host")
    if old is not None and new is not None:
        if host is not None:
            raise UsageError("--host picks the hosts to diff without OLD NEW; OLD and NEW already "
                             "name two scans: drop --host")
        pairs = [_explicit_pair(db, old, new)]
    else:
        with reading_history(db) as history:
            if history is None:
                out.write(nothing_recorded() + "\n")
                return EXIT_OK
            pairs = _latest_pairs(history, host, out)
    failing = False
    for older, newer in pairs:
        diff = diff_documents(older.document, newer.document)
        write_diff(newer.document["targets"][0]["host"], older.label, newer.label, diff, out)
        failing |= any(not f.get("accepted") and Severity(f["severity"]).rank >= fail_on.rank
                       for f in diff.new)
    return EXIT_FINDINGS if failing else EXIT_OK


def _explicit_pair(db: str | None, old: str, new: str) -> tuple[_Scan, _Scan]:
    """OLD and NEW as given, refused unless they are two assessed scans of the same host."""
    if not (old.isdigit() or new.isdigit()):
        pair = _load(None, old), _load(None, new)  # two files: no history needed
    else:
        with reading_history(db) as history:
            if history is None:
                number = old if old.isdigit() else new
                raise UsageError(f"no scan {number}: {nothing_recorded()}")
            pair = _load(history, old), _load(history, new)
    for scan in pair:
        _require_assessed(scan)
    _require_same_host(*pair)
    return pair


def _latest_pairs(history: HistoryStore, host: str | None, out: TextIO) -> list[tuple[_Scan, _Scan]]:
    hosts = [host] if host else history.hosts()
    if not hosts:
        out.write(f"no scans in {safe(history.where)}\n")
    pairs = []
    for name in hosts:
        latest = history.latest_assessed(name, 2)
        if len(latest) < 2:
            out.write(f"{safe(name)}: fewer than two assessed scans, nothing to compare\n")
            continue
        newer, older = latest
        pairs.append((_stored(history, older), _stored(history, newer)))
    return pairs


def _require_assessed(scan: _Scan) -> None:
    summary = scan.document.get("summary") or {}
    if summary.get("status") == "not_assessed":
        reason = safe(summary.get("status_reason", ""), 200)
        raise UsageError(f"{scan.name} is of a host that was not assessed ({reason}): against it every "
                         "finding would read new or resolved; compare two assessed scans "
                         "(see `casaudit history`)")


def _require_same_host(old: _Scan, new: _Scan) -> None:
    old_host, new_host = (_host(scan) for scan in (old, new))
    if old_host.lower().rstrip(".") != new_host.lower().rstrip("."):
        raise UsageError(f"{old.name} is of {safe(old_host)}, {new.name} of {safe(new_host)}: "
                         "diff compares two scans of the same host")


def _host(scan: _Scan) -> str:
    return str(scan.document["targets"][0]["host"])


def write_diff(host: str, old_label: str, new_label: str, diff: ScanDiff, out: TextIO) -> None:
    out.write(f"{safe(host)}: {old_label} -> {new_label}: {len(diff.new)} new, {len(diff.changed)} changed, "
              f"{len(diff.resolved)} resolved, {diff.unchanged} unchanged\n")
    for finding in diff.new:
        out.write(finding_line(finding, "  NEW       ") + "\n")
    for old, finding in diff.changed:
        was = f" (was {old['severity']}: {safe(old['observed'], 120)})"
        out.write(finding_line(finding, "  CHANGED   ") + was + "\n")
    for finding in diff.resolved:
        out.write(finding_line(finding, "  RESOLVED  ") + "\n")


def _label(row: ScanRow) -> str:
    return f"scan {row.id} ({row.started_at})"


def _stored(history: HistoryStore, row: ScanRow) -> _Scan:
    name = f"scan {row.id}"
    document = history.document(row.id)
    if document is None:
        raise UsageError(f"{name} has no document: it ended in an error")
    _require_comparable(name, document)
    return _Scan(name, _label(row), document)


def _require_comparable(name: str, document: Any) -> None:
    from casaudit.report import document as doc_io

    problem = doc_io.comparable_problem(document)
    if problem is not None:
        raise UsageError(f"{name} cannot be compared: {problem}")


def _load(history: HistoryStore | None, text: str) -> _Scan:
    """A scan id (needs the history) or a scan JSON file."""
    if text.isdigit() and history is not None:
        row = history.scan(int(text))
        if row is None:
            raise UsageError(f"no scan {text} in {safe(history.where)}; see `casaudit history`")
        return _stored(history, row)
    from casaudit.report import document as doc_io

    return _Scan(text, text, doc_io.load_comparable(Path(text)))
