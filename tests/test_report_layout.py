"""The human report's layout (issue #16): findings grouped by check and host, evidence printed
once, settled rows summarised, TLS evidence in words. Rendered from a real scan of the lab."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from casaudit.api import audit
from casaudit.demo import lab_target
from casaudit.report import html, view


@pytest.fixture(scope="module")
def legacy_document(legacy_lab) -> dict[str, Any]:
    return audit(*lab_target(legacy_lab)).to_dict()


def test_findings_of_one_check_on_one_host_are_one_entry_listing_every_endpoint(legacy_document):
    findings = legacy_document["findings"]
    page = html.render(legacy_document)
    entries = re.findall(r'<article class="finding \w+" id="([^"]+)" data-check="([^"]+)" '
                         r'data-findings="(\d+)"', page)
    assert sum(int(count) for _, _, count in entries) == len(findings)
    assert len(entries) < len(findings)  # the legacy host repeats checks over many URLs
    # one entry per (check, host), and every finding keeps its own anchor for the CAS table's links
    assert len({(check, anchor) for anchor, check, _ in entries}) == len(entries)
    for finding in findings:
        assert page.count(f'id="{finding["id"]}"') == 1
    # a check failing on several URLs of one service is headed by the count and the service
    multi = [g for _, groups in view.finding_groups(findings) for g in groups if g.size > 1]
    assert multi and f"{multi[0].size} endpoints of " in page


def test_evidence_is_printed_once_and_only_what_findings_cite_by_default(legacy_document):
    cited = {e for f in legacy_document["findings"] for e in f["evidence"]}
    every = {item["id"] for item in legacy_document["evidence"]}
    assert cited < every
    for mode, expected in (("cited", cited), ("all", every), ("none", set())):
        page = html.render(legacy_document, evidence=mode)
        printed = re.findall(r'<div class="evidence" id="ev-([^"]+)"', page)
        assert sorted(printed) == sorted(expected), mode  # once each
        # a link to evidence always has its target
        for target in set(re.findall(r'href="#ev-([^"]+)"', page)):
            assert target in expected, (mode, target)


def test_tls_evidence_and_inventory_read_as_words_not_field_paths_or_reprs(legacy_document):
    page = html.render(legacy_document, evidence="all")
    assert "{&#39;version&#39;" not in page and "{'version'" not in page
    assert "certificate.certificates[0]" not in page and "vulnerabilities.heartbleed" not in page
    assert "Heartbleed (CVE-2014-0160)" in page and "Names (SAN)" in page
    # nor for mail dialogues, NTLM challenges and Autodiscover attempts
    for path in ("exchanges[0]", "capabilities_clear", "challenge.av_pairs", "login_in_clear.",
                 "certificates[0]"):
        assert path not in page, path
    assert "Capabilities in clear" in page and "NetBIOS computer" in page and "Asked about" in page
    tls = next(item for item in legacy_document["evidence"] if item["kind"] == "tls" and item["protocols"])
    row = next(r for r in view.inventory(legacy_document) if r.evidence == tls["id"])
    assert row.tls == view.accepted_versions(tls) and "{" not in row.tls


def test_settled_rows_are_summarised_and_none_is_lost(legacy_document):
    counts = legacy_document["summary"]["checks_by_status"]
    for status in ("pass", "not_applicable"):
        lines = [g for _, groups in view.settled_rows(legacy_document) for g in groups if g.status == status]
        assert sum(g.rows for g in lines) == counts[status]
    # failed rows are not repeated under "Checks run": they are the findings
    page = html.render(legacy_document)
    assert f"{counts['fail']} rows failed: each is a finding above." in page
    assert 'class="row-fail"' not in page


def test_shared_reason_keeps_what_rows_say_in_common():
    rows = [{"reason": "GET https://h/a answered 404: not found"},
            {"reason": "GET https://h/b answered 404: not found"}]
    assert view.shared_reason(rows) == "… answered 404: not found"
    assert view.shared_reason(rows[:1]) == rows[0]["reason"]
    assert view.shared_reason([{"reason": "a b"}, {"reason": "c d"}]) == ""


def test_evidence_option_chooses_the_appendix_in_report_and_scan(legacy_lab, tmp_path):
    from tests.conftest import run_cli

    scan_json = tmp_path / "scan.json"
    scanned = run_cli("scan", *legacy_lab.scan_args(), "--no-history", "--json", str(scan_json),
                      "--html", str(tmp_path / "all.html"), "--evidence", "all")
    assert scanned.code == 1, scanned.stderr
    document = json.loads(scan_json.read_text())
    printed = re.findall(r'<div class="evidence" id="ev-', (tmp_path / "all.html").read_text())
    assert len(printed) == len(document["evidence"])
    cited = len({e for f in document["findings"] for e in f["evidence"]})
    for mode, expected in (("none", 0), ("cited", cited)):
        page = tmp_path / f"{mode}.html"
        assert run_cli("report", str(scan_json), "--html", str(page), "--evidence", mode).code == 0
        assert len(re.findall(r'<div class="evidence" id="ev-', page.read_text())) == expected
    wrong = run_cli("report", str(scan_json), "--html", str(tmp_path / "x.html"), "--evidence", "some")
    assert wrong.code == 2 and "--evidence: 'some' is not one of cited, all, none" in wrong.stderr


def test_first_actions_are_the_worst_groups_cheapest_first(legacy_document):
    actions = view.top_actions(legacy_document)
    assert len(actions) == 3
    ranks = [view.severity_rank(g.severity) for g in actions]
    assert ranks == sorted(ranks)
    page = html.render(legacy_document)
    listed = re.findall(r'<li data-check="([^"]+)">', page.split('id="top-actions"')[1].split("</ol>")[0])
    assert listed == [g.check for g in actions]
    assert all(f.get("effort") in ("low", "medium", "high") for f in legacy_document["findings"])


def test_first_page_says_where_the_scan_ran_from(legacy_document):
    import socket

    assert legacy_document["tool"]["scanned_from"] == socket.gethostname()
    page = html.render(legacy_document)
    summary = page.split('<section id="summary">')[1].split("</section>")[0]
    machine = legacy_document["tool"]["scanned_from"]
    assert f'<th>Scanned from</th><td class="wrap">{machine}</td>' in summary
