"""The findings as CSV for spreadsheets: one row per finding, worst first.

The last columns say whether a baseline file accepts the finding, until when
and why, so a spreadsheet can filter what still needs work.

Written UTF-8 with a byte-order mark so spreadsheet programs read non-ASCII
text right. A cell that a spreadsheet would run as a formula (starting with
=, +, -, @, tab or carriage return) gets a leading apostrophe: server text
in `observed` must never become a formula on the auditor's machine.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

COLUMNS = ("id", "severity", "check", "title", "endpoint", "recommendations", "observed",
           "remediation", "evidence", "references")
#: After the finding's own columns, so that existing columns keep their place:
#: `accepted` is yes/no, the other two are empty for a finding not accepted.
ACCEPTED_COLUMNS = ("accepted", "accepted_until", "accepted_justification")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    if isinstance(value, (list, tuple)):
        value = "; ".join(str(v) for v in value)
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def render(document: Mapping[str, Any]) -> str:
    """CSV text (without the BOM; `write` adds it)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS + ACCEPTED_COLUMNS)
    for finding in document.get("findings", []):
        accepted = finding.get("accepted") or {}
        writer.writerow([cell(finding.get(column)) for column in COLUMNS]
                        + ["yes" if accepted else "no", cell(accepted.get("expires")),
                           cell(accepted.get("justification"))])
    return out.getvalue()


ENCODING = "utf-8-sig"
