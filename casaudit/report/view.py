"""Presentation derived from a `casaudit.scan/1` document, shared by every renderer.

Pure functions over the document: the findings grouped by severity, the check
rows grouped by area, an endpoint inventory and a bounded key/value view of any
evidence item. Nothing here judges the target: the headline, the host's status
and the grade per area are the engine's (`summary`, casaudit.assessment),
shown as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from casaudit.assessment import AREAS, OTHER_AREA, area_of

SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")
STATUS_ORDER = ("fail", "error", "not_assessed", "not_applicable", "pass")
NO_GRADE = "–"
#: Row statuses as the count lines list them (docs/verdicts.md order), and their short labels.
COUNT_ORDER = ("pass", "fail", "not_assessed", "error", "not_applicable")
SHORT_STATUS = {"not_applicable": "n/a"}
#: What each host status (`summary.status`, or a fleet entry's "error") reads as.
HOST_STATUS_LABELS = {
    "assessed": "assessed", "partially_assessed": "partially assessed",
    "not_assessed": "not assessed", "error": "error",
}

#: Bounds for the generic evidence view: server text must not flood the report.
MAX_EVIDENCE_ROWS = 80
MAX_VALUE_CHARS = 600
MAX_DEPTH = 4


@dataclass(frozen=True)
class AreaGrade:
    key: str
    label: str
    grade: str  # A, B, C, D, F, or NO_GRADE when nothing in the area was assessed
    summary: str
    counts: Mapping[str, int]  # check rows by status
    findings: int


@dataclass(frozen=True)
class Overall:
    level: str  # fail | attention | pass | unknown
    headline: str
    detail: str


def severity_rank(severity: str) -> int:
    """0 for critical; unknown severities sort last."""
    return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)


def area_grades(document: Mapping[str, Any]) -> list[AreaGrade]:
    """The engine's grade per area (`summary.areas`), as the views show it."""
    return [
        AreaGrade(
            key=str(area.get("id", "")), label=str(area.get("title", "")),
            grade=str(area["grade"]) if area.get("grade") else NO_GRADE,
            summary=str(area.get("summary", "")), counts=dict(area.get("counts", {})),
            findings=int(area.get("findings", 0)),
        )
        for area in document.get("summary", {}).get("areas", [])
    ]


def overall(document: Mapping[str, Any]) -> Overall:
    """The one line a manager reads first: the engine's `summary.headline`."""
    headline = document.get("summary", {}).get("headline") or {}
    return Overall(str(headline.get("level", "unknown")), str(headline.get("title", "Not assessed")),
                   str(headline.get("detail", "")))


@dataclass(frozen=True)
class HostStatus:
    status: str  # assessed | partially_assessed | not_assessed (the engine's summary.status)
    label: str
    reason: str


def host_status(document: Mapping[str, Any]) -> HostStatus:
    """The engine's `summary.status` and `status_reason`, as the views show them."""
    summary = document.get("summary", {})
    if not summary.get("status"):  # a document written before hosts had a status
        return HostStatus("unknown", "not recorded in this document", "")
    status = str(summary["status"])
    return HostStatus(status, status_label(status), str(summary.get("status_reason", "")))


def status_label(status: str) -> str:
    """A host status (or a row status) in words: `partially_assessed` is "partially assessed"."""
    return HOST_STATUS_LABELS.get(status, status.replace("_", " "))


def counts_text(counts: Mapping[str, int], every: bool = True, short: bool = False,
                separator: str = ", ") -> str:
    """Row counts by status as one line: "75 pass, 82 fail, 1 not assessed, 0 error, 34 not applicable".

    `every`: list all five statuses, zeros included (else only the non-zero ones);
    `short`: "n/a" for not applicable (the CAS table's coverage). Statuses this
    version does not know are listed last, as they are.
    """
    order = list(COUNT_ORDER) + [key for key in counts if key not in COUNT_ORDER]
    parts = []
    for key in order:
        number = int(counts.get(key, 0))
        if number or (every and key in COUNT_ORDER):
            label = SHORT_STATUS.get(key, key.replace("_", " ")) if short else key.replace("_", " ")
            parts.append(f"{number} {label}")
    return separator.join(parts) if parts else "no check row"


def coverage_text(coverage: Mapping[str, int]) -> str:
    """A recommendation's `coverage` compactly: "12 pass · 2 not assessed · 3 n/a"."""
    return counts_text(coverage, every=False, short=True, separator=" · ")


def findings_by_severity(findings: Iterable[Mapping[str, Any]]) -> list[tuple[str, list[Mapping[str, Any]]]]:
    """(severity, findings) worst first, omitting empty groups; stable within a group."""
    ordered = sorted(findings, key=lambda f: (severity_rank(str(f.get("severity"))),
                                              str(f.get("check")), str(f.get("endpoint"))))
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for finding in ordered:
        groups.setdefault(str(finding.get("severity")), []).append(finding)
    return list(groups.items())


def checks_by_area(document: Mapping[str, Any]) -> list[tuple[str, list[Mapping[str, Any]]]]:
    """Check rows grouped by area label, failures first inside each area."""
    labels = dict(AREAS + (OTHER_AREA,))  # from casaudit.assessment
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in document.get("checks", []):
        groups.setdefault(area_of(str(row.get("check", ""))), []).append(row)

    def order(row: Mapping[str, Any]) -> tuple[int, int, str, str]:
        status = str(row.get("status"))
        return (STATUS_ORDER.index(status) if status in STATUS_ORDER else len(STATUS_ORDER),
                severity_rank(str(row.get("severity"))), str(row.get("check")), str(row.get("endpoint")))

    keys = [key for key, _ in AREAS + (OTHER_AREA,) if key in groups]
    return [(labels[key], sorted(groups[key], key=order)) for key in keys]


# --------------------------------------------------------------------------- server text

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def visible_text(text: str) -> str:
    """Control characters as \\xNN so a reader sees them (an ESC in a reason phrase
    is a finding in itself); line ends and tabs stay."""
    text = text.replace("\r\n", "\n")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)


def printable(value: Any) -> Any:
    """The document with every string passed through `visible_text`, for display only."""
    if isinstance(value, str):
        return visible_text(value)
    if isinstance(value, Mapping):
        return {key: printable(inner) for key, inner in value.items()}
    if isinstance(value, (list, tuple)):
        return [printable(inner) for inner in value]
    return value


# --------------------------------------------------------------------------- evidence


@dataclass(frozen=True)
class InventoryRow:
    evidence: str
    kind: str
    endpoint: str
    request: str
    answer: str
    auth: str
    tls: str


def inventory(document: Mapping[str, Any]) -> list[InventoryRow]:
    """Every endpoint probed and what answered, one row per evidence item."""
    rows = []
    for item in document.get("evidence", []):
        kind = str(item.get("kind", ""))
        if kind == "http" and item.get("exchanges"):
            rows.append(_http_inventory(item))
        else:
            rows.append(InventoryRow(
                evidence=str(item.get("id", "")), kind=kind, endpoint=str(item.get("endpoint", "")),
                request=kind, answer=_error_text(item.get("error")) or "answered",
                auth=_join(item.get("auth_schemes") or item.get("mechanisms") or ()),
                tls=_join(item.get("tls_version") or item.get("protocols") or ()),
            ))
    return rows


def _http_inventory(item: Mapping[str, Any]) -> InventoryRow:
    exchanges = item["exchanges"]
    first, last = exchanges[0], exchanges[-1]
    if first.get("error"):
        answer = _error_text(first["error"])
    else:
        answer = " → ".join(str(x.get("status")) if x.get("status") is not None
                            else _error_text(x.get("error")) for x in exchanges)
        if len(exchanges) > 1:
            answer += f" (ends at {last.get('url')})"
    if item.get("redirect_stopped"):
        answer += "; redirect not followed"
    return InventoryRow(
        evidence=str(item.get("id", "")), kind="http", endpoint=str(item.get("endpoint", "")),
        request=str(first.get("method", "")), answer=answer,
        auth=_join(last.get("auth_schemes") or ()),
        tls=str(last.get("tls_version") or ""),
    )


def _error_text(error: Any) -> str:
    if isinstance(error, Mapping) and error.get("kind"):
        return f"{error.get('kind')}: {error.get('detail', '')}"
    return ""


def _join(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def request_line(exchange: Mapping[str, Any]) -> str:
    """The request as it went on the wire: `GET /owa HTTP/1.1` and its Host."""
    from urllib.parse import urlsplit

    url = str(exchange.get("url", ""))
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return f"{exchange.get('method', '')} {target} HTTP/1.1"


def evidence_rows(item: Mapping[str, Any], skip: Iterable[str] = ()) -> list[tuple[str, str]]:
    """Any evidence item as bounded (key, value) rows: dotted keys, scalar values as text.

    Used for evidence kinds this renderer has no dedicated layout for, so a new
    probe family's evidence shows up in the report without a template change.
    The values are untrusted: the template escapes them; here they are only cut.
    """
    rows: list[tuple[str, str]] = []
    skipped = set(skip)

    def add(key: str, value: Any, depth: int) -> None:
        if len(rows) >= MAX_EVIDENCE_ROWS:
            return
        if isinstance(value, Mapping) and depth < MAX_DEPTH and value:
            for sub, inner in value.items():
                add(f"{key}.{sub}" if key else str(sub), inner, depth + 1)
        elif (isinstance(value, (list, tuple)) and depth < MAX_DEPTH and value
              and any(isinstance(v, (Mapping, list, tuple)) for v in value)):
            for index, inner in enumerate(value):
                add(f"{key}[{index}]", inner, depth + 1)
        else:
            rows.append((key, _cut(_scalar(value))))

    for key, value in item.items():
        if key not in skipped:
            add(str(key), value, 1)
    if len(rows) >= MAX_EVIDENCE_ROWS:
        rows.append(("…", f"cut at {MAX_EVIDENCE_ROWS} rows; the JSON document has everything"))
    return rows


def _scalar(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_scalar(v) for v in value) if value else "—"
    if isinstance(value, Mapping):
        return "{…}" if value else "—"
    return str(value)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"
