"""Shared fixtures: running lab postures and a way to run the real CLI.

Every `casaudit.scan/1` document the suite makes is validated against the JSON
Schema the package ships (casaudit/data, linked from docs/schema): documents
built in this process (`AuditResult.to_dict` is wrapped at session start) and
documents the CLI writes through `run_cli` (`--json`, and `demo --out`). An
invalid one fails the test that made it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from casaudit.lab import Lab, LabInstance
from casaudit.model import AuditResult
from casaudit.report import document as doc_io

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_PATH = ROOT / "casaudit" / "data" / doc_io.SCAN_SCHEMA_FILE
_SCAN_VALIDATOR = jsonschema.Draft202012Validator(doc_io.schema(doc_io.SCAN_SCHEMA_FILE))
VALIDATED = {"documents": 0}


FLEET_SCHEMA_PATH = ROOT / "casaudit" / "data" / doc_io.FLEET_SCHEMA_FILE
_FLEET_VALIDATOR = jsonschema.Draft202012Validator(doc_io.schema(doc_io.FLEET_SCHEMA_FILE))


def validate_scan_document(document: dict[str, Any], origin: str = "") -> dict[str, Any]:
    """Raise AssertionError naming every schema violation; count the document.

    A `casaudit.fleet/1` wrapper (scan --targets) is checked against its own schema,
    and every host's scan inside it against the scan schema.
    """
    if document.get("schema") == "casaudit.fleet/1":
        errors = list(_FLEET_VALIDATOR.iter_errors(document))
        if errors:
            raise AssertionError(f"fleet document {origin} breaks {FLEET_SCHEMA_PATH.name}: "
                                 f"{errors[0].message[:300]}")
        for result in document.get("results", []):
            if result.get("scan") is not None:
                validate_scan_document(result["scan"], f"{origin} ({result.get('host')})")
        return document
    errors = sorted(_SCAN_VALIDATOR.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}" for e in errors[:10]]
        raise AssertionError(f"scan document {origin} breaks {SCHEMA_PATH.name}:\n  " + "\n  ".join(lines))
    VALIDATED["documents"] += 1
    return document


def pytest_configure(config: pytest.Config) -> None:
    # Wrap, not replace: the real document is built, then checked against the schema.
    original = AuditResult.to_dict
    if getattr(original, "_schema_checked", False):
        return

    def to_dict_checked(self: AuditResult) -> dict[str, Any]:
        return validate_scan_document(original(self), "built in-process")

    to_dict_checked._schema_checked = True  # type: ignore[attr-defined]
    to_dict_checked.__wrapped__ = original  # type: ignore[attr-defined]
    AuditResult.to_dict = to_dict_checked  # type: ignore[method-assign]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.write_line(
        f"casaudit.scan/1 documents validated against {SCHEMA_PATH.name}: {VALIDATED['documents']}"
    )


@pytest.fixture(scope="session", autouse=True)
def _private_history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Scans record their history under XDG_DATA_HOME: keep the tests' out of the user's."""
    import os

    saved = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("xdg-data"))
    yield
    if saved is None:
        os.environ.pop("XDG_DATA_HOME", None)
    else:
        os.environ["XDG_DATA_HOME"] = saved


@pytest.fixture(scope="session")
def legacy_lab() -> Iterator[LabInstance]:
    with Lab.start("exchange2007-legacy") as lab:
        yield lab


@pytest.fixture(scope="session")
def hardened_lab() -> Iterator[LabInstance]:
    with Lab.start("exchange-se-hardened") as lab:
        yield lab


@dataclass
class CliRun:
    code: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        return json.loads(self.stdout)


def run_cli(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> CliRun:
    """The installed CLI in a child process: real argv parsing, real exit codes.

    Any scan document it writes (`--json PATH|-`, `demo --out DIR`) is
    validated against the schema before the test sees it.
    """
    done = subprocess.run(
        [sys.executable, "-m", "casaudit", *args],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        env=None if env is None else {**os.environ, **env},
    )
    run = CliRun(done.returncode, done.stdout, done.stderr)
    _validate_documents_written(args, run)
    return run


def _option(args: tuple[str, ...], name: str) -> str | None:
    for index, arg in enumerate(args[:-1]):
        if arg == name:
            return args[index + 1]
    return None


def _validate_documents_written(args: tuple[str, ...], run: CliRun) -> None:
    if not args or run.code not in (0, 1, 3):  # 3: a host not assessed still has its document
        return
    if args[0] == "scan" and (target := _option(args, "--json")):
        if target == "-":
            validate_scan_document(run.json(), "from `casaudit scan --json -`")
        elif Path(target).is_file():
            validate_scan_document(json.loads(Path(target).read_text()), target)
    if args[0] == "demo":
        out = Path(_option(args, "--out") or "casaudit-demo")
        for path in sorted(out.glob("*.json")):
            validate_scan_document(json.loads(path.read_text()), str(path))


@pytest.fixture(scope="session")
def scan_schema() -> dict[str, Any]:
    return doc_io.schema(doc_io.SCAN_SCHEMA_FILE)


@pytest.fixture
def validate_scan():
    return validate_scan_document


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    """A PostgreSQL server on 127.0.0.1 for the session (installed on demand, see postgres_server)."""
    from tests.postgres_server import running_postgres

    with running_postgres() as server:
        yield server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Any]:
    """A redis-server on 127.0.0.1 for the session (installed on demand, see redis_server);
    each test takes a database of its own with `redis_server.new_url()`."""
    from tests.redis_server import running_redis

    with running_redis() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def history_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A `--db` value naming an empty history location: an SQLite path, or a new PostgreSQL
    database. The history tests that take it run against both backends."""
    if request.param == "sqlite":
        return str(tmp_path / "h.db")
    server = request.getfixturevalue("postgres")
    return str(server.new_database())
