"""Every check of the catalog, on hosts where its subject is absent or nothing answered usably.

The rule book (docs/verdicts.md): a check never passes on silence and never fails on
silence. Two families of evidence sets, built with tests/factories.py:

- ABSENT: the subject is observably not there (ports refused, URLs 404 beside a 404
  baseline, STARTTLS refused, Autodiscover names refused or NXDOMAIN). A check about a
  property of a service has nothing to judge: it must not pass. An exposure check
  (`CheckMeta.exposure`) may pass, since a refusal or a 404 is what it asks about.
- NO_ANSWER: the server gave no usable answer (timeouts, 503s, garbage greetings,
  failed handshakes). No check may pass, and none may fail.

The checks are enumerated from the catalog, so a new check is covered without a word here.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from casaudit.catalog import Check, load_checks
from casaudit.evidence.base import EvidenceSet, ProbeError
from casaudit.model import CheckStatus
from tests.factories import (
    REFUSED,
    TIMEOUT,
    autodiscover_host,
    evidence_set,
    mail_host,
    tls_host,
    web_host,
)

NOT_FOUND_PAGE = "<html><body><h1>404 - File or directory not found.</h1></body></html>"
UNAVAILABLE_PAGE = "<html><body><h1>Service Unavailable</h1></body></html>"
HANDSHAKE = ProbeError("tls", "TLS handshake failed: SSLV3_ALERT_HANDSHAKE_FAILURE")
RESET = ProbeError("reset", "the connection failed during the handshake: reset by peer")
STARTTLS_REFUSED = ProbeError("tls", "the server refused STARTTLS")

#: The subject is observably absent.
ABSENT: dict[str, Callable[[], EvidenceSet]] = {
    "http-refused": lambda: evidence_set(*web_host(error=REFUSED)),
    "http-404": lambda: evidence_set(*web_host(404, body=NOT_FOUND_PAGE)),
    "mail-refused": lambda: evidence_set(*mail_host("refused")),
    "tls-refused": lambda: evidence_set(*tls_host(REFUSED)),
    "starttls-not-offered": lambda: evidence_set(*tls_host(STARTTLS_REFUSED, starttls_offered=False)[3:5]),
    "autodiscover-refused": lambda: evidence_set(
        *autodiscover_host("failed", "refused", srv_error="nxdomain")),
    "autodiscover-nxdomain": lambda: evidence_set(
        *autodiscover_host("failed", "dns_nxdomain", srv_error="nxdomain")),
    "everything-refused": lambda: evidence_set(
        *web_host(error=REFUSED), *mail_host("refused"), *tls_host(REFUSED),
        *autodiscover_host("failed", "refused", srv_error="nxdomain")),
}

#: The server gave no usable answer.
NO_ANSWER: dict[str, Callable[[], EvidenceSet]] = {
    "http-timeout": lambda: evidence_set(*web_host(error=TIMEOUT)),
    "http-503": lambda: evidence_set(*web_host(503, body=UNAVAILABLE_PAGE)),
    "mail-timeout": lambda: evidence_set(*mail_host("filtered")),
    "mail-garbage": lambda: evidence_set(*mail_host(greeting="SSH-2.0-OpenSSH_9.2p1")),
    "mail-tls-record": lambda: evidence_set(*mail_host(greeting="\x16\x03\x01\x00\x2a\x02")),
    "tls-timeout": lambda: evidence_set(*tls_host(TIMEOUT)),
    "tls-handshake-failure": lambda: evidence_set(*tls_host(HANDSHAKE, starttls_offered=True)),
    "tls-reset": lambda: evidence_set(*tls_host(RESET)),
    "autodiscover-timeout": lambda: evidence_set(
        *autodiscover_host("unknown", "timeout", srv_error="timeout")),
    "autodiscover-503": lambda: evidence_set(
        *autodiscover_host("failed", "unexpected_status", srv_error="timeout")),
    "autodiscover-authenticated-timeout": lambda: evidence_set(
        *autodiscover_host("unknown", "timeout", srv_error="timeout", authenticated=TIMEOUT)),
    "everything-timed-out": lambda: evidence_set(
        *web_host(error=TIMEOUT), *mail_host("filtered"), *tls_host(TIMEOUT),
        *autodiscover_host("unknown", "timeout", srv_error="timeout")),
}

CHECKS = load_checks()


def _rows(check: Check, evidence: EvidenceSet) -> list[tuple[str, CheckStatus, str]]:
    return [(o.endpoint, o.status, o.reason) for o in check.evaluate(evidence)]


@pytest.mark.parametrize("case", list(ABSENT))
@pytest.mark.parametrize("check", CHECKS, ids=[c.meta.id for c in CHECKS])
def test_an_absent_subject_is_never_a_pass_for_a_property_check(check: Check, case: str):
    rows = _rows(check, ABSENT[case]())
    if check.meta.exposure:
        return  # a refusal or a 404 is the very observation an exposure check asks for
    passed = [row for row in rows if row[1] is CheckStatus.PASS]
    assert not passed, f"{check.meta.id} passes on {case}: {passed[:3]}"


@pytest.mark.parametrize("case", list(NO_ANSWER))
@pytest.mark.parametrize("check", CHECKS, ids=[c.meta.id for c in CHECKS])
def test_no_usable_answer_is_neither_pass_nor_fail(check: Check, case: str):
    rows = _rows(check, NO_ANSWER[case]())
    judged = [row for row in rows if row[1] in (CheckStatus.PASS, CheckStatus.FAIL)]
    assert not judged, f"{check.meta.id} judges silence on {case}: {judged[:3]}"


def test_the_evidence_sets_reach_every_family():
    """Guard the sets themselves: each family's checks see rows in them (no vacuous pass)."""
    everything = {**ABSENT, **NO_ANSWER}
    for family in ("http", "exchange", "tls", "mail", "autodiscover"):
        checks = [c for c in CHECKS if c.meta.id.startswith(f"{family}.")]
        assert checks, family
        assert any(_rows(c, build()) for c in checks for build in everything.values()), family
    # and every check of the catalog gives a row on at least one of them
    silent = [c.meta.id for c in CHECKS
              if not any(_rows(c, build()) for build in everything.values())]
    assert silent == [], silent
