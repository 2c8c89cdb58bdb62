"""Reading and writing the `casaudit.scan/1` JSON document."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from casaudit.errors import UsageError
from casaudit.model import SCHEMA

#: The JSON Schemas ship inside the package (casaudit/data) so an installed wheel can
#: validate; docs/schema/ holds relative symlinks to them for readers of the repository.
SCAN_SCHEMA_FILE = "casaudit.scan-1.json"
FLEET_SCHEMA_FILE = "casaudit.fleet-1.json"


@cache
def schema(filename: str = SCAN_SCHEMA_FILE) -> dict[str, Any]:
    """A JSON Schema shipped in the package, parsed once."""
    return json.loads((resources.files("casaudit") / "data" / filename).read_text(encoding="utf-8"))


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def load(path: Path) -> dict[str, Any]:
    """A scan document from disk, refused in one line if it is not one."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{str(path)!r} is not UTF-8 text") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{str(path)!r} is not JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise UsageError(f"{str(path)!r} is not a casaudit scan (expected schema {SCHEMA})")
    return document
