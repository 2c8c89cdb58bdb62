"""scan --targets against several lab instances over real sockets, through the real CLI."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from casaudit.lab import Lab
from casaudit.report import document as doc_io
from tests.conftest import run_cli
from tests.fleet_support import silent_entry, target_entry, tarpit, tarpit_entry, write_targets

FLEET_SCHEMA = doc_io.schema(doc_io.FLEET_SCHEMA_FILE)


def _validate(document, validate_scan):
    jsonschema.validate(document, FLEET_SCHEMA)
    for entry in document["results"]:
        if entry["scan"] is not None:
            validate_scan(entry["scan"])
    return {entry["host"]: entry for entry in document["results"]}


def test_many_hosts_concurrently_with_dead_and_stalled_hosts(
    legacy_lab, hardened_lab, tmp_path, validate_scan
):
    # Given two lab postures, a second legacy lab under another name, an unresolvable
    # host, a host that accepts connections but never answers (deadline 2 s), and a
    # host whose every port refuses
    with Lab.start("exchange2007-legacy") as second, tarpit() as stalled:
        targets = write_targets(
            tmp_path / "targets.toml",
            target_entry(legacy_lab, tags={"customer": "contoso", "site": "paris"}),
            target_entry(hardened_lab),
            target_entry(second, host="mail2.contoso-legacy.test"),
            '[[targets]]\nhost = "mail.gone.test"\n'
            f'dns_server = "{legacy_lab.dns_server}"\n',
            tarpit_entry(stalled, deadline=2),
            silent_entry(),
            defaults="timeout = 20\nconcurrency = 4\ntags = { customer = \"default\" }\n",
        )
        began = time.monotonic()
        # (in two worker processes: the parent alone records and writes)
        run = run_cli("scan", "--targets", str(targets), "--parallel", "6", "--workers", "2", "--db",
                      str(tmp_path / "h.db"), "--json", "-", "--html", str(tmp_path / "html"),
                      timeout=60)
        elapsed = time.monotonic() - began
    # Then every host has an entry, in file order, and the stalled one did not hold the run
    # (3, not 1 for the legacy hosts' critical findings: two hosts were not scanned, one saw nothing)
    assert run.code == 3, run.stderr
    document = run.json()
    hosts = _validate(document, validate_scan)
    assert list(hosts) == [legacy_lab.host, hardened_lab.host, "mail2.contoso-legacy.test",
                           "mail.gone.test", "mail.tarpit.test", "mail.silent.test"]
    # (without it the stalled host alone would take 20 s per step)
    assert elapsed < 14, f"the deadline of 2 s was not honoured: {elapsed:.1f} s"
    # The run's counts are the sum over the hosts that were assessed.
    summed = {severity: 0 for severity in ("critical", "high", "medium", "low", "info")}
    for entry in hosts.values():
        for severity, count in (entry["scan"] or {}).get("summary", {}).get(
                "findings_by_severity", {}).items():
            summed[severity] += count
    assert summed["critical"] > 0
    # Each host's status is its scan's (the engine's), "error" without one; the totals count them
    statuses = {host: entry["status"] for host, entry in hosts.items()}
    for host, entry in hosts.items():
        assert entry["status"] == (entry["scan"]["summary"]["status"] if entry["scan"] else "error"), host
    assert statuses["mail.silent.test"] == "not_assessed"
    assert {statuses[h] for h in (legacy_lab.host, hardened_lab.host, "mail2.contoso-legacy.test")} <= {
        "assessed", "partially_assessed"}
    assert document["summary"] == {
        "hosts": 6, "findings_by_severity": summed, "errors": 2, "not_assessed": 1,
        "assessed": sum(s == "assessed" for s in statuses.values()),
        "partially_assessed": sum(s == "partially_assessed" for s in statuses.values()),
    }, [(h, e["error"]) for h, e in hosts.items()]
    assert hosts["mail.gone.test"]["error"]["kind"] == "target"
    assert "cannot resolve" in hosts["mail.gone.test"]["error"]["detail"]
    assert hosts["mail.tarpit.test"]["error"]["kind"] == "deadline"
    assert hosts["mail.tarpit.test"]["scan"] is None
    assert hosts[legacy_lab.host]["tags"] == {"customer": "contoso", "site": "paris"}
    assert hosts[hardened_lab.host]["tags"] == {"customer": "default"}
    assert hosts[hardened_lab.host]["scan"]["findings"] == []
    second_scan = hosts["mail2.contoso-legacy.test"]["scan"]
    # Its findings name its own host (and the organisation's other client names, where
    # Autodiscover and certificate checks look), never the first host's.
    named = {f["endpoint"].split("/")[2].split(":")[0] for f in second_scan["findings"]}
    assert "mail2.contoso-legacy.test" in named
    assert named <= {"mail2.contoso-legacy.test", "autodiscover.contoso-legacy.test",
                     "contoso-legacy.test"}
    # Hosts ran at once: their scans overlap in time
    legacy, other = hosts[legacy_lab.host], hosts["mail2.contoso-legacy.test"]
    assert legacy["started_at"] < other["finished_at"] and other["started_at"] < legacy["finished_at"]
    # HTML: one report per scanned host and an index naming each host's status and the errors
    index = (tmp_path / "html" / "index.html").read_text()
    assert "mail.tarpit.test" in index and "deadline" in index
    for host, status in statuses.items():
        assert f'<tr data-host="{host}" data-status="{status}">' in index, host
    assert '<td class="status st-not_assessed">not assessed' in index
    assert (tmp_path / "html" / "mail.silent.test.html").is_file()
    assert (tmp_path / "html" / f"{legacy_lab.host}.html").is_file()
    assert not (tmp_path / "html" / "mail.tarpit.test.html").exists()
    # History: one row per host; the silent host's document is kept, but as an error row of
    # kind not_assessed, so a later diff never compares with a scan that saw nothing
    with sqlite3.connect(tmp_path / "h.db") as db:
        rows = {host: (status, kind, kept) for host, status, kind, kept in db.execute(
            "SELECT host, status, error_kind, document_z IS NOT NULL FROM scans")}
    assert rows == {legacy_lab.host: ("assessed", None, 1), hardened_lab.host: ("assessed", None, 1),
                    "mail2.contoso-legacy.test": ("assessed", None, 1),
                    "mail.gone.test": ("error", "target", 0), "mail.tarpit.test": ("error", "deadline", 0),
                    "mail.silent.test": ("error", "not_assessed", 1)}


def test_only_errors_exits_3_and_the_terminal_table_names_them(legacy_lab, tmp_path):
    targets = write_targets(
        tmp_path / "t.toml",
        f'[[targets]]\nhost = "mail.gone.test"\ndns_server = "{legacy_lab.dns_server}"\n',
    )
    run = run_cli("scan", "--targets", str(targets), "--no-history", timeout=30)
    assert run.code == 3, run.stderr
    assert "1 hosts: 0 assessed, 0 partially assessed, 0 not assessed, 1 error\n" in run.stdout
    row = next(line for line in run.stdout.splitlines() if line.startswith("mail.gone.test"))
    assert row.split()[1] == "error" and "target: cannot resolve" in row


def test_rate_limit_spaces_the_requests_to_a_host(hardened_lab, tmp_path):
    # Given 10 requests per second to the host
    run = run_cli("scan", *hardened_lab.scan_args(), "--rate", "10", "--concurrency", "8",
                  "--no-history", "--json", "-", timeout=60)
    assert run.code == 0, run.stderr
    starts = sorted(
        exchange["started_at"] for item in run.json()["evidence"] if item["kind"] == "http"
        for exchange in item["exchanges"]
    )
    # Then even with 8 connections at once, the requests leave at most 10 per second
    # (unpaced, this scan takes a fraction of a second)
    from datetime import datetime

    times = [datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() for s in starts]
    assert len(times) >= 15
    span = times[-1] - times[0]
    assert span >= (len(times) - 1) / 10 - 0.05, (len(times), span)


def _wait_for_scans(db_path: Path, count: int, limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if db_path.exists():
            try:
                with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
                    if db.execute("SELECT count(*) FROM scans").fetchone()[0] >= count:
                        return
            except sqlite3.OperationalError:
                pass
        time.sleep(0.1)
    raise AssertionError(f"fewer than {count} scans in {db_path} after {limit} s")


def test_ctrl_c_ends_the_scan_cleanly_and_writes_what_finished(legacy_lab, hardened_lab, tmp_path):
    # Given two fast hosts and one that never answers within a long deadline
    with tarpit() as stalled:
        targets = write_targets(
            tmp_path / "t.toml", target_entry(legacy_lab), target_entry(hardened_lab),
            tarpit_entry(stalled), defaults="timeout = 30\ndeadline = 120\n",
        )
        db_path, json_path = tmp_path / "h.db", tmp_path / "fleet.json"
        child = subprocess.Popen(
            [sys.executable, "-m", "casaudit", "scan", "--targets", str(targets), "--db", str(db_path),
             "--json", str(json_path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
        )
        try:
            # When the fast hosts are recorded and Ctrl-C arrives
            _wait_for_scans(db_path, 2, 30)
            interrupted_at = time.monotonic()
            child.send_signal(signal.SIGINT)
            stdout, stderr = child.communicate(timeout=15)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    # Then it stops promptly, with code 130, having written what finished
    assert time.monotonic() - interrupted_at < 6
    assert child.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    document = json.loads(json_path.read_text())
    jsonschema.validate(document, FLEET_SCHEMA)
    assert document["interrupted"] is True
    by_host = {e["host"]: e for e in document["results"]}
    for host in (legacy_lab.host, hardened_lab.host):  # finished: the status is their scan's
        assert by_host[host]["status"] in ("assessed", "partially_assessed")
        assert by_host[host]["status"] == by_host[host]["scan"]["summary"]["status"]
    assert by_host["mail.tarpit.test"]["error"]["kind"] == "interrupted"
    assert "interrupted" in stdout
    with sqlite3.connect(db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert {r[0] for r in db.execute("SELECT host FROM scans")} == {legacy_lab.host, hardened_lab.host}


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_is_handled_like_ctrl_c(legacy_lab, tmp_path, workers):
    with tarpit() as stalled:
        targets = write_targets(tmp_path / "t.toml", target_entry(legacy_lab), tarpit_entry(stalled),
                                defaults="timeout = 30\n")
        json_path = tmp_path / "fleet.json"
        env = dict(os.environ)
        child = subprocess.Popen(
            [sys.executable, "-m", "casaudit", "scan", "--targets", str(targets), "--db",
             str(tmp_path / "h.db"), "--json", str(json_path), "--workers", workers],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL, env=env,
        )
        try:
            _wait_for_scans(tmp_path / "h.db", 1, 30)
            child.send_signal(signal.SIGTERM)
            child.communicate(timeout=15)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    assert child.returncode == 130
    totals = json.loads(json_path.read_text())["summary"]
    assert totals["assessed"] + totals["partially_assessed"] == 1 and totals["errors"] == 1
