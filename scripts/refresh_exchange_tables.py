#!/usr/bin/env python3
"""Refresh casaudit's shipped Exchange tables from the curated CSVs.

    python scripts/refresh_exchange_tables.py [SOURCE_DIR]

SOURCE_DIR (default ``../shared/data`` next to the checkout, or
``$CASAUDIT_TABLES``) holds ``exchange-builds.csv`` and
``exchange-lifecycle.csv``. Each is validated row by row before it replaces the
package data in ``casaudit/data/``: a malformed table never ships, and nothing
is fetched from the network.

Where each column comes from:

exchange-builds.csv (one row per released build):
  product       "Exchange Server 2007" ... "Exchange Server SE", from the build's
                major.minor (8 = 2007, 14 = 2010, 15.0 = 2013, 15.1 = 2016,
                15.2 = 2019, 15.2 from build 2562 = SE; CSS-Exchange's rule).
  version_name  the update's name on Microsoft Learn's "Exchange Server build
                numbers and release dates" page ("CU14 Aug26SU", "SP3 RU21");
                its first word is the CU or service pack whose line the update
                patches (exchange.security_update_missing reads it so).
  build         the 4-part build from that page; for builds the page lacks,
                Microsoft's Get-ExchangeBuildNumber ExchangeBuildNumbers.csv,
                then CSS-Exchange's Get-ExchangeBuildVersionInformation.ps1.
  build_short   the build's first three parts (the CU, as /owa/auth/ paths show it).
  release_date  ISO date from the same source; YYYY-MM where only the month is
                known (CSS-Exchange SU names), read as that month's last day.
exchange-lifecycle.csv: mainstream_end and extended_end from Microsoft's
  lifecycle data (lifecycle-data exchange-server-20xx.yml); both empty for
  Exchange SE (Modern Lifecycle Policy: no fixed end).

Kept in casaudit/data/ only, edited by hand with their sources (not copied):
  exchange-support-policy.csv  lifecycle rules that are not a fixed date (paid
                ESU periods of 2016/2019, SE's "newest CUs" rule), each row
                with a `source` column.
  exchange-tables.toml  `as_of`: the day the build table was last checked
                complete against the sources above, and `newest_release`, its
                newest release_date. Update both with every refresh: a scan
                more than 90 days after `as_of` warns that newer updates are
                unknown to it. This script refuses a build table whose newest
                release_date is not `newest_release`, so the two cannot drift.

Exit codes: 0 written (or already current), 1 a table is invalid, 2 usage.
"""

from __future__ import annotations

import csv
import io
import os
import re
import sys
import tomllib
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "casaudit" / "data"
BUILDS = "exchange-builds.csv"
LIFECYCLE = "exchange-lifecycle.csv"
VINTAGE = "exchange-tables.toml"
BUILD_COLUMNS = ["product", "version_name", "build", "build_short", "release_date"]
LIFECYCLE_COLUMNS = ["product", "mainstream_end", "extended_end"]
_BUILD = re.compile(r"^(0|[1-9][0-9]{0,4})(\.(0|[1-9][0-9]{0,4})){3}$")
_MONTH = re.compile(r"^[0-9]{4}-[0-9]{2}$")


class TableError(Exception):
    pass


def _rows(text: str, columns: list[str], name: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames != columns:
        raise TableError(f"{name}: columns {reader.fieldnames} != expected {columns}")
    rows = list(reader)
    if not rows:
        raise TableError(f"{name}: no rows")
    return rows


def _date(text: str, where: str, *, month_ok: bool = False) -> None:
    if month_ok and _MONTH.match(text):
        return
    try:
        date.fromisoformat(text)
    except ValueError:
        raise TableError(f"{where}: {text!r} is not an ISO date") from None


def validate_builds(text: str) -> int:
    seen: set[str] = set()
    rows = _rows(text, BUILD_COLUMNS, BUILDS)
    for number, row in enumerate(rows, start=2):
        where = f"{BUILDS} line {number}"
        build = row["build"]
        if not _BUILD.match(build):
            raise TableError(f"{where}: build {build!r} is not four numbers without leading zeros")
        if row["build_short"] != build.rsplit(".", 1)[0]:
            raise TableError(
                f"{where}: build_short {row['build_short']!r} is not {build}'s first three parts"
            )
        if build in seen:
            raise TableError(f"{where}: build {build} repeats")
        seen.add(build)
        if not row["product"].startswith("Exchange Server ") or not row["version_name"]:
            raise TableError(f"{where}: product and version_name are required")
        _date(row["release_date"], where, month_ok=True)
    return len(rows)


def validate_lifecycle(text: str) -> int:
    rows = _rows(text, LIFECYCLE_COLUMNS, LIFECYCLE)
    for number, row in enumerate(rows, start=2):
        for column in ("mainstream_end", "extended_end"):
            if row[column]:
                _date(row[column], f"{LIFECYCLE} line {number} {column}")
    return len(rows)


def check_vintage(builds_text: str, vintage_text: str) -> None:
    """The table's date must be set for the table being shipped (see the module doc)."""
    recorded = tomllib.loads(vintage_text)["builds"]
    newest = max(row["release_date"] for row in csv.DictReader(io.StringIO(builds_text)))
    if str(recorded["newest_release"]) != newest:
        raise TableError(
            f"{VINTAGE}: newest_release {recorded['newest_release']} but {BUILDS}'s newest "
            f"release_date is {newest}: set newest_release and as_of (the day you checked "
            "the table against its sources) first"
        )


def refresh(source: Path, target: Path = TARGET) -> list[str]:
    """Validate both tables in `source`, then copy them; returns what changed."""
    texts = {}
    for name in (BUILDS, LIFECYCLE):
        try:
            texts[name] = (source / name).read_text(encoding="utf-8")
        except OSError as exc:
            raise TableError(f"cannot read {source / name}: {exc.strerror}") from None
    validate_builds(texts[BUILDS])
    validate_lifecycle(texts[LIFECYCLE])
    check_vintage(texts[BUILDS], (TARGET / VINTAGE).read_text(encoding="utf-8"))
    changed = []
    for name, text in texts.items():
        destination = target / name
        if destination.exists() and destination.read_text(encoding="utf-8") == text:
            continue
        destination.write_text(text, encoding="utf-8")
        changed.append(name)
    return changed


def main(argv: list[str]) -> int:
    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        print(__doc__, file=sys.stderr)
        return 2
    default = os.environ.get("CASAUDIT_TABLES") or str(ROOT.parent / "shared" / "data")
    source = Path(argv[0] if argv else default)
    try:
        changed = refresh(source)
    except TableError as exc:
        print(f"refresh_exchange_tables: {exc}", file=sys.stderr)
        return 1
    print(f"updated: {', '.join(changed)}" if changed else "tables already current")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
