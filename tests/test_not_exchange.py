"""A host that is not Exchange (issue #19): said first, its Exchange rows not applicable, exit 3.

The two shipped postures that are not Exchange, scanned through the real CLI: what
stays is about the mail domain, and README quotes the demo's line for each.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from casaudit.demo import posture_line
from casaudit.identify import NO_EXCHANGE_HERE
from casaudit.lab import Lab
from tests.conftest import ROOT, CliRun, run_cli

NOT_EXCHANGE = ("generic-nginx", "catchall-proxy")
HEADLINE = "No Exchange Client Access service answered on this host"
STATUS_REASON = "no Exchange Client Access service answered on this host (it answered as a plain web server)"


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[CliRun, dict, str, str]]]:
    """posture -> (the CLI run, its JSON document, its HTML report, the lab's host)."""
    out = tmp_path_factory.mktemp("not-exchange")
    runs = {}
    for name in NOT_EXCHANGE:
        scan_json, report = out / f"{name}.json", out / f"{name}.html"
        with Lab.start(name) as lab:
            run = run_cli("scan", *lab.scan_args(), "--json", str(scan_json), "--html", str(report))
            host = lab.host
        runs[name] = (run, json.loads(scan_json.read_text()), report.read_text(), host)
    yield runs


@pytest.mark.parametrize("name", NOT_EXCHANGE)
def test_the_scan_says_not_exchange_and_exits_3(scans, name):
    run, document, _, host = scans[name]
    assert run.code == 3, run.stderr
    assert run.stderr.strip().splitlines()[-1] == f"casaudit: {host} not assessed: {STATUS_REASON}"
    (ident,) = document["identification"]
    assert ident["verdict"] == "not_exchange" and ident["evidence"], ident
    assert ident["reason"].startswith(NO_EXCHANGE_HERE)
    summary = document["summary"]
    assert (summary["status"], summary["status_reason"]) == ("not_assessed", STATUS_REASON)
    assert summary["headline"]["title"] == HEADLINE


@pytest.mark.parametrize("name", NOT_EXCHANGE)
def test_exchange_rows_are_not_applicable_and_the_mail_domain_facts_stay(scans, name):
    _, document, _, host = scans[name]
    domain = document["targets"][0]["domain"]
    for row in document["checks"]:
        on_host = urlsplit(row["endpoint"]).hostname == host
        if row["check"].startswith(("http.", "exchange.", "mail.")) or (
                row["check"].startswith("tls.") and on_host):
            assert (row["status"], row["reason"]) == ("not_applicable", NO_EXCHANGE_HERE), row
    # Before issue #19 these passed: "/ecp is not exposed" on a host with no Exchange at all.
    assert not [r for r in document["checks"] if r["check"] == "exchange.admin_exposed"
                and r["status"] == "pass"]
    found = {(f["check"], urlsplit(f["endpoint"]).hostname) for f in document["findings"]}
    assert found == {("autodiscover.unreachable", domain),
                     ("autodiscover.url_failed", domain),
                     ("autodiscover.url_failed", f"autodiscover.{domain}"),
                     ("tls.cert_name_mismatch", f"autodiscover.{domain}")}
    for finding in document["findings"]:
        assert finding["observed"].startswith(f"About the mail domain {domain}, not an Exchange server: ")


@pytest.mark.parametrize("name", NOT_EXCHANGE)
def test_terminal_and_html_lead_with_it_before_the_grades(scans, name):
    run, _, page, _ = scans[name]
    lines = run.stdout.splitlines()
    # line 0 names the target; the headline comes next, then the assessment, then the tables
    assert lines[1].startswith(f"{HEADLINE}: It answered, but no Exchange marker"), lines[:3]
    assert lines[2] == f"Assessment: not assessed — {STATUS_REASON}"
    headline = page.index(f'<div class="headline">{HEADLINE}</div>')
    assert headline < page.index('id="host-status"') < page.index('id="area-grades"')


def test_readme_quotes_what_the_demo_prints_for_each_posture_that_is_not_exchange(scans):
    readme = (ROOT / "README.md").read_text()
    quoted = {m.group(1): m.group(0) for m in re.finditer(r"^([a-z0-9-]+): \d+ findings.*$",
                                                         readme, re.M)}
    for name in NOT_EXCHANGE:
        _, document, _, _ = scans[name]
        assert quoted.get(name) == posture_line(name, document)
    assert "no check may fire" not in readme
