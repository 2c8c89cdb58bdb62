"""casaudit scan against the lab over real sockets, through the real CLI."""

from __future__ import annotations

import json
import re

from casaudit.exchange import CLIENT_ACCESS_URLS
from casaudit.lab import Lab, parse_posture
from tests.conftest import run_cli

EXCHANGE_PATHS = tuple(url.path for url in CLIENT_ACCESS_URLS)


def _mail_ports_closed(lab):
    """--port for every mail service, at the lab's known-closed port: never 127.0.0.1:110."""
    return [arg for service in ("pop3", "pop3s", "imap", "imaps")
            for arg in ("--port", f"{service}={lab.closed_port}")]


def _findings(document, check):
    return {f["endpoint"] for f in document["findings"] if f["check"] == check}


def test_legacy_posture_fails_on_basic_over_plain_http(legacy_lab, validate_scan):
    run = run_cli("scan", *legacy_lab.scan_args(), "--json", "-")
    assert run.code == 1, run.stderr
    document = validate_scan(run.json())
    http = f"http://{legacy_lab.host}:{legacy_lab.ports['http']}"
    flagged = _findings(document, "http.basic_cleartext")
    # Basic 401s on port 80; /owa serves a form there (another check's business).
    assert flagged == {
        f"{http}/Microsoft-Server-ActiveSync", f"{http}/rpc/rpcproxy.dll",
        f"{http}/EWS/Exchange.asmx", f"{http}/autodiscover/autodiscover.xml",
        f"{http}/public", f"{http}/exchange", f"{http}/exchweb",
    }
    finding = next(f for f in document["findings"] if f["endpoint"].endswith("ActiveSync"))
    assert finding["severity"] == "critical"
    assert finding["recommendations"] == ["CAS-14", "CAS-01"]
    evidence = {e["id"]: e for e in document["evidence"]}[finding["evidence"][0]]
    assert evidence["exchanges"][0]["method"] == "OPTIONS"
    assert "Basic" in evidence["exchanges"][0]["auth_schemes"]
    verdicts = {r["id"]: r["verdict"] for r in document["recommendations"]}
    assert verdicts["CAS-14"] == "not_met" and verdicts["CAS-01"] == "not_met"


def test_hardened_posture_passes_and_follows_redirects_to_https(hardened_lab, validate_scan):
    run = run_cli("scan", *hardened_lab.scan_args(), "--json", "-", "--fail-on", "info")
    assert run.code == 0, run.stderr
    document = validate_scan(run.json())
    assert document["findings"] == []
    # Plain HTTP only redirecting to HTTPS is what each URL's SSL recommendation asks.
    verdicts = {r["id"]: r["verdict"] for r in document["recommendations"]}
    assert {verdicts[cas] for cas in ("CAS-01", "CAS-04", "CAS-06", "CAS-08", "CAS-12")} == {"met"}
    # CAS-14 is met because Negotiate/NTLM without Basic was observed, not for want of answers;
    # CAS-02 because ActiveSync itself was seen without Basic.
    assert verdicts["CAS-14"] == "met" and verdicts["CAS-02"] == "met"
    cas14 = next(r for r in document["recommendations"] if r["id"] == "CAS-14")
    assert cas14["coverage"]["not_assessed"] == 0 and cas14["coverage"]["pass"] > 0
    offered = [r for r in document["checks"] if r["check"] == "http.basic_offered" and r["status"] == "pass"]
    assert any("401 without a Basic challenge (offers Negotiate" in r["reason"] for r in offered), offered
    rows = [r for r in document["checks"] if r["check"] == "http.basic_cleartext"]
    assert len(rows) == len(EXCHANGE_PATHS) and {r["status"] for r in rows} == {"pass"}
    owa = next(e for e in document["evidence"] if e["kind"] == "http"
               and e["endpoint"].startswith("http://") and e["path"] == "/owa")
    statuses = [x["status"] for x in owa["exchanges"]]
    assert statuses[0] == 301 and statuses[-1] == 200
    assert owa["exchanges"][-1]["url"].startswith(f"https://{hardened_lab.host}:")
    assert owa["exchanges"][-1]["tls_version"].startswith("TLS")


def test_port_overrides_name_the_endpoints_and_a_closed_port_is_evidence(hardened_lab):
    # Given the https port overridden and http pointed at a port nothing listens on
    with Lab.start("exchange-se-hardened") as spare:
        closed = spare.ports["http"]
    run = run_cli(
        "scan", hardened_lab.host, "--resolve", f"{hardened_lab.host}:127.0.0.1",
        "--dns-server", hardened_lab.dns_server, "--ca-file", str(hardened_lab.ca_file),
        "--port", f"http={closed}", "--port", f"https={hardened_lab.ports['https']}",
        *_mail_ports_closed(hardened_lab), "--json", "-",
    )
    assert run.code == 0, run.stderr
    document = run.json()
    assert document["targets"][0]["ports"]["http"] == closed
    http = [e for e in document["evidence"] if e["kind"] == "http"]
    plain = [e for e in http if e["scheme"] == "http"]
    assert {e["exchanges"][0]["error"]["kind"] for e in plain} == {"refused"}
    assert all(e["endpoint"].startswith(f"http://{hardened_lab.host}:{closed}/") for e in plain)
    # The NTLM probe leaves a refusing listener after its first URL
    ntlm_plain = [e for e in document["evidence"] if e["kind"] == "ntlm" and e["scheme"] == "http"]
    assert [e["error"]["kind"] for e in ntlm_plain] == ["refused"]
    secure = [e for e in http if e["scheme"] == "https"]
    # 401 challenges, the OWA redirect, 403 on /ecp and /powershell, 404 elsewhere.
    assert {e["exchanges"][0]["status"] for e in secure} == {401, 302, 403, 404}


def test_dns_server_option_resolves_through_the_given_server(legacy_lab):
    args = [legacy_lab.host, "--dns-server", legacy_lab.dns_server,
            "--port", f"http={legacy_lab.ports['http']}",
            "--port", f"https={legacy_lab.ports['https']}", *_mail_ports_closed(legacy_lab),
            "--json", "-"]
    run = run_cli("scan", *args)
    assert run.code == 1, run.stderr
    target = run.json()["targets"][0]
    assert target["addresses"] == ["127.0.0.1"]
    assert target["resolution"].startswith("DNS server 127.0.0.1")


def test_unresolvable_host_is_one_line_and_exit_2(legacy_lab):
    run = run_cli("scan", f"nosuch.{legacy_lab.domain}", "--dns-server", legacy_lab.dns_server)
    assert run.code == 2
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot resolve" in lines[0] and "NXDOMAIN" in lines[0]


def test_bad_input_gets_one_line_and_exit_2(tmp_path):
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate")
    cases = [
        ("scan", "mail.example.test", "--fail-on", "bogus"),
        ("scan", "not a host!"),
        ("scan", "mail.example.test", "--port", "smtp=25"),
        ("scan", "mail.example.test", "--resolve", "mail.example.test"),
        ("scan", "mail.example.test", "--ca-file", str(tmp_path / "missing.pem")),
        ("scan", "mail.example.test", "--resolve", "mail.example.test:127.0.0.1",
         "--ca-file", str(not_pem)),
        ("report", str(not_pem), "--html", str(tmp_path / "x.html")),
    ]
    for args in cases:
        run = run_cli(*args)
        assert run.code == 2, (args, run.stdout, run.stderr)
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("casaudit: error:"), (args, run.stderr)
        assert "Traceback" not in run.stderr


def test_report_rerenders_from_json_alone(legacy_lab, tmp_path):
    scan_json, html_out = tmp_path / "scan.json", tmp_path / "again.html"
    first = run_cli("scan", *legacy_lab.scan_args(), "--json", str(scan_json),
                    "--html", str(tmp_path / "first.html"))
    assert first.code == 1 and "http.basic_cleartext" in first.stdout
    again = run_cli("report", str(scan_json), "--html", str(html_out))
    assert again.code == 0, again.stderr
    html = html_out.read_text()
    assert "http.basic_cleartext" in html and legacy_lab.host in html
    # Seven Basic challenges and one logon form on plain HTTP.
    critical = re.findall(
        r'class="finding critical" id="[^"]+" data-check="[^"]+" data-findings="(\d+)"', html)
    assert sum(int(count) for count in critical) == 8


HOSTILE = r'''
name = "hostile-strings"
summary = "server strings with markup and escapes"
host = "mail.hostile.test"
domain = "hostile.test"
[tls]
names = ["mail.hostile.test"]
[http]
headers = [["Server", "<script>alert('srv')</script>"]]
default = { status = 404, body = "nothing" }
[[http.routes]]
path = "/Microsoft-Server-ActiveSync"
status = 401
reason = "<img src=x onerror=alert(1)>\u001b[31mRED"
headers = [["WWW-Authenticate", "Basic realm=\"<script>alert('realm')</script>\""]]
[[http.routes]]
path = "/owa"
status = 302
headers = [["Location", "http://evil.test/owa"]]
'''


def test_server_strings_render_as_text_and_offsite_redirects_are_not_followed(tmp_path):
    with Lab.start(parse_posture(HOSTILE)) as lab:
        scan_json, html_out = tmp_path / "scan.json", tmp_path / "r.html"
        run = run_cli("scan", *lab.scan_args(), "--json", str(scan_json), "--html", str(html_out))
    assert run.code == 1, run.stderr
    assert "\x1b" not in run.stdout + run.stderr
    html = html_out.read_text()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#39;realm&#39;)&lt;/script&gt;" in html
    document = json.loads(scan_json.read_text())
    owa = next(e for e in document["evidence"]
               if e["kind"] == "http" and e["scheme"] == "http" and e["path"] == "/owa")
    assert len(owa["exchanges"]) == 1
    assert "evil.test" in owa["redirect_stopped"] and "not followed" in owa["redirect_stopped"]


def test_checks_command_lists_the_catalog():
    run = run_cli("checks")
    assert run.code == 0
    assert any(line.split()[:3] == ["http.basic_cleartext", "critical", "CAS-14"]
               for line in run.stdout.splitlines())
