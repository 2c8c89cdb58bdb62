"""The pipeline formats (SARIF, JUnit, CSV), the terminal summary and the derived view.

Documents come from real scans of the lab; hostile variants are the same
documents with server strings replaced, as a hostile server would send them.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import markupsafe
import pytest

from casaudit.api import audit
from casaudit.demo import lab_target
from casaudit.report import findings_csv, html, junit, sarif, terminal, view
from tests.conftest import ROOT, run_cli
from tests.scan_documents import not_assessed_document, silent_host_args

SARIF_SCHEMA = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())


@pytest.fixture(scope="module")
def legacy_document(legacy_lab) -> dict[str, Any]:
    return audit(*lab_target(legacy_lab)).to_dict()


@pytest.fixture(scope="module")
def hardened_document(hardened_lab) -> dict[str, Any]:
    return audit(*lab_target(hardened_lab)).to_dict()


@pytest.fixture(scope="module")
def silent_document() -> dict[str, Any]:
    """A scan of a host where every port refused: summary.status is not_assessed."""
    return not_assessed_document()


LETTER_GRADE = re.compile(r'class="grade grade-[A-F]"')


def validate_sarif(log: dict[str, Any]) -> None:
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)


# --------------------------------------------------------------------------- SARIF


def test_sarif_validates_and_maps_findings_to_results(legacy_document):
    log = json.loads(sarif.render(legacy_document))
    validate_sarif(log)
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert {r["id"] for r in rules} == {row["check"] for row in legacy_document["checks"]}
    rule = next(r for r in rules if r["id"] == "http.basic_cleartext")
    assert rule["help"]["text"].startswith("Require SSL")
    assert rule["defaultConfiguration"]["level"] == "error"
    assert "CAS-14" in rule["properties"]["tags"]
    results = run["results"]
    assert len(results) == len(legacy_document["findings"]) >= 4
    levels = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
    for result, finding in zip(results, legacy_document["findings"], strict=True):
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"] == finding["check"]
        assert result["level"] == levels[finding["severity"]]
        assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == finding["endpoint"]
        assert result["message"]["text"] == finding["observed"]
    assert len({r["partialFingerprints"]["casauditCheckEndpoint/v1"] for r in results}) == len(results)


def test_sarif_of_a_clean_scan_has_rules_and_no_results(hardened_document):
    log = json.loads(sarif.render(hardened_document))
    validate_sarif(log)
    assert log["runs"][0]["results"] == []
    assert log["runs"][0]["tool"]["driver"]["rules"]


def test_sarif_levels_follow_severity(legacy_document):
    document = copy.deepcopy(legacy_document)
    document["findings"] = document["findings"][:4]
    for finding, severity in zip(document["findings"], ("high", "medium", "low", "info"), strict=True):
        finding["severity"] = severity
    log = json.loads(sarif.render(document))
    validate_sarif(log)
    assert [r["level"] for r in log["runs"][0]["results"]] == ["error", "warning", "note", "note"]


def test_sarif_run_carries_the_engines_status_grades_and_verdicts(legacy_document):
    assert not json.loads(sarif.render(legacy_document))["runs"][0]["invocations"][0].get(
        "toolExecutionNotifications")  # fully assessed: nothing to warn about
    # The view shows whatever status the engine gave: here, a host only partly assessed.
    document = copy.deepcopy(legacy_document)
    document["summary"].update(status="partially_assessed",
                               status_reason="1 of 153 check rows that apply could not be assessed")
    log = json.loads(sarif.render(document))
    validate_sarif(log)
    run = log["runs"][0]
    carried = run["properties"]["casaudit"]
    summary = document["summary"]
    assert carried["status"] == summary["status"] == "partially_assessed"
    assert carried["statusReason"] == summary["status_reason"]
    assert carried["headline"] == summary["headline"]
    assert [(a["id"], a["grade"], a["counts"]) for a in carried["areas"]] == [
        (a["id"], a["grade"], a["counts"]) for a in summary["areas"]]
    assert [(r["id"], r["verdict"], r["reason"], r["coverage"]) for r in carried["recommendations"]] == [
        (r["id"], r["verdict"], r["reason"], r["coverage"]) for r in document["recommendations"]]
    # Partly assessed: the run succeeded, with a warning saying what is missing
    invocation = run["invocations"][0]
    assert invocation["executionSuccessful"] is True
    [note] = invocation["toolExecutionNotifications"]
    assert note["level"] == "warning" and note["descriptor"]["id"] == "casaudit.partially_assessed"
    assert summary["status_reason"] in note["message"]["text"]
    descriptors = run["tool"]["driver"]["notifications"]
    assert descriptors[note["descriptor"]["index"]]["id"] == note["descriptor"]["id"]


def test_sarif_of_a_host_not_assessed_is_not_a_clean_run(silent_document):
    log = json.loads(sarif.render(silent_document))
    validate_sarif(log)
    run = log["runs"][0]
    invocation = run["invocations"][0]
    assert invocation["executionSuccessful"] is False
    [note] = invocation["toolExecutionNotifications"]
    assert note["level"] == "error" and note["descriptor"]["id"] == "casaudit.not_assessed"
    assert note["message"]["text"] == (
        f"mail.example.test: not assessed: {silent_document['summary']['status_reason']}")
    assert run["properties"]["casaudit"]["status"] == "not_assessed"
    assert {area["grade"] for area in run["properties"]["casaudit"]["areas"]} == {None}


def test_sarif_of_a_fully_assessed_host_has_no_notification(hardened_document):
    document = copy.deepcopy(hardened_document)
    document["summary"]["status"], document["summary"]["status_reason"] = "assessed", "all rows assessed"
    log = sarif.build(document)
    validate_sarif(log)
    assert log["runs"][0]["invocations"][0] == {
        "executionSuccessful": True, "startTimeUtc": document["started_at"],
        "endTimeUtc": document["finished_at"]}


def test_schema_check_catches_a_broken_sarif_log(legacy_document):
    log = sarif.build(legacy_document)
    log["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        validate_sarif(log)


# --------------------------------------------------------------------------- JUnit


def _with_statuses(document: dict[str, Any]) -> dict[str, Any]:
    """The legacy scan with one row not assessed and one errored, as other checks produce."""
    document = copy.deepcopy(document)
    passed = next(r for r in document["checks"] if r["status"] == "pass")
    document["checks"] += [
        {**passed, "check": "tls.protocols", "status": "not_assessed",
         "reason": "no answer in 5 s", "endpoint": "https://mail.example.test:443"},
        {**passed, "check": "tls.protocols", "status": "error",
         "reason": "the check failed: KeyError: \x01\x1b[31m<b>", "endpoint": "https://mail.example.test:8443"},
    ]
    return document


def test_junit_has_a_testcase_per_check_row_with_failures_skips_and_errors(legacy_document):
    document = _with_statuses(legacy_document)
    root = ET.fromstring(junit.render(document))
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == len(document["checks"])
    assert root.get("tests") == str(len(cases))
    counts = {status: sum(1 for r in document["checks"] if r["status"] == status)
              for status in ("fail", "not_assessed", "not_applicable", "error")}
    assert counts["not_applicable"] and counts["not_assessed"]
    assert root.get("failures") == str(counts["fail"])
    assert root.get("skipped") == str(counts["not_assessed"] + counts["not_applicable"])
    assert root.get("errors") == str(counts["error"])
    by_name = {(c.get("classname"), c.get("name")): c for c in cases}
    expected = {"pass": [], "fail": ["failure"], "not_assessed": ["skipped"], "not_applicable": ["skipped"],
                "error": ["error"]}
    prefixes = {"not_assessed": "not assessed: ", "not_applicable": "not applicable: "}
    for row in document["checks"]:
        case = by_name[(row["check"], row["endpoint"])]
        kinds = [child.tag for child in case if child.tag != "system-out"]
        assert kinds == expected[row["status"]], row
        if row["status"] in prefixes:  # the two kinds of skip, told apart by their message
            message = case.find("skipped").get("message")  # type: ignore[union-attr]
            assert message == prefixes[row["status"]] + junit.xml_text(row["reason"]), row
    failure = by_name[("http.basic_cleartext", legacy_document["findings"][0]["endpoint"])].find("failure")
    assert failure is not None and failure.get("type") == "critical"
    assert legacy_document["findings"][0]["observed"] in (failure.text or "")
    error = by_name[("tls.protocols", "https://mail.example.test:8443")].find("error")
    assert error is not None and "\\x01\\x1b[31m<b>" in error.get("message", "")
    assert {s.get("name") for s in root.findall("testsuite")} == {r["check"] for r in document["checks"]}


def test_junit_carries_the_host_status_as_a_property(legacy_document):
    root = ET.fromstring(junit.render(legacy_document))
    properties = {p.get("name"): p.get("value") for p in root.findall("./properties/property")}
    assert properties == {"casaudit.status": legacy_document["summary"]["status"],
                          "casaudit.status_reason": legacy_document["summary"]["status_reason"]}
    assert root.find("./testsuite[@name='casaudit.host']") is None  # assessed, if partly: no host error


def test_junit_of_a_host_not_assessed_has_an_errored_host_case(silent_document):
    root = ET.fromstring(junit.render(silent_document))
    properties = {p.get("name"): p.get("value") for p in root.findall("./properties/property")}
    assert properties["casaudit.status"] == "not_assessed"
    suite = root.find("./testsuite[@name='casaudit.host']")
    assert suite is not None and suite.get("errors") == "1" and suite.get("tests") == "1"
    [case] = suite.findall("testcase")
    assert case.get("classname") == "casaudit.host" and case.get("name") == "mail.example.test"
    error = case.find("error")
    reason = silent_document["summary"]["status_reason"]
    assert error is not None and error.get("message") == f"not assessed: {reason}" and error.text == reason
    # The totals count it, so a CI reading only <testsuites> goes red
    rows = silent_document["checks"]
    assert root.get("errors") == str(1 + sum(r["status"] == "error" for r in rows))
    assert root.get("tests") == str(1 + len(rows))


# --------------------------------------------------------------------------- CSV


def test_csv_has_a_row_per_finding_and_defuses_formulas(legacy_document):
    document = copy.deepcopy(legacy_document)
    document["findings"] = document["findings"][:4]
    hostile = ["=HYPERLINK(\"http://evil.test\",\"x\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)"]
    for finding, text in zip(document["findings"], hostile, strict=True):
        finding["observed"] = text
    text = findings_csv.render(document)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["id"] for r in rows] == [f["id"] for f in document["findings"]]
    assert [r["observed"] for r in rows] == ["'" + h for h in hostile]
    assert rows[0]["recommendations"] == "; ".join(document["findings"][0]["recommendations"])
    assert rows[0]["severity"] == "critical" and rows[0]["endpoint"].startswith("http://")


def test_scan_writes_every_format_and_report_rerenders_them(legacy_lab, tmp_path):
    out = {name: tmp_path / name for name in ("s.json", "r.html", "r.sarif", "r.xml", "f.csv")}
    run = run_cli("scan", *legacy_lab.scan_args(), "--json", str(out["s.json"]), "--html", str(out["r.html"]),
                  "--sarif", str(out["r.sarif"]), "--junit", str(out["r.xml"]), "--csv", str(out["f.csv"]))
    assert run.code == 1, run.stderr
    for label in ("JSON", "HTML", "SARIF", "JUnit", "CSV"):
        assert f"{label} report: " in run.stdout
    validate_sarif(json.loads(out["r.sarif"].read_text()))
    failed_rows = [r for r in json.loads(out["s.json"].read_text())["checks"] if r["status"] == "fail"]
    assert ET.parse(out["r.xml"]).getroot().get("failures") == str(len(failed_rows))
    assert out["f.csv"].read_bytes().startswith(b"\xef\xbb\xbfid,severity,check")

    again = tmp_path / "again"
    again.mkdir()
    rerun = run_cli("report", str(out["s.json"]), "--sarif", str(again / "r.sarif"),
                    "--junit", str(again / "r.xml"), "--csv", str(again / "f.csv"))
    assert rerun.code == 0, rerun.stderr
    for name in ("r.sarif", "r.xml", "f.csv"):
        assert (again / name).read_bytes() == out[name].read_bytes()


def test_every_view_of_a_host_not_assessed_says_so(tmp_path):
    # Given a host where nothing listens, scanned through the real CLI with every output
    out = {name: tmp_path / name for name in ("s.json", "r.html", "r.sarif", "r.xml")}
    run = run_cli("scan", *silent_host_args(), "--no-history", "--json", str(out["s.json"]),
                  "--html", str(out["r.html"]), "--sarif", str(out["r.sarif"]), "--junit", str(out["r.xml"]),
                  timeout=60)
    # Then it exits 3, and the document says not assessed, with the reason
    assert run.code == 3, run.stderr
    document = json.loads(out["s.json"].read_text())
    summary = document["summary"]
    assert summary["status"] == "not_assessed" and summary["headline"]["title"] == "Not assessed"
    assert {area["grade"] for area in summary["areas"]} == {None}
    assert "met" not in {r["verdict"] for r in document["recommendations"]}
    reason = summary["status_reason"]
    assert f"mail.example.test not assessed: {reason}" in run.stderr
    # the terminal: the headline, the status line, no letter grade
    assert "\nNot assessed: " in run.stdout and f"\nAssessment: not assessed — {reason}\n" in run.stdout
    assert not re.search(r"^[A-F]   ", run.stdout, re.MULTILINE)
    # the HTML: the headline, the status, a dash for every area
    page = out["r.html"].read_text()
    assert '<div class="headline">Not assessed</div>' in page and 'data-status="not_assessed"' in page
    assert LETTER_GRADE.search(page) is None and page.count('class="grade grade-none"') == 5
    # JUnit: an errored host case, counted, and the status as a property
    root = ET.parse(out["r.xml"]).getroot()
    case = root.find("./testsuite[@name='casaudit.host']/testcase[@name='mail.example.test']")
    assert case is not None and case.find("error") is not None
    assert {p.get("name"): p.get("value") for p in root.findall("./properties/property")}[
        "casaudit.status"] == "not_assessed"
    # SARIF: an unsuccessful invocation with the reason
    log = json.loads(out["r.sarif"].read_text())
    validate_sarif(log)
    invocation = log["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert reason in invocation["toolExecutionNotifications"][0]["message"]["text"]
    assert log["runs"][0]["properties"]["casaudit"]["status"] == "not_assessed"


def test_report_without_an_output_and_pdf_without_chromium_are_one_line_errors(legacy_lab, tmp_path):
    scan_json = tmp_path / "s.json"
    assert run_cli("scan", *legacy_lab.scan_args(), "--json", str(scan_json)).code == 1
    no_chromium = {"CASAUDIT_CHROMIUM": str(tmp_path / "no-such-chromium")}
    cases = [
        (("report", str(scan_json)), None, "nothing to write"),
        (("report", str(scan_json), "--pdf", str(tmp_path / "r.pdf")), no_chromium,
         "needs headless Chromium"),
        # checked before any traffic: the scan does not run
        (("scan", *legacy_lab.scan_args(), "--pdf", str(tmp_path / "s.pdf")), no_chromium,
         "needs headless Chromium"),
    ]
    for args, env, message in cases:
        run = run_cli(*args, env=env)
        assert run.code == 2, (args, run.stderr)
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("casaudit: error:") and message in lines[0]
        assert run.stdout == ""
    assert not (tmp_path / "s.pdf").exists() and not (tmp_path / "r.pdf").exists()


# --------------------------------------------------------------------------- terminal


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_summary_colours_only_a_terminal_without_no_color(legacy_document, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    plain, tty = io.StringIO(), _Tty()
    terminal.summary(legacy_document, plain)
    terminal.summary(legacy_document, tty)
    assert "\x1b[" not in plain.getvalue() and "\x1b[" in tty.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    no_color = _Tty()
    terminal.summary(legacy_document, no_color)
    assert "\x1b[" not in no_color.getvalue()
    text = plain.getvalue()
    total = len(legacy_document["findings"])
    groups = [g for _, members in view.finding_groups(legacy_document["findings"]) for g in members]
    shown = sum(g.size for g in groups[:terminal.TOP_FINDINGS])
    assert "Action needed" in text and f"top findings ({shown} of {total}, by check and host)" in text
    for group in groups[:terminal.TOP_FINDINGS]:  # whole lines, never cut at 80 columns
        assert any(group.heading in line and group.severity.upper() in line and group.check in line
                   for line in text.splitlines())


def test_terminal_summary_shows_server_strings_inert(legacy_document, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("COLUMNS", "400")  # a wide terminal: nothing is cut, everything shown
    document = copy.deepcopy(legacy_document)
    document["findings"][0]["endpoint"] = "http://x.test:80/[bold red]boom[/]\x1b]0;pwned\x07"
    document["findings"][0]["check"] = "http.[blink]x"
    out = _Tty()
    terminal.summary(document, out)
    text = out.getvalue()
    assert "[bold red]boom[/]" in text and "\\x1b]0;pwned\\x07" in text and "[blink]" in text
    assert "\x1b]0" not in text and "\x07" not in text


def test_terminal_summary_prints_the_hosts_status_under_the_headline(legacy_document):
    out = io.StringIO()
    terminal.summary(legacy_document, out)
    lines = out.getvalue().splitlines()
    headline = next(i for i, line in enumerate(lines) if line.startswith("Action needed: "))
    status = legacy_document["summary"]["status"].replace("_", " ")
    assert lines[headline + 1] == f"Assessment: {status} — {legacy_document['summary']['status_reason']}"
    counts = legacy_document["summary"]["checks_by_status"]
    assert f"{counts['not_applicable']} not applicable" in out.getvalue()
    for area in legacy_document["summary"]["areas"]:
        assert any(line.startswith(f"{area['grade']}   {area['title'][:20]}") for line in lines), area


def test_terminal_summary_of_a_host_not_assessed_has_no_grade(silent_document):
    out = io.StringIO()
    terminal.summary(silent_document, out)
    text = out.getvalue()
    lines = text.splitlines()
    assert lines[1].startswith("Not assessed: casaudit could not observe this host")
    assert lines[2].startswith("Assessment: not assessed — no Client Access service of the host answered")
    for area in silent_document["summary"]["areas"]:
        assert any(line.startswith(f"–   {area['title'][:20]}") for line in lines), area
    assert not re.search(r"^[A-F]   ", text, re.MULTILINE)


def test_terminal_status_reason_is_shown_inert(legacy_document):
    document = copy.deepcopy(legacy_document)
    document["summary"]["status_reason"] = "1 of 2 rows: [bold]x[/] \x1b]0;pwned\x07"
    out = _Tty()
    terminal.summary(document, out)
    assert "[bold]x[/] \\x1b]0;pwned\\x07" in out.getvalue() and "\x1b]0" not in out.getvalue()


# --------------------------------------------------------------------------- view


def test_areas_are_keyed_by_check_id_prefix():
    assert view.area_of("http.basic_cleartext") == "web"
    assert view.area_of("exchange.legacy_urls") == "web"
    assert view.area_of("exchange.version_supported") == "version"
    assert view.area_of("exchange.known_vulnerable") == "version"
    assert view.area_of("tls.protocols") == "tls"
    assert view.area_of("mail.cleartext_login") == "mail"
    assert view.area_of("autodiscover.ssl") == "autodiscover"
    assert view.area_of("dns.spf") == "other"


def test_the_views_show_the_engines_grades_and_headline_as_they_are():
    document = {"summary": {
        "headline": {"level": "attention", "title": "Needs attention", "detail": "2 low findings"},
        "areas": [{"id": "web", "title": "Web", "grade": "B", "counts": {"pass": 3}, "findings": 2,
                   "summary": "2 of 5 assessed failed"},
                  {"id": "mail", "title": "Mail", "grade": None, "counts": {}, "findings": 0,
                   "summary": "not assessed"}],
    }}
    grades = {g.key: g for g in view.area_grades(document)}
    assert grades["web"].grade == "B" and grades["web"].findings == 2
    assert grades["mail"].grade == view.NO_GRADE  # null: nothing assessed, shown as a dash
    assert view.overall(document) == view.Overall("attention", "Needs attention", "2 low findings")


def test_unknown_evidence_kinds_render_as_a_bounded_escaped_table(legacy_document):
    document = copy.deepcopy(legacy_document)
    document["evidence"].append({
        "id": "future-001", "kind": "future_probe", "endpoint": "https://mail.example.test:443",
        "started_at": "2026-01-01T00:00:00Z", "finished_at": "2026-01-01T00:00:01Z",
        "protocols": ["TLSv1.2", "TLSv1.3"],
        "certificate": {"subject": "<script>alert('cn')</script>", "not_after": "2027-01-01"},
        "banner": "x" * 5000,
        "many": [{"n": i} for i in range(500)],
    })
    document["findings"][0]["evidence"] = ["future-001"]
    rows = dict(view.evidence_rows(document["evidence"][-1]))
    assert rows["protocols"] == "TLSv1.2, TLSv1.3"
    assert rows["certificate.subject"] == "<script>alert('cn')</script>"
    assert len(rows["banner"]) == view.MAX_VALUE_CHARS
    assert len(view.evidence_rows(document["evidence"][-1])) == view.MAX_EVIDENCE_ROWS + 1
    page = html.render(document)
    assert "&lt;script&gt;alert(&#39;cn&#39;)&lt;/script&gt;" in page and "<script>" not in page
    assert "certificate.subject" in page
    inventory = {row.evidence: row for row in view.inventory(document)}
    assert inventory["future-001"].tls == "TLSv1.2, TLSv1.3"


def test_html_report_fetches_nothing_and_carries_a_csp(legacy_document):
    page = html.render(legacy_document)
    assert "default-src 'none'" in page
    for fetch in ("<script", "<link", "<img", "@import", "url(", "<iframe"):
        assert fetch not in page
    assert page.count('<tr id="CAS-') == 17
    assert 'id="overall-verdict"' in page and "Action needed" in page


# --------------------------------------------------------------------------- HTML


def test_html_shows_the_hosts_status_and_every_row_status(legacy_document):
    page = html.render(legacy_document)
    summary = legacy_document["summary"]
    status = summary["status"]
    assert f'id="host-status" data-status="{status}"' in page
    assert f"Assessment: {status.replace('_', ' ')}</b> — {summary['status_reason']}" in page
    counts = summary["checks_by_status"]
    assert (f'id="check-row-counts">{counts["pass"]} pass, {counts["fail"]} fail, '
            f'{counts["not_assessed"]} not assessed, {counts["error"]} error, '
            f'{counts["not_applicable"]} not applicable<') in page
    assert ".v-not_applicable" in page and ".s-not_applicable" in page
    # Settled rows are summarised per set of endpoints, and every row is counted in one line
    for status in ("not_applicable", "pass"):
        shown = re.findall(rf'class="status s-{status}" data-rows="(\d+)"', page)
        assert counts[status] and sum(map(int, shown)) == counts[status]
        assert len(shown) < counts[status]
    assert "– nothing assessed (no usable answer, or no Exchange service there to judge)" in page
    # Every area's grade is the engine's
    for area in summary["areas"]:
        assert f'<tr data-area="{area["id"]}">' in page
        assert f'<span class="grade grade-{area["grade"]}">{area["grade"]}</span>' in page


def test_html_cas_table_shows_each_verdict_its_reason_and_coverage(legacy_document):
    page = html.render(legacy_document)
    for rec in legacy_document["recommendations"]:
        row = page[page.index(f'<tr id="{rec["id"]}"'):]
        row = row[: row.index("</tr>")]
        assert f'data-verdict="{rec["verdict"]}"' in row
        assert f'<span class="vb v-{rec["verdict"]}">{rec["verdict"].replace("_", " ")}</span>' in row
        assert f'<span class="coverage">{view.coverage_text(rec["coverage"])}</span>' in row
        assert str(markupsafe.escape(rec["reason"])) in row
    cas05 = next(r for r in legacy_document["recommendations"] if r["id"] == "CAS-05")
    covered = cas05["coverage"]
    assert view.coverage_text(covered) == " · ".join(
        f"{covered[key]} {label}" for key, label in
        (("pass", "pass"), ("fail", "fail"), ("not_assessed", "not assessed"), ("error", "error"),
         ("not_applicable", "n/a")) if covered[key])


def test_html_of_a_host_not_assessed_has_no_grade(silent_document):
    page = html.render(silent_document)
    summary = silent_document["summary"]
    assert summary["headline"]["title"] == "Not assessed"
    verdict = page[page.index('id="overall-verdict"'):]
    assert verdict[: verdict.index("</div>\n  </div>")].count("Not assessed") == 1
    assert 'id="host-status" data-status="not_assessed"' in page
    assert "Assessment: not assessed</b>" in page
    assert LETTER_GRADE.search(page) is None
    assert page.count('<span class="grade grade-none"') == len(summary["areas"]) == 5
    assert "met</span>" not in page.replace("not met</span>", "")  # nothing is met


def test_the_status_line_of_an_older_document_says_it_is_not_recorded(legacy_document):
    document = copy.deepcopy(legacy_document)
    del document["summary"]["status"], document["summary"]["status_reason"]
    assert view.host_status(document) == view.HostStatus("unknown", "not recorded in this document", "")
    assert "Assessment: not recorded in this document</b>" in html.render(document)


def test_the_vendored_sarif_schema_is_the_2_1_0_schema():
    assert SARIF_SCHEMA["properties"]["version"]["enum"] == ["2.1.0"]
    assert Path(ROOT / "tests" / "data" / "README.md").read_text().count("sarif-schema-2.1.0.json") == 1
