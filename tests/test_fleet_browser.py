"""The fleet index (scan --targets --html DIR) in headless Chromium, after two nightly runs with a history.

Two lab hosts and one that cannot be resolved are scanned twice through the CLI
with one history database; two earlier nights are recorded in between (the
first run's documents, dated back), so the trend has several bars. Then the
index is opened offline and read as an operator would. Screenshots go where
tests/test_report_browser.py puts its own.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from casaudit.history import History
from tests.conftest import run_cli
from tests.fleet_support import target_entry, write_targets
from tests.test_report_browser import browser, chromium, open_report, shots  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser

GONE = "mail.gone.test"
EARLIER_NIGHTS = ("2026-01-10T02:00:00Z", "2026-01-11T02:00:00Z")


def _nightly_runs(legacy_lab, hardened_lab, tmp_path: Path) -> tuple[Path, dict, Path]:
    targets = write_targets(
        tmp_path / "targets.toml",
        target_entry(legacy_lab, tags={"site": "<b>paris</b>"}),
        target_entry(hardened_lab, tags={"site": "lyon"}),
        f'[[targets]]\nhost = "{GONE}"\ndns_server = "{legacy_lab.dns_server}"\n',
    )
    db = tmp_path / "h.db"
    html_dir = tmp_path / "html"
    args = ("scan", "--targets", str(targets), "--parallel", "3", "--db", str(db), "--html", str(html_dir))
    first = run_cli(*args, "--json", str(tmp_path / "first.json"), timeout=90)
    assert first.code in (1, 3), first.stderr
    results = json.loads((tmp_path / "first.json").read_text())["results"]
    for started_at in EARLIER_NIGHTS:  # nights before the first run, with the same findings
        with History(db) as history:  # one run each: a store records a host once per run
            for entry in results:
                if entry["scan"]:
                    history.record(host=entry["host"], domain=entry["domain"], tags=entry["tags"],
                                   started_at=started_at, finished_at=started_at,
                                   document=entry["scan"], tool_version="test")
    second = run_cli(*args, "--json", str(tmp_path / "second.json"), timeout=90)
    assert second.code in (1, 3), second.stderr
    return html_dir / "index.html", json.loads((tmp_path / "second.json").read_text()), db


def test_fleet_index_after_two_nights_opens_offline_and_shows_every_host(
    browser, shots, legacy_lab, hardened_lab, tmp_path,  # noqa: F811
):
    index, document, db = _nightly_runs(legacy_lab, hardened_lab, tmp_path)
    hosts = {entry["host"]: entry for entry in document["results"]}
    opened = open_report(browser, index)
    page = opened.page
    try:
        # the hosts table: one row per host, in targets-file order, each with its status
        rows = page.locator("#hosts-table tbody tr")
        assert rows.evaluate_all("rs => rs.map(r => r.dataset.host)") == list(hosts)
        for host, entry in hosts.items():
            row = page.locator(f'#hosts-table tr[data-host="{host}"]')
            assert row.get_attribute("data-status") == entry["status"]
            if entry["scan"] is None:
                assert "target: " in row.locator("td.error").inner_text()
                continue
            # a grade badge per area, as the engine graded it ("–" when it did not)
            grades = {area["id"]: area["grade"] or "–" for area in entry["scan"]["summary"]["areas"]}
            shown = dict(row.locator("td.g").evaluate_all(
                "cells => cells.map(c => [c.dataset.area, c.innerText.trim()])"))
            assert shown == {key: grades[key] for key in shown} and len(shown) >= 5
            assert row.locator("td.headline").inner_text() == entry["scan"]["summary"]["headline"]["title"]
            # the second night compares with the first: nothing new on an unchanged lab
            assert row.locator("td.new").inner_text() == str(len(entry["diff"]["new"])) == "0"
            assert row.locator("a").get_attribute("href") == f"{host}.html"
            # the host's sparkline: its assessed scans of the history (2 runs + 2 earlier nights)
            assert "4 scans from 2026-01-10" in row.locator("td.spark svg title").text_content()
        legacy = page.locator(f'#hosts-table tr[data-host="{legacy_lab.host}"]')
        assert legacy.locator('td.g[data-area="web"] .grade').inner_text() == "F"
        assert "<b>paris</b>" in legacy.inner_text()  # a tag, as text
        # the matrix: 17 rows, a column per host, each cell the host's verdict
        assert page.locator("#matrix-table tbody tr").count() == 17
        heads = page.locator("#matrix-table thead th.host")
        assert heads.evaluate_all("hs => hs.map(h => h.dataset.host)") == list(hosts)
        for column, entry in enumerate(hosts.values(), start=2):
            cells = page.locator(f"#matrix-table tbody td:nth-child({column}) .vb")
            classes = cells.evaluate_all("cs => cs.map(c => c.className)")
            if entry["scan"] is None:
                assert set(classes) == {"vb v-error"}
            else:
                assert classes == [f"vb v-{r['verdict']}" for r in entry["scan"]["recommendations"]]
        assert page.locator("#matrix-table #m-CAS-14 td:nth-child(2)").inner_text() == "✗"
        # the trend: a bar per night (two earlier nights and today), with hover text
        bars = page.locator("#trend-chart g.bar")
        assert bars.count() == 3
        assert bars.first.get_attribute("data-night") == EARLIER_NIGHTS[0][:10]
        assert page.locator("#trend-chart rect.bar-critical").count() == 3
        assert "findings" in bars.first.locator("title").text_content()
        assert page.locator("#trend-chart").get_attribute("aria-label").startswith("Findings by severity")
        # nothing wider than the window but inside its own scroll container
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1]
        assert page.evaluate("""[...document.querySelectorAll('body *')].filter(e => !e.closest('.scroll')
            && e.getBoundingClientRect().right > window.innerWidth + 1).length""") == 0
        page.screenshot(path=str(shots / "fleet-index-top.png"))
        page.screenshot(path=str(shots / "fleet-index-full.png"), full_page=True)
        opened.assert_quiet(index.as_uri())
    finally:
        page.close()
    # and `history --html` draws the same trend for all hosts, offline, the history untouched
    before = db.read_bytes()
    page_path = tmp_path / "trend.html"
    run = run_cli("history", "--db", str(db), "--html", str(page_path))
    assert run.code == 0, run.stderr
    assert db.read_bytes() == before
    opened = open_report(browser, page_path)
    try:
        assert opened.page.locator("#trend-chart g.bar").count() == 3
        assert opened.page.locator("#hosts-table tbody tr").count() == 3
        gone = opened.page.locator(f'#hosts-table tr[data-host="{GONE}"]')  # recorded: errors only
        assert gone.locator("td.spark").inner_text() == "no assessed scan in the history"
        opened.page.screenshot(path=str(shots / "history-trend.png"), full_page=True)
        opened.assert_quiet(page_path.as_uri())
    finally:
        opened.page.close()
