"""SARIF 2.1.0 from a scan document, for code-scanning dashboards.

One run; `tool.driver.rules` is the check catalog (every check the scan ran,
with its help text), `results` are the findings. A finding's location is its
endpoint URL in `artifactLocation.uri`: there is no source file to point at.
Levels: critical and high are `error`, medium `warning`, low and info `note`;
`security-severity` carries the finer grade for dashboards that read it.

The engine's verdicts ride along as they are: `run.properties.casaudit` holds
the host's `status`, `statusReason`, headline, area grades and the CAS
recommendations' verdicts. A host not assessed makes the invocation
unsuccessful with an error notification (a scan that saw nothing is not a
clean run); a partially assessed one gets a warning notification.

A finding accepted by a baseline file keeps its result, with a
`suppressions` entry (kind `external`: the reason lives in the baseline, not
at the location; status `accepted`; its justification) and its end date in
`properties.acceptedUntil`. Code-scanning dashboards (GitHub's among them)
show a suppressed result as dismissed, not as an open alert.

`scan --targets --sarif` writes one log with a run per host (`build`'s run for
each host's document); a host that could not be scanned at all gets
`error_run`: no rules, no results, an unsuccessful invocation saying why.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
#: GitHub code scanning reads this property (0.1 to 10) to rank security results.
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "0.5"}


def _catalog() -> dict[str, Any]:
    """The catalog of this casaudit version, for help text of checks that did not fail."""
    try:
        from casaudit.catalog import load_checks

        return {check.meta.id: check.meta for check in load_checks()}
    except Exception:  # noqa: BLE001 - help text is optional; the document alone still renders
        return {}


def render(document: Mapping[str, Any]) -> str:
    return json.dumps(build(document), indent=2, ensure_ascii=False) + "\n"


def build(document: Mapping[str, Any]) -> dict[str, Any]:
    catalog = _catalog()
    findings = list(document.get("findings", []))
    first_finding: dict[str, Mapping[str, Any]] = {}
    for finding in findings:
        first_finding.setdefault(finding["check"], finding)
    rule_ids: list[str] = []
    severities: dict[str, str] = {}
    recommendations: dict[str, list[str]] = {}
    for row in list(document.get("checks", [])) + findings:
        check = str(row.get("check"))
        if check not in severities:
            rule_ids.append(check)
            severities[check] = str(row.get("severity", "info"))
            recommendations[check] = []
        for cas in row.get("recommendations", []):
            if cas not in recommendations[check]:
                recommendations[check].append(cas)
    rules = [_rule(check, severities[check], recommendations[check], catalog.get(check),
                   first_finding.get(check)) for check in rule_ids]
    index = {check: number for number, check in enumerate(rule_ids)}
    targets = document.get("targets", [])
    summary = document.get("summary", {})
    status = str(summary.get("status", ""))
    invocation: dict[str, Any] = {
        # A scan that saw nothing did not do its job: a dashboard must not show a clean run.
        "executionSuccessful": status != "not_assessed",
        "startTimeUtc": document.get("started_at"),
        "endTimeUtc": document.get("finished_at"),
    }
    notification = _status_notification(document)
    if notification is not None:
        invocation["toolExecutionNotifications"] = [notification]
    run: dict[str, Any] = {
        "tool": {"driver": {
            "name": "casaudit",
            "version": str(document.get("tool", {}).get("version", "")),
            "rules": rules,
            "notifications": [dict(descriptor) for descriptor in NOTIFICATIONS],
        }},
        "invocations": [invocation],
        "results": [_result(f, index[f["check"]]) for f in findings],
        "properties": {
            "targets": [t.get("host") for t in targets],
            "findingsBySeverity": summary.get("findings_by_severity", {}),
            "casaudit": _verdicts(document),
        },
    }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


#: Run-level notifications about the host's status (docs/verdicts.md), by `summary.status`.
NOTIFICATIONS: tuple[dict[str, Any], ...] = (
    {"id": "casaudit.not_assessed", "name": "HostNotAssessed",
     "shortDescription": {"text": "The host was not assessed: no Client Access service of it answered, "
                                  "so nothing was judged"},
     "defaultConfiguration": {"level": "error"}},
    {"id": "casaudit.partially_assessed", "name": "HostPartiallyAssessed",
     "shortDescription": {"text": "Some check rows that apply to the host could not be assessed; "
                                  "what was assessed stands"},
     "defaultConfiguration": {"level": "warning"}},
)
_NOTIFICATION_INDEX = {descriptor["id"]: number for number, descriptor in enumerate(NOTIFICATIONS)}


def _status_notification(document: Mapping[str, Any]) -> dict[str, Any] | None:
    """The engine's host status as a tool execution notification; none for an assessed host."""
    summary = document.get("summary", {})
    status = str(summary.get("status", ""))
    descriptor = f"casaudit.{status}"
    if descriptor not in _NOTIFICATION_INDEX:
        return None
    hosts = ", ".join(str(t.get("host")) for t in document.get("targets", []))
    label = status.replace("_", " ")
    return {
        "level": NOTIFICATIONS[_NOTIFICATION_INDEX[descriptor]]["defaultConfiguration"]["level"],
        "message": {"text": f"{hosts}: {label}: {summary.get('status_reason', '')}"},
        "descriptor": {"id": descriptor, "index": _NOTIFICATION_INDEX[descriptor]},
        "timeUtc": document.get("finished_at"),
    }


def _verdicts(document: Mapping[str, Any]) -> dict[str, Any]:
    """What the engine decided about the host, copied from the document (nothing recomputed)."""
    summary = document.get("summary", {})
    return {
        "status": summary.get("status"),
        "statusReason": summary.get("status_reason"),
        "headline": summary.get("headline"),
        "checksByStatus": summary.get("checks_by_status", {}),
        "areas": [
            {"id": area.get("id"), "title": area.get("title"), "grade": area.get("grade"),
             "summary": area.get("summary"), "counts": area.get("counts", {}),
             "findings": area.get("findings", 0)}
            for area in summary.get("areas", [])
        ],
        "recommendations": [
            {"id": rec.get("id"), "title": rec.get("title"), "verdict": rec.get("verdict"),
             "reason": rec.get("reason"), "coverage": rec.get("coverage", {}),
             "findings": list(rec.get("findings", []))}
            for rec in document.get("recommendations", [])
        ],
    }


def _rule(check: str, severity: str, cas: list[str], meta: Any,
          finding: Mapping[str, Any] | None) -> dict[str, Any]:
    title = meta.title if meta else (finding or {}).get("title", check)
    description = meta.description if meta else (finding or {}).get("description", "")
    remediation = meta.remediation if meta else (finding or {}).get("remediation", "")
    references = list(meta.references) if meta else list((finding or {}).get("references", []))
    rationale = meta.severity_rationale if meta else ""
    help_text = remediation or title
    if cas:
        help_text += f"\n\nRecommendations: {', '.join(cas)}."
    if rationale:
        help_text += f"\n\nSeverity {severity}: {rationale}"
    rule: dict[str, Any] = {
        "id": check,
        "name": "".join(part.capitalize() for part in check.replace(".", "_").split("_")),
        "shortDescription": {"text": title},
        "fullDescription": {"text": description or title},
        "help": {"text": help_text},
        "defaultConfiguration": {"level": LEVELS.get(severity, "note")},
        "properties": {
            "tags": ["security", "exchange", *cas],
            "severity": severity,
            "security-severity": SECURITY_SEVERITY.get(severity, "0.5"),
        },
    }
    uri = next((r for r in references if r.startswith(("https://", "http://"))), None)
    if uri:
        rule["helpUri"] = uri
    return rule


def _result(finding: Mapping[str, Any], rule_index: int) -> dict[str, Any]:
    severity = str(finding.get("severity", "info"))
    endpoint = str(finding.get("endpoint", ""))
    fingerprint = hashlib.sha256(f"{finding['check']}|{endpoint}".encode()).hexdigest()[:32]
    result: dict[str, Any] = {
        "ruleId": finding["check"],
        "ruleIndex": rule_index,
        "kind": "fail",
        "level": LEVELS.get(severity, "note"),
        "message": {"text": str(finding.get("observed") or finding.get("title", ""))},
        "locations": [{
            "physicalLocation": {"artifactLocation": {"uri": endpoint}},
            "message": {"text": endpoint},
        }],
        "partialFingerprints": {"casauditCheckEndpoint/v1": fingerprint},
        "properties": {
            "findingId": finding.get("id"),
            "severity": severity,
            "security-severity": SECURITY_SEVERITY.get(severity, "0.5"),
            "recommendations": list(finding.get("recommendations", [])),
            "evidence": list(finding.get("evidence", [])),
            "remediation": finding.get("remediation", ""),
        },
    }
    accepted = finding.get("accepted")
    if accepted:
        result["suppressions"] = [{"kind": "external", "status": "accepted",
                                   "justification": str(accepted.get("justification", ""))}]
        result["properties"]["acceptedUntil"] = accepted.get("expires")
    return result


#: The notification of a fleet host that could not be scanned (no document: unresolvable, deadline...).
HOST_ERROR: dict[str, Any] = {
    "id": "casaudit.error", "name": "HostNotScanned",
    "shortDescription": {"text": "The host could not be scanned: nothing about it was observed or judged"},
    "defaultConfiguration": {"level": "error"},
}


def error_run(host: str, kind: str, detail: str, started_at: str, finished_at: str) -> dict[str, Any]:
    """The run of a host that has no scan document: an unsuccessful invocation and why."""
    from casaudit import __version__

    return {
        "tool": {"driver": {"name": "casaudit", "version": __version__, "rules": [],
                            "notifications": [dict(HOST_ERROR)]}},
        "invocations": [{
            "executionSuccessful": False,
            "startTimeUtc": started_at,
            "endTimeUtc": finished_at,
            "toolExecutionNotifications": [{
                "level": "error",
                "message": {"text": f"{host}: {kind}: {detail}"},
                "descriptor": {"id": HOST_ERROR["id"], "index": 0},
                "timeUtc": finished_at,
            }],
        }],
        "results": [],
        "properties": {"targets": [host], "casaudit": {"status": "error",
                                                       "error": {"kind": kind, "detail": detail}}},
    }
