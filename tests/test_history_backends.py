"""The history's two backends: SQLite files (with their migration) and PostgreSQL URLs.

Run ids, a host recorded once per run, the schema migration of a file written
by casaudit before run ids, PostgreSQL read-only opening that never creates, and
URLs whose password is never shown.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from casaudit.history import _SCHEMA_1, SCHEMA_VERSION, masked_url, open_store
from tests.conftest import run_cli
from tests.fleet_support import silent_entry, write_targets


def _record_error(history, host: str, night: str = "2026-03-01") -> int:
    return history.record(host=host, domain="example.test", tags={}, started_at=f"{night}T01:00:00Z",
                          finished_at=f"{night}T01:00:01Z", document=None, error=("target", "x"),
                          tool_version="test")


def _error_lines(stderr: str) -> list[str]:
    """stderr without the stale build table notice a fleet scan prints first on old checkouts."""
    return [line for line in stderr.splitlines() if "build table" not in line]


def _rows(db: str) -> list[tuple[str, str]]:
    """(run id, host) of every recorded scan, read through the backend."""
    with open_store(db) as history:
        return [tuple(row) for row in history._execute("SELECT run_id, host FROM scans ORDER BY id")]


def test_a_run_records_a_host_once_and_each_run_has_its_own_id(history_db):
    # Given one run that records a host, then the same host again (a re-delivered task)
    with open_store(history_db) as history:
        first = _record_error(history, "mail.a.test")
        second = _record_error(history, "mail.a.test", night="2026-03-02")
        _record_error(history, "mail.b.test")
        run = history.run_id
        # Then the host is there once: the first recording stands, the second gets its id
        assert second == first
        assert [(r.id, r.started_at) for r in history.scans("mail.a.test")] == [
            (first, "2026-03-01T01:00:00Z")]
    # and a second run (a second `casaudit scan`) adds its own row, under another id
    with open_store(history_db) as history:
        _record_error(history, "mail.a.test", night="2026-03-03")
        assert history.run_id != run
        assert len(history.scans("mail.a.test")) == 2
    assert sorted(_rows(history_db)) == sorted([(run, "mail.a.test"), (run, "mail.b.test"),
                                                (history.run_id, "mail.a.test")])
    # and the database itself refuses a second row for one (run id, host)
    with open_store(history_db) as history, pytest.raises(Exception, match="(?i)unique"):
        history._execute("INSERT INTO scans (run_id, host, domain, started_at, finished_at, status, "
                         "tool_version) VALUES (?, 'mail.b.test', 'd', 's', 'f', 'error', 't')", (run,))


def test_scan_targets_gives_every_host_of_a_run_the_same_run_id(history_db, tmp_path):
    targets = write_targets(tmp_path / "t.toml", silent_entry("mail1.silent.test"),
                            silent_entry("mail2.silent.test"))
    for _ in range(2):
        run = run_cli("scan", "--targets", str(targets), "--db", history_db, timeout=60)
        assert run.code == 3, run.stderr
    rows = _rows(history_db)
    runs = {run_id for run_id, _ in rows}
    assert len(rows) == 4 and len(runs) == 2
    for run_id in runs:
        assert sorted(host for r, host in rows if r == run_id) == ["mail1.silent.test", "mail2.silent.test"]


def _schema_1_file(path: Path) -> None:
    """A history as casaudit wrote it before run ids: schema 1, PRAGMA user_version only."""
    with sqlite3.connect(path) as db:
        db.executescript(_SCHEMA_1)
        db.execute("INSERT INTO scans (host, domain, started_at, finished_at, status, error_kind, "
                   "error_detail, tool_version) VALUES ('mail.old.test', 'old.test', "
                   "'2026-01-01T00:00:00Z', '2026-01-01T00:00:01Z', 'error', 'target', 'x', '0.9')")
        db.execute("PRAGMA user_version=1")
    db.close()


def test_a_schema_1_file_is_read_as_it_is_and_migrated_by_the_next_scan(tmp_path):
    db = tmp_path / "old.db"
    _schema_1_file(db)
    before = db.read_bytes()
    # `history` reads it without changing it (read-only never migrates)
    listed = run_cli("history", "--db", str(db))
    assert listed.code == 0 and "mail.old.test" in listed.stdout, listed.stderr
    assert db.read_bytes() == before
    # the next scan migrates it and records with a run id; the old scan stays, without one
    targets = write_targets(tmp_path / "t.toml", silent_entry())
    assert run_cli("scan", "--targets", str(targets), "--db", str(db), timeout=60).code == 3
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == 3
        assert [row[0] for row in connection.execute("SELECT version FROM schema_version")] == [2, 3]
        rows = connection.execute("SELECT id, host, run_id FROM scans ORDER BY id").fetchall()
        indexes = {row[1] for row in connection.execute("PRAGMA index_list(scans)")}
    connection.close()
    assert rows[0] == (1, "mail.old.test", None)
    assert rows[1][1] == "mail.silent.test" and len(rows[1][2]) == 36
    assert "scans_by_run" in indexes
    assert "mail.old.test" in run_cli("history", "--db", str(db)).stdout


def test_a_newer_schema_is_refused_by_scan_and_history(tmp_path):
    db = tmp_path / "new.db"
    with open_store(str(db)) as history:
        history._execute("INSERT INTO schema_version (version, applied_at) VALUES (?, 'later')",
                         (SCHEMA_VERSION + 1,))
    targets = write_targets(tmp_path / "t.toml", silent_entry())
    for args in (("history",), ("scan", "--targets", str(targets))):
        run = run_cli(*args, "--db", str(db))
        assert run.code == 2 and _error_lines(run.stderr) == [
            f"casaudit: error: history database '{db}' was written by a newer casaudit "
            f"(schema {SCHEMA_VERSION + 1}; this one knows {SCHEMA_VERSION})"], run.stderr


def test_postgres_history_and_diff_never_create_the_tables(postgres):
    url = postgres.new_database()
    for args in (("history",), ("diff",), ("history", "--html", "/tmp/never-written.html")):
        run = run_cli(*args, "--db", url)
        assert run.code == 2, run
        assert run.stderr == (f"casaudit: error: no casaudit history in {masked_url(url)}: the database "
                              "has no casaudit tables (a `casaudit scan --db` with this URL creates them)\n")
    import psycopg

    with psycopg.connect(url) as connection:
        assert connection.execute("SELECT count(*) FROM information_schema.tables "
                                  "WHERE table_schema = 'public'").fetchone()[0] == 0


def test_a_password_in_a_postgres_url_is_never_printed(postgres, tmp_path):
    targets = write_targets(tmp_path / "t.toml", silent_entry())
    wrong = postgres.url("postgres", password="Wr0ng-Secret")
    closed = "postgresql://casaudit:Wr0ng-Secret@127.0.0.1:9/history?connect_timeout=3"
    missing = postgres.url("no_such_database")
    for url, why in ((wrong, "password authentication failed"), (closed, "cannot connect"),
                     (missing, 'database "no_such_database" does not exist')):
        for args in (("history",), ("diff",), ("scan", "--targets", str(targets))):
            run = run_cli(*args, "--db", url, timeout=60)
            assert run.code == 2 and run.stdout == "", run
            lines = _error_lines(run.stderr)
            assert len(lines) == 1 and lines[0].startswith("casaudit: error: ") and why in lines[0], lines
            assert "Secret" not in run.stderr and "s3cret" not in run.stderr
            assert "casaudit:***@127.0.0.1" in run.stderr


def test_masked_url_keeps_everything_but_the_password():
    assert masked_url("postgresql://u:p%40ss@db.example.test:5433/h?sslmode=require") == \
        "postgresql://u:***@db.example.test:5433/h?sslmode=require"
    assert masked_url("postgresql://u@db.example.test/h") == "postgresql://u@db.example.test/h"
    assert masked_url("postgres://db.example.test/h") == "postgres://db.example.test/h"
    # a URL urllib cannot parse still hides what may be a password
    assert masked_url("postgresql://u:pw@[db/h") == "postgresql://***@[db/h"


def test_a_malformed_postgres_url_is_one_line(tmp_path):
    for url in ("postgresql://u:Secret1@[db/h", "postgresql://u:Secret1@db.example.test:99999/h",
                "postgresql://u:Secret1@127.0.0.1:9/h?no_such_option=1"):
        run = run_cli("history", "--db", url)
        lines = _error_lines(run.stderr)
        assert run.code == 2 and len(lines) == 1 and lines[0].startswith("casaudit: error: "), run
        assert "Secret1" not in run.stderr and "Traceback" not in run.stderr


def test_a_database_error_in_the_middle_of_a_scan_is_one_line(tmp_path):
    # Given a history that refuses every new scan row (as a full disk or a revoked grant would)
    db = tmp_path / "full.db"
    with open_store(str(db)):
        pass
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TRIGGER refuse BEFORE INSERT ON scans "
                           "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    connection.close()
    targets = write_targets(tmp_path / "t.toml", silent_entry("mail1.silent.test"),
                            silent_entry("mail2.silent.test"))
    # When a fleet scan and a single-host scan finish a host
    for args in (("--targets", str(targets)),
                 ("mail.silent.test", "--resolve", "mail.silent.test:127.0.0.1", "--port", "https=9",
                  "--port", "http=9", "--port", "imap=9", "--port", "imaps=9", "--port", "pop3=9",
                  "--port", "pop3s=9", "--dns-server", "127.0.0.1:9", "--timeout", "2")):
        run = run_cli("scan", *args, "--db", str(db), timeout=60)
        # Then the scan ends in one line naming the history and the reason, no traceback
        lines = _error_lines(run.stderr)
        assert run.code == 2 and len(lines) == 1, run.stderr
        assert lines[0].startswith(f"casaudit: error: history database {db}: cannot record the scan of ")
        assert "database or disk is full" in lines[0] and "Traceback" not in run.stderr
