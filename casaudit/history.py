"""Scan history: every scan, its target, findings and evidence, in SQLite or PostgreSQL.

``--db`` takes a file path (SQLite, the default: ``$XDG_DATA_HOME/casaudit/history.sqlite3``,
``~/.local/share/...`` without XDG_DATA_HOME) or a ``postgresql://`` URL (psycopg 3,
``pip install 'casaudit[distributed]'``), for a history many machines share;
``--no-history`` skips it. `open_store` picks the backend; both run the same SQL
(`HistoryStore`), only connecting, locking and a few column types differ.

Each scan is written in ONE transaction: a process killed mid-write (SIGKILL,
power cut) leaves the database as it was before that scan, every earlier scan
intact. SQLite runs in WAL mode with ``synchronous=FULL`` and ``BEGIN IMMEDIATE``;
several casaudit processes may share a file, writers queue (busy timeout).

Tables (``schema_version`` lists the migrations applied; SQLite also keeps
``PRAGMA user_version`` = SCHEMA_VERSION, which files of schema 1 had alone):

- ``scans``: one row per scanned host: the run id of the ``scan`` that recorded it
  (unique with the host: a run records a host once), host, domain, tags (JSON),
  times, status (``assessed`` or ``error`` with kind and detail), finding counts,
  and the whole ``casaudit.scan/1`` document, zlib-compressed JSON (``document_z``);
- ``targets``: what the host resolved to and its ports, per scan;
- ``findings``: one indexed row per finding, with its identity (casaudit.diff);
- ``evidence``: one row per evidence item (id, kind, endpoint, error kind); the
  evidence itself is in the document.
"""
from __future__ import annotations

import json
import os
import re
import sqlite3
import uuid
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from casaudit.diff import document_identities
from casaudit.errors import UsageError

SCHEMA_VERSION = 3
BUSY_TIMEOUT_SECONDS = 30.0
CONNECT_TIMEOUT_SECONDS = 10
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_TABLES = frozenset({"scans", "targets", "findings", "evidence"})
#: Tables of schema 3: a history written before has no submitted runs.
_RUN_TABLES = frozenset({"runs", "run_hosts"})

# One schema for both backends, written for SQLite; `_for_postgres` swaps the few types
# that differ. Each migration takes the schema from the version before it to its own.
_SCHEMA_1 = """
CREATE TABLE IF NOT EXISTS scans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    host TEXT NOT NULL,
    domain TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '{}',
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('assessed', 'error')),
    error_kind TEXT,
    error_detail TEXT,
    worst_severity TEXT,
    findings_by_severity TEXT NOT NULL DEFAULT '{}',
    accepted INTEGER NOT NULL DEFAULT 0,
    tool_version TEXT NOT NULL,
    document_z BLOB
);
CREATE INDEX IF NOT EXISTS scans_by_host ON scans (host, started_at, id);
CREATE TABLE IF NOT EXISTS targets (
    scan_id INTEGER NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
    host TEXT NOT NULL,
    domain TEXT NOT NULL,
    addresses TEXT NOT NULL,
    resolution TEXT NOT NULL,
    ports TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS targets_by_scan ON targets (scan_id);
CREATE TABLE IF NOT EXISTS findings (
    scan_id INTEGER NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
    finding_id TEXT NOT NULL,
    identity TEXT NOT NULL,
    check_id TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    severity TEXT NOT NULL,
    observed TEXT NOT NULL,
    accepted_until TEXT,
    justification TEXT
);
CREATE INDEX IF NOT EXISTS findings_by_scan ON findings (scan_id);
CREATE INDEX IF NOT EXISTS findings_by_identity ON findings (identity, scan_id);
CREATE TABLE IF NOT EXISTS evidence (
    scan_id INTEGER NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
    evidence_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    error_kind TEXT
);
CREATE INDEX IF NOT EXISTS evidence_by_scan ON evidence (scan_id);
"""

# Version 2: each row names the `scan` run that recorded it (a UUID per invocation), and
# a run records a host once: recording it again replaces the row (a re-delivered task of
# a future worker must not count twice). Rows from before have no run id (NULL).
_SCHEMA_2 = """
ALTER TABLE scans ADD COLUMN run_id TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS scans_by_run ON scans (run_id, host);
"""

# Version 3: runs submitted to workers (`scan --broker`): the run, and its hosts in
# targets-file order with how many times a worker started each (a host whose scan keeps
# killing its worker must end as an error entry, not be re-delivered for ever).
_SCHEMA_3 = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    hosts INTEGER NOT NULL,
    options TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS run_hosts (
    run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    host TEXT NOT NULL,
    domain TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '{}',
    attempts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, host)
);
CREATE INDEX IF NOT EXISTS run_hosts_in_order ON run_hosts (run_id, position);
"""

MIGRATIONS: dict[int, str] = {1: _SCHEMA_1, 2: _SCHEMA_2, 3: _SCHEMA_3}

_SCHEMA_VERSION_TABLE = ("CREATE TABLE IF NOT EXISTS schema_version "
                         "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")


def _for_postgres(sql: str) -> str:
    identity = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
    return (sql.replace("INTEGER PRIMARY KEY AUTOINCREMENT", identity)
            .replace("scan_id INTEGER", "scan_id BIGINT").replace("BLOB", "BYTEA"))


def _statements(script: str) -> list[str]:
    return [statement.strip() for statement in script.split(";") if statement.strip()]


def default_path() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "share"
    return root / "casaudit" / "history.sqlite3"


def is_postgres_url(location: str | Path) -> bool:
    return isinstance(location, str) and location.lower().startswith(POSTGRES_SCHEMES)


def masked_url(url: str) -> str:
    """The URL with its password (if any) replaced by ***: what messages may show."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsed here so that a malformed URL fails here
    except ValueError:
        # Not parseable (a mistyped host or port): hide everything that may be credentials.
        scheme, _, rest = url.partition("://")
        return f"{scheme}://***@{rest.rpartition('@')[2]}" if "@" in rest else url
    if parts.password is None:
        return url
    user = quote(unquote(parts.username or ""), safe="")
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def open_store(location: str | Path, *, read_only: bool = False) -> HistoryStore:
    """`--db`'s value: a `postgresql://` URL, else an SQLite file path."""
    if is_postgres_url(location):
        return PostgresHistory(str(location), read_only=read_only)
    path = Path(location)
    return History.read_only(path) if read_only else History(path)


@dataclass(frozen=True)
class ScanRow:
    id: int
    host: str
    domain: str
    tags: Mapping[str, str]
    started_at: str
    finished_at: str
    status: str
    error_kind: str | None
    error_detail: str | None
    worst_severity: str | None
    findings_by_severity: Mapping[str, int]
    accepted: int

    def summary(self) -> dict[str, Any]:
        """What a fleet entry's `diff.previous` says about this scan."""
        return {"history_id": self.id, "started_at": self.started_at}


_ROW_COLUMNS = ("id, host, domain, tags, started_at, finished_at, status, error_kind, error_detail, "
                "worst_severity, findings_by_severity, accepted")


@dataclass(frozen=True)
class RunRow:
    """A run submitted to workers (`scan --broker`)."""

    run_id: str
    created_at: str
    hosts: int
    options: Mapping[str, Any]


@dataclass(frozen=True)
class RunHost:
    """One host of a submitted run, and its scan once a worker recorded it."""

    position: int
    host: str
    domain: str
    tags: Mapping[str, str]
    attempts: int
    scan_id: int | None
    #: Its scan row's status and error kind, once recorded.
    status: str | None = None
    error_kind: str | None = None


def _row(values: Sequence[Any]) -> ScanRow:
    return ScanRow(
        id=values[0], host=values[1], domain=values[2], tags=json.loads(values[3]),
        started_at=values[4], finished_at=values[5], status=values[6], error_kind=values[7],
        error_detail=values[8], worst_severity=values[9],
        findings_by_severity=json.loads(values[10]), accepted=values[11],
    )


class HistoryStore:
    """The history, whatever holds it: the queries both backends share, in SQLite's
    `?` style (`_sql` adapts them). Use as a context manager; not shared across threads.

    `run_id` names this `casaudit scan` invocation in every row it records.
    """

    #: Where the history is, for messages (never a password).
    where: str
    run_id: str
    _db: Any
    #: The backend's own exceptions: a failure there mid-run is one line, not a traceback.
    backend_errors: tuple[type[BaseException], ...] = (sqlite3.Error,)

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def _sql(self, statement: str) -> str:
        return statement

    def _execute(self, statement: str, args: Sequence[Any] = ()) -> Any:
        return self._db.execute(self._sql(statement), tuple(args))

    def _executemany(self, statement: str, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            self._db.cursor().executemany(self._sql(statement), rows)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        raise NotImplementedError

    def _tables(self) -> set[str]:
        raise NotImplementedError

    def _unversioned(self) -> int:
        """The schema version of a database that has no schema_version table."""
        return 0

    def _version(self) -> int:
        if "schema_version" not in self._tables():
            return self._unversioned()
        return int(self._execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0)

    def _migrate(self) -> None:
        """Bring the schema to SCHEMA_VERSION, in one transaction; refuse a newer one."""
        with self._transaction():
            self._lock_for_migration()
            version = self._version()
            self._refuse_newer(version)
            if version == SCHEMA_VERSION:
                return
            self._execute(_SCHEMA_VERSION_TABLE)
            for number in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _statements(MIGRATIONS[number]):
                    self._execute(self._migration_sql(statement))
                self._execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                              (number, _now()))
            self._after_migration()

    def _lock_for_migration(self) -> None:
        """Serialise concurrent first opens (SQLite's BEGIN IMMEDIATE already does)."""

    def _migration_sql(self, statement: str) -> str:
        return statement

    def _after_migration(self) -> None:
        pass

    def _refuse_newer(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise UsageError(f"history database {self.where!r} was written by a newer casaudit "
                             f"(schema {version}; this one knows {SCHEMA_VERSION})")

    # -- writing ------------------------------------------------------------------------

    def record(
        self,
        *,
        host: str,
        domain: str,
        tags: Mapping[str, str],
        started_at: str,
        finished_at: str,
        document: Mapping[str, Any] | None,
        error: tuple[str, str] | None = None,
        tool_version: str,
        run_id: str | None = None,
    ) -> int:
        """Store one host's scan (its document, or the error that stopped it); returns its id.

        A document whose host was not assessed (nothing answered) is kept but stored as
        an `error` row of kind `not_assessed`: it must never be the scan a later diff
        compares with, or every finding would read "resolved" the day a host is down.
        A host this run (or `run_id`) already recorded stays as it was and its id is
        returned: a task delivered twice (a worker died before acknowledging it) is
        recorded once, by whichever delivery finished first.
        """
        run_id = run_id or self.run_id
        if document is not None and error is None and \
                document["summary"].get("status") == "not_assessed":
            error = ("not_assessed", str(document["summary"].get("status_reason", "")))
        status = "assessed" if document is not None and error is None else "error"
        counts = document["summary"]["findings_by_severity"] if document is not None else {}
        worst = document["summary"]["worst_severity"] if document is not None else None
        findings = document_identities(document) if document is not None else {}
        accepted = sum(1 for f in findings.values() if f.get("accepted"))
        blob = (zlib.compress(json.dumps(document, ensure_ascii=False).encode("utf-8"), 6)
                if document is not None else None)
        with self.errors_as(f"cannot record the scan of {host!r}"), self._transaction():
            # ON CONFLICT, not a look first: two deliveries finishing at once on two
            # machines both find nothing, and one must still lose quietly.
            inserted = self._execute(
                "INSERT INTO scans (run_id, host, domain, tags, started_at, finished_at, status, "
                "error_kind, error_detail, worst_severity, findings_by_severity, accepted, tool_version, "
                "document_z) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (run_id, host) DO NOTHING RETURNING id",
                (run_id, host, domain, json.dumps(dict(tags), sort_keys=True), started_at,
                 finished_at, status, error[0] if error else None, error[1] if error else None, worst,
                 json.dumps(counts), accepted, tool_version, blob),
            ).fetchall()
            if not inserted:
                recorded = self.recorded(run_id, host)
                assert recorded is not None  # the conflict was with it
                return recorded
            scan_id = int(inserted[0][0])
            if document is None:
                return scan_id
            self._executemany(
                "INSERT INTO targets (scan_id, host, domain, addresses, resolution, ports) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(scan_id, t["host"], t["domain"], json.dumps(t["addresses"]), t["resolution"],
                  json.dumps(t["ports"], sort_keys=True)) for t in document["targets"]],
            )
            self._executemany(
                "INSERT INTO findings (scan_id, finding_id, identity, check_id, endpoint, severity, "
                "observed, accepted_until, justification) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(scan_id, f["id"], identity, f["check"], f["endpoint"], f["severity"], f["observed"],
                  (f.get("accepted") or {}).get("expires"), (f.get("accepted") or {}).get("justification"))
                 for identity, f in findings.items()],
            )
            self._executemany(
                "INSERT INTO evidence (scan_id, evidence_id, kind, endpoint, error_kind) "
                "VALUES (?, ?, ?, ?, ?)",
                [(scan_id, e["id"], e["kind"], e["endpoint"], _evidence_error(e))
                 for e in document["evidence"]],
            )
        return scan_id

    @contextmanager
    def errors_as(self, doing: str) -> Iterator[None]:
        """The backend's own errors inside as one line naming the history (never its password):
        a database failing in the middle of a run is not a traceback."""
        try:
            yield
        except self.backend_errors as exc:
            raise UsageError(f"history database {self.where}: {doing} ({self._reason(exc)})") from None

    def _reason(self, exc: BaseException) -> str:
        return _why(exc)

    # -- runs submitted to workers ------------------------------------------------------

    def create_run(self, run_id: str, hosts: Sequence[tuple[str, str, Mapping[str, str]]],
                   options: Mapping[str, Any]) -> None:
        """A run of `scan --broker`: its hosts (host, domain, tags) in targets-file order."""
        with self._transaction():
            self._execute("INSERT INTO runs (run_id, created_at, hosts, options) VALUES (?, ?, ?, ?)",
                          (run_id, _now(), len(hosts), json.dumps(dict(options), sort_keys=True)))
            self._executemany(
                "INSERT INTO run_hosts (run_id, position, host, domain, tags) VALUES (?, ?, ?, ?, ?)",
                [(run_id, position, host, domain, json.dumps(dict(tags), sort_keys=True))
                 for position, (host, domain, tags) in enumerate(hosts)])

    def run(self, run_id: str) -> RunRow | None:
        if not _RUN_TABLES <= self._tables():
            return None
        row = self._execute("SELECT run_id, created_at, hosts, options FROM runs WHERE run_id = ?",
                            (run_id,)).fetchone()
        return None if row is None else RunRow(row[0], row[1], int(row[2]), json.loads(row[3]))

    def run_hosts(self, run_id: str) -> list[RunHost]:
        """The run's hosts in targets-file order, each with its scan row once recorded."""
        rows = self._execute(
            "SELECT h.position, h.host, h.domain, h.tags, h.attempts, s.id, s.status, s.error_kind "
            "FROM run_hosts h LEFT JOIN scans s ON s.run_id = h.run_id AND s.host = h.host "
            "WHERE h.run_id = ? ORDER BY h.position", (run_id,)).fetchall()
        return [RunHost(int(r[0]), r[1], r[2], json.loads(r[3]), int(r[4]),
                        None if r[5] is None else int(r[5]), r[6], r[7]) for r in rows]

    def recorded_count(self, run_id: str) -> int:
        """How many hosts `run_id` has recorded (an index lookup: a waiting submitter asks often)."""
        return int(self._execute("SELECT count(*) FROM scans WHERE run_id = ?", (run_id,)).fetchone()[0])

    def recorded(self, run_id: str, host: str) -> int | None:
        """The id of the scan `run_id` recorded for `host`, if it did."""
        row = self._execute("SELECT id FROM scans WHERE run_id = ? AND host = ?", (run_id, host)).fetchone()
        return None if row is None else int(row[0])

    def start_attempt(self, run_id: str, host: str) -> int:
        """Count one more start of this host's scan in this run; how many there have been."""
        with self._transaction():
            self._execute("UPDATE run_hosts SET attempts = attempts + 1 WHERE run_id = ? AND host = ?",
                          (run_id, host))
            row = self._execute("SELECT attempts FROM run_hosts WHERE run_id = ? AND host = ?",
                                (run_id, host)).fetchone()
        return 1 if row is None else int(row[0])

    # -- reading ------------------------------------------------------------------------

    def scans(self, host: str | None = None, limit: int = 50) -> list[ScanRow]:
        """Newest first."""
        where, args = ("WHERE host = ?", [host]) if host else ("", [])
        rows = self._execute(
            f"SELECT {_ROW_COLUMNS} FROM scans {where} ORDER BY started_at DESC, id DESC LIMIT ?",
            (*args, limit),
        ).fetchall()
        return [_row(r) for r in rows]

    def scan(self, scan_id: int) -> ScanRow | None:
        row = self._execute(f"SELECT {_ROW_COLUMNS} FROM scans WHERE id = ?", (scan_id,)).fetchone()
        return _row(row) if row else None

    def latest_assessed(self, host: str, count: int = 1, before_id: int | None = None) -> list[ScanRow]:
        """The host's latest scans that produced a document (error entries are skipped), newest first."""
        rows = self._execute(
            f"SELECT {_ROW_COLUMNS} FROM scans WHERE host = ? AND status = 'assessed' AND id < ? "
            "ORDER BY started_at DESC, id DESC LIMIT ?",
            (host, before_id if before_id is not None else 2**62, count),
        ).fetchall()
        return [_row(r) for r in rows]

    def hosts(self) -> list[str]:
        # Sorted here: a PostgreSQL collation would order names unlike SQLite's bytes.
        return sorted(r[0] for r in self._execute("SELECT DISTINCT host FROM scans"))

    def document(self, scan_id: int) -> dict[str, Any] | None:
        row = self._execute("SELECT document_z FROM scans WHERE id = ?", (scan_id,)).fetchone()
        if row is None or row[0] is None:
            return None
        document: dict[str, Any] = json.loads(zlib.decompress(row[0]).decode("utf-8"))
        return document

    def finding_rows(self, scan_id: int) -> list[tuple[str, str, str, str]]:
        """(identity, check, endpoint, severity) of a scan's findings, from the indexed rows."""
        return [tuple(row) for row in self._execute(  # type: ignore[misc]
            "SELECT identity, check_id, endpoint, severity FROM findings WHERE scan_id = ? "
            "ORDER BY finding_id",
            (scan_id,),
        ).fetchall()]


class History(HistoryStore):
    """The history in an SQLite file (the default).

    `History(path)` creates the database (scan); `History.read_only(path)` opens an
    existing one for `casaudit history` and `casaudit diff`, which never create nor change it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)
        self.run_id = str(uuid.uuid4())
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise UsageError(f"history database {str(path)!r}: cannot open ({_why(exc)})") from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._refuse_newer(self._db.execute("PRAGMA user_version").fetchone()[0])
            self._migrate()
        except sqlite3.Error as exc:
            self._db.close()
            raise UsageError(f"history database {str(path)!r}: cannot use ({_why(exc)})") from None
        except BaseException:
            self._db.close()
            raise

    @classmethod
    def read_only(cls, path: Path) -> History:
        """An existing casaudit history, opened so that nothing can write to it.

        Raises UsageError when there is no file at `path`, or it is not a casaudit
        history (not SQLite, an empty file, another application's database).
        """
        if not path.is_file():
            raise UsageError(f"no history database at {str(path)!r}")
        self = cls.__new__(cls)
        self.path = path
        self.where = str(path)
        self.run_id = ""
        # mode=ro: sqlite itself refuses every write, so a mistyped --db is never turned
        # into a database; percent-quoted because the path is a URI here.
        uri = f"file:{quote(str(path.resolve()))}?mode=ro"
        try:
            self._db = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        except sqlite3.Error as exc:
            raise UsageError(f"history database {str(path)!r}: cannot open ({_why(exc)})") from None
        try:
            version = self._version()
            tables = self._tables()
        except sqlite3.Error as exc:
            self._db.close()
            raise UsageError(f"{str(path)!r} is not a casaudit history database ({_why(exc)})") from None
        try:
            self._refuse_newer(version)
        except UsageError:
            self._db.close()
            raise
        # Any older schema reads as well: reading never needs what a migration added.
        if version < 1 or not _TABLES <= tables:
            self._db.close()
            what = "an empty file" if path.stat().st_size == 0 else "a database without casaudit's tables"
            raise UsageError(f"{str(path)!r} is not a casaudit history database: it is {what}")
        return self

    def _tables(self) -> set[str]:
        return {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def _unversioned(self) -> int:
        # Files written before the schema_version table kept their version here only.
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _after_migration(self) -> None:
        # Kept in step so that an older casaudit refuses a file it does not understand.
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")


class PostgresHistory(HistoryStore):
    """The history in a PostgreSQL database (psycopg 3), shared by many scanning machines.

    The database must exist; its tables are created on the first `scan`. Read-only
    (`history`, `diff`): the session is read-only and a database without casaudit's
    tables is refused, never set up.
    """

    def __init__(self, url: str, read_only: bool = False) -> None:
        self.where = masked_url(url)
        self.run_id = "" if read_only else str(uuid.uuid4())
        try:
            import psycopg
        except ImportError:
            raise UsageError(f"--db {self.where}: PostgreSQL needs psycopg: "
                             "pip install 'casaudit[distributed]'") from None
        self.backend_errors = (psycopg.Error,)
        self._url = url
        options = {"options": "-c default_transaction_read_only=on"} if read_only else {}
        if "connect_timeout" not in url:
            options["connect_timeout"] = str(CONNECT_TIMEOUT_SECONDS)
        try:
            self._db = psycopg.connect(url, autocommit=True, **options)
        except (psycopg.Error, ValueError) as exc:
            raise UsageError(f"history database {self.where}: cannot connect "
                             f"({scrubbed(exc, url)})") from None
        try:
            if read_only:
                self._check_readable()
            else:
                self._migrate()
        except psycopg.Error as exc:
            self._db.close()
            raise UsageError(f"history database {self.where}: cannot use ({scrubbed(exc, url)})") from None
        except BaseException:
            self._db.close()
            raise

    def _reason(self, exc: BaseException) -> str:
        return scrubbed(exc, self._url)

    def _check_readable(self) -> None:
        version, tables = self._version(), self._tables()
        self._refuse_newer(version)
        if version < 1 or not _TABLES <= tables:
            raise UsageError(f"no casaudit history in {self.where}: the database has no casaudit tables "
                             "(a `casaudit scan --db` with this URL creates them)")

    def _sql(self, statement: str) -> str:
        # The queries are written with `?`; none holds a literal ? or %.
        return statement.replace("?", "%s")

    def _migration_sql(self, statement: str) -> str:
        return _for_postgres(statement)

    def _lock_for_migration(self) -> None:
        # Shards starting together on an empty database: one creates the tables, the
        # others wait and then find them (held until the transaction ends).
        self._execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))

    def _tables(self) -> set[str]:
        return {row[0] for row in self._execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")}

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._db.transaction():
            yield



#: pg_advisory_xact_lock key for schema migrations ("casaudit" in ASCII, as a number).
_MIGRATION_LOCK = int.from_bytes(b"casaudit", "big") >> 1


def scrubbed(exc: BaseException, url: str) -> str:
    """psycopg's message on one line, the URL's password masked should the message hold it."""
    text = " ".join(str(exc).split())
    # As written in the URL and decoded: a message may quote either (or the whole URL).
    found = re.match(r"[a-z]+://[^/@:]*:([^@]*)@", url, re.IGNORECASE)
    if found and found[1]:
        for password in {found[1], unquote(found[1])}:
            text = text.replace(password, "***")
    return text


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _evidence_error(item: Mapping[str, Any]) -> str | None:
    error = item.get("error")
    if error is None and item.get("exchanges"):
        error = item["exchanges"][0].get("error")
    return error.get("kind") if isinstance(error, Mapping) else None


def _why(exc: BaseException) -> str:
    return str(getattr(exc, "strerror", None) or exc)
