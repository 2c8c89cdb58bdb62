"""Autodiscover against lab postures over real sockets: one posture per outcome."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from casaudit.api import audit
from casaudit.demo import lab_target
from casaudit.lab import Lab, Posture, load_posture, parse_posture
from casaudit.model import AuditResult
from tests import autodiscover_postures as postures
from tests.conftest import run_cli


def scan(posture: Posture) -> tuple[AuditResult, list]:
    with Lab.start(posture) as lab:
        target, options = lab_target(lab)
        result = audit(target, options)
        return result, lab.requests()


def verdicts(result: AuditResult) -> dict[str, tuple[str, str | None]]:
    return {e.method: (e.verdict, e.failure) for e in result.evidence if e.kind == "autodiscover"}


def statuses(result: AuditResult, check: str) -> dict[str, str]:
    return {row.endpoint: row.status.value for row in result.checks if row.check == check}


def status_by_method(result: AuditResult, check: str) -> dict[str, str]:
    methods = {e.id: e.method for e in result.evidence if e.kind == "autodiscover"}
    return {methods[row.evidence[0]]: row.status.value for row in result.checks
            if row.check == check and row.evidence and row.evidence[0] in methods}


def one(result: AuditResult, check: str) -> str:
    [status] = statuses(result, check).values()
    return status


CASES: list[tuple[Callable[[], Posture], dict[str, tuple[str, str | None]], dict[str, str]]] = [
    (postures.both_urls,
     {"root_domain": ("working", None), "autodiscover_host": ("working", None),
      "http_redirect": ("working", None), "srv": ("failed", "dns_nxdomain")},
     {"unreachable": "pass", "root_domain": "pass", "autodiscover_host": "pass"}),
    (postures.root_only,
     {"root_domain": ("working", None), "autodiscover_host": ("failed", "not_found"),
      "http_redirect": ("failed", "not_found")},
     {"unreachable": "pass", "root_domain": "pass", "autodiscover_host": "fail"}),
    (postures.redirect_only,
     {"root_domain": ("failed", "not_found"), "autodiscover_host": ("failed", "not_found"),
      "http_redirect": ("working", None), "srv": ("failed", "dns_nxdomain")},
     {"unreachable": "pass", "root_domain": "fail", "autodiscover_host": "fail"}),
    (postures.srv_only,
     {"root_domain": ("failed", "not_found"), "http_redirect": ("failed", "not_found"),
      "srv": ("working", None)},
     {"unreachable": "pass", "root_domain": "fail", "autodiscover_host": "fail"}),
    (postures.wrong_certificate,
     {"root_domain": ("working", None),
      "autodiscover_host": ("failed", "certificate_for_another_name")},
     {"unreachable": "pass", "root_domain": "pass", "autodiscover_host": "fail"}),
    (postures.catch_all,
     {"root_domain": ("failed", "catch_all"), "autodiscover_host": ("working", None)},
     {"unreachable": "pass", "root_domain": "fail", "autodiscover_host": "pass"}),
    (postures.nothing_works,
     {"root_domain": ("failed", "certificate_for_another_name"),
      "autodiscover_host": ("failed", "certificate_for_another_name"),
      "http_redirect": ("failed", "not_found"), "srv": ("failed", "dns_nxdomain")},
     {"unreachable": "fail", "root_domain": "fail", "autodiscover_host": "fail"}),
]


@pytest.mark.parametrize(("build", "expected", "checks"), CASES, ids=[c[0].__name__ for c in CASES])
def test_each_outcome_is_told_apart(build, expected, checks):
    result, _ = scan(build())
    seen = verdicts(result)
    assert {m: seen[m] for m in expected} == expected
    assert one(result, "autodiscover.unreachable") == checks["unreachable"]
    url_rows = status_by_method(result, "autodiscover.url_failed")
    assert url_rows == {"root_domain": checks["root_domain"],
                        "autodiscover_host": checks["autodiscover_host"]}
    # None of these postures serves Autodiscover on plain HTTP or points outside: a method
    # with a pointer passes, one with nothing to follow is not applicable (never a pass).
    assert set(statuses(result, "autodiscover.cleartext").values()) == {"pass"}
    offsite = status_by_method(result, "autodiscover.redirect_offsite")
    assert set(offsite.values()) <= {"pass", "not_applicable"}, offsite
    assert offsite["root_domain"] == "not_applicable" or expected["root_domain"][0] == "working"


def test_wrong_certificate_cites_cas17_in_the_finding():
    result, _ = scan(postures.wrong_certificate())
    [finding] = [f for f in result.findings if f.check == "autodiscover.url_failed"]
    assert finding.endpoint.startswith("https://autodiscover.wrongcert.test:")
    assert finding.recommendations == ("CAS-11", "CAS-17")
    assert "certificate for another name" in finding.observed


def test_catch_all_is_told_from_a_plain_html_page_by_the_canary():
    result, requests = scan(postures.catch_all())
    root = next(e for e in result.evidence if getattr(e, "method", "") == "root_domain")
    assert root.canary is not None and root.canary.status == 200
    assert any(r.host == "catchall.test" and "casaudit-canary" in r.path for r in requests)


def test_offsite_redirect_and_srv_are_flagged_and_never_contacted():
    result, requests = scan(postures.redirect_offsite())
    assert verdicts(result)["http_redirect"] == ("unknown", "target_out_of_scope")
    assert verdicts(result)["srv"] == ("unknown", "target_out_of_scope")
    offsite = status_by_method(result, "autodiscover.redirect_offsite")
    assert offsite["http_redirect"] == "fail" and offsite["srv"] == "fail"
    assert offsite["root_domain"] == "not_applicable"  # answered, with nothing to follow
    # Nothing works that casaudit may judge: not assessed, not a false "unreachable".
    assert one(result, "autodiscover.unreachable") == "not_assessed"
    assert requests and not [r for r in requests if r.host == postures.OUTSIDER]


def test_legacy_serves_autodiscover_in_cleartext_and_srv_saves_it():
    result, _ = scan(load_posture("exchange2007-legacy"))
    assert verdicts(result)["http_redirect"] == ("failed", "cleartext_content")
    assert verdicts(result)["srv"] == ("working", None)
    cleartext = statuses(result, "autodiscover.cleartext")
    assert set(cleartext.values()) == {"fail"} and len(cleartext) == 2
    assert one(result, "autodiscover.unreachable") == "pass"


def test_cli_json_shows_per_method_url_answer_and_verdict(validate_scan):
    with Lab.start("exchange-se-hardened") as hardened_lab:
        run = run_cli("scan", *hardened_lab.scan_args(), "--json", "-")
    assert run.code == 0, run.stderr
    document = validate_scan(run.json())
    rows = [e for e in document["evidence"] if e["kind"] == "autodiscover"]
    assert [e["method"] for e in rows] == [
        "root_domain", "autodiscover_host", "http_redirect", "srv", "json_v2"]
    assert [e["id"] for e in rows] == ["ad-001", "ad-002", "ad-003", "ad-004", "ad-005"]
    https = hardened_lab.ports["https"]
    assert rows[0]["endpoint"] == f"https://contoso.test:{https}/autodiscover/autodiscover.xml"
    assert rows[0]["exchanges"][0]["method"] == "POST"
    assert rows[0]["exchanges"][0]["status"] == 401
    assert ["Content-Type", "text/xml; charset=utf-8"] in rows[0]["exchanges"][0]["request_headers"]
    assert rows[0]["certificates"][0]["verified"] is True
    assert rows[2]["exchanges"][0]["method"] == "GET" and rows[2]["exchanges"][0]["status"] == 301
    assert rows[2]["target_url"].startswith(f"https://mail.contoso.test:{https}/")
    assert rows[3]["srv"]["records"] == [
        {"priority": 0, "weight": 0, "port": https, "target": "mail.contoso.test"}]
    assert rows[4]["endpoint"].endswith("autodiscover.json?Email=casaudit-probe@contoso.test"
                                        "&Protocol=AutodiscoverV1")
    assert all(e["verdict"] == "working" and e["detail"] for e in rows)
    assert all(e["email"] == "casaudit-probe@contoso.test" for e in rows)


def test_posture_format_validates_vhosts_and_credentials():
    base = ('name = "t"\nsummary = "t"\nhost = "mail.x.test"\ndomain = "x.test"\n'
            '[https]\ndefault = { status = 404 }\n')
    with pytest.raises(ValueError, match="not a lab name"):
        parse_posture(base + '[vhosts."www.y.test".https]\ndefault = { status = 404 }\n')
    with pytest.raises(ValueError, match=r"vhosts.autodiscover.x.test.http"):
        parse_posture(base + '[vhosts."autodiscover.x.test".http]\ndefault = { status = 404 }\n')
    with pytest.raises(ValueError, match="go together"):
        parse_posture(base + '[[https.routes]]\npath = "/a"\nstatus = 401\ncredentials = ["u", "p"]\n')
