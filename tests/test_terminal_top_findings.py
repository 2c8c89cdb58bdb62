"""The terminal's top-findings table on narrow terminals, and where it sends the reader for the rest."""

from __future__ import annotations

import copy
import io
import re
from typing import Any

import pytest

from casaudit.api import audit
from casaudit.demo import lab_target
from casaudit.report import terminal, view
from tests.conftest import run_cli

LONG_ENDPOINT = ("https://autodiscover.a-very-long-customer-name.example.test:443"
                 "/autodiscover/autodiscover.xml")


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(scope="module")
def legacy_document(legacy_lab) -> dict[str, Any]:
    return audit(*lab_target(legacy_lab)).to_dict()


def _narrow_case(document: dict[str, Any]) -> dict[str, Any]:
    """A long endpoint, a long check id and an accepted finding among the top ten."""
    document = copy.deepcopy(document)
    document["findings"][0]["endpoint"] = LONG_ENDPOINT
    document["findings"][1]["accepted"] = {"justification": "CHG-1", "expires": "2099-01-01"}
    document["findings"][2]["check"] = "exchange.internal_address_disclosure"
    return document


def _render(document: dict[str, Any], columns: int, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.setenv("NO_COLOR", "1")
    out = _Tty()
    terminal.summary(document, out)
    return out.getvalue()


def _top_groups(document: dict[str, Any]) -> list[view.FindingGroup]:
    """What the table lists: the findings grouped by check and host, worst first."""
    groups = [g for _, members in view.finding_groups(document["findings"]) for g in members]
    return groups[:terminal.TOP_FINDINGS]


def _accepted_note(document: dict[str, Any]) -> str:
    group = next(g for g in view.finding_groups(document["findings"])[0][1]
                 if any(f.get("accepted") for f in g.findings))
    prefix = "" if group.accepted == group.size else f"{group.accepted} of {group.size} "
    return f"accepted {prefix}until 2099-01-01"


def _top_rows(text: str) -> list[str]:
    lines = text.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("top findings"))
    return [line.rstrip() for line in lines[start + 3:] if not line.startswith("…")]


def test_at_80_columns_no_column_is_dropped_and_no_check_id_is_cut(legacy_document, monkeypatch):
    document = _narrow_case(legacy_document)
    text = _render(document, 80, monkeypatch)
    assert max(len(line) for line in _top_rows(text)) <= 80
    assert "…" not in "".join(_top_rows(text))  # nothing cut with an ellipsis
    rows = _top_rows(text)
    words = [line.split() for line in rows]
    top = _top_groups(document)
    # Every severity and every check id whole, in order, each group's first line
    heads = [(w[0], w[1]) for w in words if w and w[0] in {"CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"}]
    assert heads == [(g.severity.upper(), g.check) for g in top]
    # The acceptance is there, whole
    assert _accepted_note(document) in text
    # and the long endpoint is all there, folded over lines rather than cut
    assert LONG_ENDPOINT in "".join(line.strip() for line in rows)
    # A terminal wide enough keeps one line per finding
    wide = _render(document, 200, monkeypatch)
    assert re.search(rf"^CRITICAL +\S+ +{re.escape(LONG_ENDPOINT)}", wide, re.MULTILINE)
    assert re.search(r"until 2099-01-01$", wide, re.MULTILINE)


def test_a_60_column_terminal_still_shows_every_severity_and_check(legacy_document, monkeypatch):
    document = _narrow_case(legacy_document)
    text = _render(document, 60, monkeypatch)
    assert max(len(line) for line in _top_rows(text)) <= 60
    for group in _top_groups(document):
        assert re.search(rf"^{group.severity.upper()} +{re.escape(group.check)} *$",
                         text, re.MULTILINE), group.check
    assert _accepted_note(document) in text


def test_the_rest_of_the_findings_are_in_the_full_report_only_when_one_is_written(legacy_lab, tmp_path):
    # Given a scan with more findings than the terminal lists, and no report asked for
    bare = run_cli("scan", *legacy_lab.scan_args(), "--no-history")
    assert bare.code == 1, bare.stderr
    more = re.search(r"^… and (\d+) more(.*)$", bare.stdout, re.MULTILINE)
    # Then the terminal says how to see them, not that they are in a report there is not
    assert more is not None and int(more.group(1)) > 0, bare.stdout
    assert more.group(2) == ": write them with --html PATH or --json PATH"
    # With an HTML report, they are in the full report
    html = tmp_path / "r.html"
    written = run_cli("scan", *legacy_lab.scan_args(), "--no-history", "--html", str(html))
    assert re.search(r"^… and \d+ more in the full report$", written.stdout, re.MULTILINE), written.stdout
    assert html.is_file()
