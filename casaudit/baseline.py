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

Finding endpoints always carry a port (`https://mail.example.com:443/owa`,
`imap://mail.example.com:143`). An endpoint glob written without one is read
with the scheme's default port, as a browser would: `https://mail.example.com/owa/*`
is `https://mail.example.com:443/owa/*`. This is done once, when the file is
read; a glob whose name part ends in `*` (which already matches any port), or
whose scheme is itself a glob, is left as written.

`Baseline.apply` also says which rules matched at least one finding, so that
a rule that matches nothing (a typo in a check id, a wrong port) is reported
rather than silently accepting nothing.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, NamedTuple

from casaudit.errors import UsageError
from casaudit.model import Acceptance, AuditResult, Finding
from casaudit.plan import DEFAULT_PORTS

MAX_RULES = 10_000
#: Every scheme a finding endpoint can have, with the port a URL without one means.
SCHEME_PORTS: Mapping[str, int] = {**DEFAULT_PORTS, "dns": 53}
_GLOB = re.compile(r"[*?\[]")
_URL_GLOB = re.compile(r"^(?P<scheme>[^:/]+)://(?P<authority>[^/]*)(?P<rest>.*)$", re.DOTALL)


@dataclass(frozen=True)
class Rule:
    check: str
    #: The glob as matched: lower-cased, with the scheme's default port when written without one.
    endpoint: str
    justification: str
    expires: dt.date
    #: Its place in the file (accept[N]) and the endpoint glob as written, for messages.
    number: int = 0
    written_endpoint: str = ""

    def matches(self, finding: Finding) -> bool:
        return fnmatchcase(finding.check.lower(), self.check) and fnmatchcase(
            finding.endpoint.lower(), self.endpoint
        )

    def active_on(self, day: dt.date) -> bool:
        return day <= self.expires

    def describe(self) -> str:
        """`accept[3] (check "...", endpoint "...")`, as the user wrote it."""
        written = self.written_endpoint or self.endpoint
        endpoint = f'endpoint "{written}"'
        if written.lower() != self.endpoint:
            endpoint += f', read as "{self.endpoint}"'
        return f'accept[{self.number}] (check "{self.check}", {endpoint})'


class _Seen(NamedTuple):
    """A finding as a document holds it: what `Rule.matches` reads."""

    check: str
    endpoint: str


class Applied(NamedTuple):
    """What `Baseline.apply` found in one result."""

    #: The result with accepted findings marked.
    result: AuditResult
    #: (finding, rule) for each finding whose acceptance has expired: it counts again.
    expired: list[tuple[Finding, Rule]]
    #: The numbers of the rules that matched at least one finding (active or expired).
    matched: frozenset[int]


@dataclass(frozen=True)
class Baseline:
    rules: tuple[Rule, ...]
    source: str = "<baseline>"

    def apply(self, result: AuditResult) -> Applied:
        """The result with accepted findings marked, the expired acceptances, the rules used."""
        day = scan_day(result.started_at)
        expired: list[tuple[Finding, Rule]] = []
        matched: set[int] = set()
        findings = []
        for finding in result.findings:
            matching = [rule for rule in self.rules if rule.matches(finding)]
            matched.update(rule.number for rule in matching)
            active = next((rule for rule in matching if rule.active_on(day)), None)
            if active is not None:
                finding = replace(finding, accepted=Acceptance(
                    justification=active.justification, expires=active.expires.isoformat()))
            else:
                finding = replace(finding, accepted=None)
                if matching:
                    expired.append((finding, max(matching, key=lambda rule: rule.expires)))
            findings.append(finding)
        return Applied(replace(result, findings=tuple(findings)), expired, frozenset(matched))

    def usage(self, document: Mapping[str, Any]) -> tuple[dict[int, int], frozenset[int]]:
        """What `apply` found, read back from the scan document it produced (a worker applied
        the baseline elsewhere): expired rules (by number) with the findings they no longer
        cover, and the rules that matched at least one finding."""
        day = scan_day(document["started_at"])
        lapsed: dict[int, int] = {}
        matched: set[int] = set()
        for seen in document["findings"]:
            finding = _Seen(seen["check"], seen["endpoint"])
            matching = [rule for rule in self.rules if rule.matches(finding)]  # type: ignore[arg-type]
            matched.update(rule.number for rule in matching)
            if matching and not any(rule.active_on(day) for rule in matching):
                number = max(matching, key=lambda rule: rule.expires).number
                lapsed[number] = lapsed.get(number, 0) + 1
        return lapsed, frozenset(matched)

    def expired_lines(self, lapsed: Mapping[int, int], hosts: Mapping[int, int] | None = None) -> list[str]:
        """One line per expired rule: `lapsed` counts the findings it no longer covers, by
        rule number; `hosts`, in a fleet, on how many hosts."""
        lines = []
        for rule in self.rules:
            count = lapsed.get(rule.number, 0)
            if not count:
                continue
            where = f" on {_plural(hosts[rule.number], 'host')}" if hosts is not None else ""
            verb = "counts" if count == 1 else "count"
            lines.append(f"{self.source} {rule.describe()} expired on {rule.expires.isoformat()}: "
                         f"{_plural(count, 'finding')}{where} {verb} again")
        return lines

    def unused_lines(self, matched: Iterable[int], known_checks: Iterable[str]) -> list[str]:
        """One line per rule that matched no finding, saying when its check id names no check."""
        used = set(matched)
        known = tuple(known_checks)
        lines = []
        for rule in self.rules:
            if rule.number in used:
                continue
            line = f"{self.source} {rule.describe()} matched no finding"
            if _GLOB.search(rule.check) is None:
                if rule.check not in known:
                    line += "; no such check; see `casaudit checks`"
            elif not any(fnmatchcase(check, rule.check) for check in known):
                line += "; the check glob matches no check; see `casaudit checks`"
            lines.append(line)
        return lines


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def with_default_port(endpoint: str) -> str:
    """The endpoint glob with the scheme's default port put in when its name part has none."""
    url = _URL_GLOB.match(endpoint)
    if url is None:
        return endpoint
    scheme, authority, rest = url.group("scheme", "authority", "rest")
    port = SCHEME_PORTS.get(scheme)
    # A trailing `*` already matches any port; a bracketed IPv6 literal has colons of its own.
    if port is None or not authority or authority.endswith("*") or ":" in authority.rpartition("]")[2]:
        return endpoint
    return f"{scheme}://{authority}:{port}{rest}"


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
        rules.append(Rule(check.lower(), with_default_port(endpoint.lower()), justification,
                          _date(entry["expires"], f"{key}.expires", error), index, endpoint))
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
