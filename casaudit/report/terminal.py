"""The summary printed after a scan: headline, host status, counts, grades, top findings.

Everything judged here is the engine's (`summary.headline`, `summary.status`,
`summary.areas`): shown as it is, never recomputed.

Drawn with rich. Colour only on a terminal, and never when NO_COLOR is set
or TERM is dumb; off a terminal (CI logs, pipes) the table is
plain text at a fixed width, so lines are never cut at 80 columns.
On a terminal too narrow for one line per top finding, each finding's
endpoint (and acceptance) goes under its check id and folds there: the
severity, the whole check id and "accepted" are never dropped or cut.

Anything that may come from a server passes through `safe()` and reaches rich
as a Text object, never as markup, so neither an escape sequence nor a
"[bold]" in a banner can drive the user's terminal.
"""

from __future__ import annotations

import os
import re
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from casaudit.report import view

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
TOP_FINDINGS = 10
PLAIN_WIDTH = 120
_UNBOUNDED = 100_000
SEVERITY_STYLE = {"critical": "bold white on red", "high": "bold red", "medium": "yellow",
                  "low": "cyan", "info": "dim"}
VERDICT_STYLE = {"fail": "bold red", "attention": "bold yellow", "pass": "bold green", "unknown": "bold"}
STATUS_STYLE = {"assessed": "bold green", "partially_assessed": "bold yellow", "not_assessed": "bold red"}


def safe(text: object, limit: int = 300) -> str:
    """Printable text: control characters shown as \\xNN, length capped."""
    value = _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", str(text))
    return value if len(value) <= limit else value[: limit - 1] + "…"


def console_for(out: TextIO, plain_width: int = PLAIN_WIDTH) -> Console:
    """A console on `out`: the terminal's width there, else wide enough for whole rows."""
    terminal = out.isatty() if hasattr(out, "isatty") else False
    # NO_COLOR (no-color.org): no ANSI styling at all, bold included.
    styled = terminal and not os.environ.get("NO_COLOR")
    return Console(file=out, width=None if terminal else plain_width, highlight=False,
                   emoji=False, markup=False, soft_wrap=False,
                   color_system="auto" if styled else None, force_terminal=terminal)


def summary(document: dict[str, Any], out: TextIO, *, full_report: bool = False) -> None:
    """`full_report`: a report listing every finding (--html, --pdf, --json, --csv) is being written."""
    findings = document["findings"]
    longest = max((len(safe(f["check"], 60)) + len(safe(f["endpoint"], 200)) for f in findings), default=0)
    # severity (8) + "until YYYY-MM-DD" (16) + three column gaps of 3: the top table never cuts a cell
    console = console_for(out, max(PLAIN_WIDTH, longest + 36))
    for target in document["targets"]:
        console.print(Text(
            f"casaudit {safe(document['tool']['version'])}: {safe(target['host'])} "
            f"(domain {safe(target['domain'])}, {safe(', '.join(target['addresses']))})"
        ))
    verdict = view.overall(document)
    line = Text()
    line.append(verdict.headline, style=VERDICT_STYLE.get(verdict.level, ""))
    line.append(f": {safe(verdict.detail, 600)}")
    # One line each, however long: the terminal wraps them, a log keeps them greppable.
    console.print(line, soft_wrap=True)
    status = view.host_status(document)
    state = Text("Assessment: ")
    state.append(status.label, style=STATUS_STYLE.get(status.status, "bold"))
    if status.reason:
        state.append(f" — {safe(status.reason, 600)}")
    console.print(state, soft_wrap=True)

    counts = document["summary"]["findings_by_severity"]
    statuses = document["summary"]["checks_by_status"]
    table = Table(box=box.SIMPLE, show_edge=False, pad_edge=False)
    for severity in view.SEVERITY_ORDER:
        table.add_column(severity, justify="right", header_style=SEVERITY_STYLE[severity])
    table.add_column("checks", justify="left")
    table.add_row(*(str(counts.get(s, 0)) for s in view.SEVERITY_ORDER), safe(view.counts_text(statuses)))
    console.print(table)

    grades = Table(box=box.SIMPLE, show_edge=False, pad_edge=False, show_header=False)
    grades.add_column("grade", justify="center")
    grades.add_column("area")
    grades.add_column("summary")
    for area in view.area_grades(document):
        grades.add_row(Text(area.grade), Text(safe(area.label)), Text(safe(area.summary, 600)))
    console.print(grades)

    if not findings:
        return
    # One line per check and host, as in the HTML report: "9 endpoints of mail.example.com".
    groups = [group for _, members in view.finding_groups(findings) for group in members]
    console.print(_top_findings(groups, len(findings), console))
    if len(groups) > TOP_FINDINGS:
        more = len(groups) - TOP_FINDINGS
        # Only point at a report the user is getting; else say how to get one.
        where = " in the full report" if full_report else ": write them with --html PATH or --json PATH"
        console.print(Text(f"… and {more} more{where}"))


def _top_findings(groups: list[view.FindingGroup], findings: int, console: Console) -> Table:
    """One line per group when the console is wide enough, else the endpoint under the check."""
    wide = _top_table(groups, findings, stacked=False)
    # Measured without the console's limit: its widest row, not what it would be squeezed to.
    unbounded = console.options.update_width(_UNBOUNDED)
    if Measurement.get(console, unbounded, wide).maximum <= console.width:
        return wide
    return _top_table(groups, findings, stacked=True)


def _top_table(groups: list[view.FindingGroup], findings: int, *, stacked: bool) -> Table:
    top = groups[:TOP_FINDINGS]
    shown = sum(group.size for group in top)
    table = Table(title=f"top findings ({shown} of {findings}, by check and host)",
                  title_justify="left", box=box.SIMPLE, show_edge=False, pad_edge=False)
    table.add_column("severity", no_wrap=True)
    if stacked:
        table.add_column("finding", overflow="fold")
    else:
        table.add_column("check", no_wrap=True)
        table.add_column("endpoint", no_wrap=True)
        table.add_column("accepted", no_wrap=True)
    for group in top:
        severity = Text(group.severity.upper(), style=SEVERITY_STYLE.get(group.severity, ""))
        check, where = safe(group.check, 60), safe(group.heading, 200)
        until = _accepted_text(group)
        if stacked:
            lines = [check, where] + ([f"accepted {until}"] if until else [])
            table.add_row(severity, Text("\n".join(lines)))
        else:
            table.add_row(severity, Text(check), Text(where), Text(until))
    return table


def _accepted_text(group: view.FindingGroup) -> str:
    """"until 2026-03-31" when the baseline accepts the group, "2 of 9 until ..." when partly."""
    dates = sorted({str(f["accepted"]["expires"]) for f in group.findings if f.get("accepted")})
    if not dates:
        return ""
    until = f"until {safe(dates[0])}"
    return until if group.accepted == group.size else f"{group.accepted} of {group.size} {until}"
