"""Baseline files: findings an organisation has accepted, each with a reason and an end date.

`casaudit scan --baseline FILE` reads TOML such as::

    [[accept]]
    check = "http.basic_cleartext"                      # a check id, or a glob: "http.*"
    endpoint = "http://mail.example.com:*/autodiscover/*"   # glob over the finding's endpoint
    justification = "Legacy printers post to Autodiscover until the March refresh (CHG-1234)"
    expires = 2026-03-31

An accepted finding stays in every report, with `accepted: {justification,
expires}`, and no longer counts for the exit code. The acceptance holds through
its `expires` day (UTC) as seen from the scan's start; from the next day on the
finding counts again, so a forgotten exception cannot silence a flaw forever.
Globs use fnmatch rules (`*`, `?`, `[...]`), case-insensitive, over the whole
endpoint (`*` crosses `/`).
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from casaudit.errors import UsageError
from casaudit.model import Acceptance, AuditResult, Finding

MAX_RULES = 10_000


@dataclass(frozen=True)
class Rule:
    check: str
    endpoint: str
    justification: str
    expires: dt.date

    def matches(self, finding: Finding) -> bool:
        return fnmatchcase(finding.check.lower(), self.check) and fnmatchcase(
            finding.endpoint.lower(), self.endpoint
        )

    def active_on(self, day: dt.date) -> bool:
        return day <= self.expires


@dataclass(frozen=True)
class Baseline:
    rules: tuple[Rule, ...]
    source: str = "<baseline>"

    def apply(self, result: AuditResult) -> tuple[AuditResult, list[tuple[Finding, Rule]]]:
        """The result with accepted findings marked, and the (finding, rule) pairs whose
        acceptance has expired (those findings count again)."""
        day = scan_day(result.started_at)
        expired: list[tuple[Finding, Rule]] = []
        findings = []
        for finding in result.findings:
            matching = [rule for rule in self.rules if rule.matches(finding)]
            active = next((rule for rule in matching if rule.active_on(day)), None)
            if active is not None:
                finding = replace(finding, accepted=Acceptance(
                    justification=active.justification, expires=active.expires.isoformat()))
            else:
                finding = replace(finding, accepted=None)
                if matching:
                    expired.append((finding, max(matching, key=lambda rule: rule.expires)))
            findings.append(finding)
        return replace(result, findings=tuple(findings)), expired


def scan_day(started_at: str) -> dt.date:
    """The UTC date of a scan's `started_at` (ISO-8601 with Z)."""
    return dt.datetime.fromisoformat(started_at.replace("Z", "+00:00")).astimezone(dt.UTC).date()


def load_baseline(path: Path) -> Baseline:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--baseline {str(path)!r}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise UsageError(f"--baseline {str(path)!r}: not UTF-8 text") from None
    return parse_baseline(text, str(path))


def parse_baseline(text: str, source: str = "<baseline>") -> Baseline:
    def error(key: str, problem: str) -> UsageError:
        return UsageError(f"{source}: {key}: {problem}")

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{source}: not valid TOML: {exc}") from None
    for key in data:
        if key != "accept":
            raise error(key, "unknown key (allowed: accept)")
    entries = data.get("accept", [])
    if not isinstance(entries, list):
        raise error("accept", "expected [[accept]] tables")
    if len(entries) > MAX_RULES:
        raise error("accept", f"more than {MAX_RULES} rules")
    rules = []
    allowed = {"check", "endpoint", "justification", "expires"}
    for index, entry in enumerate(entries):
        key = f"accept[{index}]"
        if not isinstance(entry, dict):
            raise error(key, "expected a table")
        for name in entry:
            if name not in allowed:
                raise error(f"{key}.{name}", f"unknown key (allowed: {', '.join(sorted(allowed))})")
        for name in ("check", "justification", "expires"):
            if name not in entry:
                raise error(f"{key}.{name}", "is required")
        check = _text(entry["check"], f"{key}.check", error)
        endpoint = _text(entry.get("endpoint", "*"), f"{key}.endpoint", error)
        justification = _text(entry["justification"], f"{key}.justification", error).strip()
        if not justification:
            raise error(f"{key}.justification", "must say why the finding is accepted")
        rules.append(Rule(check.lower(), endpoint.lower(), justification,
                          _date(entry["expires"], f"{key}.expires", error)))
    return Baseline(tuple(rules), source)


def _text(value: Any, key: str, error: Any) -> str:
    if not isinstance(value, str) or not value:
        raise error(key, "expected a non-empty string")
    return value


def _date(value: Any, key: str, error: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise error(key, "expected a date such as 2026-03-31")
