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
