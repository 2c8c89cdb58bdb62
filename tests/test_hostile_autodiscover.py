"""Autodiscover answers that attack the XML parser, served in a full scan through the CLI.

The HTTPS port of a hardened lab host is a hostile server with the lab's own
certificate (so the certificate is not what fails): it answers
`/autodiscover/autodiscover.xml` on every name (the domain, autodiscover.<domain>
and the host itself) with an XML bomb, an external entity, an external DTD,
broken XML, a body cut short or a 50 MB body, and 404 everywhere else. The plain
HTTP port, DNS (SRV) and the SRV target stay the lab's.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from casaudit.lab.hostile import HitRecorder, autodiscover_xml, external_dtd, external_entities
from tests.hostile_scan import HostileRun, Served, scan_served

TIME_LIMIT_S = 30
MEMORY_LIMIT_MIB = 200
GUIDE_METHODS = ("root_domain", "autodiscover_host")
ROOT = Path(__file__).resolve().parents[1]


def _scan(behaviour, name: str) -> HostileRun:
    return scan_served({"https": Served(behaviour, "lab", name)})


def _assert_bounded_and_reported(run: HostileRun, validate_scan, failure: str,
                                 status: str = "fail") -> None:
    assert run.code in (0, 1), run.stderr
    assert run.seconds < TIME_LIMIT_S
    assert run.peak_rss_mib < MEMORY_LIMIT_MIB
    assert "Traceback" not in run.stderr
    validate_scan(run.document)
    assert "<html" in run.html.lower() and "Autodiscover" in run.html
    # The two URLs the guide names got the hostile answer, and say what it was.
    for method in GUIDE_METHODS:
        item = run.autodiscover(method)
        assert item["verdict"] == "failed" and item["failure"] == failure, item
        assert item["exchanges"][-1]["status"] == 200
        assert item["xml"]["parse_error"] and not item["xml"]["autodiscover"]
        assert failure.replace("_", " ") in item["detail"] or item["xml"]["parse_error"] in item["detail"]
    rows = {row["endpoint"]: row for row in run.checks("autodiscover.url_failed")}
    assert {row["status"] for row in rows.values()} == {status}
    assert all(failure.replace("_", " ") in row["reason"] for row in rows.values())
    # The other endpoints of the host are still assessed: plain HTTP (the lab's), the
    # SRV record and the HTTP redirect (both lead to the lab's own HTTPS port: working),
    # and the hostile port's other paths (404).
    assert all(e["exchanges"][0]["status"] == 301 for e in run.evidence("http"))
    assert run.autodiscover("srv")["verdict"] == "working"
    assert run.autodiscover("http_redirect")["verdict"] == "working"
    assert {e["exchanges"][0]["status"] for e in run.evidence("https")} >= {404}


@pytest.mark.parametrize(("behaviour", "failure"), [
    ("autodiscover_billion_laughs", "xml_forbidden"),
    ("autodiscover_quadratic_blowup", "xml_forbidden"),
    ("autodiscover_malformed", "xml_malformed"),
    ("autodiscover_huge", "xml_too_large"),
])
def test_xml_bombs_broken_and_huge_bodies_end_as_named_failures(behaviour, failure, validate_scan):
    run = _scan(behaviour, behaviour)
    _assert_bounded_and_reported(run, validate_scan, failure)
    if behaviour == "autodiscover_huge":
        # Read up to the parser's cap, never the 50 MB.
        for method in GUIDE_METHODS:
            exchange = run.autodiscover(method)["exchanges"][-1]
            assert exchange["body_truncated"] and exchange["body_bytes"] <= 256 * 1024


def test_a_body_cut_short_keeps_its_status_and_names_the_cut(validate_scan):
    run = _scan("autodiscover_cut_short", "autodiscover_cut_short")
    # A body cut short is a broken answer (like a reset): the URL's row cannot be judged.
    _assert_bounded_and_reported(run, validate_scan, "xml_cut_short", status="not_assessed")
    for method in GUIDE_METHODS:
        exchange = run.autodiscover(method)["exchanges"][-1]
        assert exchange["body_error"]["kind"] == "protocol" and exchange["body_truncated"]


@pytest.mark.parametrize("kind", ["external_entities", "external_dtd"])
def test_external_entities_and_dtds_are_never_fetched_nor_expanded(kind, tmp_path, validate_scan):
    # Given a local file holding a secret, and a loopback listener that records every
    # connection and answers with a second secret,
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("FILE-SECRET-7d41")
    with HitRecorder(b"FETCHED-SECRET-93c2") as recorder:
        payload = (external_entities(recorder.url, str(secret_file)) if kind == "external_entities"
                   else external_dtd(recorder.url))
        # When the Autodiscover URLs answer with entities or a DTD pointing at both,
        run = _scan(autodiscover_xml(payload), kind)
        hits = list(recorder.hits)
    # Then the parser refuses the body, nothing connects to the listener, and neither
    # secret shows in any artefact.
    _assert_bounded_and_reported(run, validate_scan, "xml_forbidden")
    assert hits == []
    for text in (run.stdout, run.stderr, run.html, run.json_text):
        assert "FILE-SECRET-7d41" not in text and "FETCHED-SECRET-93c2" not in text


# -- only defusedxml parses XML -----------------------------------------------------------

#: What may be imported from the standard library's XML packages: building XML (the JUnit
#: report), types and escaping. Nothing that parses.
_ALLOWED_XML_NAMES = {"Element", "SubElement", "ParseError", "tostring", "indent", "escape", "quoteattr"}
_PARSING_MODULES = ("lxml", "xml.dom", "xml.sax.expatreader", "xml.parsers", "xmltodict",
                    "xml.etree.cElementTree")


def test_only_defusedxml_parses_xml():
    offenders: list[str] = []
    for path in [*(ROOT / "casaudit").rglob("*.py"), *(ROOT / "checks").rglob("*.py")]:
        tree = ast.parse(path.read_text(), str(path))
        aliases: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("xml"):
                offenders += [f"{path.name}: from {node.module} import {a.name}"
                              for a in node.names if a.name not in _ALLOWED_XML_NAMES]
            if isinstance(node, ast.Import | ast.ImportFrom):
                module = node.module if isinstance(node, ast.ImportFrom) else None
                for alias in node.names:
                    full = f"{module}.{alias.name}" if module else alias.name
                    if full.startswith(_PARSING_MODULES):
                        offenders.append(f"{path.name}: imports {full}")
                    if isinstance(node, ast.Import) and alias.name.startswith("xml"):
                        aliases.add(alias.asname or alias.name)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and node.attr not in _ALLOWED_XML_NAMES):
                offenders.append(f"{path.name}: {node.value.id}.{node.attr}")
    assert offenders == []
    # the one place hostile XML is parsed, which the Autodiscover and ClickOnce parsers call
    source = (ROOT / "casaudit/parse/untrusted_xml.py").read_text()
    assert "from defusedxml.ElementTree import fromstring" in source
    assert "forbid_dtd=True, forbid_entities=True, forbid_external=True" in source
    for parser in ("autodiscover.py", "clickonce.py"):
        assert "parse_untrusted(" in (ROOT / "casaudit/parse" / parser).read_text()
