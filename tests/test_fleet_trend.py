"""The trend's series (pure functions of history rows) and the fleet index's bounds, without a browser."""

from __future__ import annotations

import re
from html import unescape

import pytest

from casaudit.api import ScanOptions
from casaudit.fleet import FleetRun, FleetSpool, HostResult, fleet_entry
from casaudit.history import ScanRow, open_store
from casaudit.plan import Target
from casaudit.recommendations import RECOMMENDATION_IDS
from casaudit.report import fleet as fleet_report
from casaudit.report import html
from casaudit.report.trend import bar_chart, fleet_nights, latest_per_night, sparkline
from casaudit.targets import ScanTarget
from tests.conftest import run_cli
from tests.scan_documents import not_assessed_document

SEVERITIES = ("critical", "high", "medium", "low", "info")


def _row(number: int, host: str, started_at: str, status: str = "assessed", **counts: int) -> ScanRow:
    by_severity = {s: counts.get(s, 0) for s in SEVERITIES} if status == "assessed" else {}
    worst = next((s for s in SEVERITIES if counts.get(s)), None)
    return ScanRow(number, host, "a.test", {}, started_at, started_at, status, None, None, worst,
                   by_severity, 0)


def test_a_night_keeps_the_latest_assessed_scan_in_utc():
    rows = [
        _row(1, "mail.a.test", "2026-03-01T01:00:00Z", high=5),
        _row(2, "mail.a.test", "2026-03-01T23:59:59Z", high=2),  # same UTC night, later: kept
        _row(3, "mail.a.test", "2026-03-02T00:00:01Z", status="error"),  # down: never a night of zero
        _row(4, "mail.a.test", "2026-03-02T00:00:01Z", low=1),
    ]
    latest = latest_per_night(reversed(rows))  # the history gives newest first
    assert {night: row.id for night, row in latest.items()} == {"2026-03-01": 2, "2026-03-02": 4}


def test_fleet_nights_sum_each_hosts_latest_scan_of_the_night():
    a = [_row(1, "mail.a.test", "2026-03-01T01:00:00Z", high=5),
         _row(2, "mail.a.test", "2026-03-01T02:00:00Z", high=2),
         _row(3, "mail.a.test", "2026-03-02T01:00:00Z", critical=1)]
    b = [_row(4, "mail.b.test", "2026-03-01T01:30:00Z", medium=3),
         _row(5, "mail.b.test", "2026-03-02T01:30:00Z", status="error")]
    nights = fleet_nights([a, b])
    assert [(n.night, dict(n.counts), n.hosts) for n in nights] == [
        ("2026-03-01", {"critical": 0, "high": 2, "medium": 3, "low": 0, "info": 0}, 2),
        ("2026-03-02", {"critical": 1, "high": 0, "medium": 0, "low": 0, "info": 0}, 1),
    ]
    # only the latest nights are shown, oldest first
    many = [_row(n, "mail.a.test", f"2026-01-{n:02d}T03:00:00Z", info=n) for n in range(1, 32)]
    assert [n.night for n in fleet_nights([many], limit=30)][:2] == ["2026-01-02", "2026-01-03"]
    assert len(fleet_nights([many], limit=30)) == 30


def test_bar_chart_stacks_severities_and_says_what_each_bar_is():
    nights = fleet_nights([[_row(1, "mail.a.test", "2026-03-01T01:00:00Z", critical=1, high=3)],
                           [_row(2, "mail.b.test", "2026-03-02T01:00:00Z", low=8)]])
    chart = bar_chart(nights)
    first, second = chart.bars
    assert [s.severity for s in first.segments] == ["critical", "high"]
    # stacked: high sits on critical, heights in proportion to the counts
    critical, high = first.segments
    assert abs(high.y + high.height - critical.y) < 0.2 and abs(high.height - 3 * critical.height) < 0.5
    assert second.segments[0].height > high.height + critical.height
    assert first.label == "2026-03-01: 4 findings (1 critical, 3 high, 0 medium, 0 low, 0 info) on 1 host"
    assert chart.ticks[0][1] == 0 and chart.ticks[-1][1] >= 8
    assert bar_chart([]).bars == () and "No assessed scan" in bar_chart([]).description


def test_sparkline_draws_assessed_totals_oldest_first():
    rows = [_row(3, "mail.a.test", "2026-03-03T01:00:00Z", high=1),
            _row(2, "mail.a.test", "2026-03-02T01:00:00Z", status="error"),
            _row(1, "mail.a.test", "2026-03-01T01:00:00Z", high=2, low=2)]
    line = sparkline(rows)
    assert line.totals == (4, 1) and line.worst == "high"
    ys = [float(point.split(",")[1]) for point in line.points.split()]
    assert ys[0] < ys[1]  # 4 findings drawn higher than 1
    assert line.label == "2 scans from 2026-03-01: 4 to 1 findings"
    assert sparkline([_row(1, "mail.a.test", "2026-03-01T01:00:00Z", status="error")]).points == ""


# --------------------------------------------------------------------------- the index, bounded


GRADES = (("web", "D"), ("tls", "A"), ("mail", None), ("autodiscover", "B"), ("version", "C"))


def _scan(number: int) -> dict:
    verdicts = ["not_met" if n < number % 18 else "met" for n in range(17)]
    return {
        "summary": {"status": "assessed", "status_reason": "all rows assessed",
                    "findings_by_severity": {"critical": 0, "high": number % 5, "medium": 1, "low": 0,
                                             "info": 2},
                    "headline": {"level": "fail", "title": "Action needed", "detail": "d"},
                    "areas": [{"id": key, "grade": grade} for key, grade in GRADES]},
        "findings": [{"id": f"F{n:03d}", "severity": "info", "check": "tls.x", "endpoint": "https://h:443",
                      "accepted": {"expires": "2027-01-01"} if n == 0 else None} for n in range(3)],
        "recommendations": [{"id": rid, "verdict": verdict}
                            for rid, verdict in zip(RECOMMENDATION_IDS, verdicts, strict=True)],
    }


def _fleet(count: int) -> dict:
    targets = [ScanTarget(Target(f"mail{n}.fleet.test", "fleet.test"), ScanOptions(), {"site": f"s{n % 7}"})
               for n in range(count)]
    hosts = [HostResult(target, "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z") for target in targets]
    spool = FleetSpool(keep_scans=False)
    for number, host in enumerate(hosts):
        spool.add(number, fleet_entry(host, _scan(number)))
    return spool.document(FleetRun("2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z", 8, hosts))


def test_index_of_1000_hosts_bounds_the_matrix_and_its_size():
    document = _fleet(1000)
    text = fleet_report.render_index(document)
    # every host has its row; the matrix shows the 60 with the most recommendations not met
    assert text.count('<tr data-host="') == 1000
    heads = re.findall(r'<th class="host" data-host="([^"]+)"', text)
    assert len(heads) == fleet_report.MATRIX_HOSTS
    assert all(int(host[4:].split(".")[0]) % 18 == 17 for host in heads[:50])  # 17 not met: first
    assert "940 more hosts are left out" in text
    assert len(re.findall(r'<tr id="m-CAS-\d\d"', text)) == 17
    # measured: about 0.9 kB a host; the bound keeps a regression (a cell per host and CAS) out
    assert len(text.encode()) < 1_500_000, len(text.encode())


def test_index_shows_grades_verdict_accepted_and_the_host_reports_csp():
    text = fleet_report.render_index(_fleet(3))
    row = text[text.index('<tr data-host="mail1.fleet.test"'):]
    row = row[: row.index("</tr>")]
    assert [g for g in re.findall(r'<span class="grade grade-(\w+)', row)] == ["D", "A", "none", "B", "C"]
    assert "Action needed" in row and '<td class="accepted">1</td>' in row
    assert _csp(text) == _csp(html.render(not_assessed_document())) == fleet_report.CSP


def _csp(page: str) -> str:
    found = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert found
    return unescape(found.group(1))


@pytest.mark.parametrize("where", ["missing-dir/trend.html", "."])
def test_history_html_refuses_a_bad_path_before_reading_the_history(tmp_path, where):
    # a --db that does not exist would be an error too: the PATH is refused first
    run = run_cli("history", "--db", str(tmp_path / "none.db"), "--html", str(tmp_path / where))
    assert run.code == 2 and run.stdout == ""
    assert run.stderr.startswith("casaudit: error: --html ") and len(run.stderr.splitlines()) == 1
    assert not (tmp_path / "none.db").exists()


def test_history_html_of_one_host_is_one_self_contained_page(tmp_path, history_db):
    db = history_db
    with open_store(db) as history:
        for night in ("2026-03-01", "2026-03-02"):
            history.record(host="mail.a.test", domain="a.test", tags={}, started_at=f"{night}T01:00:00Z",
                           finished_at=f"{night}T01:00:01Z", document=None, error=("target", "x"),
                           tool_version="test")
            history.record(host="mail.<b>.test", domain="b.test", tags={}, started_at=f"{night}T01:00:00Z",
                           finished_at=f"{night}T01:00:01Z", document=None, error=("target", "x"),
                           tool_version="test")
    page = tmp_path / "a.html"
    run = run_cli("history", "mail.a.test", "--db", db, "--html", str(page))
    assert run.code == 0, run.stderr
    text = page.read_text()
    assert "<title>casaudit history: mail.a.test</title>" in text and "mail.&lt;b&gt;.test" not in text
    assert 'id="trend-chart"' in text and "<script" not in text and "http://" not in text
    unknown = run_cli("history", "mail.z.test", "--db", db, "--html", str(page))
    assert unknown.code == 2 and unknown.stderr.startswith("casaudit: error: no scans of mail.z.test")


def test_fleet_schema_requires_what_the_index_reads_of_each_scan():
    import jsonschema

    from casaudit.report import document as doc_io

    validator = jsonschema.Draft202012Validator(doc_io.schema(doc_io.FLEET_SCHEMA_FILE))
    document = _fleet(2)  # slim scans: exactly what the views read, nothing more
    assert list(validator.iter_errors(document)) == []
    del document["results"][1]["scan"]["summary"]["headline"]
    document["results"][0]["scan"]["recommendations"][0]["verdict"] = "fine"
    assert len(list(validator.iter_errors(document))) == 2
