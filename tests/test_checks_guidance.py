"""Today's guidance checked from outside (issue #17), from built evidence.

http.hsts_weak, tls.tls13_missing, exchange.windows_server_eol, exchange.ems_outdated and
exchange.extended_protection_default: each fails, passes, is not applicable and is not
assessed on the evidence that calls for it.
"""

from __future__ import annotations

import pytest

from casaudit.evidence.base import ProbeError
from casaudit.evidence.tls import TlsProtocolSupport
from casaudit.model import CheckStatus
from casaudit.parse.ntlm import build_challenge, decode_challenge
from casaudit.windows_server import table
from checks import exchange_ems_outdated as ems
from checks import exchange_extended_protection_default as extended
from checks import exchange_windows_server_eol as windows
from checks import http_hsts_weak as weak
from checks import tls_tls13_missing as tls13
from tests.factories import (
    MODERN,
    REFUSED,
    TIMEOUT,
    baseline,
    evidence_set,
    exchange,
    http_evidence,
    ntlm_evidence,
    tls_evidence,
)

HTTPS = "https://mail.example.test:443"
TLS12_ONLY = tuple(p if p.version != "TLS 1.3" else TlsProtocolSupport("TLS 1.3") for p in MODERN)


def _one(module, *items):
    outcomes = module.evaluate(evidence_set(*items))
    assert len(outcomes) == 1, outcomes
    return outcomes[0]


def _owa(build: str | None = None, *, hsts: str | None = None, role: str = "owa", chain=None,
         stopped: str | None = None, headers: tuple[tuple[str, str], ...] = ()):
    path = "/owa" if role == "owa" else "/ecp"
    headers = headers + ((("X-OWA-Version", build),) if build else ())
    headers = headers + ((("Strict-Transport-Security", hsts),) if hsts else ())
    first = exchange(f"{HTTPS}{path}", 200, headers=headers, body="<title>Outlook</title>")
    return http_evidence(*(chain or (first,)), scheme="https", path=path, role=role,
                         evidence_id=f"https-{role}", redirect_stopped=stopped)


def _ntlm(os_version: tuple[int, int, int] | None = (10, 0, 20348), **overrides):
    challenge = decode_challenge(build_challenge(
        netbios_domain="CONTOSO", netbios_computer="CAS01", dns_domain="corp.contoso.local",
        dns_computer="cas01.corp.contoso.local", dns_tree="corp.contoso.local",
        os_version=os_version))
    return ntlm_evidence(challenge=challenge, **overrides)


def _absent_host():
    """Every Client Access URL probed answers 404 beside a 404 baseline: no Exchange."""
    items = [http_evidence(exchange(f"{HTTPS}{path}", 404, body="not found"), scheme="https",
                           path=path, role=role, evidence_id=f"https-{role}")
             for path, role in (("/owa", "owa"), ("/ecp", "ecp"))]
    return [*items, baseline()]


# --------------------------------------------------------------------------- http.hsts_weak


def test_hsts_weak_fails_below_one_year_and_passes_at_one_year():
    short = _one(weak, _owa(hsts="max-age=300"))
    assert short.status is CheckStatus.FAIL and short.endpoint == f"{HTTPS}/owa"
    assert "max-age=300" in short.observed and "31536000" in short.observed
    year = _one(weak, _owa(hsts="max-age=31536000; includeSubDomains", role="ecp"))
    assert year.status is CheckStatus.PASS and "max-age=31536000" in year.reason


def test_hsts_weak_fails_on_a_redirect_loop():
    loop = (
        exchange(f"{HTTPS}/ecp", 302, headers=(("Location", "http://mail.example.test:80/ecp/"),
                                               ("Strict-Transport-Security", "max-age=31536000"))),
        exchange("http://mail.example.test:80/ecp/", 301,
                 headers=(("Location", f"{HTTPS}/ecp"),)),
    )
    outcome = _one(weak, _owa(role="ecp", chain=loop, stopped=f"redirect loop back to {HTTPS}/ecp"))
    assert outcome.status is CheckStatus.FAIL and "loop" in outcome.reason
    assert "http://mail.example.test:80/ecp/" in outcome.observed


def test_hsts_weak_judges_only_owa_and_ecp_and_leaves_a_missing_header_to_hsts_missing():
    ews = http_evidence(exchange(f"{HTTPS}/EWS/Exchange.asmx", 401, auth=("NTLM",),
                                 headers=(("Strict-Transport-Security", "max-age=60"),)),
                        scheme="https", path="/EWS/Exchange.asmx", role="ews")
    assert weak.evaluate(evidence_set(ews)) == []
    missing = _one(weak, _owa())
    assert missing.status is CheckStatus.NOT_APPLICABLE and "http.hsts_missing" in missing.reason
    absent = weak.evaluate(evidence_set(*_absent_host()))
    assert {o.status for o in absent} == {CheckStatus.NOT_APPLICABLE}


def test_hsts_weak_not_assessed_without_an_answer():
    timeout = http_evidence(exchange(f"{HTTPS}/owa", error=TIMEOUT), scheme="https")
    assert _one(weak, timeout).status is CheckStatus.NOT_ASSESSED


# --------------------------------------------------------------------------- tls.tls13_missing


def test_tls13_missing_fails_on_exchange_se_on_server_2022_without_tls13():
    outcome = _one(tls13, tls_evidence(protocols=TLS12_ONLY), _ntlm((10, 0, 20348)),
                   _owa("15.2.2562.17"))
    assert outcome.status is CheckStatus.FAIL
    assert "Windows Server 2022 (10.0.20348)" in outcome.observed
    assert "Exchange Server SE" in outcome.observed and "TLS 1.2" in outcome.observed


def test_tls13_missing_passes_when_tls13_is_offered_whatever_the_platform():
    assert _one(tls13, tls_evidence()).status is CheckStatus.PASS


@pytest.mark.parametrize(("os_version", "build", "why"), [
    ((6, 3, 9600), "15.2.1748.10", "Windows Server 2012 R2 (6.3.9600) has no TLS 1.3"),
    ((10, 0, 20348), "15.2.1118.7", "does not support TLS 1.3"),
    ((10, 0, 26100), "15.1.2507.6", "does not support TLS 1.3"),
])
def test_tls13_missing_not_applicable_where_the_platform_cannot_speak_it(os_version, build, why):
    outcome = _one(tls13, tls_evidence(protocols=TLS12_ONLY), _ntlm(os_version), _owa(build))
    assert outcome.status is CheckStatus.NOT_APPLICABLE and why in outcome.reason


def test_tls13_missing_not_assessed_when_the_os_or_the_build_is_hidden_or_the_test_failed():
    no_os = _one(tls13, tls_evidence(protocols=TLS12_ONLY), _owa("15.2.2562.17"))
    assert no_os.status is CheckStatus.NOT_ASSESSED and "no NTLM challenge" in no_os.reason
    no_build = _one(tls13, tls_evidence(protocols=TLS12_ONLY), _ntlm((10, 0, 20348)), _owa())
    assert no_build.status is CheckStatus.NOT_ASSESSED and "build is not disclosed" in no_build.reason
    broken = tuple(p if p.version != "TLS 1.3" else TlsProtocolSupport("TLS 1.3", error=TIMEOUT)
                   for p in MODERN)
    assert _one(tls13, tls_evidence(protocols=broken)).status is CheckStatus.NOT_ASSESSED


def test_tls13_missing_judges_https_only():
    assert tls13.evaluate(evidence_set(tls_evidence(service="imaps", protocols=TLS12_ONLY))) == []
    refused = _one(tls13, tls_evidence(error=REFUSED))
    assert refused.status is CheckStatus.NOT_APPLICABLE


# --------------------------------------------------------------------------- windows_server_eol


def test_windows_server_eol_fails_on_server_2012_r2_after_its_end():
    outcome = _one(windows, _ntlm((6, 3, 9600)))
    assert outcome.status is CheckStatus.FAIL and outcome.endpoint == HTTPS
    assert "Windows 6.3.9600, that is Windows Server 2012 R2" in outcome.observed
    assert "2023-10-10" in outcome.observed and "(2026-01-01)" in outcome.observed


def test_windows_server_eol_passes_on_a_supported_server():
    outcome = _one(windows, _ntlm((10, 0, 20348)))
    assert outcome.status is CheckStatus.PASS and "Windows Server 2022" in outcome.reason


def test_windows_server_eol_not_applicable_without_ntlm():
    negotiate_only = _one(windows, ntlm_evidence(auth=("Negotiate",)))
    assert negotiate_only.status is CheckStatus.NOT_APPLICABLE
    assert "not disclosed" in negotiate_only.reason
    refused = _one(windows, ntlm_evidence(error=REFUSED))
    assert refused.status is CheckStatus.NOT_APPLICABLE


def test_windows_server_eol_not_assessed_when_the_version_is_unknown_or_missing():
    unlisted = _one(windows, _ntlm((10, 0, 19045)))
    assert unlisted.status is CheckStatus.NOT_ASSESSED and "10.0.19045" in unlisted.reason
    without = _one(windows, _ntlm(None))
    assert without.status is CheckStatus.NOT_ASSESSED and "no Windows version" in without.reason
    silent = _one(windows, ntlm_evidence(error=ProbeError("timeout", "no answer in 5 s")))
    assert silent.status is CheckStatus.NOT_ASSESSED


def test_every_windows_row_cites_its_sources():
    for row in table().values():
        assert row.lifecycle_source.startswith("https://learn.microsoft.com/lifecycle/")
        assert row.version_source.startswith("https://learn.microsoft.com/")
        assert row.mainstream_end < row.extended_end


# --------------------------------------------------------------------------- ems_outdated


def test_ems_outdated_fails_before_the_march_2023_su_and_passes_from_it():
    old = _one(ems, _owa("15.2.1118.25"))  # 2019 CU12 Feb23SU
    assert old.status is CheckStatus.FAIL
    assert "2023-03-14" in old.observed and "inferred from the build" in old.observed
    fixed = _one(ems, _owa("15.2.1118.26"))  # 2019 CU12 Mar23SU
    assert fixed.status is CheckStatus.PASS
    newer_cu = _one(ems, _owa(headers=(), build=None, chain=(exchange(
        f"{HTTPS}/owa", 200, body='<link href="/owa/auth/15.2.1748/themes/resources/logon.css">'),)))
    assert newer_cu.status is CheckStatus.PASS  # every build of CU15 postdates March 2023


def test_ems_outdated_not_applicable_before_2016_or_without_exchange():
    assert _one(ems, _owa("15.0.1497.48")).status is CheckStatus.NOT_APPLICABLE  # 2013
    assert _one(ems, *_absent_host()).status is CheckStatus.NOT_APPLICABLE


def test_ems_outdated_not_assessed_when_the_su_level_or_build_is_hidden():
    three_parts = _one(ems, _owa(chain=(exchange(
        f"{HTTPS}/owa", 200, body='<link href="/owa/auth/15.2.1118/themes/resources/logon.css">'),)))
    assert three_parts.status is CheckStatus.NOT_ASSESSED and "not visible" in three_parts.reason
    hidden = _one(ems, _owa(headers=(("X-FEServer", "EXCH01"),)))
    assert hidden.status is CheckStatus.NOT_ASSESSED and "build is hidden" in hidden.reason


# --------------------------------------------------------------------------- extended protection


def test_extended_protection_default_fails_as_information_before_2019_cu14():
    outcome = _one(extended, _owa("15.2.1118.26"))
    assert outcome.status is CheckStatus.FAIL and extended.CHECK.severity.value == "info"
    assert "inferred from the build" in outcome.observed and "CU14" in outcome.observed
    assert _one(extended, _owa("15.1.2507.6")).status is CheckStatus.FAIL  # 2016: never default


def test_extended_protection_default_passes_from_2019_cu14_and_on_se():
    assert _one(extended, _owa("15.2.1544.4")).status is CheckStatus.PASS
    se = _one(extended, _owa("15.2.2562.17"))
    assert se.status is CheckStatus.PASS and "inferred from the build" in se.reason


def test_extended_protection_default_not_applicable_before_2013_or_without_exchange():
    assert _one(extended, _owa("14.3.123.4")).status is CheckStatus.NOT_APPLICABLE  # 2010 SP3
    assert _one(extended, *_absent_host()).status is CheckStatus.NOT_APPLICABLE


def test_extended_protection_default_not_assessed_when_the_build_is_hidden():
    hidden = _one(extended, _owa(headers=(("X-FEServer", "EXCH01"),)))
    assert hidden.status is CheckStatus.NOT_ASSESSED and "build is hidden" in hidden.reason
