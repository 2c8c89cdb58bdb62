"""JUnit XML from a scan document, so CI systems show each check row as a test case.

One <testsuite> per check id; one <testcase> per endpoint it judged
(classname = check id, name = endpoint). `fail` is a <failure>, `error` an
<error>, `pass` an empty test case; `not_assessed` and `not_applicable` are
both <skipped>, told apart by the message prefix ("not assessed: ..." and
"not applicable: ...").

A failed row whose finding a baseline accepts is <skipped> too, with the
message "accepted until YYYY-MM-DD: <justification>" and the finding's detail
as its text: it no longer counts for the exit code, so it must not turn a CI
red, yet it stays visible. Jenkins, GitLab and Azure DevOps list skipped
cases with their message; a passed case with a property would hide it.

The host's status (`summary.status`, the engine's) is a property of
<testsuites>; a host not assessed adds a `casaudit.host` suite whose one test
case is an <error> with the reason, so a CI that reads JUnit goes red for a
scan that saw nothing. XML 1.0 cannot carry most control characters, so
server text has them shown as \\xNN before ElementTree escapes the rest.

`scan --targets --junit` writes one <testsuites> holding each host's suites
(`host_suites`), told apart by their `hostname`; a host that could not be
scanned at all is one `casaudit.host` suite with an errored case (`error_suite`).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


#: Row statuses that are <skipped>, and the message prefix that tells them apart.
SKIPPED = {"not_assessed": "not assessed", "not_applicable": "not applicable"}


def _host_not_assessed(root: ET.Element, document: Mapping[str, Any], hosts: str) -> None:
    """One errored test case for the host: the scan saw nothing, so its passes mean nothing."""
    reason = xml_text(document.get("summary", {}).get("status_reason", ""))
    suite = ET.SubElement(root, "testsuite", {
        "name": "casaudit.host", "tests": "1", "failures": "0", "errors": "1", "skipped": "0",
        "timestamp": xml_text(document.get("started_at", "")), "hostname": xml_text(hosts), "time": "0",
    })
    case = ET.SubElement(suite, "testcase", classname="casaudit.host", name=xml_text(hosts), time="0")
    ET.SubElement(case, "error", type="not_assessed", message=f"not assessed: {reason}").text = reason


def xml_text(value: object) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group(0)):02x}", str(value))


def render(document: Mapping[str, Any]) -> str:
    hosts = ", ".join(str(t.get("host")) for t in document.get("targets", []))
    root = ET.Element("testsuites", name=xml_text(f"casaudit {hosts}"))
    summary = document.get("summary", {})
    properties = ET.SubElement(root, "properties")
    for name, key in (("casaudit.status", "status"), ("casaudit.status_reason", "status_reason")):
        if summary.get(key) is not None:
            ET.SubElement(properties, "property", name=name, value=xml_text(summary[key]))
    suites = host_suites(document)
    root.extend(suites)
    for key, value in totals(suites).items():
        root.set(key, str(value))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


COUNTS = ("tests", "failures", "errors", "skipped")


def totals(suites: list[ET.Element]) -> dict[str, int]:
    """The <testsuites> counts: the sum of its suites' own."""
    return {key: sum(int(suite.get(key, "0")) for suite in suites) for key in COUNTS}


def host_suites(document: Mapping[str, Any]) -> list[ET.Element]:
    """One host's <testsuite> elements: one per check id, after `casaudit.host` when not assessed."""
    findings = {(f.get("check"), f.get("endpoint")): f for f in document.get("findings", [])}
    hosts = ", ".join(str(t.get("host")) for t in document.get("targets", []))
    by_check: dict[str, list[Mapping[str, Any]]] = {}
    for row in document.get("checks", []):
        by_check.setdefault(str(row.get("check")), []).append(row)
    holder = ET.Element("testsuites")
    if document.get("summary", {}).get("status") == "not_assessed":
        _host_not_assessed(holder, document, hosts)
    for check, rows in by_check.items():
        accepted = sum(_accepted(findings.get((r.get("check"), r.get("endpoint"))), r) is not None
                       for r in rows)
        counts = {
            "tests": len(rows),
            "failures": sum(r.get("status") == "fail" for r in rows) - accepted,
            "errors": sum(r.get("status") == "error" for r in rows),
            "skipped": sum(r.get("status") in SKIPPED for r in rows) + accepted,
        }
        suite = ET.SubElement(holder, "testsuite", {
            "name": xml_text(check), **{k: str(v) for k, v in counts.items()},
            "timestamp": xml_text(document.get("started_at", "")), "hostname": xml_text(hosts), "time": "0",
        })
        for row in rows:
            _testcase(suite, row, findings.get((row.get("check"), row.get("endpoint"))))
    return list(holder)


def error_suite(host: str, kind: str, detail: str, started_at: str) -> ET.Element:
    """The suite of a fleet host that has no scan document: one errored case saying why."""
    suite = ET.Element("testsuite", {
        "name": "casaudit.host", "tests": "1", "failures": "0", "errors": "1", "skipped": "0",
        "timestamp": xml_text(started_at), "hostname": xml_text(host), "time": "0",
    })
    case = ET.SubElement(suite, "testcase", classname="casaudit.host", name=xml_text(host), time="0")
    message = xml_text(f"{kind}: {detail}")
    ET.SubElement(case, "error", type=xml_text(kind), message=message).text = message
    return suite


def _accepted(finding: Mapping[str, Any] | None, row: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The baseline's acceptance of a failed row's finding, if any."""
    if row.get("status") != "fail" or not finding:
        return None
    return finding.get("accepted") or None


def _testcase(suite: ET.Element, row: Mapping[str, Any], finding: Mapping[str, Any] | None) -> None:
    case = ET.SubElement(suite, "testcase", classname=xml_text(row.get("check")),
                         name=xml_text(row.get("endpoint")), time="0")
    status = row.get("status")
    reason = xml_text(row.get("reason", ""))
    severity = str(row.get("severity", ""))
    accepted = _accepted(finding, row)
    if accepted:
        skipped = ET.SubElement(case, "skipped", message=xml_text(
            f"accepted until {accepted.get('expires')}: {accepted.get('justification', '')}"))
        skipped.text = _failure_text(row, finding)
    elif status == "fail":
        failure = ET.SubElement(case, "failure", type=severity,
                                message=xml_text(f"[{severity}] {row.get('reason', '')}"))
        failure.text = _failure_text(row, finding)
    elif status == "error":
        ET.SubElement(case, "error", type="check_error", message=reason).text = reason
    elif status in SKIPPED:
        ET.SubElement(case, "skipped", message=xml_text(f"{SKIPPED[status]}: {row.get('reason', '')}"))
    if row.get("evidence"):
        ET.SubElement(case, "system-out").text = xml_text(
            f"evidence: {', '.join(row.get('evidence', []))}; reason: {row.get('reason', '')}")


def _failure_text(row: Mapping[str, Any], finding: Mapping[str, Any] | None) -> str:
    lines = []
    if finding:
        lines += [f"{finding.get('id')}: {finding.get('title')}",
                  f"Observed: {finding.get('observed')}",
                  f"Fix: {finding.get('remediation')}"]
    lines += [f"Recommendations: {', '.join(row.get('recommendations', []))}",
              f"Evidence: {', '.join(row.get('evidence', []))}"]
    return xml_text("\n".join(lines))
