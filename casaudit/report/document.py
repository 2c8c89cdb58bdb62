"""Reading and writing the `casaudit.scan/1` JSON document.

`load_valid` is the door for a document someone hands to `casaudit report`: it
is read, parsed and validated against the JSON Schema the package ships, and a
damaged one is refused with one sentence naming the file and its first problem
("scan.json is not a valid casaudit.scan/1 document: summary: 'status' is
missing"), never a traceback. `load_comparable` is the looser door of `casaudit
diff`: only what a diff reads must be there. "-" reads standard input; either
door refuses a document over MAX_DOCUMENT_BYTES unread.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from casaudit.errors import UsageError
from casaudit.model import SCHEMA

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

#: The JSON Schemas ship inside the package (casaudit/data) so an installed wheel can
#: validate; docs/schema/ holds relative symlinks to them for readers of the repository.
SCAN_SCHEMA_FILE = "casaudit.scan-1.json"
FLEET_SCHEMA_FILE = "casaudit.fleet-1.json"
FLEET_SCHEMA = "casaudit.fleet/1"

#: Bounds on what a refusal quotes from the document: it may come from anywhere.
_QUOTE_CHARS = 60
_PATH_CHARS = 120
_PROBLEM_CHARS = 300
#: A document larger than this is refused unread: the biggest scan documents casaudit
#: writes (thousands of findings with their evidence) are a few MiB.
MAX_DOCUMENT_BYTES = 64 * 2**20
#: The path that means standard input (`casaudit report -`).
STDIN = "-"


@cache
def schema(filename: str = SCAN_SCHEMA_FILE) -> dict[str, Any]:
    """A JSON Schema shipped in the package, parsed once."""
    return json.loads((resources.files("casaudit") / "data" / filename).read_text(encoding="utf-8"))


@cache
def _scan_validator() -> Validator:
    import jsonschema

    return jsonschema.Draft202012Validator(schema(SCAN_SCHEMA_FILE))


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def load_comparable(path: Path) -> dict[str, Any]:
    """A scan document from disk with what `casaudit diff` reads of it (see `comparable_problem`).

    Looser than `load_valid` so that documents of earlier casaudit versions still
    compare; a document that lacks what the diff reads is refused in one line.
    """
    document = _read(path)
    _check_schema_name(path, document, f"diff compares two {SCHEMA} documents of one host, "
                                       "such as two of its results[].scan")
    problem = comparable_problem(document)
    if problem is not None:
        raise UsageError(f"{display_name(path)} cannot be compared: {problem}")
    return document


def load_valid(path: Path) -> dict[str, Any]:
    """A scan document from disk (or stdin for "-") that validates against casaudit.scan-1.json.

    Raises UsageError (one line, exit 2) naming the file and the first problem.
    """
    document = _read(path)
    _check_schema_name(path, document, f"report renders one host's {SCHEMA} document, "
                                       "found in its results[].scan")
    problem = first_problem(document)
    if problem is not None:
        raise UsageError(f"{display_name(path)} is not a valid {SCHEMA} document: {problem}")
    return document


def first_problem(document: Any) -> str | None:
    """The most useful schema violation in plain words ("findings[3].severity: ..."), or None."""
    from jsonschema.exceptions import best_match

    try:
        error = best_match(_scan_validator().iter_errors(document))
    except RecursionError:
        return "it is nested too deeply to validate"
    return None if error is None else describe(error)


#: What `casaudit diff` and its printout read of a scan document, and nothing more.
_COMPARABLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["targets", "findings"],
    "properties": {
        "targets": {
            "type": "array", "minItems": 1,
            "items": {"type": "object", "required": ["host"], "properties": {
                "host": {"type": "string"},
                "ports": {"type": "object", "additionalProperties": {"type": "integer"}},
            }},
        },
        "summary": {"type": "object", "properties": {
            "status": {"type": "string"}, "status_reason": {"type": "string"}}},
        "findings": {"type": "array", "items": {
            "type": "object",
            "required": ["id", "check", "endpoint", "severity", "observed"],
            "properties": {
                "id": {"type": "string"},
                "check": {"type": "string"},
                "endpoint": {"type": "string"},
                "severity": {"enum": ["critical", "high", "medium", "low", "info"]},
                "observed": {"type": "string"},
                "accepted": {"anyOf": [
                    {"type": "null"},
                    {"type": "object", "required": ["expires"],
                     "properties": {"expires": {"type": "string"}}},
                ]},
            },
        }},
    },
}


@cache
def _comparable_validator() -> Validator:
    import jsonschema

    return jsonschema.Draft202012Validator(_COMPARABLE_SCHEMA)


def comparable_problem(document: Any) -> str | None:
    """Why `casaudit diff` cannot read this scan document ("findings[3]: 'severity' is missing"), or None."""
    from jsonschema.exceptions import best_match

    try:
        error = best_match(_comparable_validator().iter_errors(document))
    except RecursionError:
        return "it is nested too deeply to validate"
    return None if error is None else describe(error)


# --------------------------------------------------------------------------- reading


def display_name(path: Path) -> str:
    """How a refusal names the document: "-" is standard input (the CLI escapes what it prints)."""
    return "standard input" if str(path) == STDIN else str(path)


def _read(path: Path) -> Any:
    raw = _read_stdin() if str(path) == STDIN else _read_file(path)
    where = display_name(path)
    try:
        # utf-8-sig: a byte-order mark (some Windows editors write one) is not an error
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{where} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})") \
            from None
    if not text.strip():
        raise UsageError(f"{where} is empty, not a {SCHEMA} document")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        # A document cut short fails at its very end, or in a string left open there.
        if exc.pos >= len(text.rstrip()) or (
                exc.msg.startswith("Unterminated string") and "\n" not in text[exc.pos:].rstrip()):
            raise UsageError(f"{where} is cut off: its JSON ends at line {exc.lineno} "
                             f"before the document is complete") from None
        raise UsageError(f"{where} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:
        raise UsageError(f"{where} is not JSON: {exc}") from None
    except RecursionError:
        raise UsageError(f"{where} is not a {SCHEMA} document: its JSON is nested too deeply") from None


def _read_file(path: Path) -> bytes:
    if path.is_dir():
        raise UsageError(f"{display_name(path)} is a directory, not a {SCHEMA} document")
    try:
        with path.open("rb") as source:
            return _bounded(source.read(MAX_DOCUMENT_BYTES + 1), display_name(path))
    except OSError as exc:
        raise UsageError(f"cannot read {display_name(path)}: {exc.strerror or exc}") from None


def _read_stdin() -> bytes:
    import sys

    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        raise UsageError("cannot read standard input: it is not open")
    return _bounded(stream.read(MAX_DOCUMENT_BYTES + 1), "standard input")


def _bounded(raw: bytes, name: str) -> bytes:
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise UsageError(f"{name} is larger than {MAX_DOCUMENT_BYTES // 2**20} MiB: "
                         f"not a {SCHEMA} document casaudit wrote")
    return raw


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _check_schema_name(path: Path, document: Any, purpose: str) -> None:
    """`purpose` tells, for a fleet document, what the command reads instead."""
    where = display_name(path)
    if not isinstance(document, dict):
        raise UsageError(f"{where} is not a {SCHEMA} document: it holds {_brief(document)}, "
                         f"not a JSON object")
    name = document.get("schema")
    if name == SCHEMA:
        return
    if name == FLEET_SCHEMA:
        raise UsageError(f"{where} is a {FLEET_SCHEMA} document (scan --targets); {purpose}")
    if "schema" not in document:
        raise UsageError(f"{where} is not a {SCHEMA} document: it has no 'schema' key")
    raise UsageError(f"{where} is not a {SCHEMA} document: its schema is {_brief(name)}")


# --------------------------------------------------------------------------- plain words

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_JSON_TYPE_WORDS = {"object": "an object", "array": "an array", "string": "a string",
                    "integer": "an integer", "number": "a number", "boolean": "true or false",
                    "null": "null"}


def describe(error: ValidationError) -> str:
    """One schema violation as "where: what", bounded and safe to print on a terminal."""
    from casaudit.report.terminal import safe

    where = json_path(error.absolute_path)
    what = _what(error)
    text = f"{where}: {what}" if where else what
    return safe(text, _PROBLEM_CHARS)


def json_path(parts: Iterable[str | int]) -> str:
    """["findings", 3, "severity"] -> "findings[3].severity"; odd keys in brackets."""
    from casaudit.report.terminal import safe

    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{safe(json.dumps(part, ensure_ascii=False), _QUOTE_CHARS)}]"
    return safe(out, _PATH_CHARS)


def _what(error: ValidationError) -> str:
    kind, expected, instance = error.validator, error.validator_value, error.instance
    if "propertyNames" in error.schema_path and isinstance(instance, str):
        # the instance is a key of the object at `where`, not a value
        return f"unexpected key {_quote(instance)}"
    if kind == "required" and isinstance(instance, dict):
        missing = [name for name in expected if name not in instance]
        if missing:
            return f"{_quote(missing[0])} is missing"
    if kind == "type":
        wanted = [expected] if isinstance(expected, str) else list(expected)
        return f"expected {_or(_JSON_TYPE_WORDS.get(t, t) for t in wanted)}, found {_brief(instance)}"
    if kind == "enum":
        return f"{_brief(instance)} is not one of {_choices(expected)}"
    if kind == "const":
        return f"expected {_literal(expected)}, found {_brief(instance)}"
    if kind == "pattern":
        return f"{_brief(instance)} is not in the expected form"
    if kind == "minLength" and expected == 1:
        return "is empty"
    if kind in ("minLength", "maxLength"):
        bound = "at least" if kind == "minLength" else "at most"
        return f"has {len(instance)} characters, expected {bound} {expected}"
    if kind in ("minItems", "maxItems"):
        bound = "at least" if kind == "minItems" else "at most"
        return f"has {_count(len(instance), 'item')}, expected {bound} {expected}"
    if kind in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        words = {"minimum": "at least", "exclusiveMinimum": "more than",
                 "maximum": "at most", "exclusiveMaximum": "less than"}[kind]
        return f"{_brief(instance)} should be {words} {expected}"
    if kind == "additionalProperties" and isinstance(instance, dict):
        known = set(error.schema.get("properties", {}))
        extra = [name for name in instance if name not in known]
        if extra:
            return f"unexpected key {_quote(extra[0])}"
    if kind in ("oneOf", "anyOf"):
        allowed = _alternatives(error.context)
        if allowed:
            return f"{_brief(instance)} is not one of {_or(allowed)}"
        return f"{_brief(instance)} matches none of the allowed forms"
    return f"{_brief(instance)} breaks the schema's {kind!r} rule"


def _alternatives(context: Iterable[ValidationError]) -> list[str]:
    """What a oneOf/anyOf of plain values accepts ("'low', 'info' or null"); empty when not that simple."""
    allowed: list[str] = []
    for sub in context:
        if sub.validator == "enum":
            allowed += [_literal(v) for v in sub.validator_value]
        elif sub.validator == "const":
            allowed.append(_literal(sub.validator_value))
        elif sub.validator == "type":
            wanted = sub.validator_value
            allowed += [_JSON_TYPE_WORDS.get(t, t) for t in ([wanted] if isinstance(wanted, str) else wanted)]
        else:
            return []
    return allowed


def _brief(value: Any) -> str:
    """A JSON value in a few words: strings quoted and cut, containers by size."""
    if isinstance(value, dict):
        return "an empty object" if not value else f"an object ({_count(len(value), 'key')})"
    if isinstance(value, list):
        return "an empty array" if not value else f"an array ({_count(len(value), 'item')})"
    if isinstance(value, str):
        return f"the string {_quote(value)}"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return f"the number {_literal(value)}"
    return type(value).__name__


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _quote(text: str) -> str:
    from casaudit.report.terminal import safe

    return "'" + safe(text, _QUOTE_CHARS) + "'"


def _literal(value: Any) -> str:
    return _quote(value) if isinstance(value, str) else json.dumps(value)


def _choices(values: Iterable[Any]) -> str:
    return ", ".join(_literal(v) for v in values)


def _or(words: Iterable[str]) -> str:
    items = list(words)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]
