"""Shared fixtures: running lab postures and a way to run the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from casaudit.lab import Lab, LabInstance

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_PATH = ROOT / "docs" / "schema" / "casaudit.scan-1.json"


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


def run_cli(*args: str, timeout: float = 120) -> CliRun:
    """The installed CLI in a child process: real argv parsing, real exit codes."""
    done = subprocess.run(
        [sys.executable, "-m", "casaudit", *args],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )
    return CliRun(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="session")
def scan_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())


@pytest.fixture
def validate_scan(scan_schema: dict[str, Any]):
    import jsonschema

    def validate(document: dict[str, Any]) -> dict[str, Any]:
        jsonschema.validate(document, scan_schema)
        return document

    return validate
