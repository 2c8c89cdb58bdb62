"""History, diff and --diff-only across scans of a lab whose posture changes between runs."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import textwrap
import time

from casaudit.diff import diff_documents, finding_identity
from casaudit.lab import Lab, parse_posture
from tests.conftest import run_cli
from tests.fleet_support import DRIFT_AFTER, DRIFT_BEFORE, target_entry, write_targets

HOST = "mail.drift.test"


def _scan_posture(posture_text, tmp_path, db, *extra):
    with Lab.start(parse_posture(posture_text)) as lab:
        targets = write_targets(tmp_path / "t.toml", target_entry(lab))
        # Only the HTTP probe: the drift is in what plain-HTTP URLs offer.
        return run_cli("scan", "--targets", str(targets), "--db", db,
                       "--probes", "http", *extra, timeout=60)


def test_history_diff_and_diff_only_follow_a_posture_change(tmp_path, history_db):
    # (in SQLite and in PostgreSQL)
    # Given a first scan: Basic in clear on ActiveSync and EWS
    first = _scan_posture(DRIFT_BEFORE, tmp_path, history_db)
    assert first.code == 1, first.stderr
    assert HOST in first.stdout
    # When the same posture is scanned again (another lab, other ports) with --diff-only
    again = _scan_posture(DRIFT_BEFORE, tmp_path, history_db, "--diff-only")
    # Then nothing is new: exit 0 although two critical findings stand
    assert again.code == 0, again.stdout + again.stderr
    assert "new findings since each host's previous scan: 0" in again.stdout
    # When the posture changes: ActiveSync fixed, EWS adds NTLM, Autodiscover opens Basic
    after = _scan_posture(DRIFT_AFTER, tmp_path, history_db, "--diff-only", "--json", "-")
    assert after.code == 1, after.stderr
    entry = after.json()["results"][0]
    findings = {f["id"]: f for f in entry["scan"]["findings"]}
    # (judged on http.basic_cleartext; the other web checks drift along with it)
    basic = "http.basic_cleartext"
    new = [findings[i]["endpoint"] for i in entry["diff"]["new"] if findings[i]["check"] == basic]
    assert len(new) == 1 and new[0].endswith("/autodiscover/autodiscover.xml")
    changed = [c for c in entry["diff"]["changed"] if findings[c["id"]]["check"] == basic]
    assert [findings[c["id"]]["endpoint"].endswith("/EWS/Exchange.asmx") for c in changed] == [True]
    assert "offering Basic over" in changed[0]["was"]["observed"]
    resolved = [r for r in entry["diff"]["resolved"] if r["check"] == basic]
    assert [r["endpoint"].endswith("/Microsoft-Server-ActiveSync") for r in resolved] == [True]
    assert entry["diff"]["previous"]["history_id"] == 2
    # And `casaudit diff` (latest two of each host) says the same, exiting 1 on the new critical
    diff = run_cli("diff", "--db", history_db)
    assert diff.code == 1, diff.stderr
    lines = diff.stdout.splitlines()
    assert lines[0].startswith(f"{HOST}: scan 2 (")
    assert re.search(r"\d+ new, \d+ changed, \d+ resolved, \d+ unchanged", lines[0])
    assert any(line.startswith("  NEW") and "/autodiscover/autodiscover.xml" in line for line in lines)
    assert any(line.startswith("  CHANGED") and "/EWS/Exchange.asmx" in line and "(was critical" in line
               for line in lines)
    assert any(line.startswith("  RESOLVED") and "ActiveSync" in line for line in lines)
    # Explicit ids: the first two scans do not differ
    same = run_cli("diff", "1", "2", "--db", history_db)
    assert same.code == 0 and re.search(r"0 new, 0 changed, 0 resolved, [1-9]\d* unchanged", same.stdout)
    # And `casaudit history` lists the three scans, newest first
    history = run_cli("history", HOST, "--db", history_db)
    assert history.code == 0, history.stderr
    rows = history.stdout.splitlines()[1:]
    assert [row.split()[0] for row in rows] == ["3", "2", "1"]
    assert all(HOST in row and "assessed" in row for row in rows)

    assert run_cli("history", "mail.other.test", "--db", history_db).stdout.startswith("no scans")


def test_single_host_scan_records_history_by_default_and_diff_only_exits_on_new(
    legacy_lab, tmp_path, monkeypatch
):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    first = run_cli("scan", *legacy_lab.scan_args())
    assert first.code == 1
    assert (tmp_path / "data" / "casaudit" / "history.sqlite3").is_file()
    second = run_cli("scan", *legacy_lab.scan_args(), "--diff-only")
    assert second.code == 0, second.stdout + second.stderr
    assert re.search(r"0 new, 0 changed, 0 resolved, [1-9]\d* unchanged", second.stdout)
    listed = run_cli("history")
    assert listed.code == 0 and len(listed.stdout.splitlines()) == 3
    skipped = run_cli("scan", *legacy_lab.scan_args(), "--no-history")
    assert skipped.code == 1
    assert len(run_cli("history").stdout.splitlines()) == 3


def test_identity_normalises_case_trailing_slash_and_the_targets_usual_port():
    ports = {"http": 8080, "https": 443}
    assert finding_identity("c", "HTTP://Mail.Example.Test:8080/OWA/", ports) == "c http://mail.example.test/owa"
    assert finding_identity("c", "https://mail.example.test:443/owa", ports) == "c https://mail.example.test/owa"
    assert finding_identity("c", "https://mail.example.test:4443/owa", ports) == \
        "c https://mail.example.test:4443/owa"
    assert finding_identity("c", "imaps://[2001:db8::1]:993", {}) == "c imaps://[2001:db8::1]"


def test_diff_of_documents_without_previous_calls_everything_new():
    document = {"targets": [{"ports": {"http": 80}}], "findings": [
        {"id": "F001", "check": "c", "endpoint": "http://h:80/a", "severity": "high", "observed": "x"}]}
    diff = diff_documents(None, document)
    assert [f["id"] for f in diff.new] == ["F001"] and not diff.resolved and not diff.changed


CRASHER = textwrap.dedent('''
    import json, sys
    from pathlib import Path
    from casaudit.history import History
    document = json.loads(Path(sys.argv[2]).read_text())
    with History(Path(sys.argv[1])) as history:
        number = 0
        while True:
            number += 1
            document["findings"] = [dict(document["findings"][0], id=f"F{i:05d}",
                                         endpoint=f"http://mail.crash.test:80/p{number}/{i}")
                                    for i in range(3000)]
            history.record(host="mail.crash.test", domain="crash.test", tags={"n": str(number)},
                           started_at=document["started_at"], finished_at=document["finished_at"],
                           document=document, tool_version="test")
            if number == 3:
                print("ready", flush=True)
''')


def test_a_process_killed_mid_write_leaves_the_history_readable_and_earlier_scans_intact(
    legacy_lab, tmp_path
):
    # Given a real scan document and a writer storing big scans in a loop
    db_path, doc_path = tmp_path / "h.db", tmp_path / "scan.json"
    run = run_cli("scan", *legacy_lab.scan_args(), "--json", str(doc_path), "--db", str(db_path))
    assert run.code == 1
    script = tmp_path / "crasher.py"
    script.write_text(CRASHER)
    for delay in (0.05, 0.2, 0.35):
        child = subprocess.Popen([sys.executable, str(script), str(db_path), str(doc_path)],
                                 stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout is not None and child.stdout.readline() == "ready\n"
            # When it is SIGKILLed in the middle of its writes
            time.sleep(delay)
            child.kill()
        finally:
            child.wait(timeout=10)
        # Then the database is intact, the first scan unchanged, and every stored scan whole
        with sqlite3.connect(db_path) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            first = db.execute("SELECT host, status FROM scans WHERE id = 1").fetchone()
            assert first == (legacy_lab.host, "assessed")
            recorded = len(json.loads(doc_path.read_text())["findings"])
            assert db.execute("SELECT count(*) FROM findings WHERE scan_id = 1").fetchone()[0] == recorded
            for scan_id, in db.execute("SELECT id FROM scans WHERE host = 'mail.crash.test'"):
                count = db.execute("SELECT count(*) FROM findings WHERE scan_id = ?",
                                   (scan_id,)).fetchone()[0]
                assert count == 3000, (scan_id, count)
    listed = run_cli("history", "--db", str(db_path), "--limit", "1000")
    assert listed.code == 0 and legacy_lab.host in listed.stdout
