"""What a scan document says matches what was observed (issue #16, "Also wrong").

Real scans of lab postures through the CLI: a finding's endpoint and the
evidence it cites agree, the TLS findings name only the Client Access URLs that
answered on that port, and a recommendation's reason names the row deciding it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from casaudit.lab import Lab
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
