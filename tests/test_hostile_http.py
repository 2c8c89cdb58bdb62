"""Hostile and broken web servers: every scan ends in time, bounded, with the damage recorded.

Each case serves one hostile behaviour on the HTTP (or HTTPS) port of an otherwise
hardened lab host and scans that host through the real CLI.
"""

from __future__ import annotations

import pytest

from tests.hostile_scan import scan_hostile

TIME_LIMIT_S = 30
MEMORY_LIMIT_MIB = 300


def _assert_bounded_and_reported(run, validate_scan, other_scheme):
    assert run.code in (0, 1), run.stderr
    assert run.seconds < TIME_LIMIT_S
    assert run.peak_rss_mib < MEMORY_LIMIT_MIB
    assert "Traceback" not in run.stderr
    assert "\x1b" not in run.stdout + run.stderr
    validate_scan(run.document)
    # The other endpoints of the same host are still assessed.
    others = run.evidence(other_scheme)
    assert others and all(e["exchanges"][0]["status"] for e in others)
    assert "<script>alert" not in run.html


def _first(run):
    return [e["exchanges"][0] for e in run.evidence(run.scheme)]


@pytest.mark.parametrize("behaviour", ["silent", "slowloris"])
def test_servers_that_never_finish_answering_time_out(behaviour, validate_scan):
    run = scan_hostile(behaviour)
    _assert_bounded_and_reported(run, validate_scan, "https")
    _timed_out_then_skipped(_first(run))


def test_slowloris_over_tls_times_out(validate_scan):
    run = scan_hostile("slowloris", "https")
    _assert_bounded_and_reported(run, validate_scan, "http")
    _timed_out_then_skipped(_first(run))


def _timed_out_then_skipped(exchanges):
    # The first requests wait out the timeout; once the port's breaker opened (issue #14),
    # the later ones are skipped at once and say why.
    kinds = [x["error"]["kind"] for x in exchanges]
    assert "timeout" in kinds and set(kinds) <= {"timeout", "skipped"}
    for exchange in exchanges:
        if exchange["error"]["kind"] == "skipped":
            assert "stopped answering earlier in this scan" in exchange["error"]["detail"]


def test_a_response_cut_midway_keeps_its_status_and_names_the_cut(validate_scan):
    run = scan_hostile("stop_midway")
    _assert_bounded_and_reported(run, validate_scan, "https")
    for exchange in _first(run):
        assert exchange["status"] == 200 and exchange["body_truncated"]
        assert exchange["body_error"]["kind"] in ("protocol", "reset")
        # The 500 bytes that did arrive are kept (httpx's 16 KiB chunker used to drop them).
        assert exchange["body_bytes"] == 500 and exchange["body_excerpt"] == "y" * 500


@pytest.mark.parametrize("behaviour", ["endless_body", "huge_body"])
def test_endless_and_huge_bodies_are_read_up_to_the_cap(behaviour, validate_scan):
    run = scan_hostile(behaviour)
    _assert_bounded_and_reported(run, validate_scan, "https")
    for exchange in _first(run):
        assert exchange["status"] == 200
        assert exchange["body_truncated"] and exchange["body_bytes"] == 64 * 1024


def test_ten_thousand_headers_are_capped_or_refused(validate_scan):
    run = scan_hostile("many_headers")
    _assert_bounded_and_reported(run, validate_scan, "https")
    for exchange in _first(run):
        if exchange["error"]:
            assert exchange["error"]["kind"] == "protocol"
        else:
            assert len(exchange["headers"]) <= 200


def test_a_one_megabyte_header_line_is_refused(validate_scan):
    run = scan_hostile("long_header")
    _assert_bounded_and_reported(run, validate_scan, "https")
    assert {x["error"]["kind"] for x in _first(run)} == {"protocol"}


def test_a_redirect_loop_stops_at_the_limit(validate_scan):
    run = scan_hostile("redirect_loop")
    _assert_bounded_and_reported(run, validate_scan, "https")
    for item in run.evidence("http"):
        assert len(item["exchanges"]) <= 6
        assert "redirects" in item["redirect_stopped"] or "loop" in item["redirect_stopped"]


@pytest.mark.parametrize(
    ("behaviour", "where"),
    [("redirect_offsite", "collector.evil.test"), ("redirect_private_address", "10.20.30.40")],
)
def test_redirects_off_scope_are_recorded_not_followed(behaviour, where, validate_scan):
    run = scan_hostile(behaviour)
    _assert_bounded_and_reported(run, validate_scan, "https")
    for item in run.evidence("http"):
        assert len(item["exchanges"]) == 1
        assert where in item["redirect_stopped"] and "not followed" in item["redirect_stopped"]


def test_markup_escapes_and_bad_utf8_from_the_server_never_reach_terminal_or_html(validate_scan):
    run = scan_hostile("escape_strings")
    _assert_bounded_and_reported(run, validate_scan, "https")
    assert run.code == 1  # Basic over plain HTTP is still judged
    assert "&lt;script&gt;alert(&#39;realm&#39;)&lt;/script&gt;" in run.html
    assert "\x1b" not in run.html or "\\x1b" in run.html


@pytest.mark.parametrize(("behaviour", "kinds"), [("tls_garbage", {"tls"}),
                                                  ("tls_reset", {"tls", "reset"})])
def test_broken_tls_handshakes_are_named(behaviour, kinds, validate_scan):
    run = scan_hostile(behaviour, "https")
    _assert_bounded_and_reported(run, validate_scan, "http")
    assert {x["error"]["kind"] for x in _first(run)} <= kinds
