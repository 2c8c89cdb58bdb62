"""casaudit's TLS findings against real nginx (HTTPS and the IMAP/POP3 mail proxy).

Two configurations from tests/interop/nginx/: a legacy one (TLS 1.0/1.1 on,
OpenSSL "ALL" suites at security level 0, no HSTS) and a modern one (TLS 1.2+
ECDHE/AEAD only, HSTS). Five TLS services each: HTTPS, IMAPS, POP3S, STARTTLS
on IMAP and STLS on POP3. The findings must be exactly what each one allows.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.interop.nginx_runner import DOMAIN, HOST, MAIL_MODULE, NginxInstance, NginxServer
from tests.system_packages import ensure_debian_packages

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def nginx() -> str:
    binary = ensure_debian_packages("nginx", "nginx", "libnginx-mod-mail")
    if not Path(MAIL_MODULE).exists():
        pytest.fail(f"nginx is installed without its mail module {MAIL_MODULE}: "
                    "apt-get install libnginx-mod-mail")
    return binary


@pytest.fixture(scope="module")
def legacy_nginx(nginx: str) -> Iterator[NginxInstance]:
    with NginxServer(nginx, "legacy") as instance:
        yield instance


@pytest.fixture(scope="module")
def modern_nginx(nginx: str) -> Iterator[NginxInstance]:
    with NginxServer(nginx, "modern") as instance:
        yield instance


def tls_endpoints(instance: NginxInstance) -> set[str]:
    return {f"{service}://{HOST}:{port}" for service, port in instance.ports.items()}


def scan(instance: NginxInstance, validate_scan) -> dict:
    run = run_cli("scan", *instance.scan_args(), "--timeout", "5", "--json", "-")
    assert run.code in (0, 1), run.stderr
    return validate_scan(run.json())


def findings(document: dict) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for finding in document["findings"]:
        if finding["check"].startswith(("tls.", "http.hsts")):
            found.setdefault(finding["check"], set()).add(finding["endpoint"])
    return found


def test_legacy_nginx_findings_match_its_configuration(legacy_nginx, validate_scan):
    document = scan(legacy_nginx, validate_scan)
    found = findings(document)
    every_service = tls_endpoints(legacy_nginx)
    assert set(found) == {
        "tls.legacy_protocol", "tls.weak_cipher", "tls.no_forward_secrecy", "http.hsts_missing"}
    # The same protocol and cipher settings hold for HTTPS and all four mail services,
    # STARTTLS ones included.
    for check in ("tls.legacy_protocol", "tls.weak_cipher", "tls.no_forward_secrecy"):
        assert found[check] == every_service, check
    # /owa exists (an OWA-like page), every other path is a 404 with nothing to protect.
    assert found["http.hsts_missing"] == {f"https://{HOST}:{legacy_nginx.ports['https']}/owa"}
    evidence = {e["endpoint"]: e for e in document["evidence"] if e["kind"] == "tls"}
    for endpoint in every_service:
        item = evidence[endpoint]
        accepted = [p["version"] for p in item["protocols"] if p["accepted"]]
        assert accepted == ["TLS 1.0", "TLS 1.1", "TLS 1.2"], (endpoint, accepted)
        assert item["certificate"]["trust"] == "trusted"
    assert evidence[f"imap://{HOST}:{legacy_nginx.ports['imap']}"]["starttls"] == "IMAP"
    legacy = next(f for f in document["findings"] if f["check"] == "tls.legacy_protocol"
                  and f["endpoint"].startswith("pop3://"))
    assert "TLS 1.0, TLS 1.1" in legacy["observed"] and legacy["recommendations"][-1] == "CAS-10"
    weak = next(f for f in document["findings"] if f["check"] == "tls.weak_cipher"
                and f["endpoint"].startswith("https://"))
    assert "anonymous" in weak["observed"]


def test_modern_nginx_has_no_tls_finding(modern_nginx, validate_scan):
    document = scan(modern_nginx, validate_scan)
    assert findings(document) == {}
    rows = [r for r in document["checks"] if r["check"].startswith("tls.")]
    assert {r["status"] for r in rows} == {"pass"}
    # every one of the five services and the two other names were judged
    assert {r["endpoint"] for r in rows} == tls_endpoints(modern_nginx) | {
        f"https://autodiscover.{DOMAIN}:{modern_nginx.ports['https']}",
        f"https://{DOMAIN}:{modern_nginx.ports['https']}",
    }
    evidence = [e for e in document["evidence"] if e["kind"] == "tls" and e["scope"] == "full"]
    assert len(evidence) == 5
    for item in evidence:
        assert [p["version"] for p in item["protocols"] if p["accepted"]] == ["TLS 1.2", "TLS 1.3"]


def test_suite_enumeration_finds_what_sslyze_finds_one_suite_at_a_time(legacy_nginx, validate_scan):
    # Given sslyze's own cipher-suite commands, which try every suite it knows one by one
    from sslyze import (
        ProtocolWithOpportunisticTlsEnum,
        ScanCommand,
        Scanner,
        ServerNetworkConfiguration,
        ServerNetworkLocation,
        ServerScanRequest,
    )

    commands = {
        "SSL 2.0": ScanCommand.SSL_2_0_CIPHER_SUITES, "SSL 3.0": ScanCommand.SSL_3_0_CIPHER_SUITES,
        "TLS 1.0": ScanCommand.TLS_1_0_CIPHER_SUITES, "TLS 1.1": ScanCommand.TLS_1_1_CIPHER_SUITES,
        "TLS 1.2": ScanCommand.TLS_1_2_CIPHER_SUITES, "TLS 1.3": ScanCommand.TLS_1_3_CIPHER_SUITES,
    }
    requests = {
        service: ServerScanRequest(
            server_location=ServerNetworkLocation(HOST, legacy_nginx.ports[service], ip_address="127.0.0.1"),
            network_configuration=ServerNetworkConfiguration(
                HOST, tls_opportunistic_encryption=starttls, network_timeout=5),
            scan_commands=set(commands.values()),
        )
        for service, starttls in (("https", None), ("pop3", ProtocolWithOpportunisticTlsEnum.POP3))
    }
    scanner = Scanner()
    scanner.queue_scans(list(requests.values()))
    by_uuid = {request.uuid: service for service, request in requests.items()}
    reference = {}
    for result in scanner.get_results():
        assert result.scan_result is not None
        reference[by_uuid[result.uuid]] = {
            version: {s.cipher_suite.name for s in
                      getattr(result.scan_result, command.value).result.accepted_cipher_suites}
            for version, command in commands.items()
        }
    # When casaudit enumerates by elimination
    document = scan(legacy_nginx, validate_scan)
    evidence = {e["service"]: e for e in document["evidence"]
                if e["kind"] == "tls" and e["scope"] == "full"}
    # Then every version has exactly the same accepted suites
    for service, versions in reference.items():
        found = {p["version"]: {s["name"] for s in p["accepted"]} for p in evidence[service]["protocols"]}
        assert found == versions, service
    assert sum(len(v) for v in reference["https"].values()) > 20
