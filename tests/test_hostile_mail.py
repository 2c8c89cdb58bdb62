"""Hostile POP3 and IMAP4 servers, scanned through the real CLI: bounded, named, escaped.

The in-process versions of flood, silence and dribble live in test_scan_mail_lab.py;
these scan the whole host (the lab's HTTP and HTTPS stay assessed) in a child
process whose time and peak memory are measured, as the benchmark table does.
"""

from __future__ import annotations

import pytest

from casaudit.lab.hostile import escape_mail
from tests.conftest import run_cli
from tests.hostile_scan import HostileRun, Served, scan_served

TIME_LIMIT_S = 40
MEMORY_LIMIT_MIB = 300


def _assert_bounded(run: HostileRun, validate_scan) -> None:
    assert run.code in (0, 1), run.stderr
    assert run.seconds < TIME_LIMIT_S
    assert run.peak_rss_mib < MEMORY_LIMIT_MIB
    assert "Traceback" not in run.stderr
    assert "\x1b" not in run.stdout + run.stderr
    validate_scan(run.document)
    # The host's web ports (the lab's) are still assessed.
    assert {e["exchanges"][0]["status"] for e in run.evidence("http")} == {301}
    assert all(e["exchanges"][0]["status"] for e in run.evidence("https"))


@pytest.mark.parametrize(("pop3", "imap", "kinds"), [
    ("mail_flood", "mail_flood", {"too_large"}),
    ("silent", "silent", {"timeout"}),
    ("pop3_greeting", "imap_greeting", {"timeout"}),  # a greeting, then silence
    ("pop3_dribble", "imap_dribble", {"too_large", "timeout"}),
])
def test_floods_silence_and_dribbles_end_in_time_with_the_error_named(pop3, imap, kinds, validate_scan):
    run = scan_served({"pop3": Served(pop3), "imap": Served(imap)})
    _assert_bounded(run, validate_scan)
    for service in ("pop3", "imap"):
        item = run.mail(service)
        assert item["reachability"] == "open" and item["error"]["kind"] in kinds, item["error"]


def test_escapes_markup_and_bad_utf8_in_mail_answers_stay_data(tmp_path, validate_scan):
    # Given POP3 and IMAP4 servers whose greeting, capabilities and replies carry terminal
    # escapes, <script> and invalid UTF-8, scanned twice (the version in the greeting
    # changes, so the banner finding changes) into one history database,
    db = tmp_path / "history.sqlite"
    runs = [scan_served({"pop3": Served(escape_mail("pop3", version)),
                         "imap": Served(escape_mail("imap", version))}, db=db)
            for version in ("2.4.17", "2.4.18")]
    diff = run_cli("diff", "--db", str(db))
    for run in runs:
        _assert_bounded(run, validate_scan)
        # Then the evidence holds what the servers said (invalid bytes replaced), and
        # the IMAP dialogue survived the invalid UTF-8 in its CAPABILITY answer,
        pop3, imap = run.mail("pop3"), run.mail("imap")
        assert pop3["greeting"].startswith("+OK \x1b[31m<script>alert('pop3')</script>\ufffd")
        assert "<script>alert('user')</script>" in pop3["login_in_clear"]["reply"]
        assert imap["error"] is None
        assert any("ALERT('CAPS')" in item for item in imap["capabilities_clear"]["items"])
        # the HTML shows every one of them as inert text, escapes included,
        for word in ("pop3", "imap", "capa", "user"):
            assert f"&lt;script&gt;alert(&#39;{word}&#39;)&lt;/script&gt;" in run.html, word
        assert "<script>alert" not in run.html and "\x1b" not in run.html
        assert "\\x1b[31m" in run.html
    # and the terminal text that quotes a banner (diff of the two scans) escapes it.
    assert diff.code in (0, 1), diff.stderr
    assert "CHANGED" in diff.stdout and "alert(" in diff.stdout
    assert "\x1b" not in diff.stdout + diff.stderr and "\\x1b" in diff.stdout
