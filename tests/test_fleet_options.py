"""scan --targets honours every option or refuses it; output paths are checked before any traffic.

Through the real CLI against lab instances on loopback: fleet SARIF/JUnit/CSV/PDF,
--probes and --cert-expiry-days for every host (a target's own keys win), the
options that are for one host only refused in one line, and bad output paths
refused before the first connection (the lab's connection log stays as it was).
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from casaudit.lab import LabInstance
from tests.conftest import ROOT, run_cli
from tests.fleet_support import tarpit, tarpit_entry
from tests.system_packages import ensure_debian_packages
from tests.test_fleet_scan import _wait_for_scans

SARIF_SCHEMA = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())


def lab_entry(lab: LabInstance, *extra: str) -> str:
    """A [[targets]] table that reaches only this lab: its ports (closed ones for services it
    lacks), its names pinned, its DNS server."""
    pins = ", ".join(f'"{name}:{lab.address}"' for name in lab.names)
    ports = ", ".join(f"{service} = {port}" for service, port in lab.target_ports().items())
    return "\n".join([
        "[[targets]]", f'host = "{lab.host}"', f"resolve = [{pins}]", f"ports = {{ {ports} }}",
        f'ca_file = "{lab.ca_file}"', f'dns_server = "{lab.dns_server}"', *extra,
    ]) + "\n"


def gone_entry(lab: LabInstance) -> str:
    """A host the lab's DNS server does not know: an error entry, never scanned."""
    return f'[[targets]]\nhost = "mail.gone.test"\ndns_server = "{lab.dns_server}"\n'


def write_targets(path: Path, *entries: str) -> Path:
    path.write_text("[defaults]\ntimeout = 5\n\n" + "\n".join(entries), encoding="utf-8")
    return path


def one_line_error(run, *needles: str) -> str:
    assert run.code == 2, (run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("casaudit: error: "), run.stderr
    assert "Traceback" not in run.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def chromium() -> str:
    return ensure_debian_packages("chromium", "chromium")


# --------------------------------------------------------------------------- item 1: formats


def test_fleet_writes_one_sarif_junit_and_csv_and_a_pdf_per_host(legacy_lab, hardened_lab, tmp_path,
                                                                  chromium):
    # Given two lab hosts and one that cannot be resolved
    targets = write_targets(tmp_path / "t.toml", lab_entry(legacy_lab), gone_entry(legacy_lab),
                            lab_entry(hardened_lab))
    out = {name: tmp_path / name for name in ("fleet.json", "fleet.sarif", "fleet.xml", "fleet.csv")}
    # When the fleet is scanned with every report format
    run = run_cli("scan", "--targets", str(targets), "--no-history", "--json", str(out["fleet.json"]),
                  "--sarif", str(out["fleet.sarif"]), "--junit", str(out["fleet.xml"]),
                  "--csv", str(out["fleet.csv"]), "--pdf", str(tmp_path / "pdf"),
                  env={"CASAUDIT_CHROMIUM": chromium}, timeout=240)
    assert run.code == 3, run.stderr  # the unresolvable host
    for label in ("SARIF report", "JUnit report", "CSV report", "PDF reports"):
        assert f"{label}: " in run.stdout
    fleet = {e["host"]: e for e in json.loads(out["fleet.json"].read_text())["results"]}
    hosts = [legacy_lab.host, "mail.gone.test", hardened_lab.host]
    legacy_findings = fleet[legacy_lab.host]["scan"]["findings"]
    assert legacy_findings

    # Then SARIF: one valid log, one run per host in file order, each what that host's scan renders
    log = json.loads(out["fleet.sarif"].read_text())
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    runs = log["runs"]
    assert [r["properties"]["targets"] for r in runs] == [[host] for host in hosts]
    assert len(runs[0]["results"]) == len(legacy_findings)
    assert runs[0]["invocations"][0]["executionSuccessful"] is True
    assert runs[2]["results"] == [] and runs[2]["tool"]["driver"]["rules"]
    # the host that could not be scanned: an unsuccessful invocation saying why
    gone = runs[1]["invocations"][0]
    assert gone["executionSuccessful"] is False
    assert "cannot resolve" in gone["toolExecutionNotifications"][0]["message"]["text"]

    # JUnit: one <testsuites>, each host's suites named by hostname, the counts summed
    root = ET.fromstring(out["fleet.xml"].read_text())
    assert root.tag == "testsuites"
    suites = list(root)
    assert [s.get("hostname") for s in suites].count("mail.gone.test") == 1
    assert {s.get("hostname") for s in suites} == set(hosts)
    for key in ("tests", "failures", "errors", "skipped"):
        assert int(root.get(key)) == sum(int(s.get(key)) for s in suites), key
    failures = [s for s in suites if s.get("hostname") == legacy_lab.host]
    assert sum(int(s.get("failures")) for s in failures) == len(legacy_findings)
    errored = next(s for s in suites if s.get("hostname") == "mail.gone.test")
    assert errored.get("name") == "casaudit.host"
    assert errored.find("testcase/error").get("type") == "target"

    # CSV: one header line, the rows of every host with a host column
    data = out["fleet.csv"].read_bytes()
    assert data.startswith(b"\xef\xbb\xbfid,severity,check") and data.count(b"id,severity,check") == 1
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert len(rows) == sum(len(e["scan"]["findings"]) for e in fleet.values() if e["scan"])
    assert {row["host"] for row in rows} <= {legacy_lab.host, hardened_lab.host}
    assert sum(row["host"] == legacy_lab.host for row in rows) == len(legacy_findings)

    # PDF: a directory with one PDF per scanned host, named like the per-host HTML
    pdfs = sorted(path.name for path in (tmp_path / "pdf").iterdir())
    assert pdfs == sorted([f"{legacy_lab.host}.pdf", f"{hardened_lab.host}.pdf"])
    assert (tmp_path / "pdf" / f"{legacy_lab.host}.pdf").read_bytes()[:5] == b"%PDF-"


def test_after_ctrl_c_the_fleet_files_hold_the_hosts_that_finished(legacy_lab, tmp_path):
    # Given a fast host and one that never answers within a long deadline
    with tarpit() as stalled:
        targets = write_targets(tmp_path / "t.toml", lab_entry(legacy_lab), tarpit_entry(stalled))
        sarif_path, junit_path, csv_path = tmp_path / "f.sarif", tmp_path / "f.xml", tmp_path / "f.csv"
        child = subprocess.Popen(
            [sys.executable, "-m", "casaudit", "scan", "--targets", str(targets), "--db",
             str(tmp_path / "h.db"), "--timeout", "30", "--sarif", str(sarif_path), "--junit",
             str(junit_path), "--csv", str(csv_path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
        )
        try:
            # When the fast host is recorded and Ctrl-C arrives
            _wait_for_scans(tmp_path / "h.db", 1, 60)
            child.send_signal(signal.SIGINT)
            _, stderr = child.communicate(timeout=15)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    # Then the files are written: the finished host's run, suites and rows, the other interrupted
    assert child.returncode == 130, stderr
    runs = json.loads(sarif_path.read_text())["runs"]
    assert [r["properties"]["targets"] for r in runs] == [[legacy_lab.host], ["mail.tarpit.test"]]
    assert runs[0]["results"] and runs[1]["invocations"][0]["executionSuccessful"] is False
    assert "interrupted" in runs[1]["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"]
    errored = [s for s in ET.fromstring(junit_path.read_text()) if s.get("hostname") == "mail.tarpit.test"]
    assert [s.find("testcase/error").get("type") for s in errored] == ["interrupted"]
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text(encoding="utf-8-sig"))))
    assert len(rows) == len(runs[0]["results"]) and {r["host"] for r in rows} == {legacy_lab.host}


# --------------------------------------------------------------------------- item 1: scan options


def test_probes_cert_expiry_and_email_reach_every_host_and_a_targets_own_keys_win(
        legacy_lab, hardened_lab, tmp_path):
    # Given a target with its own probes and mailbox, and one with neither
    targets = write_targets(
        tmp_path / "t.toml",
        lab_entry(legacy_lab),
        lab_entry(hardened_lab, 'probes = ["http"]', "cert_expiry_days = 7",
                  'email = "someone@Other.Test"'),
    )
    # When the command line asks for TLS only and a 3650-day expiry window
    run = run_cli("scan", "--targets", str(targets), "--no-history", "--json", "-",
                  "--probes", "tls", "--cert-expiry-days", "3650", timeout=120)
    assert run.code in (0, 1), run.stderr
    scans = {e["host"]: e for e in run.json()["results"]}
    # Then the command line reaches the first host (it used to be dropped)
    first = scans[legacy_lab.host]["scan"]
    assert first["options"]["probes"] == ["tls"] and first["options"]["cert_expiry_days"] == 3650
    assert {item["kind"] for item in first["evidence"]} == {"tls"}
    # and the target's own keys win over it; its mail domain follows its email, as with --email
    second = scans[hardened_lab.host]
    assert second["scan"]["options"]["probes"] == ["http"]
    assert second["scan"]["options"]["cert_expiry_days"] == 7
    assert second["domain"] == "other.test" and second["scan"]["targets"][0]["domain"] == "other.test"


@pytest.mark.parametrize(("args", "needles"), [
    (("--domain", "example.test"), ("--domain", "per target")),
    (("--email", "a@example.test"), ("--email", "per target")),
    (("--authenticated",), ("--authenticated", "single-host")),
])
def test_single_host_options_are_refused_with_targets(legacy_lab, tmp_path, args, needles):
    targets = write_targets(tmp_path / "t.toml", gone_entry(legacy_lab))
    run = run_cli("scan", "--targets", str(targets), "--no-history", *args, timeout=30,
                  env={"CASAUDIT_PASSWORD": "not-sent"})
    one_line_error(run, *needles)
    assert run.stdout == ""


@pytest.mark.parametrize("option", ["--workers", "--parallel"])
def test_fleet_options_are_refused_without_targets(hardened_lab, option):
    before = len(hardened_lab.connections())
    run = run_cli("scan", *hardened_lab.scan_args(), "--no-history", option, "2", timeout=60)
    one_line_error(run, option, "--targets")
    assert len(hardened_lab.connections()) == before


# --------------------------------------------------------------------------- item 5: output paths


def _bad_paths(tmp_path: Path) -> dict[str, Path]:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    (tmp_path / "a-dir").mkdir()
    return {"missing": tmp_path / "no-such-dir" / "out", "directory": tmp_path / "a-dir",
            "under a file": a_file / "out"}


@pytest.mark.parametrize("option", ["--json", "--html", "--sarif", "--junit", "--csv"])
@pytest.mark.parametrize("kind", ["missing", "directory", "under a file"])
def test_a_bad_output_path_is_refused_before_any_traffic(legacy_lab, tmp_path, option, kind):
    path = _bad_paths(tmp_path)[kind]
    other_output = tmp_path / "other-output"
    before = len(legacy_lab.connections())
    began = time.monotonic()
    run = run_cli("scan", *legacy_lab.scan_args(), "--no-history", "--json" if option != "--json"
                  else "--sarif", str(other_output), option, str(path), timeout=120)
    one_line_error(run, option, str(path))
    # (the scan of this lab takes seconds; the refusal is the interpreter's start-up)
    assert time.monotonic() - began < 5
    assert len(legacy_lab.connections()) == before, "the scan ran before the path was checked"
    assert not other_output.exists(), "a file was left behind"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write a read-only file")
def test_a_read_only_output_file_is_refused_before_any_traffic(legacy_lab, tmp_path):
    locked = tmp_path / "locked.json"
    locked.write_text("keep")
    locked.chmod(0o444)
    before = len(legacy_lab.connections())
    run = run_cli("scan", *legacy_lab.scan_args(), "--no-history", "--json", str(locked))
    one_line_error(run, "--json", str(locked))
    assert len(legacy_lab.connections()) == before and locked.read_text() == "keep"


@pytest.mark.parametrize(("option", "kind"), [
    ("--json", "missing"), ("--json", "directory"), ("--sarif", "under a file"), ("--csv", "missing"),
    ("--junit", "directory"), ("--pdf", "under a file"),
])
def test_fleet_output_paths_are_checked_before_any_traffic(legacy_lab, tmp_path, option, kind, chromium):
    path = _bad_paths(tmp_path)[kind]
    targets = write_targets(tmp_path / "t.toml", lab_entry(legacy_lab))
    before = len(legacy_lab.connections())
    run = run_cli("scan", "--targets", str(targets), "--no-history", option, str(path),
                  "--html" if option != "--html" else "--junit", str(tmp_path / "reports"), timeout=120,
                  env={"CASAUDIT_CHROMIUM": chromium})
    one_line_error(run, option, str(path))
    assert len(legacy_lab.connections()) == before, "the scan ran before the path was checked"
    assert not (tmp_path / "reports").exists()


def test_report_checks_every_output_before_writing_any(tmp_path):
    from tests.scan_documents import not_assessed_document

    scan = tmp_path / "scan.json"
    scan.write_text(json.dumps(not_assessed_document()))
    page = tmp_path / "r.html"
    run = run_cli("report", str(scan), "--html", str(page), "--sarif", str(tmp_path / "none" / "r.sarif"))
    one_line_error(run, "--sarif", "no such directory")
    assert not page.exists()

