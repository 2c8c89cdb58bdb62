"""Rendering a `casaudit.fleet/1` document: the terminal table and a directory of HTML reports.

Each host's status is its entry's `status` (the engine's `summary.status`, or
"error" when there is no scan), and the totals are the document's summary
counts: shown as they are, never recomputed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TextIO

import jinja2

from casaudit.errors import UsageError
from casaudit.report import html, view
from casaudit.report.terminal import safe

SEVERITIES = ("critical", "high", "medium", "low", "info")

_INDEX = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'">
<title>casaudit: {{ doc.summary.hosts }} hosts</title>
<style>body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
.status{font-weight:600;white-space:nowrap}.why{display:block;font-weight:400;font-size:12px;color:#57606a;
white-space:normal;max-width:36em}.st-assessed{color:#1e8449}.st-partially_assessed{color:#9a6700}
.st-not_assessed{color:#7b1020}.st-error,.error{color:#a00}</style></head>
<body><h1>casaudit scan of {{ doc.summary.hosts }} hosts</h1>
<p id="fleet-totals">{{ doc.started_at }} to {{ doc.finished_at }}: {{ totals }}
{%- if doc.interrupted %}; <strong>interrupted</strong>{% endif %}.</p>
<table><thead><tr><th>Host</th><th>Tags</th><th>Status</th>
{% for s in severities %}<th>{{ s }}</th>{% endfor %}<th>New</th></tr></thead><tbody>
{% for e in doc.results %}<tr data-status="{{ e.status }}"><td>
{% if e.scan %}<a href="{{ files[loop.index0] }}">{{ e.host }}</a>{% else %}{{ e.host }}{% endif %}</td>
<td>{% for k, v in e.tags.items() %}{{ k }}={{ v }} {% endfor %}</td>
{% if e.scan %}<td class="status st-{{ e.status }}">{{ label(e.status) }}
{% if e.status != "assessed" and e.scan.summary.status_reason %}
<span class="why">{{ e.scan.summary.status_reason }}</span>{% endif %}</td>
{% for s in severities %}<td>{{ e.scan.summary.findings_by_severity[s] }}</td>{% endfor %}
<td>{{ e.diff.new | length if e.diff else "" }}</td>
{% else %}<td class="status st-error">{{ label(e.status) }}</td>
<td class="error" colspan="{{ severities | length + 1 }}">
{{ e.error.kind }}: {{ e.error.detail }}</td>{% endif %}
</tr>{% endfor %}</tbody></table></body></html>
"""


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
        f"casaudit {safe(document['tool']['version'])}: {totals['hosts']} hosts: {totals_text(document)}"
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


def write_index(document: dict[str, Any], directory: Path) -> Path:
    """index.html: every host with its counts (entries may carry slim scans: counts only)."""
    files = [file_name(entry["host"]) for entry in document["results"]]
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    index = directory / "index.html"
    try:
        index.write_text(environment.from_string(_INDEX).render(
            doc=document, files=files, severities=SEVERITIES, label=view.status_label,
            totals=totals_text(document)), encoding="utf-8")
    except OSError as exc:
        raise _cannot_write(directory, exc) from None
    return index


def _cannot_write(directory: Path, exc: OSError) -> UsageError:
    return UsageError(f"--html {str(directory)!r}: cannot write ({exc.strerror or exc})")
