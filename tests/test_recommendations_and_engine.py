import re
import subprocess
import sys
from pathlib import Path

from casaudit.api import evaluate
from casaudit.catalog import Check, load_checks
from casaudit.model import CheckMeta, CheckResult, CheckStatus, Outcome, Severity, Verdict
from casaudit.recommendations import RECOMMENDATION_IDS, judge
from tests.factories import evidence_set, exchange, http_evidence


def test_recommendation_ids_are_the_public_contract():
    assert RECOMMENDATION_IDS == tuple(f"CAS-{n:02d}" for n in range(1, 18))


#: Every check id, sorted: a public contract (findings, baselines, SARIF rule ids and history
#: diffs name checks by id). Renaming, adding or removing a check changes this list on purpose.
CHECK_IDS = (
    "autodiscover.cleartext",
    "autodiscover.insecure_advertised_url",
    "autodiscover.redirect_offsite",
    "autodiscover.unreachable",
    "autodiscover.url_failed",
    "exchange.admin_exposed",
    "exchange.ems_outdated",
    "exchange.extended_protection_default",
    "exchange.internal_address_disclosure",
    "exchange.known_vulnerable_build",
    "exchange.legacy_vdir",
    "exchange.ntlm_info_disclosure",
    "exchange.security_update_missing",
    "exchange.version_disclosed",
    "exchange.version_eol",
    "exchange.windows_server_eol",
    "http.basic_cleartext",
    "http.basic_offered",
    "http.cleartext_served",
    "http.form_cleartext",
    "http.hsts_missing",
    "http.hsts_weak",
    "mail.banner_disclosure",
    "mail.cleartext_login",
    "mail.imap4_exposed",
    "mail.pop3_exposed",
    "mail.starttls_missing",
    "tls.cert_expired",
    "tls.cert_expiring",
    "tls.cert_name_mismatch",
    "tls.cert_untrusted",
    "tls.cert_weak_key",
    "tls.cert_weak_signature",
    "tls.legacy_protocol",
    "tls.no_fallback_scsv",
    "tls.no_forward_secrecy",
    "tls.tls13_missing",
    "tls.vuln.ccs_injection",
    "tls.vuln.compression",
    "tls.vuln.heartbleed",
    "tls.vuln.insecure_renegotiation",
    "tls.vuln.robot",
    "tls.weak_cipher",
)


def test_check_ids_are_the_public_contract():
    assert tuple(check.meta.id for check in load_checks()) == CHECK_IDS


def test_casaudit_checks_lists_exactly_the_contract_ids():
    # When a user lists the catalog
    run = subprocess.run([sys.executable, "-m", "casaudit", "checks"], capture_output=True, text=True,
                         timeout=60, check=True)
    # Then the first column, below the build table's date and the header, is every check id
    lines = run.stdout.splitlines()[1:]
    assert lines[0].split()[0] == "ID"
    assert tuple(line.split()[0] for line in lines[1:] if line.strip()) == CHECK_IDS


def test_the_readme_check_list_is_the_catalog():
    """README's table: one row per check, in catalog order, with its severity and CAS ids."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    check_row = re.compile(r"^\| `(?:autodiscover|exchange|http|mail|tls)\.[a-z0-9_.]+` \|")
    rows = [line.split("|")[1:4] for line in readme.splitlines() if check_row.match(line)]
    listed = [(check.strip().strip("`"), severity.strip(), cas.strip()) for check, severity, cas in rows]
    assert listed == [(c.meta.id, c.meta.severity.value, ", ".join(c.meta.recommendations))
                      for c in load_checks()]


def test_check_ids_are_stable_and_cite_known_recommendations():
    catalog = {c.meta.id: c.meta for c in load_checks()}
    assert "http.basic_cleartext" in catalog
    meta = catalog["http.basic_cleartext"]
    assert meta.severity is Severity.CRITICAL and "CAS-14" in meta.recommendations
    for meta in catalog.values():
        assert set(meta.recommendations) <= set(RECOMMENDATION_IDS)
        assert meta.title and meta.description and meta.remediation
        # every check says what fixing it takes: the report's first page orders actions by it
        assert meta.effort is not None, meta.id


def _row(status, recs=("CAS-04",), severity=Severity.HIGH):
    return CheckResult("x.check", "http://h:80/owa", status, "r", severity, recs)


def test_verdicts_follow_the_rows_that_cite_each_recommendation():
    verdicts = {v.id: v for v in judge(
        [_row(CheckStatus.FAIL, severity=Severity.LOW), _row(CheckStatus.PASS),
         _row(CheckStatus.FAIL, ("CAS-14",)), _row(CheckStatus.PASS, ("CAS-14",)),
         _row(CheckStatus.PASS, ("CAS-12",)),
         _row(CheckStatus.FAIL, ("CAS-08",)), _row(CheckStatus.NOT_ASSESSED, ("CAS-09",)),
         _row(CheckStatus.FAIL, ("CAS-15",), Severity.INFO)],
        [],
    )}
    assert verdicts["CAS-04"].verdict is Verdict.PARTIAL
    assert verdicts["CAS-14"].verdict is Verdict.NOT_MET  # a high failure is not "partial"
    assert verdicts["CAS-12"].verdict is Verdict.MET
    assert verdicts["CAS-08"].verdict is Verdict.NOT_MET
    assert verdicts["CAS-09"].verdict is Verdict.NOT_ASSESSED
    assert verdicts["CAS-15"].verdict is Verdict.NOT_ASSESSED  # informational only
    assert verdicts["CAS-03"].verdict is Verdict.NOT_ASSESSED
    assert "test account" in verdicts["CAS-03"].reason
    assert len(verdicts) == 17


def test_a_check_that_breaks_is_an_error_row_not_a_pass():
    def broken(_evidence):
        raise KeyError("boom")

    meta = CheckMeta("t.broken", "Broken", Severity.LOW, ("CAS-13",), "d", "r")
    rows, findings = evaluate(evidence_set(), [Check(meta, broken)])
    assert [r.status for r in rows] == [CheckStatus.ERROR]
    assert "KeyError" in rows[0].reason and findings == ()


def test_findings_merge_check_and_endpoint_recommendations_and_sort_by_severity():
    low = CheckMeta("t.low", "Low", Severity.LOW, ("CAS-15",), "d", "r")
    crit = CheckMeta("t.crit", "Crit", Severity.CRITICAL, ("CAS-14",), "d", "r")

    def failing(_evidence):
        return [Outcome("http://h:80/owa", CheckStatus.FAIL, "bad", ("E001",), ("CAS-04",), "seen")]

    item = http_evidence(exchange("http://h:80/owa", 200))
    rows, findings = evaluate(evidence_set(item), [Check(low, failing), Check(crit, failing)])
    assert [f.check for f in findings] == ["t.crit", "t.low"]
    assert findings[0].recommendations == ("CAS-14", "CAS-04")
    assert findings[0].observed == "seen" and findings[0].id == "F001"
