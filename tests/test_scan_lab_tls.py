"""TLS checks against the lab over real sockets: each flaw fires where it is, and nowhere else."""

from __future__ import annotations

import socket

import pytest

from casaudit.api import ScanOptions, audit
from casaudit.lab import Lab, LabInstance, parse_posture
from casaudit.plan import DEFAULT_PORTS, Target
from tests.conftest import run_cli

#: Checks that look at TLS; the lab cannot be vulnerable to Heartbleed, ROBOT, CCS
#: injection, insecure renegotiation or compression (its OpenSSL is not), so those
#: checks must pass everywhere here and fire only in the unit tests.
TLS_FAMILY = ("tls.", "http.hsts_missing")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scan(lab: LabInstance, probes: tuple[str, ...] = ("tls",), **options):
    ports = dict(DEFAULT_PORTS)
    ports.update(lab.ports)
    for service in ("imap", "imaps", "pop3", "pop3s"):
        ports[service] = closed_port()  # nothing listens: the probe must stay quiet
    return audit(
        Target(lab.host, lab.domain, ports),
        ScanOptions(pins={name: lab.address for name in lab.names}, ca_file=lab.ca_file,
                    timeout=5, probes=probes, **options),
    )


def failing(result) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for finding in result.findings:
        if finding.check.startswith(TLS_FAMILY):
            found.setdefault(finding.check, set()).add(finding.endpoint)
    return found


def posture(flaw: str, tls: str, names: str = "") -> str:
    names = names or '"mail.flaw.test", "autodiscover.flaw.test", "flaw.test"'
    return f'''
name = "tls-{flaw}"
summary = "one TLS flaw: {flaw}"
host = "mail.flaw.test"
domain = "flaw.test"
[tls]
names = [{names}]
{tls}
[https]
headers = [["Strict-Transport-Security", "max-age=31536000"]]
default = {{ status = 404, body = "nothing here" }}
'''


# (flaw, [tls] settings, names, the only TLS checks that may fail)
FLAWS = [
    ("expired", "starts_days = -400\nvalid_days = 365", "", {"tls.cert_expired"}),
    ("not-yet-valid", "starts_days = 10", "", {"tls.cert_expired"}),
    ("expiring", "starts_days = -355\nvalid_days = 365", "", {"tls.cert_expiring"}),
    ("weak-key", "key_bits = 1024", "", {"tls.cert_weak_key"}),
    ("sha1", 'signature_hash = "sha1"', "", {"tls.cert_weak_signature"}),
    ("self-signed", 'issuer = "self"', "", {"tls.cert_untrusted"}),
    ("incomplete-chain", 'issuer = "intermediate"\nsend_intermediate = false', "",
     {"tls.cert_untrusted"}),
    ("name-mismatch", "", '"webmail.flaw.test"', {"tls.cert_name_mismatch"}),
    ("tls10-11", 'min_version = "TLSv1"', "", {"tls.legacy_protocol"}),
    ("anonymous-suites", 'ciphers = "ECDHE-RSA-AES128-GCM-SHA256:AECDH-AES128-SHA"', "",
     {"tls.weak_cipher"}),
    ("static-rsa", 'ciphers = "ECDHE-RSA-AES128-GCM-SHA256:AES128-GCM-SHA256"', "",
     {"tls.no_forward_secrecy"}),
]


@pytest.mark.parametrize("flaw, settings, names, expected", FLAWS, ids=[f[0] for f in FLAWS])
def test_each_flaw_fires_alone(flaw, settings, names, expected):
    with Lab.start(parse_posture(posture(flaw, settings, names))) as lab:
        result = scan(lab)
    found = failing(result)
    assert set(found) == expected, found
    https = f"https://{lab.host}:{lab.ports['https']}"
    assert https in next(iter(found.values()))
    if flaw == "name-mismatch":
        # every name clients use is checked, and each fails on its own
        assert found["tls.cert_name_mismatch"] == {
            https, https.replace(lab.host, "autodiscover.flaw.test"),
            https.replace(lab.host, "flaw.test"),
        }


SSL3_RANGE = """
[tls.tlslite]
services = ["https"]
min_version = "SSLv3"
max_version = "TLSv1"
suites = ["TLS_RSA_WITH_RC4_128_SHA", "TLS_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_RSA_WITH_AES_128_CBC_SHA"]
"""


def test_ssl3_rc4_and_3des_served_by_tlslite_are_named_per_version():
    # Given an HTTPS listener that only speaks SSL 3.0 and TLS 1.0 (tlslite-ng)
    with Lab.start(parse_posture(posture("ssl3", SSL3_RANGE))) as lab:
        result = scan(lab)
    https = f"https://{lab.host}:{lab.ports['https']}"
    # Then: the legacy versions and weak suites, and static RSA, are the only TLS findings
    assert failing(result) == {check: {https} for check in (
        "tls.legacy_protocol", "tls.weak_cipher", "tls.no_forward_secrecy")}
    observed = {f.check: f.observed for f in result.findings}
    # (only TLS was probed, so no Client Access URL is named as answering on the port)
    unprobed = "; which Client Access URLs answer on this port was not probed"
    assert observed["tls.legacy_protocol"].endswith(
        "completes handshakes with SSL 3.0, TLS 1.0" + unprobed)
    assert observed["tls.weak_cipher"].endswith(
        "SSL 3.0: TLS_RSA_WITH_3DES_EDE_CBC_SHA (3DES), TLS_RSA_WITH_RC4_128_SHA (RC4); "
        "TLS 1.0: TLS_RSA_WITH_3DES_EDE_CBC_SHA (3DES), TLS_RSA_WITH_RC4_128_SHA (RC4)" + unprobed)
    statuses = {r.check: r.status.value for r in result.checks
                if r.check.startswith("tls.") and r.endpoint == https}
    assert {statuses[c] for c in statuses if c.startswith("tls.vuln.")} == {"pass"}
    assert statuses["tls.no_fallback_scsv"] == "pass"


def test_incomplete_chain_and_self_signed_are_named():
    settings = 'issuer = "intermediate"\nsend_intermediate = false'
    with Lab.start(parse_posture(posture("incomplete", settings))) as lab:
        result = scan(lab)
    finding = next(f for f in result.findings if f.check == "tls.cert_untrusted")
    assert "incomplete chain" in finding.observed and "issuing CA" in finding.observed
    assert finding.recommendations == ("CAS-13", "CAS-17")
    # Only TLS was probed: no Client Access URL is claimed to share the service
    assert "Outlook Web Access" not in finding.observed
    assert finding.observed.endswith("which Client Access URLs answer on this port was not probed")


def test_expiry_threshold_option_reaches_the_check():
    settings = "starts_days = -355\nvalid_days = 365"
    with Lab.start(parse_posture(posture("expiring", settings))) as lab:
        quiet = scan(lab, cert_expiry_days=5)
    assert failing(quiet) == {}
    assert quiet.options["cert_expiry_days"] == 5
    row = next(r for r in quiet.checks if r.check == "tls.cert_expiring")
    assert "warning period 5 days" in row.reason


def test_hardened_posture_is_clean_with_every_name_checked(hardened_lab, validate_scan):
    run = run_cli("scan", *hardened_lab.scan_args(), "--json", "-", "--fail-on", "info")
    assert run.code == 0, run.stderr
    document = validate_scan(run.json())
    assert document["findings"] == []
    tls = [e for e in document["evidence"] if e["kind"] == "tls"]
    https = [e for e in tls if e["service"] == "https" and e["error"] is None]
    assert {e["host"] for e in https} == set(hardened_lab.names)
    host = next(e for e in https if e["name_role"] == "host")
    assert host["scope"] == "full" and host["client_auth"] == "disabled"
    assert [p["version"] for p in host["protocols"] if p["accepted"]] == ["TLS 1.2", "TLS 1.3"]
    assert host["certificate"]["trust"] == "trusted" and host["certificate"]["path_length"] == 2
    assert {e["scope"] for e in https if e["name_role"] != "host"} == {"certificate"}
    rows = {(r["check"], r["status"]) for r in document["checks"] if r["check"].startswith("tls.")}
    assert {status for _, status in rows} == {"pass", "not_applicable"}
    # not applicable only where nothing listens: the hardened host serves no POP3/IMAP4
    absent = {r["endpoint"].split(":")[0] for r in document["checks"]
              if r["check"].startswith("tls.") and r["status"] == "not_applicable"}
    # (the lab points every absent service at one closed port, which is scanned once)
    assert absent and absent <= {"imaps", "pop3s", "imap", "pop3"}
    assert {("tls.legacy_protocol", "pass"), ("tls.weak_cipher", "pass")} <= rows
    assert {check for check, _ in rows} >= {
        "tls.vuln.heartbleed", "tls.vuln.robot", "tls.vuln.ccs_injection",
        "tls.vuln.insecure_renegotiation", "tls.vuln.compression", "tls.no_fallback_scsv",
    }


def test_legacy_posture_shows_its_2007_era_tls(legacy_lab, validate_scan):
    run = run_cli("scan", *legacy_lab.scan_args(), "--json", "-")
    assert run.code == 1, run.stderr
    document = validate_scan(run.json())
    found: dict[str, set[str]] = {}
    for f in document["findings"]:
        if f["check"].startswith(TLS_FAMILY):
            found.setdefault(f["check"], set()).add(f["endpoint"])
    https = f"https://{legacy_lab.host}:{legacy_lab.ports['https']}"
    assert set(found) == {
        "tls.legacy_protocol", "tls.weak_cipher", "tls.no_forward_secrecy",
        "tls.cert_weak_signature", "tls.cert_name_mismatch", "http.hsts_missing",
    }
    # The 2007 host's mail services share its Schannel settings, STARTTLS ones included.
    mail = {f"{service}://{legacy_lab.host}:{legacy_lab.ports[service]}"
            for service in ("imaps", "pop3s", "imap", "pop3") if service in legacy_lab.ports}
    assert len(mail) == 4
    assert found["tls.legacy_protocol"] == {https} | mail
    assert found["tls.weak_cipher"] == {https} | mail
    # SSL 3.0, RC4 and 3DES (served by tlslite-ng) seen by sslyze's legacy client on every port
    by_endpoint = {(f["check"], f["endpoint"]): f["observed"] for f in document["findings"]}
    for endpoint in {https} | mail:
        assert "with SSL 3.0, TLS 1.0, TLS 1.1" in by_endpoint["tls.legacy_protocol", endpoint]
        weak = by_endpoint["tls.weak_cipher", endpoint]
        for version in ("SSL 3.0", "TLS 1.0", "TLS 1.1", "TLS 1.2"):
            assert (f"{version}: TLS_RSA_WITH_3DES_EDE_CBC_SHA (3DES), TLS_RSA_WITH_RC4_128_MD5 "
                    "(RC4), TLS_RSA_WITH_RC4_128_SHA (RC4)") in weak
    starttls = [e for e in document["evidence"] if e["kind"] == "tls" and e["starttls"]]
    assert len(starttls) == 2 and {e["starttls_offered"] for e in starttls} == {True}
    evidence = next(e for e in document["evidence"] if e["kind"] == "tls" and e["endpoint"] == https)
    accepted = {p["version"]: {s["name"] for s in p["accepted"]} for p in evidence["protocols"]}
    # Schannel's list, no more: no ECDHE in SSL 3.0, no RC4/3DES with ECDHE, no SHA-256 before 1.2
    assert accepted["SSL 3.0"] == accepted["TLS 1.0"] - {
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"} == {
        "TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_AES_256_CBC_SHA", "TLS_RSA_WITH_RC4_128_SHA",
        "TLS_RSA_WITH_RC4_128_MD5", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"}
    assert len(accepted["TLS 1.2"]) == 11 and not accepted["TLS 1.3"] and not accepted["SSL 2.0"]
    # every sslyze command completed against tlslite-ng: the vulnerability checks pass
    rows = {(r["check"], r["endpoint"]): r["status"] for r in document["checks"]}
    for check in ("tls.vuln.heartbleed", "tls.vuln.robot", "tls.vuln.ccs_injection",
                  "tls.vuln.insecure_renegotiation", "tls.vuln.compression",
                  "tls.no_fallback_scsv"):
        assert {rows[check, endpoint] for endpoint in {https} | mail} == {"pass"}, check
    assert found["tls.cert_name_mismatch"] == {
        https.replace(legacy_lab.host, f"autodiscover.{legacy_lab.domain}"),
        https.replace(legacy_lab.host, legacy_lab.domain),
    }
    assert f"{https}/owa" in found["http.hsts_missing"]
    assert all(endpoint.startswith(f"{https}/") for endpoint in found["http.hsts_missing"])
    mismatch = next(f for f in document["findings"] if f["check"] == "tls.cert_name_mismatch")
    assert mismatch["recommendations"] == ["CAS-13", "CAS-17", "CAS-11"]


def test_closed_and_unresolvable_services_are_evidence_not_crashes(hardened_lab, legacy_lab):
    # Given an https port nothing listens on, the host pinned, and the other names asked
    # of a DNS server that refuses them (the other lab's, authoritative elsewhere); the
    # host's POP3 STLS (the legacy lab's listener) answers, so the closed ports are facts
    # about a host that answers
    closed = closed_port()
    run = run_cli(
        "scan", hardened_lab.host, "--resolve", f"{hardened_lab.host}:127.0.0.1",
        "--dns-server", legacy_lab.dns_server, "--timeout", "2", "--probes", "tls",
        "--port", f"https={closed}", "--port", f"imaps={closed_port()}",
        "--port", f"pop3={legacy_lab.ports['pop3']}", "--json", "-",
    )
    assert run.code in (0, 1), run.stderr
    document = run.json()
    assert document["summary"]["status"] != "not_assessed"
    tls = {e["endpoint"]: e for e in document["evidence"]}
    assert tls[f"https://{hardened_lab.host}:{closed}"]["error"]["kind"] == "refused"
    auto = tls[f"https://autodiscover.{hardened_lab.domain}:{closed}"]
    assert auto["error"]["kind"] == "dns"
    rows = [r for r in document["checks"] if r["endpoint"].startswith("imaps://")]
    # A refused port, mail or https, is a not_applicable row: nothing there to judge.
    assert rows and {r["status"] for r in rows} == {"not_applicable"}
    untrusted = {r["endpoint"]: r["status"] for r in document["checks"]
                 if r["check"] == "tls.cert_untrusted"}
    assert untrusted[f"https://{hardened_lab.host}:{closed}"] == "not_applicable"
    # the unresolvable names stay the name check's alone
    assert not any(endpoint.startswith("https://autodiscover.") for endpoint in untrusted)


NO_STARTTLS = """
[imap]
greeting = "* OK IMAP4 ready"
capabilities = ["IMAP4rev1", "LOGINDISABLED"]

[pop3]
greeting = "+OK POP3 ready"
capabilities = ["TOP", "UIDL", "USER"]
"""


def test_a_cleartext_port_without_starttls_has_no_tls_to_judge(validate_scan):
    # Given IMAP4 on 143 and POP3 on 110 that refuse STARTTLS/STLS
    with Lab.start(parse_posture(posture("no-starttls", "") + NO_STARTTLS)) as lab:
        ports = dict(DEFAULT_PORTS)
        ports.update(lab.ports)
        for service in ("imaps", "pop3s"):
            ports[service] = closed_port()
        result = audit(
            Target(lab.host, lab.domain, ports),
            ScanOptions(pins={name: lab.address for name in lab.names}, ca_file=lab.ca_file,
                        timeout=5, probes=("tls", "mail")),
        )
    validate_scan(result.to_dict())
    evidence = {e.service: e for e in result.evidence.items if getattr(e, "kind", "") == "tls"}
    for service in ("imap", "pop3"):
        # Then the TLS evidence says structurally that the upgrade was refused,
        assert evidence[service].starttls_offered is False, evidence[service]
        endpoint = evidence[service].endpoint
        rows = {r.check: r for r in result.checks if r.endpoint == endpoint}
        # its TLS rows have nothing to judge, and the missing STARTTLS is the mail check's finding.
        assert {r.status.value for c, r in rows.items() if c.startswith("tls.")} == {"not_applicable"}
        assert rows["mail.starttls_missing"].status.value == "fail"
    assert evidence["https"].starttls_offered is None


def test_a_host_whose_every_tls_port_refuses_is_not_assessed(hardened_lab, legacy_lab):
    # Given only closed TLS ports: a closed port proves nothing when nothing else answers
    closed = closed_port()
    run = run_cli(
        "scan", hardened_lab.host, "--resolve", f"{hardened_lab.host}:127.0.0.1",
        "--dns-server", legacy_lab.dns_server, "--timeout", "2", "--probes", "tls",
        *(arg for service in ("https", "imaps", "pop3s", "imap", "pop3")
          for arg in ("--port", f"{service}={closed}")), "--json", "-",
    )
    assert run.code == 3, run.stderr
    document = run.json()
    assert document["summary"]["status"] == "not_assessed"
    assert {r["status"] for r in document["checks"]} <= {"not_assessed"}
    assert not any(r["verdict"] in ("met", "not_applicable") for r in document["recommendations"])


def test_probes_option_rejects_unknown_families():
    run = run_cli("scan", "mail.example.test", "--probes", "tls,smtp")
    assert run.code == 2 and "--probes" in run.stderr and "Traceback" not in run.stderr
