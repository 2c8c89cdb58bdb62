"""Is an Exchange build current, is its product's support what it seems, and how old is what we know.

Pure knowledge over casaudit's package data, no clock (every "today" is the
scan's own date, passed in):

* ``exchange-builds.csv`` (via :mod:`casaudit.identify`): the updates of each
  line a build can be patched within. For products serviced by cumulative
  updates (2013 and later) the line is the CU (``15.2.1544``): its security
  and hotfix updates share the first three numbers. For the update-rollup
  products (2007, 2010) the line is the service pack (``8.3``): each rollup
  is a new third number.
* ``exchange-support-policy.csv``: the lifecycle rules that are not a fixed end
  date, each row with its source: the paid Extended Security Update periods of
  2016 and 2019, and Exchange SE's "supported while current" rule.
* ``exchange-tables.toml``: the day the build table was last checked complete
  against its sources (``as_of``); an update released after it is unknown here.
"""

from __future__ import annotations

import calendar
import csv
import io
import tomllib
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources

from casaudit.identify import EX2007, EX2010, Build, BuildRow, Tables, tables

#: After this many days the build table may miss updates; a scan says so (issue #17).
STALE_AFTER_DAYS = 90
#: A missing update older than this makes exchange.security_update_missing high, else medium.
OVERDUE_AFTER_DAYS = 90
_ROLLUP_PRODUCTS = frozenset({EX2007, EX2010})
REFRESH_HINT = "refresh with scripts/refresh_exchange_tables.py or upgrade casaudit"


# --------------------------------------------------------------------------- table age


@dataclass(frozen=True)
class TableVintage:
    """When the build table was last checked complete, and from what."""

    as_of: date
    newest_release: date
    sources: tuple[str, ...]


def parse_vintage(text: str) -> TableVintage:
    builds = tomllib.loads(text)["builds"]
    return TableVintage(builds["as_of"], builds["newest_release"], tuple(builds["sources"]))


@cache
def vintage() -> TableVintage:
    """The shipped tables' vintage (read once per process)."""
    data = resources.files("casaudit") / "data"
    return parse_vintage((data / "exchange-tables.toml").read_text(encoding="utf-8"))


def table_age_days(scan_day: date, as_of: date | None = None) -> int:
    return (scan_day - (as_of or vintage().as_of)).days


def stale_table_sentence(scan_day: date, as_of: date | None = None) -> str | None:
    """One sentence when the build table is older than STALE_AFTER_DAYS at the scan; else None."""
    as_of = as_of or vintage().as_of
    age = table_age_days(scan_day, as_of)
    if age <= STALE_AFTER_DAYS:
        return None
    return (f"the Exchange build table is {age} days old (as of {as_of}): updates released "
            f"since are unknown to this scan; {REFRESH_HINT}")


# --------------------------------------------------------------------------- release dates


def release_day(text: str) -> date:
    """A table release date; a month-only one (``2019-06``) counts as the month's last day.

    The last day, so an update known only by its month is never aged older than it is.
    """
    if len(text) == 7:
        year, month = int(text[:4]), int(text[5:])
        return date(year, month, calendar.monthrange(year, month)[1])
    return date.fromisoformat(text)


def _first_day(text: str) -> date:
    return date.fromisoformat(text + "-01") if len(text) == 7 else date.fromisoformat(text)


# --------------------------------------------------------------------------- update currency


@dataclass(frozen=True)
class Currency:
    """Where a build stands in its own update line on the scan's day."""

    #: The CU (or service pack) line: "CU14 (2024H1)", "SP3".
    line: str
    #: Updates of that line newer than the build and released by the scan day, oldest first.
    missing: tuple[BuildRow, ...]
    #: The newest update of the line released by the scan day.
    newest: BuildRow
    #: Days between the oldest missing update's release and the scan; None if none missing.
    oldest_age_days: int | None


def update_line(build: Build, product: str, table: Tables) -> tuple[BuildRow, ...]:
    """Every table row of the line `build` is patched within, oldest build first."""
    if product in _ROLLUP_PRODUCTS:
        major, minor = build.parts[0], build.parts[1]
        rows = [r for r in table.rows if r.build.parts[:2] == (major, minor)]
        return tuple(sorted(rows, key=lambda r: r.build))
    return table.by_short.get(build.short, ())


def currency(build: Build, product: str, scan_day: date, table: Tables | None = None) -> Currency | None:
    """The updates of its own line `build` lacks on `scan_day`; None when the table has no line.

    Only a 4-part build can be judged (the caller checks): three parts name the CU, not the
    update installed on it.
    """
    line = [r for r in update_line(build, product, table or tables())
            if release_day(r.release_date) <= scan_day]
    if not line:
        return None
    missing = tuple(r for r in line if r.build > build)
    oldest = (scan_day - release_day(missing[0].release_date)).days if missing else None
    return Currency(_line_name(line[0]), missing, line[-1], oldest)


def _line_name(first: BuildRow) -> str:
    """"CU14", "SP3" or "RTM": the line's name, the first word of its rows' version names."""
    return first.version_name.split(" ", 1)[0]


# --------------------------------------------------------------------------- lifecycle policy


@dataclass(frozen=True)
class PolicyRule:
    product: str
    #: "esu_period" (value: its name) or "supported_cus" (value: how many newest CUs).
    rule: str
    start: date
    end: date | None
    value: str
    source: str


def parse_policy(text: str) -> tuple[PolicyRule, ...]:
    rules = []
    for record in csv.DictReader(io.StringIO(text)):
        end = record["end"]
        rules.append(PolicyRule(
            record["product"], record["rule"], _first_day(record["start"]),
            release_day(end) if end else None, record["value"], record["source"],
        ))
    return tuple(rules)


@cache
def policy() -> tuple[PolicyRule, ...]:
    data = resources.files("casaudit") / "data"
    return parse_policy((data / "exchange-support-policy.csv").read_text(encoding="utf-8"))


def esu_periods(product: str, rules: tuple[PolicyRule, ...] | None = None) -> tuple[PolicyRule, ...]:
    return tuple(r for r in (rules or policy()) if r.product == product and r.rule == "esu_period")


def esu_text(product: str, rules: tuple[PolicyRule, ...] | None = None) -> str:
    """"Period 1 2025-10-15 to 2026-04-14; Period 2 2026-05-01 to 2026-10-31"."""
    return "; ".join(f"{r.value} {r.start} to {r.end}" for r in esu_periods(product, rules))


def is_esu_build(row: BuildRow, extended_end: date | None) -> bool:
    """A build Microsoft released after the product's extended support ended: a paid ESU update."""
    return extended_end is not None and release_day(row.release_date) > extended_end


@dataclass(frozen=True)
class CuSupport:
    """Is a CU still one Microsoft services, under a "newest N CUs" rule."""

    supported: bool
    #: The CUs released by the scan day, newest first ("CU2", "CU1").
    newest_cus: tuple[str, ...]
    rule: PolicyRule


def cu_support(build: Build, product: str, scan_day: date, table: Tables | None = None,
               rules: tuple[PolicyRule, ...] | None = None) -> CuSupport | None:
    """Whether `build`'s CU is among the newest CUs its product's policy supports; None without a rule."""
    rule = next((r for r in (rules or policy())
                 if r.product == product and r.rule == "supported_cus"), None)
    if rule is None:
        return None
    firsts: dict[tuple[int, int, int], BuildRow] = {}
    for row in (table or tables()).rows:
        if row.product == product and release_day(row.release_date) <= scan_day:
            known = firsts.get(row.build.short)
            if known is None or row.build < known.build:
                firsts[row.build.short] = row
    ordered = sorted(firsts.values(), key=lambda r: r.build, reverse=True)
    if not ordered:
        return None
    kept = ordered[:int(rule.value)]
    # A CU newer than the table's newest is not judged behind: the table cannot know it.
    supported = build.short >= kept[-1].build.short
    return CuSupport(supported, tuple(_line_name(r) for r in kept), rule)


@dataclass(frozen=True)
class TableNote:
    """What a report's method section says about the build table a scan was judged with."""

    as_of: str
    #: "N days before the scan: ...", or None when the table was fresh at the scan.
    stale: str | None


def table_note(as_of_text: object, started_at: object) -> TableNote | None:
    """The note for a document's `tool.build_table_as_of` and `started_at`; None when absent.

    Documents written before the field existed, or with unreadable dates, get no note.
    """
    try:
        as_of = date.fromisoformat(str(as_of_text))
        scan_day = date.fromisoformat(str(started_at)[:10])
    except ValueError:
        return None
    age = table_age_days(scan_day, as_of)
    stale = (f"{age} days before the scan: updates released since are unknown to it"
             if age > STALE_AFTER_DAYS else None)
    return TableNote(str(as_of), stale)
