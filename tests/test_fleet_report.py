"""The fleet views (terminal table, HTML index, progress line) show each host's status as it is."""

from __future__ import annotations

import io
import re
import sys

import pytest

from casaudit.api import ScanOptions
from casaudit.fleet import FleetRun, HostError, HostResult, _document, fleet_entry
from casaudit.plan import Target
from casaudit.report import fleet as fleet_report
from casaudit.runs import _Progress
from casaudit.targets import ScanTarget

REASONS = {
    "assessed": "all 9 check rows that apply were assessed",
    "partially_assessed": "2 of 9 check rows that apply could not be assessed (timeout x2)",
    # server text never reaches a reason, but the views must not trust that
    "not_assessed": "no Client Access service answered <script>alert(1)</script> \x1b]0;pwned\x07",
}


def _host(name: str, error: HostError | None = None) -> HostResult:
    target = ScanTarget(Target(name, name.split(".", 1)[1]), ScanOptions(), {})
    return HostResult(target, "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", error=error)


def _scan(status: str, high: int = 0) -> dict:
    return {
        "summary": {"status": status, "status_reason": REASONS[status],
                    "findings_by_severity": {"critical": 0, "high": high, "medium": 0, "low": 0, "info": 0}},
        "findings": [{"id": f"F00{n}", "severity": "high", "check": "http.basic_cleartext",
                      "endpoint": f"http://mail.a.test:80/{n}", "accepted": None} for n in range(high)],
    }


@pytest.fixture
def document() -> dict:
    hosts = [_host("mail.a.test"), _host("mail.b.test"), _host("mail.c.test"),
             _host("mail.d.test", HostError("target", "cannot resolve mail.d.test"))]
    scans = [_scan("assessed", high=2), _scan("partially_assessed"), _scan("not_assessed"), None]
    run = FleetRun("2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z", 2, hosts)
    return _document(run, [fleet_entry(host, scan) for host, scan in zip(hosts, scans, strict=True)])


def test_terminal_table_shows_each_hosts_status_and_the_totals(document):
    out = io.StringIO()
    fleet_report.summary(document, out)
    lines = out.getvalue().splitlines()
    assert lines[0].endswith(": 4 hosts: 1 assessed, 1 partially assessed, 1 not assessed, 1 error")
    header = lines[1]
    status_at, counts_at = header.index("STATUS"), header.index("CRIT")
    rows = {line.split()[0]: line for line in lines[2:] if line.startswith("mail.")}
    assert {host: row[status_at:counts_at].strip() for host, row in rows.items()} == {
        "mail.a.test": "assessed", "mail.b.test": "partially assessed", "mail.c.test": "not assessed",
        "mail.d.test": "error"}
    # the counts line up under their headers whatever the status
    assert [rows[h][counts_at:].split()[:2] for h in ("mail.a.test", "mail.b.test", "mail.c.test")] == [
        ["0", "2"], ["0", "0"], ["0", "0"]]
    assert rows["mail.d.test"][counts_at:].startswith("target: cannot resolve mail.d.test")
    # a host that saw nothing says why, under its row, with control characters shown inert
    why = lines[lines.index(rows["mail.c.test"]) + 1]
    assert why.strip().startswith("not assessed: no Client Access service answered <script>")
    assert "\\x1b]0;pwned\\x07" in why and "\x1b" not in out.getvalue()


def test_html_index_shows_each_hosts_status_escaped(document, tmp_path):
    index = fleet_report.write_index(document, tmp_path).read_text()
    assert "1 assessed, 1 partially assessed, 1 not assessed, 1 error." in index
    for host, status, label in (("mail.a.test", "assessed", "assessed"),
                                ("mail.b.test", "partially_assessed", "partially assessed"),
                                ("mail.c.test", "not_assessed", "not assessed")):
        row = index[index.index(f">{host}</a>"):]
        row = row[: row.index("</tr>")]
        assert f'<td class="status st-{status}">{label}' in row
        assert (REASONS[status].split(" <")[0] in row) == (status != "assessed")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in index and "<script>" not in index
    assert '<tr data-host="mail.d.test" data-status="error">' in index
    assert "cannot resolve mail.d.test" in index


def test_progress_line_shows_the_hosts_status(monkeypatch):
    err = io.StringIO()
    err.isatty = lambda: True  # type: ignore[method-assign]
    monkeypatch.setattr(sys, "stderr", err)
    progress = _Progress(3)
    progress.done(0, _host("mail.a.test"), "partially_assessed")
    progress.done(1, _host("mail.b.test"), "not_assessed")
    progress.done(2, _host("mail.c.test", HostError("deadline", "too slow")), "error")
    progress.close()
    # (the finished lines, without the live area drawn around them)
    printed = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", err.getvalue())
    assert re.findall(r"\[\d/3\] [^\r\n]*", printed) == [
        "[1/3] mail.a.test: partially assessed", "[2/3] mail.b.test: not assessed",
        "[3/3] mail.c.test: error (deadline)"]
