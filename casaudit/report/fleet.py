"""Rendering a `casaudit.fleet/1` document: the terminal table and a directory of HTML reports.

Each host's status is its entry's `status` (the engine's `summary.status`, or
"error" when there is no scan), and the totals are the document's summary
counts: shown as they are, never recomputed. Grades, headlines and verdicts
are the engine's too (each scan's `summary.areas`, `summary.headline`,
`recommendations`), read from full or slim scans alike (casaudit.fleet).

The index (report_templates/fleet.html.j2) stays bounded for a fleet of any
size: one compact row per host, and the recommendations matrix for at most
MATRIX_HOSTS hosts, those with the most recommendations not met.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from casaudit.assessment import AREAS, OTHER_AREA
from casaudit.errors import UsageError
from casaudit.recommendations import RECOMMENDATIONS
from casaudit.report import html, trend, view
from casaudit.report.terminal import safe

if TYPE_CHECKING:
    from casaudit.report.trend import Trend

SEVERITIES = ("critical", "high", "medium", "low", "info")
INDEX_TEMPLATE = "fleet.html.j2"
HISTORY_TEMPLATE = "history.html.j2"
#: The host report's Content-Security-Policy (report.html.j2), the index's too.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
#: Host columns of the recommendations matrix, at most.
MATRIX_HOSTS = 60
#: Each CAS verdict's mark in the matrix: the shape tells them apart without colour.
VERDICT_MARKS = (("met", "✓"), ("not_met", "✗"), ("partial", "◐"), ("not_assessed", "?"),
                 ("not_applicable", "n/a"))
AREA_HEADS = {"web": "Web", "tls": "TLS", "mail": "POP/IMAP", "autodiscover": "Autodiscover",
              "version": "Version", "other": "Other"}

#: The fleet summary's host counts, in the order the totals line lists them.
TOTALS = (("assessed", "assessed"), ("partially_assessed", "partially assessed"),
          ("not_assessed", "not assessed"), ("errors", "error"))
STATUS_WIDTH = max(len(view.status_label(status)) for status in view.HOST_STATUS_LABELS)


def totals_text(document: dict[str, Any]) -> str:
    """ "3 assessed, 1 partially assessed, 0 not assessed, 2 errors": the engine's counts, as they are."""
    totals = document["summary"]
    parts = []
    for key, label in TOTALS:
        number = int(totals.get(key, 0))
        parts.append(f"{number} {label}{'s' if key == 'errors' and number != 1 else ''}")
    return ", ".join(parts)


def summary(document: dict[str, Any], out: TextIO, diff_only: bool = False) -> None:
    totals = document["summary"]
    out.write(
        f"casaudit {safe(document['tool']['version'])}: {totals['hosts']} hosts{_shard_text(document)}: "
        f"{totals_text(document)}"
        + ("  (interrupted: unfinished hosts are listed as errors)" if document["interrupted"] else "")
        + "\n"
    )
    width = max([len(safe(e["host"])) for e in document["results"]] + [4])
    header = f"{'HOST':{width}}  {'STATUS':{STATUS_WIDTH}}  CRIT HIGH  MED  LOW INFO  NEW ACCEPTED"
    out.write(header + "\n")
    for entry in document["results"]:
        host = safe(entry["host"]).ljust(width)
        status = view.status_label(str(entry["status"])).ljust(STATUS_WIDTH)
        if entry["scan"] is None:
            error = entry["error"] or {"kind": "error", "detail": "no scan"}
            out.write(f"{host}  {status}  {safe(error['kind'])}: {safe(error['detail'], 160)}\n")
            continue
        counts = entry["scan"]["summary"]["findings_by_severity"]
        accepted = sum(1 for f in entry["scan"]["findings"] if f.get("accepted"))
        new = str(len(entry["diff"]["new"])) if entry.get("diff") else "-"
        out.write(f"{host}  {status}  " + " ".join(f"{counts[s]:4}" for s in SEVERITIES)
                  + f" {new:>4} {accepted:8}\n")
        if entry["status"] == "not_assessed":
            reason = entry["scan"]["summary"].get("status_reason", "")
            out.write(f"{'':{width}}  not assessed: {safe(reason, 300)}\n")
    label = "new findings since each host's previous scan" if diff_only else "findings"
    lines = []
    for entry in document["results"]:
        if entry["scan"] is None:
            continue
        findings = entry["scan"]["findings"]
        if diff_only:
            new_ids = set(entry["diff"]["new"]) if entry.get("diff") else set()
            findings = [f for f in findings if f["id"] in new_ids]
        lines += [_line(entry["host"], f) for f in findings]
    out.write(f"{label}: {len(lines)}\n")
    for line in lines:
        out.write(line + "\n")


def _shard_text(document: dict[str, Any]) -> str:
    shard = document["options"].get("shard")
    return f" (shard {shard['index']}/{shard['count']} of the targets file)" if shard else ""


def _line(host: str, finding: dict[str, Any]) -> str:
    accepted = finding.get("accepted")
    note = f"  [accepted until {safe(accepted['expires'])}]" if accepted else ""
    return (f"  {safe(host)}  {finding['severity'].upper():8} {safe(finding['check']):24} "
            f"{safe(finding['endpoint'])}{note}")


def file_name(host: str) -> str:
    """A safe file name for a host's report (host names are already validated; be strict anyway)."""
    return re.sub(r"[^a-z0-9.-]", "_", host.lower()) + ".html"


def write_html(document: dict[str, Any], directory: Path) -> Path:
    """One report per assessed host plus index.html; returns the index path."""
    prepare_html(directory)
    for entry in document["results"]:
        write_host_html(entry, directory)
    return write_index(document, directory)


def prepare_html(directory: Path) -> None:
    """Create the report directory, before the scan starts (a bad --html fails at once)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _cannot_write(directory, exc) from None


def write_host_html(entry: dict[str, Any], directory: Path, evidence: str = "cited") -> None:
    """The report of one assessed host (its entry with the full scan), as soon as it finished."""
    if entry["scan"] is None:
        return
    try:
        (directory / file_name(entry["host"])).write_text(html.render(entry["scan"], evidence),
                                                         encoding="utf-8")
    except OSError as exc:
        raise _cannot_write(directory, exc) from None


@dataclass(frozen=True)
class HostRow:
    """One line of the index's hosts table."""

    host: str
    file: str | None
    tags: list[tuple[str, str]]
    status: str
    status_label: str
    reason: str
    error: str | None  # "kind: detail" for an entry without a scan
    grades: list[tuple[str, str]]
    level: str
    headline: str
    counts: Mapping[str, int]
    accepted: int
    new: int | None


@dataclass(frozen=True)
class MatrixColumn:
    host: str
    verdicts: Mapping[str, str] | None  # None: the host was not scanned
    not_met: int


@dataclass(frozen=True)
class Matrix:
    hosts: list[MatrixColumn]
    left_out: int


def index_areas(document: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The areas the index has a column for: the engine's five, and "other" when a host has it."""
    seen = {str(area.get("id")) for entry in document["results"] if entry["scan"]
            for area in entry["scan"]["summary"].get("areas", [])}
    return [area for area in AREAS + (OTHER_AREA,) if area in AREAS or area[0] in seen]


def host_row(entry: Mapping[str, Any], areas: list[tuple[str, str]]) -> HostRow:
    scan = entry["scan"]
    tags = sorted((str(k), str(v)) for k, v in entry["tags"].items())
    status = str(entry["status"])
    if scan is None:
        error = entry.get("error") or {"kind": "error", "detail": "no scan"}
        return HostRow(entry["host"], None, tags, status, view.status_label(status), "",
                       f"{error['kind']}: {error['detail']}", [], "unknown", "", {}, 0, None)
    grades = {area.key: area.grade for area in view.area_grades(scan)}
    verdict = view.overall(scan)
    reason = str(scan["summary"].get("status_reason", "")) if status != "assessed" else ""
    return HostRow(
        host=entry["host"], file=file_name(entry["host"]), tags=tags, status=status,
        status_label=view.status_label(status), reason=reason, error=None,
        grades=[(key, grades.get(key, view.NO_GRADE)) for key, _ in areas],
        level=verdict.level, headline=verdict.headline, counts=scan["summary"]["findings_by_severity"],
        accepted=sum(1 for finding in scan["findings"] if finding.get("accepted")),
        new=len(entry["diff"]["new"]) if entry.get("diff") else None,
    )


def matrix(document: Mapping[str, Any], limit: int = MATRIX_HOSTS) -> Matrix:
    """A column per host; beyond `limit` hosts, the `limit` with the most verdicts not met."""
    columns = []
    for entry in document["results"]:
        if entry["scan"] is None:
            columns.append(MatrixColumn(entry["host"], None, 0))
            continue
        verdicts = {str(r["id"]): str(r["verdict"]) for r in entry["scan"].get("recommendations", [])}
        columns.append(MatrixColumn(entry["host"], verdicts,
                                    sum(1 for v in verdicts.values() if v == "not_met")))
    if len(columns) <= limit:
        return Matrix(columns, 0)
    # sorted() is stable: among equals, targets-file order
    worst = sorted(columns, key=lambda column: -column.not_met)[:limit]
    return Matrix(worst, len(columns) - limit)


def render_index(document: dict[str, Any], history_trend: Trend | None = None) -> str:
    """index.html's text: every host with its grades and counts, the CAS matrix, the trend."""
    areas = index_areas(document)
    return html.environment().get_template(INDEX_TEMPLATE).render(
        doc=document, csp=CSP, totals=totals_text(document), severities=SEVERITIES, areas=areas,
        area_heads=AREA_HEADS, rows=[host_row(entry, areas) for entry in document["results"]],
        no_grade=view.NO_GRADE, matrix=matrix(document), recommendations=RECOMMENDATIONS,
        marks=VERDICT_MARKS, mark_of=dict(VERDICT_MARKS), trend=history_trend,
        scans_per_host=trend.SCANS_PER_HOST, spark_width=trend.SPARK_WIDTH, spark_height=trend.SPARK_HEIGHT,
    )


def render_history_page(history_trend: Trend, host: str | None, hosts: list[str], left_out: int) -> str:
    """`casaudit history --html`: the trend of one host (`host`) or of all, `hosts` listed under it."""
    from datetime import UTC, datetime

    from casaudit import __version__

    return html.environment().get_template(HISTORY_TEMPLATE).render(
        csp=CSP, trend=history_trend, subject=host or f"{len(hosts) + left_out} hosts", hosts=hosts,
        left_out=left_out, severities=SEVERITIES, version=__version__, scans_per_host=trend.SCANS_PER_HOST,
        written_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        spark_width=trend.SPARK_WIDTH, spark_height=trend.SPARK_HEIGHT,
    )


def write_index(document: dict[str, Any], directory: Path, history_trend: Trend | None = None) -> Path:
    """index.html (entries may carry slim scans: casaudit.fleet keeps what the index reads)."""
    index = directory / "index.html"
    try:
        index.write_text(render_index(document, history_trend), encoding="utf-8")
    except OSError as exc:
        raise _cannot_write(directory, exc) from None
    return index


def _cannot_write(directory: Path, exc: OSError) -> UsageError:
    return UsageError(f"--html {str(directory)!r}: cannot write ({exc.strerror or exc})")
