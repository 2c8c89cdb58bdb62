"""casaudit.scan/1 documents for tests that need a valid one without a fresh scan.

`with_verdict_fields` fills in the verdict fields of docs/verdicts.md
(`summary.status`, `status_reason`, `headline`, `areas`,
`checks_by_status.not_applicable`, `recommendations[].coverage`) **only where
a document lacks them**, derived from its check rows the way the rule book
says. A document from an engine that emits them comes back unchanged but for
being a copy, so tests built on it keep testing the engine's own values.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from casaudit.report import view

STATUSES = ("pass", "fail", "not_applicable", "not_assessed", "error")


def with_verdict_fields(document: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `document` with every missing verdict field added; present ones untouched."""
    doc = copy.deepcopy(dict(document))
    rows: Sequence[Mapping[str, Any]] = doc.get("checks", [])
    summary = doc.setdefault("summary", {})
    by_status = summary.setdefault("checks_by_status", {})
    counts = _counts(rows)
    for status in STATUSES:
        by_status.setdefault(status, counts[status])
    if "status" not in summary or "status_reason" not in summary:
        status, reason = _host_status(counts)
        summary.setdefault("status", status)
        summary.setdefault("status_reason", reason)
    if "headline" not in summary:
        verdict = view.overall(doc)
        summary["headline"] = {"level": verdict.level, "title": verdict.headline, "detail": verdict.detail}
    if "areas" not in summary:
        summary["areas"] = [
            {"id": area.key, "title": area.label, "grade": None if area.grade == "–" else area.grade,
             "counts": {status: area.counts.get(status, 0) for status in STATUSES},
             "findings": area.findings, "summary": area.summary}
            for area in view.area_grades(doc)
        ]
    for recommendation in doc.get("recommendations", []):
        if "coverage" not in recommendation:
            cited = [row for row in rows if recommendation.get("id") in row.get("recommendations", [])]
            recommendation["coverage"] = dict(_counts(cited))
    return doc


def _counts(rows: Sequence[Mapping[str, Any]]) -> Counter[str]:
    counts: Counter[str] = Counter({status: 0 for status in STATUSES})
    counts.update(str(row.get("status")) for row in rows)
    return counts


def _host_status(counts: Counter[str]) -> tuple[str, str]:
    """The host status from row counts alone (the engine also looks at which services answered)."""
    assessed = counts["pass"] + counts["fail"]
    missing = counts["not_assessed"] + counts["error"]
    if not assessed:
        return "not_assessed", "no check row that applies could be assessed"
    if missing:
        return ("partially_assessed",
                f"{missing} of {assessed + missing} check rows that apply could not be assessed")
    return "assessed", "every check row that applies was assessed"
