"""Update currency, ESU builds and the build table's age in a full scan of the lab, through the CLI."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from casaudit.currency import stale_table_sentence, vintage
from casaudit.lab import Lab, LabInstance
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def esu_lab() -> Iterator[LabInstance]:
    with Lab.start("exchange2019-esu") as lab:
        yield lab


@pytest.fixture(scope="module")
def esu_scan(esu_lab, tmp_path_factory):
    html = tmp_path_factory.mktemp("esu") / "report.html"
    run = run_cli("scan", *esu_lab.scan_args(), "--json", "-", "--html", str(html))
    assert run.code == 1, run.stderr
    return run, run.json(), html.read_text(encoding="utf-8")


def _finding(document, check):
    (finding,) = [f for f in document["findings"] if f["check"] == check]
    return finding


def test_an_esu_build_that_missed_later_esu_updates_fires_both_verdicts(esu_scan):
    _, document, _ = esu_scan
    _finding(document, "exchange.version_eol")
    (eol,) = [row for row in document["checks"] if row["check"] == "exchange.version_eol"]
    assert eol["status"] == "fail"
    assert "CU15 Feb26SU is an ESU build (released 2026-02-10" in eol["reason"]
    missing = _finding(document, "exchange.security_update_missing")
    # The scan runs today (after every update in the table): Jun26SU onwards are missing.
    assert "CU15 Jun26SU (15.2.1748.46, 2026-06-09, paid ESU update)" in missing["observed"]
    assert "CU15 Aug26SU (15.2.1748.49, 2026-08-11, paid ESU update)" in missing["observed"]
    assert "X-OWA-Version header '15.2.1748.43'" in missing["observed"]
    assert missing["severity"] == "high"  # Jun26SU is more than 90 days old by now
    assert missing["recommendations"] == ["CAS-16"]


def test_the_document_and_the_report_carry_the_build_table_date(esu_scan):
    run, document, html = esu_scan
    as_of = str(vintage().as_of)
    assert document["tool"]["build_table_as_of"] == as_of
    assert f"Builds were judged against the Exchange build table as of {as_of}" in html
    # The stale warning depends on the scan's own day, so the expectation is computed from it.
    sentence = stale_table_sentence(date.fromisoformat(document["started_at"][:10]))
    stale_lines = [line for line in run.stderr.splitlines() if "build table is" in line]
    if sentence is None:
        assert stale_lines == [] and "days before the scan" not in html
    else:
        assert stale_lines == [f"casaudit: {sentence}"]
        age = (date.fromisoformat(document["started_at"][:10]) - vintage().as_of).days
        assert (f"as of {as_of}, <b>{age} days before the scan: updates released since are "
                "unknown to it</b>.") in html


def test_report_of_a_document_without_the_date_still_renders(esu_scan, tmp_path: Path):
    import json

    _, document, _ = esu_scan
    del document["tool"]["build_table_as_of"]
    source = tmp_path / "old.json"
    source.write_text(json.dumps(document), encoding="utf-8")
    out = tmp_path / "old.html"
    run = run_cli("report", str(source), "--html", str(out))
    assert run.code == 0, run.stderr
    assert "Exchange build table as of" not in out.read_text(encoding="utf-8")


def test_casaudit_checks_first_line_is_the_build_table_date():
    run = subprocess.run([sys.executable, "-m", "casaudit", "checks"], capture_output=True,
                         text=True, timeout=60, check=True)
    first = run.stdout.splitlines()[0]
    assert first == (f"Exchange build table as of {vintage().as_of} (newest update listed: "
                     f"{vintage().newest_release})")
