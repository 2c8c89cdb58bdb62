"""What a scan document says matches what was observed (issue #16, "Also wrong").

Real scans of lab postures through the CLI: a finding's endpoint and the
evidence it cites agree, the TLS findings name only the Client Access URLs that
answered on that port, and a recommendation's reason names the row deciding it.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest

from casaudit.lab import Lab, parse_posture
from tests.conftest import run_cli

DISCLOSURE_CHECKS = ("exchange.internal_address_disclosure", "exchange.version_disclosed")


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


@pytest.fixture(scope="module")
def proxied() -> Iterator[dict[str, Any]]:
    """exchange2019-proxied: plain HTTP only redirects to HTTPS; HTTPS names its front end."""
    with Lab.start("exchange2019-proxied") as lab:
        run = run_cli("scan", *lab.scan_args(), "--json", "-")
    assert run.code == 1, run.stderr
    yield run.json()


def test_a_disclosure_finding_cites_only_what_its_own_endpoint_answered(proxied):
    evidence = {item["id"]: item for item in proxied["evidence"]}
    findings = [f for f in proxied["findings"] if f["check"] in DISCLOSURE_CHECKS]
    assert {f["check"] for f in findings} == set(DISCLOSURE_CHECKS)
    for finding in findings:
        origin = _origin(finding["endpoint"])
        assert origin.startswith("https://"), finding  # port 80 only ever redirected
        for cited in finding["evidence"]:
            assert _origin(evidence[cited]["endpoint"]) == origin, (finding["check"], cited)
    # Port 80 is judged on its own redirects: nothing internal there, nothing disclosed
    rows = {(r["check"], r["status"]) for r in proxied["checks"]
            if r["check"] in DISCLOSURE_CHECKS and r["endpoint"].startswith("http://")}
    assert rows == {(check, "pass") for check in DISCLOSURE_CHECKS}


def test_tls_findings_on_exchange_2007_name_only_the_services_that_answered(legacy_lab):
    run = run_cli("scan", *legacy_lab.scan_args(), "--json", "-")
    assert run.code == 1, run.stderr
    document = run.json()
    https = f"https://{legacy_lab.host}:{legacy_lab.ports['https']}"
    tls = [f for f in document["findings"] if f["check"].startswith("tls.")]
    on_443 = [f for f in tls if f["endpoint"] == https]
    assert on_443, [f["endpoint"] for f in tls]
    for finding in on_443:
        assert "Outlook Web Access" in finding["observed"], finding["observed"]
    # 2007 has no /ecp, /mapi or /powershell: they answered 404, so no TLS finding names them
    for finding in tls:
        for absent in ("Exchange Control Panel", "MAPI over HTTP", "Remote PowerShell"):
            assert absent not in finding["observed"], (finding["check"], finding["observed"])


def _hardened_without_hsts() -> str:
    """exchange-se-hardened (plain HTTP only redirects to HTTPS) minus its HSTS header."""
    text = (resources.files("casaudit.lab") / "postures" / "exchange-se-hardened.toml").read_text()
    lines = [line for line in text.splitlines() if "Strict-Transport-Security" not in line]
    assert len(lines) < len(text.splitlines())
    return "\n".join(lines).replace('name = "exchange-se-hardened"', 'name = "hardened-no-hsts"')


def test_a_verdict_reason_names_the_row_that_decided_it_and_what_passed():
    with Lab.start(parse_posture(_hardened_without_hsts())) as lab:
        run = run_cli("scan", *lab.scan_args(), "--json", "-")
        https = f"https://{lab.host}:{lab.ports['https']}"
    assert run.code == 0, run.stderr  # low hsts_missing findings only: below --fail-on
    verdicts = {r["id"]: r for r in run.json()["recommendations"]}
    for cas, path in (("CAS-01", "/Microsoft-Server-ActiveSync"), ("CAS-04", "/owa")):
        # The redirect to HTTPS meets the SSL recommendation; only the missing HSTS stands
        assert verdicts[cas]["verdict"] == "partial", verdicts[cas]
        reason = verdicts[cas]["reason"]
        assert reason.startswith(f"decided by http.hsts_missing (low) on {https}{path}; "), reason
        assert "passed: http.cleartext_served on " in reason, reason
