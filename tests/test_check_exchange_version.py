"""exchange.version_disclosed, exchange.version_eol, exchange.known_vulnerable_build from built evidence."""

from __future__ import annotations

import dataclasses

import pytest

from casaudit.evidence.base import ProbeError
from casaudit.evidence.http import DeploymentManifest
from casaudit.exchange import EXPORT_TOOL_PATH
from casaudit.model import CheckStatus
from checks import exchange_known_vulnerable_build as vulnerable
from checks import exchange_version_disclosed as disclosed
from checks import exchange_version_eol as eol
from tests.factories import baseline, evidence_set, exchange, http_evidence, mail_evidence

HTTPS = "https://mail.example.test:443"


def _owa(version=None, *, body="", when="2026-01-01T00:00:00.000Z", scheme="https", error=None):
    headers = (("X-OWA-Version", version),) if version else ()
    port = 443 if scheme == "https" else 80
    url = f"{scheme}://mail.example.test:{port}/owa"
    return http_evidence(
        exchange(url, headers=headers, body=body, error=error),
        scheme=scheme, started_at=when, evidence_id=f"{scheme}-owa",
    )


def _single(module, *items):
    outcomes = module.evaluate(evidence_set(*items))
    assert len(outcomes) == 1, outcomes
    return outcomes[0]


# --------------------------------------------------------------------------- version_disclosed


def test_a_hidden_version_says_nothing_about_running_a_supported_one():
    from casaudit.api import evaluate
    from casaudit.catalog import load_checks

    checks = [c for c in load_checks() if c.meta.id == disclosed.CHECK.id]
    quiet, _ = evaluate(evidence_set(_owa()), checks)
    assert [(r.status, r.recommendations) for r in quiet] == [(CheckStatus.PASS, ("CAS-15",))]
    loud, _ = evaluate(evidence_set(_owa("15.1.2507.16")), checks)
    assert [(r.status, r.recommendations) for r in loud] == [(CheckStatus.FAIL, ("CAS-15", "CAS-16"))]


def test_disclosed_fails_on_a_version_header_and_names_where():
    outcome = _single(disclosed, _owa("15.1.2507.16"))
    assert outcome.status is CheckStatus.FAIL and outcome.endpoint == HTTPS
    assert "Exchange Server 2016 CU23 Nov22SU (15.1.2507.16)" in outcome.observed
    assert "X-OWA-Version header '15.1.2507.16' at https://mail.example.test:443/owa" in outcome.observed
    assert outcome.evidence == ("https-owa",)


def test_disclosed_passes_when_only_the_logon_page_path_shows_the_cu():
    outcome = _single(disclosed, _owa(body='<link href="/owa/auth/15.2.2562/themes/resources/logon.css">'))
    assert outcome.status is CheckStatus.PASS
    assert "15.2.2562" in outcome.reason and "OWA path" in outcome.reason


def test_disclosed_fails_on_the_export_tool_manifest_behind_stripped_headers():
    # No header names the build; the logon page shows the CU; the manifest, the exact build.
    page = _owa(body='<link href="/owa/auth/15.2.1544/themes/resources/logon.css">')
    url = f"{HTTPS}{EXPORT_TOOL_PATH}"
    manifest = http_evidence(dataclasses.replace(exchange(url), manifest=DeploymentManifest(
        name="microsoft.exchange.ediscovery.exporttool.application", version="15.2.1544.25",
    )), scheme="https", path=EXPORT_TOOL_PATH, role="exporttool_manifest", evidence_id="build-002")
    outcome = _single(disclosed, page, manifest)
    assert outcome.status is CheckStatus.FAIL and outcome.endpoint == HTTPS
    assert outcome.evidence == ("build-002",)
    assert "Exchange Server 2019 CU14 Apr25HU (15.2.1544.25)" in outcome.observed
    assert f"ECP export tool manifest assemblyIdentity version '15.2.1544.25' at {url}" in \
        outcome.observed


def test_disclosed_passes_without_any_version_and_mentions_weak_hints():
    item = http_evidence(
        exchange(f"{HTTPS}/owa", headers=(("Server", "Microsoft-IIS/10.0"),)), scheme="https"
    )
    outcome = _single(disclosed, item)
    assert outcome.status is CheckStatus.PASS and "Microsoft-IIS/10.0" in outcome.reason


def test_disclosed_is_not_assessed_without_an_answer_and_not_applicable_on_a_refused_port():
    timeout = _single(disclosed, _owa(error=ProbeError("timeout", "no answer in 10 s")))
    assert timeout.status is CheckStatus.NOT_ASSESSED and "no answer in 10 s" in timeout.reason
    # A closed port sends no response whose headers could disclose anything.
    refused = _single(disclosed, _owa(error=ProbeError("refused", "connection refused")))
    assert refused.status is CheckStatus.NOT_APPLICABLE


def test_disclosed_judges_each_origin_on_its_own():
    outcomes = disclosed.evaluate(evidence_set(_owa("8.1.375.2", scheme="http"), _owa(scheme="https")))
    assert {(o.endpoint, o.status) for o in outcomes} == {
        ("http://mail.example.test:80", CheckStatus.FAIL), (HTTPS, CheckStatus.PASS),
    }


def test_disclosed_on_https_after_a_redirect_is_the_https_endpoints_alone():
    # Given plain HTTP that only redirects to HTTPS, whose answer then carries the build
    header = (("X-OWA-Version", "15.2.1748.39"),)
    followed = http_evidence(
        exchange("http://mail.example.test:80/owa", 301, headers=(("Location", f"{HTTPS}/owa"),)),
        exchange(f"{HTTPS}/owa", headers=header), scheme="http", evidence_id="http-owa",
    )
    direct = http_evidence(exchange(f"{HTTPS}/owa", headers=header), scheme="https",
                           evidence_id="https-owa")
    outcomes = {o.endpoint: o for o in disclosed.evaluate(evidence_set(followed, direct))}
    # Then port 80 said nothing itself, and the HTTPS finding cites the HTTPS probe only
    assert outcomes["http://mail.example.test:80"].status is CheckStatus.PASS
    assert outcomes["http://mail.example.test:80"].evidence == ("http-owa",)
    assert outcomes[HTTPS].status is CheckStatus.FAIL
    assert outcomes[HTTPS].evidence == ("https-owa",)
    assert outcomes[HTTPS].observed.count("X-OWA-Version header") == 1


# --------------------------------------------------------------------------- version_eol


def test_eol_fails_for_exchange_2007_and_cites_the_date():
    outcome = _single(eol, _owa("8.1.375.2"))
    assert outcome.status is CheckStatus.FAIL
    assert "2017-04-11" in outcome.reason and "Exchange Server 2007 SP1 RU8" in outcome.observed


def test_eol_takes_today_from_the_evidence_not_the_clock():
    before = _single(eol, _owa("15.1.2507.16", when="2025-10-14T23:59:00.000Z"))
    after = _single(eol, _owa("15.1.2507.16", when="2025-10-15T00:00:01.000Z"))
    assert before.status is CheckStatus.PASS and "2025-10-14" in before.reason
    assert after.status is CheckStatus.FAIL


def test_eol_passes_for_se_which_has_no_end_date():
    outcome = _single(eol, _owa(body='href="/owa/auth/15.2.2562/themes/resources/favicon.ico"'))
    assert outcome.status is CheckStatus.PASS and "no fixed end date" in outcome.reason


def test_eol_is_not_assessed_when_nothing_or_only_an_unknown_product_shows():
    assert _single(eol, _owa()).status is CheckStatus.NOT_ASSESSED
    unknown = _single(eol, _owa("15.9.1.1"))
    assert unknown.status is CheckStatus.NOT_ASSESSED and "unknown" in unknown.reason
    down = _single(eol, _owa(error=ProbeError("timeout", "no answer")))
    assert down.status is CheckStatus.NOT_ASSESSED and "no HTTP answer" in down.reason


def test_eol_uses_a_product_named_by_activesync_major_minor():
    item = http_evidence(exchange(
        f"{HTTPS}/Microsoft-Server-ActiveSync", 401, headers=(("MS-Server-ActiveSync", "14.3"),),
    ), scheme="https", path="/Microsoft-Server-ActiveSync", role="activesync")
    outcome = _single(eol, item)
    assert outcome.status is CheckStatus.FAIL and "2020-10-13" in outcome.reason


# --------------------------------------------------------------------------- known_vulnerable_build


def test_vulnerable_fails_with_cve_and_fixed_build():
    outcome = _single(vulnerable, _owa("15.1.2176.9"))
    assert outcome.status is CheckStatus.FAIL
    assert "CVE-2021-34473/CVE-2021-34523" in outcome.reason
    assert "fixed in 15.1.2176.12" in outcome.observed and "CVE-2022-41040" in outcome.observed
    assert "CVE-2021-26855" not in outcome.reason  # Mar21SU is installed


def test_vulnerable_passes_at_the_fix_and_for_unaffected_products():
    assert _single(vulnerable, _owa("15.1.2507.16")).status is CheckStatus.PASS
    legacy = _single(vulnerable, _owa("8.1.375.2"))
    assert legacy.status is CheckStatus.PASS and "not affected" in legacy.reason


def test_vulnerable_with_a_three_part_build_says_possibly_or_fails_when_the_cu_decides():
    maybe = _single(vulnerable, _owa(body='href="/owa/auth/15.1.2507/themes/resources/logon.css"'))
    assert maybe.status is CheckStatus.NOT_ASSESSED
    assert "possibly vulnerable" in maybe.reason and "15.1.2507.16" in maybe.reason
    old = _single(vulnerable, _owa(body='href="/owa/auth/15.0.1497/themes/resources/logon.css"'))
    assert old.status is CheckStatus.NOT_ASSESSED  # 2013 CU23: every fix exists for it
    ancient = _single(vulnerable, _owa(body='href="/owa/auth/15.0.1395/themes/resources/logon.css"'))
    assert ancient.status is CheckStatus.FAIL and "CVE-2021-34473" in ancient.reason


def test_vulnerable_is_not_assessed_without_a_build():
    outcome = _single(vulnerable, _owa())
    assert outcome.status is CheckStatus.NOT_ASSESSED and "build" in outcome.reason


# --------------------------------------------------------------------------- without a build


def _absent_host(status: int = 404, *, headers=(), error: ProbeError | None = None):
    """/owa and /ecp over https, and the nonexistent-path baseline, all answering alike."""
    items = [
        http_evidence(exchange(f"{HTTPS}{path}", status, headers=headers, error=error,
                               body="not found"),
                      scheme="https", path=path, role=role, evidence_id=f"https-{role}")
        for path, role in (("/owa", "owa"), ("/ecp", "ecp"))
    ]
    items.append(baseline(exchange(f"{HTTPS}/casaudit-0123456789abcdef/", status, headers=headers,
                                   error=error, body="not found")))
    return items


@pytest.mark.parametrize("module", [vulnerable, eol])
def test_no_exchange_on_the_host_is_not_applicable(module):
    """Every Client Access URL absent and no marker: there is no build to judge."""
    outcome = _single(module, *_absent_host(404))
    assert outcome.status is CheckStatus.NOT_APPLICABLE
    assert "no Exchange Client Access answered on this host" in outcome.reason


@pytest.mark.parametrize("module", [vulnerable, eol])
def test_exchange_seen_without_a_build_is_not_assessed(module):
    """An Exchange marker (here X-FEServer on the 404s) without a build: hidden, not absent."""
    outcome = _single(module, *_absent_host(404, headers=(("X-FEServer", "EXCH01"),)))
    assert outcome.status is CheckStatus.NOT_ASSESSED
    assert "Exchange answered but its build is hidden" in outcome.reason and "X-FEServer" in outcome.reason
    banner = mail_evidence("imap", greeting="* OK The Microsoft Exchange IMAP4 service is ready.")
    by_mail = _single(module, *_absent_host(404), banner)
    assert by_mail.status is CheckStatus.NOT_ASSESSED and "IMAP greeting" in by_mail.reason


@pytest.mark.parametrize("module", [vulnerable, eol])
@pytest.mark.parametrize("answer", [
    {"status": 503}, {"error": ProbeError("timeout", "no answer in 10 s")},
    {"error": ProbeError("refused", "connection refused")},
])
def test_no_usable_answer_is_not_assessed_never_not_applicable(module, answer):
    """A 503 everywhere (the baseline too), timeouts or refusals prove nothing about Exchange."""
    outcome = _single(module, *_absent_host(**answer))
    assert outcome.status is CheckStatus.NOT_ASSESSED, outcome


@pytest.mark.parametrize("module", [vulnerable, eol])
def test_something_served_without_markers_is_not_assessed(module):
    outcome = _single(module, _owa())
    assert outcome.status is CheckStatus.NOT_ASSESSED and "no Exchange marker" in outcome.reason
