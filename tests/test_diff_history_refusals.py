"""`casaudit diff` and `casaudit history` refuse what would mislead, in one line, exit 2.

Two scans of different hosts, a fleet document, a scan of a host that was not
assessed, a document lacking what the diff reads, --host with two scans, a
mistyped --db, a file that is not a casaudit history: each once said
"everything resolved", printed nothing, created a database or a traceback.
"""

from __future__ import annotations

import copy
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from casaudit.api import audit
from casaudit.demo import lab_target
from casaudit.history import masked_url, open_store
from tests.conftest import CliRun, run_cli
from tests.scan_documents import not_assessed_document


@pytest.fixture(scope="module")
def document(legacy_lab) -> dict[str, Any]:
    return audit(*lab_target(legacy_lab)).to_dict()


def _write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


def _of_host(document: dict[str, Any], host: str) -> dict[str, Any]:
    other = copy.deepcopy(document)
    other["targets"][0]["host"] = host
    return other


def _refusal(run: CliRun) -> str:
    assert run.code == 2 and "Traceback" not in run.stderr, (run.code, run.stderr[-500:])
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("casaudit: error: "), run.stderr
    assert run.stdout == ""
    return lines[0]


def _record(db: str, *documents: dict[str, Any]) -> None:
    with open_store(db) as history:
        for scan in documents:
            target = scan["targets"][0]
            history.record(host=target["host"], domain=target["domain"], tags={},
                           started_at=scan["started_at"], finished_at=scan["finished_at"],
                           document=scan, tool_version="test")


def test_two_scans_of_different_hosts_are_not_compared(document, tmp_path, history_db):
    other = _of_host(document, "mail.other.test")
    _record(history_db, document, other)
    line = _refusal(run_cli("diff", "1", "2", "--db", history_db))
    assert line.endswith(f"scan 1 is of {document['targets'][0]['host']}, scan 2 of mail.other.test: "
                         "diff compares two scans of the same host"), line
    old = _write_json(tmp_path / "old.json", document)
    new = _write_json(tmp_path / "new.json", other)
    assert "new.json of mail.other.test: diff compares two scans of the same host" in \
        _refusal(run_cli("diff", str(old), str(new)))
    # the same host written in another case, or with its root dot, is the same host
    spelled = document["targets"][0]["host"].upper() + "."
    same = _write_json(tmp_path / "same.json", _of_host(document, spelled))
    assert run_cli("diff", str(old), str(same)).code == 0


def test_host_with_two_scans_is_refused(document, history_db):
    _record(history_db, document, document)
    line = _refusal(run_cli("diff", "1", "2", "--host", document["targets"][0]["host"], "--db", history_db))
    assert "--host" in line and "drop --host" in line


def test_a_fleet_document_and_a_scan_not_assessed_are_refused_saying_what_they_are(document, tmp_path):
    scan = _write_json(tmp_path / "scan.json", document)
    fleet = _write_json(tmp_path / "fleet.json", {"schema": "casaudit.fleet/1", "results": []})
    line = _refusal(run_cli("diff", str(fleet), str(scan)))
    assert "fleet.json is a casaudit.fleet/1 document (scan --targets); diff compares two " \
           "casaudit.scan/1 documents of one host, such as two of its results[].scan" in line, line
    silent = _write_json(tmp_path / "silent.json", not_assessed_document())
    line = _refusal(run_cli("diff", str(scan), str(silent)))
    assert "silent.json is of a host that was not assessed (" in line
    assert "every finding would read new or resolved" in line


DIFF_DAMAGE = [
    ("no targets", lambda d: d.pop("targets"), "'targets' is missing"),
    ("no findings", lambda d: d.pop("findings"), "'findings' is missing"),
    ("empty targets", lambda d: d.update(targets=[]), "targets: has 0 items, expected at least 1"),
    ("no host", lambda d: d["targets"][0].pop("host"), "targets[0]: 'host' is missing"),
    ("no check", lambda d: d["findings"][0].pop("check"), "findings[0]: 'check' is missing"),
    ("no endpoint", lambda d: d["findings"][1].pop("endpoint"), "findings[1]: 'endpoint' is missing"),
    ("no severity", lambda d: d["findings"][2].pop("severity"), "findings[2]: 'severity' is missing"),
    ("no observed", lambda d: d["findings"][0].pop("observed"), "findings[0]: 'observed' is missing"),
    ("odd severity", lambda d: d["findings"][0].update(severity="severe"), "findings[0].severity: "),
    ("findings an object", lambda d: d.update(findings={}), "findings: expected an array"),
]


@pytest.mark.parametrize(("damage", "expected"), [(c[1], c[2]) for c in DIFF_DAMAGE],
                         ids=[c[0] for c in DIFF_DAMAGE])
def test_a_document_lacking_what_the_diff_reads_is_one_line(document, tmp_path, damage, expected):
    old = _write_json(tmp_path / "old.json", document)
    damaged = copy.deepcopy(document)
    damage(damaged)
    new = _write_json(tmp_path / "new.json", damaged)
    line = _refusal(run_cli("diff", str(old), str(new)))
    assert f"new.json cannot be compared: {expected}" in line, line


def test_a_mistyped_db_is_refused_and_never_created(tmp_path):
    missing = tmp_path / "typo.db"
    for args in (("history",), ("diff",), ("diff", "1", "2")):
        line = _refusal(run_cli(*args, "--db", str(missing)))
        assert line == f"casaudit: error: no history database at '{missing}'", line
    assert list(tmp_path.iterdir()) == []


def test_no_default_history_yet_is_said_and_not_created(tmp_path):
    data = tmp_path / "data"
    expected = f"no scans recorded yet ({data / 'casaudit' / 'history.sqlite3'})\n"
    for args in (("history",), ("history", "mail.example.test"), ("diff",)):
        run = run_cli(*args, env={"XDG_DATA_HOME": str(data)})
        assert run.code == 0 and run.stdout == expected and run.stderr == "", (args, run)
    ids = run_cli("diff", "1", "2", env={"XDG_DATA_HOME": str(data)})
    assert "no scan 1: no scans recorded yet" in _refusal(ids)
    assert not data.exists()


def test_a_file_that_is_not_a_casaudit_history_is_refused_and_left_alone(tmp_path):
    noise = tmp_path / "noise.db"
    noise.write_bytes(bytes(range(256)) * 20)
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
    before = {path: path.read_bytes() for path in (noise, empty, other)}
    expected = {noise: "is not a casaudit history database (file is not a database)",
                empty: "is not a casaudit history database: it is an empty file",
                other: "is not a casaudit history database: it is a database without casaudit's tables"}
    for path, words in expected.items():
        for args in (("history",), ("diff",)):
            line = _refusal(run_cli(*args, "--db", str(path)))
            assert f"'{path}' {words}" in line, line
    assert {path: path.read_bytes() for path in before} == before


def test_diff_of_a_history_without_scans_says_so(history_db):
    open_store(history_db).close()  # what a scan leaves when it was interrupted before recording
    run = run_cli("diff", "--db", history_db)
    # (never the password of a PostgreSQL URL)
    assert run.code == 0 and run.stdout == f"no scans in {masked_url(history_db)}\n", run
    assert "s3cret" not in run.stdout
