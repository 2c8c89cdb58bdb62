"""`casaudit history` and `casaudit diff`: reading the scan history, no network."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TextIO

from casaudit.diff import ScanDiff, diff_documents
from casaudit.errors import UsageError
from casaudit.history import History, ScanRow
from casaudit.model import Severity
from casaudit.report.terminal import safe
from casaudit.runs import EXIT_FINDINGS, EXIT_OK, finding_line

SEVERITY_LETTERS = (("critical", "c"), ("high", "h"), ("medium", "m"), ("low", "l"), ("info", "i"))


def print_history(history: History, host: str | None, limit: int, out: TextIO) -> None:
    rows = history.scans(host, limit)
    if not rows:
        where = f" of {host}" if host else ""
        out.write(f"no scans{where} in {history.path}\n")
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


def run_diff(history: History, old: str | None, new: str | None, host: str | None,
             fail_on: Severity, out: TextIO) -> int:
    """Print the diffs asked for; exit 1 when a new, not accepted finding is at or above fail_on."""
    pairs: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = []
    if (old is None) != (new is None):
        raise UsageError("give both OLD and NEW (scan ids from `casaudit history`, or scan JSON files), "
                         "or neither for the two latest scans of each host")
    if old is not None and new is not None:
        old_label, old_doc = _load(history, old)
        new_label, new_doc = _load(history, new)
        pairs.append((old_label, old_doc, new_label, new_doc))
    else:
        hosts = [host] if host else history.hosts()
        for name in hosts:
            latest = history.latest_assessed(name, 2)
            if len(latest) < 2:
                out.write(f"{safe(name)}: fewer than two assessed scans, nothing to compare\n")
                continue
            newer, older = latest
            pairs.append((_label(older), _document(history, older.id),
                          _label(newer), _document(history, newer.id)))
    failing = False
    for old_label, old_doc, new_label, new_doc in pairs:
        diff = diff_documents(old_doc, new_doc)
        write_diff(new_doc["targets"][0]["host"], old_label, new_label, diff, out)
        failing |= any(not f.get("accepted") and Severity(f["severity"]).rank >= fail_on.rank
                       for f in diff.new)
    return EXIT_FINDINGS if failing else EXIT_OK


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


def _document(history: History, scan_id: int) -> dict[str, Any]:
    document = history.document(scan_id)
    if document is None:
        raise UsageError(f"scan {scan_id} has no document: it ended in an error")
    return document


def _load(history: History, text: str) -> tuple[str, dict[str, Any]]:
    if text.isdigit():
        row = history.scan(int(text))
        if row is None:
            raise UsageError(f"no scan {text} in {history.path}; see `casaudit history`")
        return _label(row), _document(history, row.id)
    from casaudit.report import document as doc_io

    return text, doc_io.load_comparable(Path(text))
