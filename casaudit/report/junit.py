"""JUnit XML from a scan document, so CI systems show each check row as a test case.

One <testsuite> per check id; one <testcase> per endpoint it judged
(classname = check id, name = endpoint). `fail` is a <failure>, `error` an
<error>, `not_assessed` <skipped> with the reason, `pass` an empty test case.
XML 1.0 cannot carry most control characters, so server text has them shown
as \\xNN before ElementTree escapes the rest.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: object) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group(0)):02x}", str(value))


def render(document: Mapping[str, Any]) -> str:
    findings = {(f.get("check"), f.get("endpoint")): f for f in document.get("findings", [])}
    hosts = ", ".join(str(t.get("host")) for t in document.get("targets", []))
    suites: dict[str, list[Mapping[str, Any]]] = {}
    for row in document.get("checks", []):
        suites.setdefault(str(row.get("check")), []).append(row)

    root = ET.Element("testsuites", name=xml_text(f"casaudit {hosts}"))
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for check, rows in suites.items():
        counts = {
            "tests": len(rows),
            "failures": sum(r.get("status") == "fail" for r in rows),
            "errors": sum(r.get("status") == "error" for r in rows),
            "skipped": sum(r.get("status") == "not_assessed" for r in rows),
        }
        suite = ET.SubElement(root, "testsuite", {
            "name": xml_text(check), **{k: str(v) for k, v in counts.items()},
            "timestamp": xml_text(document.get("started_at", "")), "hostname": xml_text(hosts), "time": "0",
        })
        for row in rows:
            _testcase(suite, row, findings.get((row.get("check"), row.get("endpoint"))))
        for key, value in counts.items():
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _testcase(suite: ET.Element, row: Mapping[str, Any], finding: Mapping[str, Any] | None) -> None:
    case = ET.SubElement(suite, "testcase", classname=xml_text(row.get("check")),
                         name=xml_text(row.get("endpoint")), time="0")
    status = row.get("status")
    reason = xml_text(row.get("reason", ""))
    severity = str(row.get("severity", ""))
    if status == "fail":
        failure = ET.SubElement(case, "failure", type=severity,
                                message=xml_text(f"[{severity}] {row.get('reason', '')}"))
        lines = []
        if finding:
            lines += [f"{finding.get('id')}: {finding.get('title')}",
                      f"Observed: {finding.get('observed')}",
                      f"Fix: {finding.get('remediation')}"]
        lines += [f"Recommendations: {', '.join(row.get('recommendations', []))}",
                  f"Evidence: {', '.join(row.get('evidence', []))}"]
        failure.text = xml_text("\n".join(lines))
    elif status == "error":
        ET.SubElement(case, "error", type="check_error", message=reason).text = reason
    elif status == "not_assessed":
        ET.SubElement(case, "skipped", message=reason)
    if row.get("evidence"):
        ET.SubElement(case, "system-out").text = xml_text(
            f"evidence: {', '.join(row.get('evidence', []))}; reason: {row.get('reason', '')}")
