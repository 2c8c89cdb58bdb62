"""What casaudit must say about hosts it cannot fully assess (issue #13, docs/verdicts.md).

Four hosts (tests/unassessed_hosts.py), each scanned once through the real CLI with a
2 s step timeout: every port refused; HTTP and HTTPS answering 503 to everything;
tarpits, slowloris and garbage on every port; and a hardened Exchange whose /EWS and
/owa never answer.

Two kinds of tests, on purpose:
- `test_*_evidence_*` and `test_every_scan_*` pin the hosts themselves: the scan ends
  in time, its document validates and renders, and the evidence shows what the host
  did. They hold with any engine.
- `test_*_verdicts_*` and `test_every_document_speaks_*` pin the rule book: row status
  `not_applicable`, `summary.status`, `summary.areas`, recommendation `coverage` and
  verdict `not_applicable`, exit code 3 and `--fail-on-unassessed`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from casaudit.lab.http_server import RecordedRequest
from tests.conftest import CliRun, run_cli
from tests.unassessed_hosts import (
    HANG_PATHS,
    KILL_AFTER_S,
    ScanRun,
    UnassessedHost,
    all_503_host,
    hostile_host,
    partial_timeout_host,
    refused_host,
    scan,
)

#: Each scan must end well inside KILL_AFTER_S. Measured on 2 cores: refused ~1 s,
#: all_503 ~1.5 s, hostile ~23 s (the HTTPS tarpit and the slowloris each hold every
#: exchange to its deadline), partial_timeout ~6 s.
TIME_LIMIT_S = {"refused": 30, "all_503": 30, "hostile": 60, "partial_timeout": 40}
assert max(TIME_LIMIT_S.values()) < KILL_AFTER_S

ROW_STATUSES = {"pass", "fail", "not_applicable", "not_assessed", "error"}
HOST_STATUSES = {"assessed", "partially_assessed", "not_assessed"}
VERDICTS = {"met", "not_met", "partial", "not_applicable", "not_assessed"}
AREA_IDS = {"web", "tls", "mail", "autodiscover", "version"}
GRADES = {"A", "B", "C", "D", "F", None}
#: The recommendations about web URLs that 503 answers everywhere cannot establish.
WEB_RECOMMENDATIONS = ("CAS-01", "CAS-04", "CAS-05", "CAS-06", "CAS-08", "CAS-12", "CAS-13",
                       "CAS-14")
HOSTS = ("refused", "all_503", "hostile", "partial_timeout")


@dataclass
class ScannedHost:
    host: UnassessedHost
    run: ScanRun
    report: CliRun
    html: str
    #: What the lab's listeners received during the scan (not the hostile servers').
    requests: list[RecordedRequest]


@contextmanager
def _scanned(builder: Callable[[], AbstractContextManager[UnassessedHost]],
             out_dir: Path) -> Iterator[ScannedHost]:
    """Build the host, scan it once, render the saved document to HTML with `casaudit report`."""
    with builder() as host:
        run = scan(host, out_dir)
        html_path = out_dir / f"{host.name}.html"
        report = run_cli("report", str(run.json_path), "--html", str(html_path), timeout=60)
        html = html_path.read_text() if html_path.exists() else ""
        yield ScannedHost(host, run, report, html, host.lab.requests())


@pytest.fixture(scope="module")
def refused(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScannedHost]:
    with _scanned(refused_host, tmp_path_factory.mktemp("refused")) as scanned:
        yield scanned


@pytest.fixture(scope="module")
def all_503(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScannedHost]:
    with _scanned(all_503_host, tmp_path_factory.mktemp("all_503")) as scanned:
        yield scanned


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScannedHost]:
    with _scanned(hostile_host, tmp_path_factory.mktemp("hostile")) as scanned:
        yield scanned


@pytest.fixture(scope="module")
def partial_timeout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScannedHost]:
    with _scanned(partial_timeout_host, tmp_path_factory.mktemp("partial_timeout")) as scanned:
        yield scanned


@pytest.fixture(scope="module")
def partial_timeout_strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScanRun]:
    """The same host scanned with --fail-on-unassessed."""
    out_dir = tmp_path_factory.mktemp("partial_timeout_strict")
    with partial_timeout_host() as host:
        yield scan(host, out_dir, "--fail-on-unassessed", label="-strict")


def _answers(document: dict[str, Any]) -> list[str]:
    """Every answer in the rule book's sense ("The host" in docs/verdicts.md): an HTTP
    status line, a completed TLS handshake, a POP3/IMAP4 greeting in that protocol."""
    seen = []
    for item in document["evidence"]:
        kind = item["kind"]
        if kind in ("http", "autodiscover"):
            for exchange in item.get("exchanges") or []:
                if exchange.get("status") is not None:
                    seen.append(f"{exchange['url']}: HTTP {exchange['status']}")
                if exchange.get("tls_version"):
                    seen.append(f"{exchange['url']}: {exchange['tls_version']}")
        elif kind in ("ntlm", "hostless_http") and item.get("status") is not None:
            seen.append(f"{kind} {item['endpoint']}: HTTP {item['status']}")
        elif kind == "tls" and item.get("error") is None:
            seen.append(f"{item['endpoint']}: TLS handshake")
        elif kind == "mail":
            greeting = item.get("greeting") or ""
            words = ("+OK",) if item["protocol"] == "pop3" else ("* OK", "* PREAUTH")
            if greeting.startswith(words):
                seen.append(f"{item['endpoint']}: {greeting[:40]}")
    return seen


def _http_items(run: ScanRun, scheme: str | None = None) -> list[dict[str, Any]]:
    return [item for item in run.evidence("http") if scheme is None or item["scheme"] == scheme]


def _grades(run: ScanRun) -> dict[str, Any]:
    return {area["id"]: area.get("grade") for area in run.doc["summary"].get("areas", [])}


def _verdicts(run: ScanRun) -> dict[str, str]:
    return {item["id"]: item["verdict"] for item in run.doc["recommendations"]}


def _rows_by_status(rows: list[dict[str, Any]], status: str) -> list[str]:
    return [f"{row['check']} {row['endpoint']}: {row['reason']}" for row in rows
            if row["status"] == status]


# -- every host: bounded, valid, rendered ---------------------------------------------------


@pytest.mark.parametrize("name", HOSTS)
def test_every_scan_ends_in_time_with_a_valid_document_and_an_html_report(
        name: str, request: pytest.FixtureRequest, validate_scan) -> None:
    scanned: ScannedHost = request.getfixturevalue(name)
    run = scanned.run
    assert run.code != -9, f"killed after {KILL_AFTER_S} s"
    assert run.seconds < TIME_LIMIT_S[name], f"{run.seconds:.1f} s"
    assert "Traceback" not in run.stderr, run.stderr
    validate_scan(run.doc, str(run.json_path))
    assert run.doc["options"]["timeout"] == 2
    assert scanned.report.code == 0, scanned.report.stderr
    assert scanned.html.startswith("<!DOCTYPE html>") and scanned.host.lab.host in scanned.html


@pytest.mark.parametrize("name", HOSTS)
def test_every_document_speaks_the_verdict_vocabulary(name: str, request: pytest.FixtureRequest) -> None:
    document = request.getfixturevalue(name).run.doc
    summary = document["summary"]
    assert summary.get("status") in HOST_STATUSES, summary
    areas = summary.get("areas")
    assert isinstance(areas, list) and {area.get("id") for area in areas} == AREA_IDS, areas
    for area in areas:
        assert {"id", "title", "grade", "counts", "findings", "summary"} <= set(area), area
        assert area["grade"] in GRADES, area
        assert set(area["counts"]) == ROW_STATUSES, area
    for item in document["recommendations"]:
        assert item["verdict"] in VERDICTS, item
        assert set(item.get("coverage", {})) == ROW_STATUSES, item
        cited = [row for row in document["checks"] if item["id"] in row["recommendations"]]
        assert sum(item["coverage"].values()) == len(cited), item
    assert {row["status"] for row in document["checks"]} <= ROW_STATUSES


# -- refused: every port refuses -------------------------------------------------------------


def test_refused_host_evidence_every_port_refused_and_nothing_answered(refused: ScannedHost) -> None:
    run, lab = refused.run, refused.host.lab
    assert set(run.doc["targets"][0]["ports"].values()) == {lab.closed_port}
    assert _answers(run.doc) == []
    for item in _http_items(run) + run.evidence("autodiscover"):
        errors = {exchange["error"]["kind"] for exchange in item["exchanges"]}
        assert errors <= {"refused"}, item["endpoint"]
    assert {item["reachability"] for item in run.evidence("mail")} == {"refused"}
    assert {item["error"]["kind"] for item in run.evidence("tls")} == {"refused"}
    srv = [item for item in run.evidence("autodiscover") if item["method"] == "srv"]
    assert [item["failure"] for item in srv] == ["dns_nxdomain"]


def test_refused_host_verdicts_nothing_is_judged_and_exit_is_3(refused: ScannedHost) -> None:
    run = refused.run
    assert run.doc["summary"].get("status") == "not_assessed"
    assert set(_grades(run).values()) == {None} and len(_grades(run)) == len(AREA_IDS)
    assert "met" not in _verdicts(run).values(), _verdicts(run)
    # A refused port proves nothing about the host the user meant: no exposure check passes.
    assert _rows_by_status(run.rows(), "pass") == []
    assert run.code == 3, run.stderr


def test_refused_host_verdicts_fail_nothing_on_silence(refused: ScannedHost) -> None:
    # "A check never passes on silence, and never fails on silence either": so --fail-on
    # alone would exit 0 here, and only the host status makes it 3.
    assert _rows_by_status(refused.run.rows(), "fail") == []
    assert refused.run.doc["findings"] == []


# -- all_503: HTTP and HTTPS answer 503 to everything, TLS works, mail refused ---------------


def test_all_503_host_evidence_every_request_got_503_and_tls_answered(all_503: ScannedHost) -> None:
    run = all_503.run
    items = _http_items(run)
    assert {item["scheme"] for item in items} == {"http", "https"}
    assert any(item["role"] == "baseline" for item in items)  # the random nonexistent path
    exchanges = [x for item in items + run.evidence("autodiscover") for x in item["exchanges"]]
    assert exchanges and {x["status"] for x in exchanges} == {503}
    for exchange in exchanges:
        assert ("Retry-After", "120") in [tuple(pair) for pair in exchange["headers"]], exchange["url"]
    methods = {x["method"] for x in exchanges}
    assert {"GET", "POST", "OPTIONS", "RPC_IN_DATA"} <= methods
    assert {item["status"] for item in run.evidence("ntlm") + run.evidence("hostless_http")} == {503}
    # The lab answered every one of them, Autodiscover POSTs included.
    assert {r.method for r in all_503.requests if "autodiscover.xml" in r.path} >= {"POST"}
    https = [item for item in run.evidence("tls") if item["endpoint"].startswith("https://")]
    assert len(https) == 3 and all(item["error"] is None and item["highest_version"] for item in https)
    assert {item["reachability"] for item in run.evidence("mail")} == {"refused"}


def test_all_503_host_verdicts_no_web_row_passes_and_version_has_no_grade(all_503: ScannedHost) -> None:
    run = all_503.run
    http_rows = run.rows("http.")
    assert http_rows and _rows_by_status(http_rows, "pass") == []
    assert {row["status"] for row in http_rows} <= {"not_assessed", "not_applicable"}
    verdicts = _verdicts(run)
    assert {cas: verdicts[cas] for cas in WEB_RECOMMENDATIONS if verdicts[cas] == "met"} == {}
    assert _grades(run).get("version", "missing") is None
    for check in ("exchange.known_vulnerable_build", "exchange.version_eol"):
        assert run.rows(check) and _rows_by_status(run.rows(check), "pass") == []
    # TLS on 443 answered: the host is partly assessed, not unassessed.
    assert run.doc["summary"].get("status") == "partially_assessed"
    assert run.code in (0, 1), run.stderr


# -- hostile: tarpit, slowloris, silence and garbage on every port ---------------------------


def test_hostile_host_evidence_no_port_gave_an_answer(hostile: ScannedHost) -> None:
    run = hostile.run
    assert _answers(run.doc) == []
    # Timed out, or skipped once the port's breaker opened (issue #14): never an answer.
    for item in _http_items(run) + run.evidence("autodiscover"):
        assert {x["error"]["kind"] for x in item["exchanges"]} <= {"timeout", "skipped"}, item["endpoint"]
    tls = {item["endpoint"].split(":")[0]: item["error"]["kind"] for item in run.evidence("tls")}
    assert tls["https"] in ("timeout", "skipped")  # the tarpit never answers the ClientHello
    assert tls["imaps"] == tls["pop3s"] == "tls"  # garbage instead of a ServerHello
    mail = {item["service"]: item for item in run.evidence("mail")}
    assert {item["reachability"] for item in mail.values()} == {"open"}
    assert mail["pop3"]["error"]["kind"] == "protocol"
    assert "not a greeting of any protocol" in mail["pop3"]["greeting"]
    assert mail["imap"]["error"]["kind"] == "timeout"
    assert mail["imaps"]["error"]["kind"] == mail["pop3s"]["error"]["kind"] == "tls"


def test_hostile_host_verdicts_not_assessed_nothing_met_and_exit_is_3(hostile: ScannedHost) -> None:
    run = hostile.run
    assert run.doc["summary"].get("status") == "not_assessed"
    verdicts = _verdicts(run)
    assert verdicts["CAS-11"] != "met" and verdicts["CAS-15"] != "met"
    assert "met" not in verdicts.values(), verdicts
    assert _grades(run).get("autodiscover", "missing") is None
    assert run.code == 3, run.stderr


# -- partial_timeout: a hardened Exchange whose /EWS and /owa never answer -------------------


def _hung_path(path: str) -> bool:
    """Whether the lab holds requests for `path` (HANG_PATHS, whole segments, any case)."""
    path = path.lower()
    return any(path == p.lower() or path.startswith(p.lower() + "/") for p in HANG_PATHS)


def _hung(endpoint: str) -> bool:
    return _hung_path(urlsplit(endpoint).path)


def test_partial_timeout_host_evidence_ews_and_owa_time_out_the_rest_answers(
        partial_timeout: ScannedHost) -> None:
    run = partial_timeout.run
    items = _http_items(run)
    hung = [item for item in items if _hung(item["endpoint"])]
    # the Client Access URLs under the held paths, and the build probe of /owa/service.svc (HTTPS only)
    assert {(item["scheme"], item["path"]) for item in hung} == {
        (scheme, path) for scheme in ("http", "https") for path in ("/owa", "/EWS/Exchange.asmx")
    } | {("https", "/owa/service.svc")}
    for item in hung:
        assert item["exchanges"][-1]["error"]["kind"] == "timeout", item["endpoint"]
        assert item["exchanges"][-1]["status"] is None
    answered = [item for item in items if not _hung(item["endpoint"])]
    assert answered and all(item["exchanges"][-1]["status"] for item in answered)
    # The requests reached the lab, which held them: an unanswered URL, not a lost one.
    held = {(r.scheme, r.path.lower()) for r in partial_timeout.requests if _hung_path(r.path)}
    assert {("http", "/owa"), ("https", "/owa"), ("https", "/ews/exchange.asmx")} <= held
    assert all(item["error"] is None for item in run.evidence("tls")
               if item["endpoint"].startswith("https://"))
    assert run.doc["findings"] == []


def test_partial_timeout_host_verdicts_recommendations_of_the_silent_urls_are_not_met(
        partial_timeout: ScannedHost) -> None:
    run = partial_timeout.run
    assert run.doc["summary"].get("status") == "partially_assessed"
    silent = [row for row in run.rows() if _hung(row["endpoint"])]
    assert silent and _rows_by_status(silent, "pass") == []
    cited = {cas for row in silent if row["status"] == "not_assessed" for cas in row["recommendations"]}
    assert {"CAS-04", "CAS-12"} <= cited, cited  # OWA's and EWS's SSL recommendations
    for cas in sorted(cited):
        item = run.recommendation(cas)
        assert item["verdict"] != "met", item
        assert item.get("coverage", {}).get("not_assessed", 0) > 0, item
        assert "not assessed" in item["reason"], item
    assert run.code in (0, 1), run.stderr


def test_partial_timeout_host_verdicts_fail_on_unassessed_exits_3(
        partial_timeout_strict: ScanRun) -> None:
    run = partial_timeout_strict
    assert run.seconds < TIME_LIMIT_S["partial_timeout"]
    assert run.code == 3, run.stderr
