"""Rendering a `casaudit.fleet/1` document: the terminal table and a directory of HTML reports."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TextIO

import jinja2

from casaudit.errors import UsageError
from casaudit.report import html
from casaudit.report.terminal import safe

SEVERITIES = ("critical", "high", "medium", "low", "info")

_INDEX = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>casaudit: {{ doc.summary.hosts }} hosts</title>
<style>body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}.error{color:#a00}</style></head>
<body><h1>casaudit scan of {{ doc.summary.hosts }} hosts</h1>
<p>{{ doc.started_at }} to {{ doc.finished_at }}: {{ doc.summary.assessed }} assessed,
{{ doc.summary.errors }} not{% if doc.interrupted %}; <strong>interrupted</strong>{% endif %}.</p>
<table><thead><tr><th>Host</th><th>Tags</th><th>Status</th>
{% for s in severities %}<th>{{ s }}</th>{% endfor %}<th>New</th></tr></thead><tbody>
{% for e in doc.results %}<tr><td>
{% if e.scan %}<a href="{{ files[loop.index0] }}">{{ e.host }}</a>{% else %}{{ e.host }}{% endif %}</td>
<td>{% for k, v in e.tags.items() %}{{ k }}={{ v }} {% endfor %}</td>
{% if e.scan %}<td>assessed</td>
{% for s in severities %}<td>{{ e.scan.summary.findings_by_severity[s] }}</td>{% endfor %}
<td>{{ e.diff.new | length if e.diff else "" }}</td>
{% else %}<td class="error" colspan="{{ severities | length + 2 }}">
error ({{ e.error.kind }}): {{ e.error.detail }}</td>{% endif %}
</tr>{% endfor %}</tbody></table></body></html>
"""


def summary(document: dict[str, Any], out: TextIO, diff_only: bool = False) -> None:
    totals = document["summary"]
    out.write(
        f"casaudit {safe(document['tool']['version'])}: {totals['hosts']} hosts, "
        f"{totals['assessed']} assessed, {totals['errors']} not assessed"
        + ("  (interrupted: unfinished hosts are listed as errors)" if document["interrupted"] else "")
        + "\n"
    )
    width = max([len(e["host"]) for e in document["results"]] + [4])
    header = f"{'HOST':{width}}  {'STATUS':8}  CRIT HIGH  MED  LOW INFO  NEW ACCEPTED"
    out.write(header + "\n")
    for entry in document["results"]:
        host = safe(entry["host"]).ljust(width)
        if entry["scan"] is None:
            error = entry["error"]
            out.write(f"{host}  {'error':8}  {safe(error['kind'])}: {safe(error['detail'], 160)}\n")
            continue
        counts = entry["scan"]["summary"]["findings_by_severity"]
        accepted = sum(1 for f in entry["scan"]["findings"] if f.get("accepted"))
        new = str(len(entry["diff"]["new"])) if entry.get("diff") else "-"
        out.write(f"{host}  {'assessed':8}  " + " ".join(f"{counts[s]:4}" for s in SEVERITIES)
                  + f" {new:>4} {accepted:8}\n")
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


def write_host_html(entry: dict[str, Any], directory: Path) -> None:
    """The report of one assessed host (its entry with the full scan), as soon as it finished."""
    if entry["scan"] is None:
        return
    try:
        (directory / file_name(entry["host"])).write_text(html.render(entry["scan"]), encoding="utf-8")
    except OSError as exc:
        raise _cannot_write(directory, exc) from None


def write_index(document: dict[str, Any], directory: Path) -> Path:
    """index.html: every host with its counts (entries may carry slim scans: counts only)."""
    files = [file_name(entry["host"]) for entry in document["results"]]
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    index = directory / "index.html"
    try:
        index.write_text(environment.from_string(_INDEX).render(
            doc=document, files=files, severities=SEVERITIES), encoding="utf-8")
    except OSError as exc:
        raise _cannot_write(directory, exc) from None
    return index


def _cannot_write(directory: Path, exc: OSError) -> UsageError:
    return UsageError(f"--html {str(directory)!r}: cannot write ({exc.strerror or exc})")
