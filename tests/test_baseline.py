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
from tests.fleet_support import target_entry, write_targets


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
    result, expired, matched = baseline.apply(_result("2026-03-31T23:59:00.000Z", ews, autodiscover, other))
    accepted = {f.endpoint: f.accepted for f in result.findings}
    assert accepted[ews.endpoint] is not None
    assert accepted[ews.endpoint].expires == "2026-03-31"
    assert accepted[ews.endpoint].justification.startswith("EWS clients")
    assert accepted[autodiscover.endpoint] is None and accepted[other.endpoint] is None
    assert [(f.endpoint, rule.expires) for f, rule in expired] == [
        (autodiscover.endpoint, dt.date(2025, 12, 31))]
    # Both rules matched a finding (the second one expired): neither is unused
    assert matched == {0, 1}
    # The next day it counts again
    later, expired, _ = baseline.apply(_result("2026-04-01T00:00:01.000Z", ews))
    assert later.findings[0].accepted is None and len(expired) == 1
    # A finding accepted by an older run is re-judged, never carried over
    carried = replace(ews, accepted=result.findings[0].accepted)
    again, _, _ = baseline.apply(_result("2026-05-01T00:00:00.000Z", carried))
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
    # One line for the expired rule, naming it as written and what it no longer covers
    assert (f'casaudit: baseline: {baseline} accept[0] (check "http.basic_cleartext", endpoint '
            f'"{eas}") expired on {(today - dt.timedelta(days=1)).isoformat()}: 1 finding counts again\n'
            ) in run.stderr
    # When the last one is accepted too, the scan passes while still listing them all
    baseline.write_text(rules(today))
    html = tmp_path / "r.html"
    passing = run_cli("scan", *legacy_lab.scan_args(), "--baseline", str(baseline), "--no-history",
                      "--html", str(html))
    assert passing.code == 0, passing.stdout + passing.stderr
    assert "until " in passing.stdout
    assert html.read_text().count("Accepted until") == len(findings)
    assert CheckStatus.FAIL.value == "fail"


def _one_rule(endpoint: str) -> str:
    return (f'[[accept]]\ncheck = "*"\nendpoint = "{endpoint}"\njustification = "j"\n'
            'expires = 2099-01-01\n')


@pytest.mark.parametrize(("written", "endpoint"), [
    ("https://mail.example.test/owa/*", "https://mail.example.test:443/owa/auth/logon.aspx"),
    ("http://MAIL.example.test/*", "http://mail.example.test:80/EWS/Exchange.asmx"),
    ("https://mail.example.test", "https://mail.example.test:443"),
    ("imap://mail.example.test", "imap://mail.example.test:143"),
    ("imaps://mail.example.test", "imaps://mail.example.test:993"),
    ("pop3://mail.example.test", "pop3://mail.example.test:110"),
    ("pop3s://mail.example.test", "pop3s://mail.example.test:995"),
    ("dns://_autodiscover._tcp.example.test/SRV", "dns://_autodiscover._tcp.example.test:53/SRV"),
    # a glob in the name part is kept; the port is put after it
    ("https://*.example.test/owa", "https://mail.example.test:443/owa"),
])
def test_an_endpoint_glob_without_a_port_means_the_schemes_default_port(written, endpoint):
    rule = parse_baseline(_one_rule(written)).rules[0]
    assert rule.matches(_finding(endpoint))
    # and only that port: the same URL on another port is another endpoint
    other = endpoint.replace(":443", ":8443").replace(":80/", ":8080/").replace(":143", ":1143")
    if other != endpoint:
        assert not rule.matches(_finding(other))


@pytest.mark.parametrize(("written", "endpoint"), [
    ("https://mail.example.test:*/owa", "https://mail.example.test:8443/owa"),
    ("https://mail*", "https://mail.example.test:8443/owa"),  # `*` already spans the port
    ("*/owa", "https://mail.example.test:8443/owa"),
    ("http*://mail.example.test:80/owa", "http://mail.example.test:80/owa"),
])
def test_an_endpoint_glob_with_a_port_or_open_ended_is_kept_as_written(written, endpoint):
    rule = parse_baseline(_one_rule(written)).rules[0]
    assert rule.endpoint == written.lower() and rule.matches(_finding(endpoint))
    assert rule.describe() == f'accept[0] (check "*", endpoint "{written}")'


def test_rules_matching_nothing_and_expired_waivers_get_one_line_each(legacy_lab, tmp_path):
    today = dt.datetime.now(dt.UTC).date()
    https = f"https://{legacy_lab.host}:{legacy_lab.ports['https']}"
    later, yesterday = today + dt.timedelta(days=30), today - dt.timedelta(days=1)

    def rule(check: str, endpoint: str, expires: dt.date) -> str:
        return (f'[[accept]]\ncheck = "{check}"\nendpoint = "{endpoint}"\n'
                f'justification = "j"\nexpires = {expires.isoformat()}\n')

    # Given a typo in a check id, a URL without the lab's (non-default) port, a check
    # glob that names no check, an expired waiver over every HSTS finding, and active
    # waivers over every finding of medium severity or above
    baseline = tmp_path / "accepted.toml"
    baseline.write_text(
        rule("http.hsts_missng", "*", later)
        + rule("http.hsts_missing", f"https://{legacy_lab.host}/owa", later)
        + rule("htp.*", "*", later)
        + rule("http.hsts_missing", f"{https}/*", yesterday)
        + "".join(rule(check, "*", later) for check in (
            "tls.*", "mail.*", "exchange.*", "autodiscover.*", "http.[bcf]*")))
    run = run_cli("scan", *legacy_lab.scan_args(), "--baseline", str(baseline), "--no-history",
                  "--fail-on", "medium")
    # Then the warnings do not change the exit code: only low HSTS findings count
    assert run.code == 0, run.stdout + run.stderr
    lines = [line for line in run.stderr.splitlines() if line.startswith("casaudit: baseline: ")]
    prefix = f"casaudit: baseline: {baseline}"
    expired = next(line for line in lines if "expired on" in line)
    assert expired.startswith(f'{prefix} accept[3] (check "http.hsts_missing", endpoint "{https}/*") '
                              f"expired on {yesterday.isoformat()}: ")
    assert expired.endswith(" findings count again") and int(expired.split(": ")[-1].split()[0]) > 1
    assert lines == [
        expired,
        f'{prefix} accept[0] (check "http.hsts_missng", endpoint "*") matched no finding; '
        "no such check; see `casaudit checks`",
        f'{prefix} accept[1] (check "http.hsts_missing", endpoint "https://{legacy_lab.host}/owa", '
        f'read as "https://{legacy_lab.host}:443/owa") matched no finding',
        f'{prefix} accept[2] (check "htp.*", endpoint "*") matched no finding; '
        "the check glob matches no check; see `casaudit checks`",
    ]


def test_a_fleet_reports_each_waiver_once_for_all_its_hosts(legacy_lab, hardened_lab, tmp_path):
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    # Given two hosts with HSTS findings, one without, a waiver over HSTS that expired
    # yesterday, and a rule that matches nothing on any host
    targets = write_targets(tmp_path / "fleet.toml", target_entry(legacy_lab),
                            target_entry(legacy_lab, host="mail2.contoso-legacy.test"),
                            target_entry(hardened_lab))
    baseline = tmp_path / "accepted.toml"
    baseline.write_text(
        f'[[accept]]\ncheck = "http.hsts_missing"\njustification = "j"\nexpires = {yesterday}\n'
        '[[accept]]\ncheck = "http.hsts_missing"\nendpoint = "https://nowhere.test/*"\n'
        'justification = "j"\nexpires = 2099-01-01\n')
    run = run_cli("scan", "--targets", str(targets), "--baseline", str(baseline), "--no-history",
                  timeout=90)
    assert run.code == 1, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.startswith("casaudit: baseline: ")]
    # Then one line per rule for the whole run, however many hosts and findings
    assert len(lines) == 2, run.stderr
    assert lines[0].startswith(f'casaudit: baseline: {baseline} accept[0] (check "http.hsts_missing", '
                               f'endpoint "*") expired on {yesterday}: ')
    assert lines[0].endswith(" findings on 2 hosts count again")
    assert lines[1] == (f'casaudit: baseline: {baseline} accept[1] (check "http.hsts_missing", '
                        'endpoint "https://nowhere.test/*", read as "https://nowhere.test:443/*") '
                        "matched no finding")
