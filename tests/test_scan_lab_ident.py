"""Version, NTLM and internal-address checks against the lab, through the real CLI."""

from __future__ import annotations

import pytest

from casaudit.lab import parse_posture
from tests.conftest import run_cli

CHECKS = (
    "exchange.version_disclosed", "exchange.version_eol", "exchange.known_vulnerable_build",
    "exchange.ntlm_info_disclosure", "exchange.internal_address_disclosure",
)


@pytest.fixture(scope="module")
def legacy_scan(legacy_lab, scan_schema):
    import jsonschema

    run = run_cli("scan", *legacy_lab.scan_args(), "--json", "-")
    assert run.code == 1, run.stderr
    document = run.json()
    jsonschema.validate(document, scan_schema)
    return document


@pytest.fixture(scope="module")
def hardened_scan(hardened_lab, scan_schema):
    import jsonschema

    run = run_cli("scan", *hardened_lab.scan_args(), "--json", "-", "--fail-on", "info")
    assert run.code == 0, run.stderr
    document = run.json()
    jsonschema.validate(document, scan_schema)
    return document


def _rows(document, check):
    return [row for row in document["checks"] if row["check"] == check]


def _findings(document, check):
    return [f for f in document["findings"] if f["check"] == check]


def test_legacy_version_is_identified_disclosed_and_end_of_life(legacy_scan, legacy_lab):
    disclosed = _findings(legacy_scan, "exchange.version_disclosed")
    assert {f["endpoint"] for f in disclosed} == {
        f"http://{legacy_lab.host}:{legacy_lab.ports['http']}",
        f"https://{legacy_lab.host}:{legacy_lab.ports['https']}",
    }
    assert all("Exchange Server 2007 SP1 RU8 (8.1.375.2)" in f["observed"] for f in disclosed)
    assert all("X-OWA-Version header '8.1.375.2'" in f["observed"] for f in disclosed)
    (eol,) = _findings(legacy_scan, "exchange.version_eol")
    assert eol["severity"] == "high" and eol["recommendations"] == ["CAS-16"]
    assert "2017-04-11" in eol["observed"]
    # Exchange 2007 predates ProxyLogon & co: the CVE check passes and says why
    (row,) = _rows(legacy_scan, "exchange.known_vulnerable_build")
    assert row["status"] == "pass" and "not affected" in row["reason"]


def test_legacy_ntlm_challenge_reveals_the_posture_identity(legacy_scan, legacy_lab):
    every = _findings(legacy_scan, "exchange.ntlm_info_disclosure")
    # One per web listener (HTTP and HTTPS); IMAP4's AUTHENTICATE NTLM leaks too (its own test).
    findings = [f for f in every if f["endpoint"].startswith("http")]
    assert len(findings) == 2 and {f["severity"] for f in every} == {"medium"}
    assert {f["endpoint"].split("://")[0] for f in every} - {"http", "https"} <= {"imap", "imaps"}
    for finding in findings:
        for text in ("NetBIOS domain 'CONTOSO'", "NetBIOS computer 'EXCH07CAS01'",
                     "DNS computer 'exch07cas01.corp.contoso-legacy.local'", "Windows 6.0.6001"):
            assert text in finding["observed"]
    evidence = {e["id"]: e for e in legacy_scan["evidence"]}
    item = evidence[findings[0]["evidence"][0]]
    assert item["kind"] == "ntlm" and item["challenge_b64"].startswith("TlRMTVNTUAACAAAA")
    assert item["challenge"]["dns_tree"] == "corp.contoso-legacy.local"
    assert ["Authorization", "NTLM TlRMTVNTUAABAAAAB4IIoAAAAAAAAAAAAAAAAAAAAAA="] in item["request_headers"]
    # One decoded challenge per listener is enough: the probe stopped there
    assert sum(1 for e in legacy_scan["evidence"] if e["kind"] == "ntlm") == 2


def test_legacy_hostless_requests_leak_the_private_address(legacy_scan):
    findings = _findings(legacy_scan, "exchange.internal_address_disclosure")
    assert len(findings) == 2 and {f["severity"] for f in findings} == {"low"}
    assert all("192.168.10.25" in f["observed"] and "no Host header" in f["observed"] for f in findings)
    verdicts = {r["id"]: r["verdict"] for r in legacy_scan["recommendations"]}
    assert verdicts["CAS-15"] == "not_met" and verdicts["CAS-16"] == "not_met"


def test_hardened_posture_stays_quiet_on_every_check(hardened_scan):
    for check in CHECKS:
        rows = _rows(hardened_scan, check)
        assert rows and {r["status"] for r in rows} == {"pass"}, (check, rows)
    (eol,) = _rows(hardened_scan, "exchange.version_eol")
    assert "Exchange Server SE RTM" in eol["reason"] and "no fixed end date" in eol["reason"]


LEAKY_2016 = r'''
name = "leaky-2016"
summary = "2016 CU19 Mar21SU with diagnostic headers, on a non-loopback-looking identity"
host = "mail.leaky.test"
domain = "leaky.test"
[ntlm]
netbios_domain = "LEAKY"
netbios_computer = "EX16"
dns_domain = "leaky.lan"
dns_computer = "ex16.leaky.lan"
dns_tree = "leaky.lan"
os_version = "10.0.14393"
[https]
default = { status = 404, body = "nothing" }
[[https.routes]]
path = "/owa"
status = 200
headers = [["X-OWA-Version", "15.1.2176.9"], ["X-FEServer", "EX16"]]
body = '<link rel="shortcut icon" href="/owa/auth/15.1.2176/themes/resources/favicon.ico">'
[[https.routes]]
path = "/EWS"
status = 401
headers = [["WWW-Authenticate", "Negotiate"], ["WWW-Authenticate", "NTLM"]]
'''


def test_a_proxyshell_era_build_is_critical_and_cites_cve_and_fix():
    from casaudit.lab import Lab

    with Lab.start(parse_posture(LEAKY_2016)) as lab:
        run = run_cli("scan", *lab.scan_args(), "--json", "-")
    assert run.code == 1, run.stderr
    document = run.json()
    (finding,) = _findings(document, "exchange.known_vulnerable_build")
    assert finding["severity"] == "critical"
    assert "CVE-2021-34473" in finding["observed"] and "15.1.2176.12" in finding["observed"]
    (ntlm,) = _findings(document, "exchange.ntlm_info_disclosure")
    assert "Windows 10.0.14393" in ntlm["observed"] and "/EWS/Exchange.asmx" in ntlm["observed"]
    (internal,) = _findings(document, "exchange.internal_address_disclosure")
    assert "X-FEServer" in internal["observed"]
    (eol,) = _findings(document, "exchange.version_eol")
    assert "2025-10-14" in eol["observed"]


def test_a_build_hidden_behind_a_stripping_proxy_is_read_exactly_from_the_export_tool_manifest(
    validate_scan,
):
    from casaudit.lab import Lab

    with Lab.start("exchange2019-stripped") as lab:
        run = run_cli("scan", *lab.scan_args(), "--json", "-")
        requests = lab.requests()
        https = lab.url("https", "")
    assert run.code == 1, run.stderr
    document = validate_scan(run.json())
    # The proxy strips every header naming the build: no answer carries one.
    for item in document["evidence"]:
        for answer in item.get("exchanges") or ():
            assert not [h for h in answer["headers"]
                        if h[0].lower() in ("x-owa-version", "ms-server-activesync")]
    (ident,) = document["identification"]
    assert (ident["build"], ident["exact"], ident["precision"]) == ("15.2.1544.25", True, "exact")
    assert ident["label"] == "Exchange Server 2019 CU14 Apr25HU (15.2.1544.25)"
    manifest_url = (f"{https}/ecp/Current/exporttool/"
                    "microsoft.exchange.ediscovery.exporttool.application")
    exact = [s for s in ident["sightings"] if s["build"] == "15.2.1544.25"]
    assert [(s["url"], s["evidence"], s["removable"]) for s in exact] == [
        (manifest_url, "build-002", True)]
    # The logon page alone would have said only the CU; every sighting names where it came from.
    assert {s["build"] for s in ident["sightings"]} == {"15.2.1544", "15.2.1544.25"}
    assert all(s["url"].startswith(https) and s["evidence"] for s in ident["sightings"])
    (row,) = [r for r in _rows(document, "exchange.version_disclosed") if r["status"] == "fail"]
    assert row["endpoint"] == https and row["evidence"] == ["build-002"]
    # Plain GETs only: no exploit-shaped request (ProxyLogon's x.js, autodiscover.json confusion).
    carriers = [(r.method, r.path) for r in requests if "exporttool" in r.path
                or r.path.lower().startswith("/owa/service.svc")]
    # (in either order: probes run concurrently)
    expected = [("GET", "/owa/service.svc"), ("GET", manifest_url.removeprefix(https))]
    assert sorted(carriers) == sorted(expected)
    assert not [r for r in requests if "x.js" in r.path or "@" in r.path]
