"""FleetSpool: the fleet document streamed from a spool equals the one built in memory."""

from __future__ import annotations

import io
import json

from casaudit.api import ScanOptions
from casaudit.fleet import FleetRun, FleetSpool, HostError, HostResult, _document, fleet_entry
from casaudit.plan import Target
from casaudit.report import document as doc_io
from casaudit.targets import ScanTarget


def _host(name: str, error: HostError | None = None) -> HostResult:
    target = ScanTarget(Target(name, name.split(".", 1)[1]), ScanOptions(), {"site": "paris"})
    return HostResult(target, "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", error=error)


def _scan(host: str) -> dict:
    # What the spool reads of a casaudit.scan/1 document, plus evidence it must keep verbatim:
    # a server string with U+2028 and a newline, which str.splitlines would have cut.
    return {
        "summary": {"status": "partially_assessed",
                    "status_reason": "1 of 9 check rows that apply could not be assessed (timeout)",
                    "findings_by_severity": {"critical": 0, "high": 1, "medium": 0, "low": 0, "info": 0},
                    "headline": {"level": "fail", "title": "Action needed", "detail": "1 high finding"},
                    "areas": [{"id": "web", "title": "Web", "grade": "D", "summary": "1 of 4 failed",
                               "counts": {"pass": 3, "fail": 1}, "findings": 1},
                              {"id": "mail", "title": "Mail", "grade": None, "summary": "nothing assessed",
                               "counts": {}, "findings": 0}]},
        "findings": [{"id": "F001", "severity": "high", "check": "http.basic_cleartext",
                      "endpoint": f"http://{host}:80/owa", "title": "t", "accepted": None}],
        "recommendations": [{"id": "CAS-01", "title": "t", "verdict": "not_met", "reason": "r",
                             "coverage": {"fail": 1}, "findings": ["F001"], "checks": []}],
        "evidence": [{"id": "http-001", "banner": "IIS\u2028x\nline two", "note": "é"}],
    }


def test_streamed_document_equals_the_one_built_in_memory() -> None:
    hosts = [_host("mail.a.test"), _host("mail.b.test", HostError("deadline", "too slow")),
             _host("mail.c.test"), _host("mail.d.test")]
    run = FleetRun("2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z", 4, hosts)
    full = [fleet_entry(hosts[0], _scan("mail.a.test")), fleet_entry(hosts[1], None),
            fleet_entry(hosts[2], _scan("mail.c.test")), fleet_entry(hosts[3], None)]
    spool = FleetSpool(keep_scans=True)
    # Given hosts finishing out of order, one never added (interrupted before it finished)
    for index in (2, 0, 1):
        spool.add(index, full[index])
    out = io.StringIO()
    spool.write(run, out)
    spool.close()
    # Then the streamed text is byte for byte what dumps() makes of the whole document
    assert out.getvalue() == doc_io.dumps(_document(run, full))
    assert json.loads(out.getvalue())["results"][0]["scan"]["evidence"][0]["banner"] == "IIS\u2028x\nline two"


def test_slim_document_keeps_what_the_views_read_only() -> None:
    hosts = [_host("mail.a.test")]
    run = FleetRun("2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z", 1, hosts)
    spool = FleetSpool(keep_scans=False)
    spool.add(0, fleet_entry(hosts[0], _scan("mail.a.test")))
    document = spool.document(run)
    scan = document["results"][0]["scan"]
    assert set(scan) == {"summary", "findings", "recommendations"}
    # the index's grades, headline and CAS verdicts, in the scan document's own shape
    assert scan["summary"]["headline"] == {"level": "fail", "title": "Action needed",
                                           "detail": "1 high finding"}
    assert scan["summary"]["areas"] == [{"id": "web", "grade": "D"}, {"id": "mail", "grade": None}]
    assert scan["recommendations"] == [{"id": "CAS-01", "verdict": "not_met"}]
    assert document["results"][0]["status"] == scan["summary"]["status"] == "partially_assessed"
    assert scan["summary"]["status_reason"].startswith("1 of 9 check rows")
    assert document["summary"]["partially_assessed"] == 1 and document["summary"]["assessed"] == 0
    assert scan["findings"] == [{"id": "F001", "severity": "high", "check": "http.basic_cleartext",
                                 "endpoint": "http://mail.a.test:80/owa", "accepted": None}]
    assert document["summary"]["findings_by_severity"]["high"] == 1


def test_an_empty_run_streams_an_empty_results_list() -> None:
    run = FleetRun("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", 1, [])
    spool = FleetSpool(keep_scans=True)
    out = io.StringIO()
    spool.write(run, out)
    assert out.getvalue() == doc_io.dumps(_document(run, []))
