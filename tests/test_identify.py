"""Build identification and the shipped tables: pure, from built evidence."""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
from datetime import date
from pathlib import Path

import pytest

from casaudit.evidence.base import ProbeError
from casaudit.evidence.http import DeploymentManifest
from casaudit.exchange_cves import FLAWS, Exposure, assess
from casaudit.identify import (
    EX2007,
    EX2016,
    EX2019,
    EXSE,
    Build,
    describe,
    exchange_seen,
    exchange_verdict,
    identification_record,
    identify,
    support_status,
    tables,
)
from casaudit.parse.clickonce import read_manifest
from tests.conftest import ROOT
from tests.factories import baseline, evidence_set, exchange, http_evidence, mail_evidence

DATA = ROOT / "casaudit" / "data"


def _info(text):
    build = Build.parse(text)
    assert build is not None
    return describe(build)


@pytest.mark.parametrize(("build", "product", "update"), [
    ("8.1.375.2", EX2007, "SP1 RU8"),
    ("15.2.2562.17", EXSE, "RTM"),
    ("15.1.2507.16", EX2016, "CU23 Nov22SU"),
    ("15.2.1118.20", EX2019, "CU12 Nov22SU"),
    ("14.3.513.0", "Exchange Server 2010", "SP3 RU32"),
])
def test_exact_builds_map_to_their_table_row(build, product, update):
    info = _info(build)
    assert (info.product, info.update, info.known) == (product, update, True)
    assert info.label == f"{product} {update} ({build})"


def test_every_shipped_row_maps_back_to_itself_and_its_product_range():
    with (DATA / "exchange-builds.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(tables().rows) > 400
    for row in rows:
        info = _info(row["build"])
        assert (info.product, info.update) == (row["product"], row["version_name"]), row


def test_se_starts_at_build_2562_of_15_2():
    assert _info("15.2.2562.17").product == EXSE
    assert _info("15.2.2561.1").product == EX2019
    assert _info("15.2.2561.1").update is None  # not in the table: not guessed


def test_three_part_build_names_the_cu_and_says_the_su_is_not_visible():
    info = _info("15.1.2507")
    assert info.product == EX2016 and info.update == "CU23 (2022H1)"
    assert "not visible" in info.note
    assert info.label == "Exchange Server 2016 CU23 (2022H1) (15.1.2507; CU known, SU level unknown)"
    assert len(info.rows) > 10 and all(r.build.short == (15, 1, 2507) for r in info.rows)


def test_unknown_builds_stay_unknown():
    four = _info("15.1.2507.999")
    assert four.update is None and not four.known and four.product == EX2016
    assert "not in casaudit's build table" in four.label
    strange = _info("15.9.1.1")
    assert strange.product is None and strange.update is None
    assert Build.parse("15.1") is None and Build.parse("abc") is None
    assert Build.parse("1.2.3.4.5") is None and Build.parse("123456.1.1") is None
    assert str(Build.parse("14.00.0536.000")) == "14.0.536.0"


def test_lifecycle_from_the_table_with_the_day_given():
    assert support_status(EX2007, date(2017, 4, 11)).ended is False
    assert support_status(EX2007, date(2017, 4, 12)).ended is True
    assert support_status(EX2016, date(2025, 10, 14)).ended is False
    assert support_status(EX2019, date(2025, 10, 15)).ended is True
    se = support_status(EXSE, date(2040, 1, 1))
    assert se.ended is False and se.extended_end is None
    assert support_status("Exchange 5.5", date(2000, 1, 1)) is None


def test_identify_reads_header_path_and_activesync_sightings():
    owa = http_evidence(exchange(
        "https://mail.example.test:443/owa", headers=(("X-OWA-Version", "8.1.375.2"),),
        body='<link href="/owa/8.1.375.2/themes/base/logon.css">',
    ), scheme="https", evidence_id="http-006")
    eas = http_evidence(exchange(
        "https://mail.example.test:443/Microsoft-Server-ActiveSync", 401,
        headers=(("MS-Server-ActiveSync", "8.1"), ("X-AspNet-Version", "2.0.50727")),
    ), scheme="https", path="/Microsoft-Server-ActiveSync", evidence_id="http-007")
    (ident,) = identify(evidence_set(owa, eas))
    assert str(ident.build.build) == "8.1.375.2" and ident.product == EX2007
    assert [s.source for s in ident.sightings] == [
        "X-OWA-Version header", "OWA path /owa/<build>/", "MS-Server-ActiveSync header",
    ]
    assert ident.sightings[2].product == EX2007 and ident.sightings[2].build is None
    assert [h.value for h in ident.hints] == ["2.0.50727"]
    assert ident.endpoint == "https://mail.example.test:443"
    assert ident.evidence_ids == ("http-006", "http-007")
    assert ident.scan_date == date(2026, 1, 1)


def test_identify_prefers_the_lowest_cu_and_its_exact_build_and_lists_the_others():
    pages = [
        http_evidence(exchange(
            "https://mail.example.test:443/owa", headers=(("X-OWA-Version", v),),
        ), scheme="https", evidence_id=f"E{i}")
        for i, v in enumerate(["15.1.2507.16", "15.1.2375.37"])
    ]
    path = http_evidence(exchange(
        "https://mail.example.test:443/owa/auth/logon.aspx",
        body='<link rel="shortcut icon" href="/owa/auth/15.1.2375/themes/resources/favicon.ico">',
    ), scheme="https", evidence_id="E9")
    (ident,) = identify(evidence_set(*pages, path))
    assert str(ident.build.build) == "15.1.2375.37"
    assert ident.other_builds == ("15.1.2507.16",)


def test_activesync_15_2_alone_names_no_single_product_and_weak_hints_name_none():
    eas = http_evidence(exchange(
        "https://mail.example.test:443/Microsoft-Server-ActiveSync",
        headers=(("MS-Server-ActiveSync", "15.2"), ("Server", "Microsoft-IIS/10.0")),
    ), scheme="https")
    (ident,) = identify(evidence_set(eas))
    assert ident.build is None and ident.product is None and ident.disclosed
    assert ident.hints[0].source == "Server header"


def test_refresh_script_validates_and_copies(tmp_path):
    spec = importlib.util.spec_from_file_location("refresh", ROOT / "scripts" / "refresh_exchange_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    source, target = tmp_path / "src", tmp_path / "dst"
    source.mkdir(), target.mkdir()
    for name in ("exchange-builds.csv", "exchange-lifecycle.csv"):
        (source / name).write_text((DATA / name).read_text())
    assert module.refresh(source, target) == ["exchange-builds.csv", "exchange-lifecycle.csv"]
    assert module.refresh(source, target) == []
    bad = (DATA / "exchange-builds.csv").read_text()
    bad += "Exchange Server 2016,CU99,15.1.02.1,15.1.02,2030-01-01\n"
    (source / "exchange-builds.csv").write_text(bad)
    with pytest.raises(module.TableError, match="leading zeros"):
        module.refresh(source, target)
    assert Path(target / "exchange-builds.csv").read_text() == (DATA / "exchange-builds.csv").read_text()


# --------------------------------------------------------------------------- CVE judgement


def _exposures(text):
    return {a.flaw.name: a.exposure for a in assess(_info(text))}


def test_fixed_builds_are_rows_of_the_table():
    for flaw in FLAWS:
        for builds in flaw.fixed.values():
            for build in builds:
                assert build.parts in tables().by_build, (flaw.name, str(build))


def test_exact_builds_against_the_fixes():
    proxyshell_unpatched = _exposures("15.1.2176.9")  # 2016 CU19 Mar21SU
    assert proxyshell_unpatched["ProxyLogon"] is Exposure.FIXED
    assert proxyshell_unpatched["ProxyShell"] is Exposure.VULNERABLE
    assert proxyshell_unpatched["ProxyNotShell"] is Exposure.VULNERABLE
    assert set(_exposures("15.1.2507.16").values()) == {Exposure.FIXED}
    assert _exposures("15.1.2507.13")["ProxyNotShell"] is Exposure.VULNERABLE
    # An old CU that never got a ProxyShell fix, though it got the special Mar21SU
    old = _exposures("15.1.1415.10")
    assert old["ProxyLogon"] is Exposure.FIXED and old["ProxyShell"] is Exposure.VULNERABLE
    assert _exposures("15.0.1497.2")["ProxyLogon"] is Exposure.VULNERABLE
    assert set(_exposures("8.1.375.2").values()) == {Exposure.NOT_AFFECTED}
    assert set(_exposures("15.2.2562.17").values()) == {Exposure.NOT_AFFECTED}


def test_three_part_builds_are_judged_only_where_the_cu_decides():
    assert _exposures("15.1.2507")["ProxyNotShell"] is Exposure.UNDETERMINED
    assert _exposures("15.1.2507")["ProxyShell"] is Exposure.FIXED  # CU23 postdates Apr21SU
    assert set(_exposures("15.1.1261").values()) == {Exposure.VULNERABLE}  # 2016 CU7
    assert set(_exposures("15.2.1258").values()) == {Exposure.FIXED}  # 2019 CU13


# --------------------------------------------------------------------------- exchange_seen

HOST = "mail.example.test"


def _url(path, role, status=404, **fields):
    return http_evidence(exchange(f"https://{HOST}:443{path}", status, **fields), scheme="https",
                         path=path, role=role, evidence_id=f"e-{role}")


def test_exchange_seen_by_a_marker_anywhere_or_a_mail_greeting():
    seen, how = exchange_seen(evidence_set(
        _url("/owa", "owa", 302, headers=(("Location", "/owa/auth/logon.aspx"),)), baseline()), HOST)
    assert seen is True and "OWA logon path" in how
    seen, how = exchange_seen(evidence_set(
        _url("/owa", "owa"), baseline(), mail_evidence(
            "pop3", greeting="+OK The Microsoft Exchange POP3 service is ready.")), HOST)
    assert seen is True and "POP3 greeting" in how


def test_exchange_observably_absent_only_when_every_url_answered_as_absent():
    assert exchange_seen(evidence_set(_url("/owa", "owa"), _url("/ecp", "ecp"), baseline()),
                         HOST)[0] is False
    refused = ProbeError("refused", "connection refused")
    # a refused plain-HTTP port beside 404s over HTTPS is still absence
    closed = http_evidence(exchange(f"http://{HOST}:80/owa", error=refused), evidence_id="e-http")
    assert exchange_seen(evidence_set(_url("/owa", "owa"), closed, baseline()), HOST)[0] is False


@pytest.mark.parametrize(("items", "words"), [
    (lambda: [_url("/owa", "owa", 503), baseline(exchange(
        f"https://{HOST}:443/casaudit-0123456789abcdef/", 503))], "no HTTP answer"),
    (lambda: [_url("/owa", "owa"), _url("/ecp", "ecp", error=ProbeError("timeout", "slow"))],
     "no usable answer"),
    (lambda: [_url("/owa", "owa", error=ProbeError("refused", "closed"))], "every port refused"),
    (lambda: [_url("/owa", "owa", 200, body="<html>welcome</html>"), baseline()],
     "no Exchange marker"),
])
def test_exchange_seen_cannot_tell_without_usable_answers(items, words):
    seen, how = exchange_seen(evidence_set(*items()), HOST)
    assert seen is None and words in how


def test_exchange_verdict_names_the_marker_and_its_evidence():
    verdict = exchange_verdict(evidence_set(
        _url("/owa", "owa", 200, headers=(("X-OWA-Version", "15.1.2507.16"),)), _url("/ecp", "ecp"),
        baseline()), HOST)
    assert verdict.verdict == "exchange" and verdict.evidence == ("e-owa",)
    assert "X-OWA-Version: 15.1.2507.16" in verdict.reason


def test_exchange_online_when_a_microsoft_365_back_end_is_named():
    online = (("X-FEServer", "BY2PR03CA011"),
              ("X-CalculatedBETarget", "by2pr03mb027.namprd03.prod.outlook.com"))
    verdict = exchange_verdict(evidence_set(_url("/owa", "owa", 302, headers=online), baseline()), HOST)
    assert verdict.verdict == "exchange_online" and verdict.evidence == ("e-owa",)
    assert "prod.outlook.com" in verdict.reason
    # An on-premises back end in the same header is plain Exchange.
    on_premises = (("X-CalculatedBETarget", "exch01.corp.example.test"),)
    assert exchange_verdict(evidence_set(
        _url("/owa", "owa", 200, headers=on_premises), baseline()), HOST).verdict == "exchange"


def test_not_exchange_when_the_host_answers_and_every_url_is_absent():
    verdict = exchange_verdict(evidence_set(_url("/owa", "owa"), _url("/ecp", "ecp"), baseline()), HOST)
    assert verdict.verdict == "not_exchange"
    assert verdict.reason.startswith("no Exchange Client Access service on this host: every")
    assert set(verdict.evidence) == {"e-owa", "e-ecp", "B001"}


@pytest.mark.parametrize("items", [
    lambda: [_url("/owa", "owa", error=ProbeError("refused", "closed"))],
    lambda: [_url("/owa", "owa"), _url("/ecp", "ecp", error=ProbeError("timeout", "slow"))],
    lambda: [_url("/owa", "owa", 200, body="<html>welcome</html>"), baseline()],
])
def test_unknown_when_nothing_answered_or_an_answer_is_unexplained(items):
    verdict = exchange_verdict(evidence_set(*items()), HOST)
    assert (verdict.verdict, verdict.evidence) == ("unknown", ())
    assert verdict.reason.startswith("could not tell whether Exchange Client Access is here")


def test_the_identification_record_carries_the_verdict():
    evidence = evidence_set(_url("/owa", "owa"), baseline())
    (ident,) = identify(evidence)
    record = identification_record(ident, exchange_verdict(evidence, HOST))
    assert record["verdict"] == "not_exchange" and record["evidence"] == ["e-owa", "B001"]


# --------------------------------------------------------------------------- export tool manifest

MANIFEST_URL = ("https://mail.example.test:443/ecp/Current/exporttool/"
                "microsoft.exchange.ediscovery.exporttool.application")


def _manifest_xml(version: str = "15.2.1544.25") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<asmv1:assembly manifestVersion="1.0" xmlns:asmv1="urn:schemas-microsoft-com:asm.v1" '
        'xmlns="urn:schemas-microsoft-com:asm.v2">\n'
        '  <assemblyIdentity name="microsoft.exchange.ediscovery.exporttool.application" '
        f'version="{version}" language="neutral" xmlns="urn:schemas-microsoft-com:asm.v1" />\n'
        '  <dependency><dependentAssembly><assemblyIdentity name="x.exe" version="1.2.3.4" />'
        '</dependentAssembly></dependency>\n'
        '</asmv1:assembly>\n'
    ).encode()


def test_manifest_gives_the_top_level_assembly_identity_not_a_dependency():
    manifest = read_manifest(_manifest_xml())
    assert manifest == DeploymentManifest(
        name="microsoft.exchange.ediscovery.exporttool.application", version="15.2.1544.25")


_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
           b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
           b'<assembly xmlns="urn:schemas-microsoft-com:asm.v1">&lol2;</assembly>')
_XXE = (b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<assembly xmlns="urn:schemas-microsoft-com:asm.v1"><assemblyIdentity version="&x;"/>'
        b'</assembly>')


@pytest.mark.parametrize(("body", "truncated", "problem"), [
    (_LAUGHS, False, "refused by defusedxml"),
    (_XXE, False, "refused by defusedxml"),
    (_manifest_xml() + b" " * (64 * 1024), False, "body larger than 65536 bytes"),
    (_manifest_xml()[:200], True, "body larger than 65536 bytes"),
    (_manifest_xml()[:200], False, "not well-formed XML"),
    (b"<html><body>Sign in</body></html>", False, "not a deployment manifest"),
    (b'<assembly xmlns="urn:schemas-microsoft-com:asm.v1"><description/></assembly>', False,
     "no top-level assemblyIdentity"),
])
def test_hostile_or_foreign_manifests_yield_a_reason_never_a_version(body, truncated, problem):
    manifest = read_manifest(body, truncated)
    assert manifest.version is None and manifest.problem is not None
    assert manifest.problem.startswith(problem)


def _manifest_evidence(version: str | None, evidence_id: str = "build-002"):
    answer = exchange(MANIFEST_URL)
    if version is not None:
        answer = dataclasses.replace(answer, manifest=read_manifest(_manifest_xml(version)))
    return http_evidence(answer, scheme="https", path=MANIFEST_URL.split(":443")[1],
                         role="exporttool_manifest", evidence_id=evidence_id)


def _logon_page(cu: str, evidence_id: str = "http-014"):
    return http_evidence(exchange(
        "https://mail.example.test:443/owa/auth/logon.aspx",
        body=f'<link rel="shortcut icon" href="/owa/auth/{cu}/themes/resources/favicon.ico">',
    ), scheme="https", evidence_id=evidence_id)


def test_the_manifest_makes_a_hidden_build_exact_and_names_where_it_was_seen():
    (ident,) = identify(evidence_set(_logon_page("15.2.1544"), _manifest_evidence("15.2.1544.25")))
    assert str(ident.build.build) == "15.2.1544.25" and ident.exact and ident.precision == "exact"
    assert ident.build.label == "Exchange Server 2019 CU14 Apr25HU (15.2.1544.25)"
    source = ident.sightings[-1]
    assert (source.source, source.url, source.evidence_id, source.removable) == (
        "ECP export tool manifest assemblyIdentity version", MANIFEST_URL, "build-002", True)
    assert [s.removable for s in ident.sightings] == [False, True]
    assert {s.evidence_id for s in ident.build_sources} == {"http-014", "build-002"}
    assert ident.other_builds == ()


def test_only_the_three_part_path_says_cu_known_su_level_unknown_and_is_not_exact():
    (ident,) = identify(evidence_set(_logon_page("15.2.1544"), _manifest_evidence(None)))
    assert str(ident.build.build) == "15.2.1544"
    assert not ident.exact and ident.precision == "cu_only"
    assert ident.build.label.endswith("(15.2.1544; CU known, SU level unknown)")
    record = identification_record(ident)
    assert (record["build"], record["exact"], record["precision"]) == ("15.2.1544", False, "cu_only")
    assert record["sightings"][0]["evidence"] == "http-014"


def test_no_build_is_neither_exact_nor_cu_level():
    (ident,) = identify(evidence_set(_manifest_evidence(None)))
    assert ident.build is None and not ident.exact and ident.precision is None


@pytest.mark.parametrize("version", [
    "15.2.1544", "14.3.513.0", "8.1.375.2", "16.0.1.2", "15.9.1.2", "15.2.1544.25.7", "abc",
    " ", "15.2.1544.25; DROP",
])
def test_a_manifest_version_counts_only_when_it_looks_like_a_4_part_15_x_build(version):
    (ident,) = identify(evidence_set(_manifest_evidence(version)))
    assert ident.sightings == () and ident.build is None


def test_an_exact_carrier_wins_over_a_conflicting_three_part_one_and_the_conflict_is_kept():
    # The path says an older CU than the manifest: the 4-part build is judged, the other recorded.
    (ident,) = identify(evidence_set(_logon_page("15.2.1258"), _manifest_evidence("15.2.1544.25")))
    assert str(ident.build.build) == "15.2.1544.25" and ident.exact
    assert ident.other_builds == ("15.2.1258",)
    assert identification_record(ident)["other_builds"] == ["15.2.1258"]
