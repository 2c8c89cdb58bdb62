"""Baseline files: accepted findings stay visible, do not count, and count again once expired."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from casaudit.baseline import parse_baseline
from casaudit.errors import UsageError
from casaudit.evidence.base import EvidenceSet
from casaudit.model import AuditResult, CheckStatus, Finding, Severity
from tests.conftest import run_cli


def _finding(endpoint: str, number: int = 1) -> Finding:
    return Finding(
        id=f"F{number:03d}", check="http.basic_cleartext", title="t", severity=Severity.CRITICAL,
        endpoint=endpoint, recommendations=("CAS-14",), evidence=(), observed="o",
        description="d", remediation="r",
    )


def _result(started_at: str, *findings: Finding) -> AuditResult:
    return AuditResult(
        tool={"name": "casaudit", "version": "0"}, started_at=started_at, finished_at=started_at,
        options={}, targets=(), evidence=EvidenceSet(()), checks=(), findings=findings,
        recommendations=(),
    )


RULES = '''
[[accept]]
check = "http.basic_cleartext"
endpoint = "http://mail.example.test:*/ews/*"
justification = "EWS clients on the LAN until the migration (CHG-1)"
expires = 2026-03-31

[[accept]]
check = "http.*"
endpoint = "http://MAIL.example.test:80/autodiscover/*"
justification = "old printers"
expires = "2025-12-31"
'''


def test_acceptance_holds_through_its_expiry_day_from_the_scans_start():
    baseline = parse_baseline(RULES)
    ews = _finding("http://mail.example.test:80/EWS/Exchange.asmx")
    autodiscover = _finding("http://mail.example.test:80/autodiscover/autodiscover.xml", 2)
    other = _finding("http://mail.example.test:80/owa", 3)
    # On the last day, the EWS acceptance holds; the Autodiscover one expired before
    result, expired = baseline.apply(_result("2026-03-31T23:59:00.000Z", ews, autodiscover, other))
    accepted = {f.endpoint: f.accepted for f in result.findings}
    assert accepted[ews.endpoint] is not None
    assert accepted[ews.endpoint].expires == "2026-03-31"
    assert accepted[ews.endpoint].justification.startswith("EWS clients")
    assert accepted[autodiscover.endpoint] is None and accepted[other.endpoint] is None
    assert [(f.endpoint, rule.expires) for f, rule in expired] == [
        (autodiscover.endpoint, dt.date(2025, 12, 31))]
    # The next day it counts again
    later, expired = baseline.apply(_result("2026-04-01T00:00:01.000Z", ews))
    assert later.findings[0].accepted is None and len(expired) == 1
    # A finding accepted by an older run is re-judged, never carried over
    carried = replace(ews, accepted=result.findings[0].accepted)
    again, _ = baseline.apply(_result("2026-05-01T00:00:00.000Z", carried))
    assert again.findings[0].accepted is None


@pytest.mark.parametrize(("text", "expected"), [
    ("[[accept]]\ncheck = 'x'\nexpires = 2026-01-01\n", "accept[0].justification: is required"),
    ("[[accept]]\ncheck = 'x'\njustification = ' '\nexpires = 2026-01-01\n", "must say why"),
    ("[[accept]]\ncheck = 'x'\njustification = 'y'\nexpires = 'soon'\n", "accept[0].expires"),
    ("[[accept]]\ncheck = 'x'\njustification = 'y'\nexpires = 2026-01-01\nhost = 'h'\n",
     "accept[0].host: unknown key"),
    ("[accepted]\n", "accepted: unknown key"),
])
def test_bad_baseline_files_are_refused(text, expected):
    with pytest.raises(UsageError) as raised:
        parse_baseline(text, "b.toml")
    assert str(raised.value).startswith("b.toml: ") and expected in str(raised.value)


def test_baseline_on_a_lab_scan_marks_findings_and_changes_the_exit_code(legacy_lab, tmp_path, validate_scan):
    today = dt.datetime.now(dt.UTC).date()
    http = f"http://{legacy_lab.host}:{legacy_lab.ports['http']}"
    first = run_cli("scan", *legacy_lab.scan_args(), "--json", "-", "--no-history")
    findings = first.json()["findings"]
    eas = f"{http}/Microsoft-Server-ActiveSync"
    assert any(f["check"] == "http.basic_cleartext" and f["endpoint"] == eas for f in findings)
    baseline = tmp_path / "baseline.toml"
    # Given every finding accepted (by check and endpoint), but Basic on plain-HTTP
    # ActiveSync only until yesterday
    def rules(expired: dt.date) -> str:
        text = (f'[[accept]]\ncheck = "http.basic_cleartext"\nendpoint = "{eas}"\n'
                f'justification = "accepted EAS"\nexpires = {expired.isoformat()}\n')
        for finding in findings:
            if (finding["check"], finding["endpoint"]) == ("http.basic_cleartext", eas):
                continue
            text += (f'[[accept]]\ncheck = "{finding["check"]}"\n'
                     f'endpoint = "{finding["endpoint"]}"\n'
                     f'justification = "accepted {finding["check"]}"\n'
                     f'expires = {(today + dt.timedelta(days=30)).isoformat()}\n')
        return text
    baseline.write_text(rules(today - dt.timedelta(days=1)))
    run = run_cli("scan", *legacy_lab.scan_args(), "--baseline", str(baseline), "--json", "-",
                  "--no-history")
    # Then the expired one still counts (exit 1) and the others are visible as accepted
    assert run.code == 1, run.stderr
    document = validate_scan(run.json())
    accepted = {(f["check"], f["endpoint"]): f["accepted"] for f in document["findings"]}
    assert len(accepted) == len(findings)
    assert accepted[("http.basic_cleartext", eas)] is None
    assert all(value is not None for key, value in accepted.items()
               if key != ("http.basic_cleartext", eas))
    ews = accepted[("http.basic_cleartext", f"{http}/EWS/Exchange.asmx")]
    assert ews == {"justification": "accepted http.basic_cleartext",
                   "expires": (today + dt.timedelta(days=30)).isoformat()}
    assert "acceptance expired on" in run.stderr and "ActiveSync" in run.stderr
    # When the last one is accepted too, the scan passes while still listing them all
    baseline.write_text(rules(today))
    html = tmp_path / "r.html"
    passing = run_cli("scan", *legacy_lab.scan_args(), "--baseline", str(baseline), "--no-history",
                      "--html", str(html))
    assert passing.code == 0, passing.stdout + passing.stderr
    assert "until " in passing.stdout
    assert html.read_text().count("Accepted until") == len(findings)
    assert CheckStatus.FAIL.value == "fail"
