"""The findings as CSV for spreadsheets: one row per finding, worst first.

Written UTF-8 with a byte-order mark so spreadsheet programs read non-ASCII
text right. A cell that a spreadsheet would run as a formula (starting with
=, +, -, @, tab or carriage return) gets a leading apostrophe: server text
in `observed` must never become a formula on the auditor's machine.

The last column, `host`, is the scanned host the finding is about: the same
in every row of one scan, and what tells the hosts apart in the one file of
`scan --targets --csv` (`header` once, then `rows` of each host).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

COLUMNS = ("id", "severity", "check", "title", "endpoint", "recommendations", "observed",
           "remediation", "evidence", "references", "host")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    if isinstance(value, (list, tuple)):
        value = "; ".join(str(v) for v in value)
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def render(document: Mapping[str, Any]) -> str:
    """CSV text (without the BOM; `write` adds it)."""
    return header() + rows(document)


def header() -> str:
    return _csv_text([COLUMNS])


def rows(document: Mapping[str, Any]) -> str:
    """The rows of one scan's findings, without the header line."""
    host = ", ".join(str(t.get("host")) for t in document.get("targets", []))
    return _csv_text(
        [cell(finding.get(column)) for column in COLUMNS[:-1]] + [cell(host)]
        for finding in document.get("findings", []))


def _csv_text(records: Iterable[Sequence[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(records)
    return out.getvalue()


ENCODING = "utf-8-sig"
