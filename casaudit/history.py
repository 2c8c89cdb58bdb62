"""Scan history in an embedded SQLite database: every scan, its target, findings and evidence.

Default path: ``$XDG_DATA_HOME/casaudit/history.sqlite3`` (``~/.local/share/...``
without XDG_DATA_HOME); ``--db PATH`` overrides, ``--no-history`` skips it.

Each scan is written in ONE transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``) in
WAL mode with ``synchronous=FULL``: a process killed mid-write (SIGKILL,
power cut) leaves the database as it was before that scan, every earlier scan
intact. Several casaudit processes may share a database; writers queue
(busy timeout) rather than fail.

Tables (``PRAGMA user_version`` = SCHEMA_VERSION):

- ``scans``: one row per scanned host: host, domain, tags (JSON), times, status
  (``assessed`` or ``error`` with kind and detail), finding counts, and the whole
  ``casaudit.scan/1`` document, zlib-compressed JSON (``document_z``);
- ``targets``: what the host resolved to and its ports, per scan;
- ``findings``: one indexed row per finding, with its identity (casaudit.diff);
- ``evidence``: one row per evidence item (id, kind, endpoint, error kind); the
  evidence itself is in the document.
"""

from __future__ import annotations

import json
import os
import sqlite3
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from casaudit.diff import document_identities
from casaudit.errors import UsageError

SCHEMA_VERSION = 1
BUSY_TIMEOUT_SECONDS = 30.0

_SCHEMA = """
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


def default_path() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "share"
    return root / "casaudit" / "history.sqlite3"


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


def _row(values: tuple[Any, ...]) -> ScanRow:
    return ScanRow(
        id=values[0], host=values[1], domain=values[2], tags=json.loads(values[3]),
        started_at=values[4], finished_at=values[5], status=values[6], error_kind=values[7],
        error_detail=values[8], worst_severity=values[9],
        findings_by_severity=json.loads(values[10]), accepted=values[11],
    )


class History:
    """An open history database; use as a context manager. Not shared across threads.

    `History(path)` creates the database (scan); `History.read_only(path)` opens an
    existing one for `casaudit history` and `casaudit diff`, which never create nor change it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise UsageError(f"history database {str(path)!r}: cannot open ({_why(exc)})") from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise UsageError(
                    f"history database {str(path)!r} was written by a newer casaudit "
                    f"(schema {version}; this one knows {SCHEMA_VERSION})"
                )
            if version < SCHEMA_VERSION:
                with self._transaction():
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
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
        # mode=ro: sqlite itself refuses every write, so a mistyped --db is never turned
        # into a database; percent-quoted because the path is a URI here.
        uri = f"file:{quote(str(path.resolve()))}?mode=ro"
        try:
            self._db = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        except sqlite3.Error as exc:
            raise UsageError(f"history database {str(path)!r}: cannot open ({_why(exc)})") from None
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            tables = {row[0] for row in
                      self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.Error as exc:
            self._db.close()
            raise UsageError(f"{str(path)!r} is not a casaudit history database ({_why(exc)})") from None
        if version > SCHEMA_VERSION:
            self._db.close()
            raise UsageError(f"history database {str(path)!r} was written by a newer casaudit "
                             f"(schema {version}; this one knows {SCHEMA_VERSION})")
        if version < SCHEMA_VERSION or not {"scans", "targets", "findings", "evidence"} <= tables:
            self._db.close()
            what = "an empty file" if path.stat().st_size == 0 else "a database without casaudit's tables"
            raise UsageError(f"{str(path)!r} is not a casaudit history database: it is {what}")
        return self

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

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
    ) -> int:
        """Store one host's scan (its document, or the error that stopped it); returns its id.

        A document whose host was not assessed (nothing answered) is kept but stored as
        an `error` row of kind `not_assessed`: it must never be the scan a later diff
        compares with, or every finding would read "resolved" the day a host is down.
        """
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
        with self._transaction():
            cursor = self._db.execute(
                "INSERT INTO scans (host, domain, tags, started_at, finished_at, status, error_kind, "
                "error_detail, worst_severity, findings_by_severity, accepted, tool_version, document_z) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (host, domain, json.dumps(dict(tags), sort_keys=True), started_at, finished_at, status,
                 error[0] if error else None, error[1] if error else None, worst,
                 json.dumps(counts), accepted, tool_version, blob),
            )
            scan_id = int(cursor.lastrowid or 0)
            if document is None:
                return scan_id
            self._db.executemany(
                "INSERT INTO targets (scan_id, host, domain, addresses, resolution, ports) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(scan_id, t["host"], t["domain"], json.dumps(t["addresses"]), t["resolution"],
                  json.dumps(t["ports"], sort_keys=True)) for t in document["targets"]],
            )
            self._db.executemany(
                "INSERT INTO findings (scan_id, finding_id, identity, check_id, endpoint, severity, "
                "observed, accepted_until, justification) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(scan_id, f["id"], identity, f["check"], f["endpoint"], f["severity"], f["observed"],
                  (f.get("accepted") or {}).get("expires"), (f.get("accepted") or {}).get("justification"))
                 for identity, f in findings.items()],
            )
            self._db.executemany(
                "INSERT INTO evidence (scan_id, evidence_id, kind, endpoint, error_kind) "
                "VALUES (?, ?, ?, ?, ?)",
                [(scan_id, e["id"], e["kind"], e["endpoint"], _evidence_error(e))
                 for e in document["evidence"]],
            )
        return scan_id

    # -- reading ------------------------------------------------------------------------

    def scans(self, host: str | None = None, limit: int = 50) -> list[ScanRow]:
        """Newest first."""
        where, args = ("WHERE host = ?", [host]) if host else ("", [])
        rows = self._db.execute(
            f"SELECT {_ROW_COLUMNS} FROM scans {where} ORDER BY started_at DESC, id DESC LIMIT ?",
            (*args, limit),
        ).fetchall()
        return [_row(r) for r in rows]

    def scan(self, scan_id: int) -> ScanRow | None:
        row = self._db.execute(f"SELECT {_ROW_COLUMNS} FROM scans WHERE id = ?", (scan_id,)).fetchone()
        return _row(row) if row else None

    def latest_assessed(self, host: str, count: int = 1, before_id: int | None = None) -> list[ScanRow]:
        """The host's latest scans that produced a document (error entries are skipped), newest first."""
        rows = self._db.execute(
            f"SELECT {_ROW_COLUMNS} FROM scans WHERE host = ? AND status = 'assessed' AND id < ? "
            "ORDER BY started_at DESC, id DESC LIMIT ?",
            (host, before_id if before_id is not None else 2**62, count),
        ).fetchall()
        return [_row(r) for r in rows]

    def hosts(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT DISTINCT host FROM scans ORDER BY host")]

    def document(self, scan_id: int) -> dict[str, Any] | None:
        row = self._db.execute("SELECT document_z FROM scans WHERE id = ?", (scan_id,)).fetchone()
        if row is None or row[0] is None:
            return None
        document: dict[str, Any] = json.loads(zlib.decompress(row[0]).decode("utf-8"))
        return document

    def finding_rows(self, scan_id: int) -> list[tuple[str, str, str, str]]:
        """(identity, check, endpoint, severity) of a scan's findings, from the indexed rows."""
        return list(self._db.execute(
            "SELECT identity, check_id, endpoint, severity FROM findings WHERE scan_id = ? "
            "ORDER BY finding_id",
            (scan_id,),
        ))


def _evidence_error(item: Mapping[str, Any]) -> str | None:
    error = item.get("error")
    if error is None and item.get("exchanges"):
        error = item["exchanges"][0].get("error")
    return error.get("kind") if isinstance(error, Mapping) else None


def _why(exc: BaseException) -> str:
    return str(getattr(exc, "strerror", None) or exc)
