"""The engine's own judgement of a host (docs/verdicts.md): did it answer, its status,
the grade per area, the headline, and the verdict on each recommendation."""

from __future__ import annotations

from casaudit.assessment import gate, host_answered, summarise
from casaudit.evidence.base import ProbeError
from casaudit.model import CheckResult, CheckStatus, Severity, Verdict
from casaudit.recommendations import judge
from tests.factories import evidence_set, exchange, http_evidence, mail_evidence

S = CheckStatus


def _row(check: str, status: CheckStatus, severity: Severity = Severity.HIGH,
         recs: tuple[str, ...] = ("CAS-13",), reason: str = "r",
         endpoint: str = "https://m.test:443") -> CheckResult:
    return CheckResult(check, endpoint, status, reason, severity, recs)


# --------------------------------------------------------------------------- did the host answer


def test_refusals_timeouts_and_garbage_are_no_answer_but_a_503_or_a_greeting_is():
    refused = http_evidence(exchange("http://mail.example.test:80/owa",
                                     error=ProbeError("refused", "connection refused")))
    silent = http_evidence(exchange("https://mail.example.test:443/owa",
                                    error=ProbeError("timeout", "no answer")),
                           scheme="https", evidence_id="E002")
    garbage = mail_evidence("imap", greeting="HTTP/1.1 400 Bad Request")
    assert not host_answered(evidence_set(refused, silent, garbage), "mail.example.test")

    error_page = http_evidence(exchange("http://mail.example.test:80/owa", 503), evidence_id="E003")
    assert host_answered(evidence_set(refused, error_page), "mail.example.test")
    greeting = mail_evidence("imap", greeting="* OK The Microsoft Exchange IMAP4 service is ready.")
    assert host_answered(evidence_set(refused, greeting), "mail.example.test")


def test_answers_from_the_mail_domains_other_names_do_not_count_for_the_host():
    website = http_evidence(exchange("https://example.test:443/autodiscover/autodiscover.xml", 404),
                            scheme="https", host="example.test", path="/autodiscover/autodiscover.xml",
                            role="autodiscover")
    assert not host_answered(evidence_set(website), "mail.example.test")
    assert host_answered(evidence_set(website), "example.test")


def test_on_a_silent_host_nothing_passes_or_fails_on_silence_but_answers_elsewhere_stand():
    refused = http_evidence(exchange("http://mail.example.test:80/owa",
                                     error=ProbeError("refused", "connection refused")))
    website = http_evidence(exchange("https://example.test:443/autodiscover/autodiscover.xml", 404),
                            scheme="https", host="example.test", path="/autodiscover/autodiscover.xml",
                            role="autodiscover", evidence_id="E002")
    rows = [
        _row("mail.pop3_exposed", S.PASS, reason="the port refused the connection"),
        CheckResult("autodiscover.unreachable", "https://m", S.FAIL, "refused", Severity.HIGH,
                    ("CAS-11",), ("E001",)),
        CheckResult("autodiscover.url_failed", "https://example.test", S.FAIL, "404", Severity.LOW,
                    ("CAS-11",), ("E002",)),
        _row("http.hsts_missing", S.NOT_APPLICABLE),
    ]
    evidence = evidence_set(refused, website)
    assert gate(rows, evidence_set(refused, website, http_evidence(
        exchange("http://mail.example.test:80/ecp", 404), evidence_id="E003")),
        "mail.example.test") == tuple(rows)
    gated = gate(rows, evidence, "mail.example.test")
    # "Not applicable" is a claim about the host too: not made on a host that said nothing.
    assert [r.status for r in gated] == [S.NOT_ASSESSED, S.NOT_ASSESSED, S.FAIL, S.NOT_ASSESSED]
    assert gated[0].reason.startswith("no Client Access service of the host answered")


def test_findings_are_built_from_the_gated_rows():
    from casaudit.api import evaluate
    from casaudit.catalog import Check
    from casaudit.model import CheckMeta, Outcome

    meta = CheckMeta("t.silence", "Silence", Severity.HIGH, ("CAS-11",), "d", "r")
    refused = http_evidence(exchange("http://mail.example.test:80/owa",
                                     error=ProbeError("refused", "connection refused")))

    def fails_on_refusal(_evidence):
        return [Outcome("http://mail.example.test:80", S.FAIL, "refused", ("E001",))]

    rows, findings = evaluate(evidence_set(refused), [Check(meta, fails_on_refusal)],
                              host="mail.example.test")
    assert [r.status for r in rows] == [S.NOT_ASSESSED] and findings == ()


# --------------------------------------------------------------------------- status, areas, headline


def test_a_host_that_did_not_answer_has_no_grade_and_an_unknown_headline():
    rows = gate([_row("http.basic_offered", S.PASS), _row("tls.legacy_protocol", S.PASS)],
                evidence_set(), "mail.example.test")
    summary = summarise(rows, (), answered=False)
    assert summary.status == "not_assessed"
    assert all(area.grade is None for area in summary.areas)
    assert summary.headline.level == "unknown" and summary.headline.title == "Not assessed"


def test_status_is_partial_when_a_row_that_applies_was_not_assessed():
    assessed = summarise([_row("http.x", S.PASS), _row("http.y", S.NOT_APPLICABLE)], (), True)
    assert assessed.status == "assessed"
    partial = summarise([_row("http.x", S.PASS), _row("tls.y", S.NOT_ASSESSED, reason="timed out")],
                        (), True)
    assert partial.status == "partially_assessed"
    assert "1 of 2" in partial.status_reason and "timed out" in partial.status_reason
    # Nothing found, but not everything looked at: not the green "no problems found".
    assert partial.headline.level == "attention"


def test_grades_summarise_each_area_from_assessed_rows_only():
    rows = [
        _row("tls.protocols", S.PASS), _row("tls.certificate", S.FAIL, Severity.MEDIUM),
        _row("mail.cleartext_login", S.NOT_ASSESSED),
        _row("http.basic_cleartext", S.PASS), _row("http.x", S.FAIL, Severity.CRITICAL),
        _row("autodiscover.ssl", S.PASS), _row("autodiscover.other", S.NOT_ASSESSED),
        _row("exchange.version_eol", S.NOT_APPLICABLE),
        _row("dns.spf", S.FAIL, Severity.LOW),
    ]
    areas = {a.id: a for a in summarise(rows, (), True).areas}
    assert [areas[k].grade for k in ("web", "tls", "mail", "autodiscover", "version", "other")] == \
        ["F", "C", None, "A", None, "B"]
    assert "not assessed" in areas["mail"].summary
    assert "1 not assessed" in areas["autodiscover"].summary
    assert areas["version"].summary.startswith("not applicable")
    assert areas["tls"].counts == {"pass": 1, "fail": 1, "not_applicable": 0, "not_assessed": 0,
                                   "error": 0}


# --------------------------------------------------------------------------- recommendations


def _verdicts(rows, probes=()):
    return {v.id: v for v in judge(rows, [], probes)}


def test_met_needs_every_applicable_row_assessed_and_passed():
    verdicts = _verdicts([
        _row("a", S.PASS, recs=("CAS-12",)), _row("b", S.NOT_APPLICABLE, recs=("CAS-12",)),
        _row("a", S.PASS, recs=("CAS-04",)),
        _row("b", S.NOT_ASSESSED, recs=("CAS-04",), reason="no answer (timed out)"),
        _row("b", S.NOT_ASSESSED, recs=("CAS-04",), reason="no answer (timed out)"),
    ])
    assert verdicts["CAS-12"].verdict is Verdict.MET
    assert verdicts["CAS-12"].coverage == {"pass": 1, "fail": 0, "not_applicable": 1,
                                           "not_assessed": 0, "error": 0}
    cas04 = verdicts["CAS-04"]
    assert cas04.verdict is Verdict.NOT_ASSESSED  # not "met as far as assessed"
    assert "1 rows passed, 2 not assessed" in cas04.reason and "timed out" in cas04.reason
    assert cas04.coverage["not_assessed"] == 2


def test_not_applicable_when_nothing_the_recommendation_is_about_exists():
    verdicts = _verdicts([
        _row("mail.cleartext_login", S.NOT_APPLICABLE, recs=("CAS-10",),
             reason="the port refused the connection"),
        _row("mail.pop3_exposed", S.PASS, recs=("CAS-09",), reason="the port refused the connection"),
    ])
    assert verdicts["CAS-10"].verdict is Verdict.NOT_APPLICABLE
    assert "refused" in verdicts["CAS-10"].reason
    assert verdicts["CAS-09"].verdict is Verdict.MET


def test_failures_name_the_row_that_decided():
    verdicts = _verdicts([
        _row("http.cleartext_served", S.PASS, recs=("CAS-04",)),
        _row("http.hsts_missing", S.FAIL, Severity.LOW, recs=("CAS-04",), endpoint="https://m:443/owa"),
        _row("http.basic_cleartext", S.FAIL, Severity.CRITICAL, recs=("CAS-14",),
             endpoint="http://m:80/owa"),
        _row("http.hsts_missing", S.FAIL, Severity.LOW, recs=("CAS-14",)),
        _row("x", S.NOT_ASSESSED, recs=("CAS-14",), reason="timed out"),
    ])
    assert verdicts["CAS-04"].verdict is Verdict.PARTIAL
    # The reason leads with the deciding row and says what passed beside it
    assert verdicts["CAS-04"].reason == (
        "decided by http.hsts_missing (low) on https://m:443/owa; 1 of 2 assessed rows failed, "
        "all low; passed: http.cleartext_served on 1 endpoint")
    cas14 = verdicts["CAS-14"]
    assert cas14.verdict is Verdict.NOT_MET
    assert cas14.reason.startswith("decided by http.basic_cleartext (critical) on http://m:80/owa")
    assert "1 more not assessed (timed out)" in cas14.reason


def test_a_recommendation_without_rows_says_why():
    verdicts = _verdicts([_row("tls.x", S.PASS, recs=("CAS-17",))], probes=("tls",))
    assert verdicts["CAS-17"].verdict is Verdict.MET
    assert verdicts["CAS-17"].reason.endswith("only --probes tls ran")
    assert verdicts["CAS-09"].verdict is Verdict.NOT_ASSESSED
    assert verdicts["CAS-09"].reason.startswith("not run: --probes tls")
    assert "test account" in verdicts["CAS-03"].reason  # cannot be judged from outside at all
    assert "no check" in _verdicts([])["CAS-09"].reason
