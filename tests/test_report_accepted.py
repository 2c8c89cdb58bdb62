"""Findings accepted by a baseline, in SARIF, JUnit and CSV: marked, and not failing a CI.

The exit code ignores an accepted finding; so must a CI that reads SARIF or
JUnit, while each format still shows the finding, until when and why it is
accepted.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import xml.etree.ElementTree as ET
from typing import Any

import jsonschema
import pytest

from casaudit.api import audit
from casaudit.demo import lab_target
from casaudit.report import findings_csv, junit, sarif
from tests.conftest import ROOT, run_cli

SARIF_SCHEMA = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
ACCEPTED = {"justification": "=CHG-1 legacy printers <until> the refresh", "expires": "2099-03-31"}


@pytest.fixture(scope="module")
def half_accepted(legacy_lab) -> dict[str, Any]:
    """The legacy lab's scan with every other finding accepted."""
    document = audit(*lab_target(legacy_lab)).to_dict()
    for number, finding in enumerate(document["findings"]):
        finding["accepted"] = copy.deepcopy(ACCEPTED) if number % 2 == 0 else None
    return document


def test_sarif_suppresses_accepted_results_with_their_justification_and_end(half_accepted):
    log = json.loads(sarif.render(half_accepted))
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    results = log["runs"][0]["results"]
    assert len(results) == len(half_accepted["findings"])
    for finding, result in zip(half_accepted["findings"], results, strict=True):
        if finding["accepted"]:
            assert result["suppressions"] == [{"kind": "external", "status": "accepted",
                                               "justification": ACCEPTED["justification"]}]
            assert result["properties"]["acceptedUntil"] == "2099-03-31"
        else:
            assert "suppressions" not in result and "acceptedUntil" not in result["properties"]


def test_junit_skips_accepted_findings_instead_of_failing_them(half_accepted):
    root = ET.fromstring(junit.render(half_accepted))
    accepted = {(f["check"], f["endpoint"]) for f in half_accepted["findings"] if f["accepted"]}
    failed = [(r["check"], r["endpoint"]) for r in half_accepted["checks"] if r["status"] == "fail"]
    assert accepted and set(failed) - accepted
    cases = {(c.get("classname"), c.get("name")): c for c in root.iter("testcase")}
    for key in failed:
        children = [child.tag for child in cases[key] if child.tag != "system-out"]
        if key in accepted:
            assert children == ["skipped"], key
            skipped = cases[key].find("skipped")
            assert skipped is not None
            assert skipped.get("message") == f"accepted until 2099-03-31: {ACCEPTED['justification']}"
            assert "Observed: " in (skipped.text or "")  # what was accepted stays readable
        else:
            assert children == ["failure"], key
    # The totals agree, suite by suite and overall
    assert root.get("failures") == str(len(set(failed) - accepted))
    skipped_rows = sum(r["status"] in junit.SKIPPED for r in half_accepted["checks"])
    assert root.get("skipped") == str(skipped_rows + len(accepted & set(failed)))
    assert sum(int(s.get("failures", "0")) for s in root.findall("testsuite")) == len(set(failed) - accepted)


def test_csv_has_accepted_columns_after_the_existing_ones(half_accepted):
    rows = list(csv.reader(io.StringIO(findings_csv.render(half_accepted))))
    header, body = rows[0], rows[1:]
    assert header[:len(findings_csv.COLUMNS)] == ["id", "severity", "check", "title", "endpoint",
                                                   "recommendations", "observed", "remediation",
                                                   "evidence", "references"]
    # then acceptance, then the scanned host last (what tells hosts apart in a fleet's one file)
    assert header[len(findings_csv.COLUMNS):] == ["accepted", "accepted_until", "accepted_justification",
                                                  "host"]
    for finding, row in zip(half_accepted["findings"], body, strict=True):
        cells = dict(zip(header, row, strict=True))
        if finding["accepted"]:
            # (a justification is user text too: no formula)
            assert (cells["accepted"], cells["accepted_until"], cells["accepted_justification"]) == (
                "yes", "2099-03-31", "'" + ACCEPTED["justification"])
        else:
            assert (cells["accepted"], cells["accepted_until"], cells["accepted_justification"]) == (
                "no", "", "")


def test_a_scan_whose_findings_are_all_accepted_passes_in_junit_and_sarif_too(legacy_lab, tmp_path):
    # Given a baseline accepting every finding of the host
    baseline = tmp_path / "accepted.toml"
    baseline.write_text('[[accept]]\ncheck = "*"\njustification = "lab"\nexpires = 2099-01-01\n')
    out = {name: tmp_path / name for name in ("r.sarif", "r.xml", "f.csv")}
    run = run_cli("scan", *legacy_lab.scan_args(), "--no-history", "--baseline", str(baseline),
                  "--sarif", str(out["r.sarif"]), "--junit", str(out["r.xml"]), "--csv", str(out["f.csv"]))
    # Then the exit code says fine, and so does every machine-read format
    assert run.code == 0, run.stderr
    root = ET.parse(out["r.xml"]).getroot()
    assert root.get("failures") == "0" and root.get("errors") == "0"
    assert root.find(".//failure") is None
    assert any((s.get("message") or "").startswith("accepted until 2099-01-01: lab")
               for s in root.iter("skipped"))
    results = json.loads(out["r.sarif"].read_text())["runs"][0]["results"]
    assert results and all(r["suppressions"][0]["status"] == "accepted" for r in results)
    rows = list(csv.DictReader(io.StringIO(out["f.csv"].read_text(encoding="utf-8-sig"))))
    assert rows and {r["accepted"] for r in rows} == {"yes"}
