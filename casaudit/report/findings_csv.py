"""The findings as CSV for spreadsheets: one row per finding, worst first.

After the finding's own columns, three say whether a baseline file accepts the
finding, until when and why, so a spreadsheet can filter what still needs work.

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
           "remediation", "evidence", "references")
#: After the finding's own columns, so that existing columns keep their place:
#: `accepted` is yes/no, the other two are empty for a finding not accepted.
ACCEPTED_COLUMNS = ("accepted", "accepted_until", "accepted_justification")
HEADER = COLUMNS + ACCEPTED_COLUMNS + ("host",)
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
    return _csv_text([HEADER])


def rows(document: Mapping[str, Any]) -> str:
    """The rows of one scan's findings, without the header line."""
    host = ", ".join(str(t.get("host")) for t in document.get("targets", []))
    return _csv_text(_row(finding, host) for finding in document.get("findings", []))


def _row(finding: Mapping[str, Any], host: str) -> list[str]:
    accepted = finding.get("accepted") or {}
    return ([cell(finding.get(column)) for column in COLUMNS]
            + ["yes" if accepted else "no", cell(accepted.get("expires")),
               cell(accepted.get("justification")), cell(host)])


def _csv_text(records: Iterable[Sequence[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(records)
    return out.getvalue()


ENCODING = "utf-8-sig"
