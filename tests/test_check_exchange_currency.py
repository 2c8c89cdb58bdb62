"""Update currency, lifecycle as it is now and the build table's age (issue #17), from built evidence."""

from __future__ import annotations

import csv
from datetime import date
from importlib import resources

from casaudit.currency import (
    STALE_AFTER_DAYS,
    cu_support,
    currency,
    parse_policy,
    policy,
    stale_table_sentence,
    vintage,
)
from casaudit.identify import EX2016, EX2019, EXSE, Build, parse_tables, tables
from casaudit.model import CheckStatus, Severity
from checks import exchange_security_update_missing as missing
from checks import exchange_version_eol as eol
from tests.test_check_exchange_version import _absent_host, _owa, _single

BEFORE_FEB26 = "2026-02-01T00:00:00.000Z"


# --------------------------------------------------------------------------- security_update_missing


def test_missing_updates_are_named_dated_and_aged_from_the_scan_day():
    # Given Exchange 2019 CU14 Nov24SUv2, scanned on 2026-02-01
    outcome = _single(missing, _owa("15.2.1544.14", when=BEFORE_FEB26))
    # Then every later update of CU14 released by that day is missing, the oldest first
    assert outcome.status is CheckStatus.FAIL
    assert outcome.reason == ("6 updates of CU14 missing, the oldest (CU14 Apr25HU, 2025-04-18) "
                              "289 days old at the scan")
    assert "CU14 Apr25HU (15.2.1544.25, 2025-04-18)" in outcome.observed
    # an update after the product's end of support is a paid ESU update, and says so
    assert "CU14 Dec25SU (15.2.1544.37, 2025-12-09, paid ESU update)" in outcome.observed
    assert "Feb26SU" not in outcome.observed  # released after the scan day
    assert outcome.severity is Severity.HIGH


def test_a_server_one_patch_cycle_behind_is_medium_not_high():
    # Given 2019 CU15 Dec25SU on 2026-03-01: only Feb26SU (2026-02-10, 19 days) is missing
    outcome = _single(missing, _owa("15.2.1748.42", when="2026-03-01T00:00:00.000Z"))
    assert outcome.status is CheckStatus.FAIL and outcome.severity is Severity.MEDIUM
    assert outcome.reason.startswith("1 update of CU15 missing") and "19 days old" in outcome.reason
    assert "90 days" in missing.CHECK.severity_rationale


def test_update_rollup_products_are_judged_within_their_service_pack():
    # Exchange 2007 SP3 RU21 misses RU22 and RU23 of SP3 (rollups change the third number)
    outcome = _single(missing, _owa("8.3.485.1"))
    assert outcome.status is CheckStatus.FAIL and "of SP3 missing" in outcome.reason
    assert "SP3 RU22" in outcome.observed and "SP3 RU23" in outcome.observed


def test_the_newest_update_of_its_cu_passes_and_names_the_table_date():
    outcome = _single(missing, _owa("15.2.2562.37", when="2026-03-01T00:00:00.000Z"))
    assert outcome.status is CheckStatus.PASS
    assert "RTM Feb26SU (15.2.2562.37, 2026-02-10)" in outcome.reason
    assert f"build table as of {vintage().as_of}" in outcome.reason


def test_only_the_cu_known_is_not_assessed_never_guessed():
    outcome = _single(missing, _owa(body='href="/owa/auth/15.2.1544/themes/resources/logon.css"'))
    assert outcome.status is CheckStatus.NOT_ASSESSED
    assert "CU known, SU level unknown" in outcome.reason


def test_a_build_of_a_line_the_table_lacks_or_an_unknown_product_is_not_assessed():
    unknown_product = _single(missing, _owa("15.9.1.1"))
    assert unknown_product.status is CheckStatus.NOT_ASSESSED
    unknown_line = _single(missing, _owa("15.2.9999.1"))
    assert unknown_line.status is CheckStatus.NOT_ASSESSED and "lists no update" in unknown_line.reason


def test_no_exchange_is_not_applicable_and_a_hidden_build_not_assessed():
    assert _single(missing, *_absent_host(404)).status is CheckStatus.NOT_APPLICABLE
    hidden = _single(missing, *_absent_host(404, headers=(("X-FEServer", "EXCH01"),)))
    assert hidden.status is CheckStatus.NOT_ASSESSED and "build is hidden" in hidden.reason


# --------------------------------------------------------------------------- lifecycle as it is now


def test_an_esu_build_reads_esu_build_with_its_periods_not_unknown():
    outcome = _single(eol, _owa("15.2.1748.43", when="2026-03-01T00:00:00.000Z"))
    assert outcome.status is CheckStatus.FAIL
    assert "left extended support on 2025-10-14" in outcome.reason
    assert "CU15 Feb26SU is an ESU build (released 2026-02-10" in outcome.reason
    assert "Period 1 2025-10-15 to 2026-04-14" in outcome.reason
    assert "unknown" not in outcome.reason


def test_a_2019_build_from_before_the_end_is_not_called_an_esu_build():
    outcome = _single(eol, _owa("15.2.1748.39", when="2026-03-01T00:00:00.000Z"))
    assert outcome.status is CheckStatus.FAIL and "ESU build" not in outcome.reason
    assert "paid Extended Security Updates only" in outcome.reason


def _se_table(*cus: tuple[int, str]):
    """The real table plus made-up later SE CUs (build number, release date)."""
    real = resources.files("casaudit") / "data"
    builds = (real / "exchange-builds.csv").read_text(encoding="utf-8").rstrip("\n")
    for number, (build, day) in enumerate(cus, start=1):
        builds += f"\nExchange Server SE,CU{number},15.2.{build}.5,15.2.{build},{day}"
    return parse_tables(builds + "\n", (real / "exchange-lifecycle.csv").read_text(encoding="utf-8"))


def test_se_is_supported_only_while_its_cu_is_one_of_the_newest_two():
    table = _se_table((2700, "2026-09-01"), (2800, "2027-03-01"))
    rtm = Build.parse("15.2.2562.46")
    assert cu_support(rtm, EXSE, date(2026, 10, 1), table).supported  # RTM and CU1 serviced
    behind = cu_support(rtm, EXSE, date(2027, 3, 2), table)
    assert not behind.supported and behind.newest_cus == ("CU2", "CU1")
    assert "update FAQ" in behind.rule.source  # the verdict says what it relies on
    assert cu_support(Build.parse("15.2.2800"), EXSE, date(2027, 3, 2), table).supported
    assert cu_support(rtm, EX2019, date(2027, 3, 2), table) is None  # no such rule for 2019


def test_se_rtm_passes_while_current_and_says_so():
    outcome = _single(eol, _owa("15.2.2562.46", when="2026-09-01T00:00:00.000Z"))
    assert outcome.status is CheckStatus.PASS
    assert "while kept current" in outcome.reason and "(RTM)" in outcome.reason


# --------------------------------------------------------------------------- data that knows its age


def test_the_policy_is_data_and_every_row_has_a_source():
    rules = policy()
    assert {(r.product, r.rule) for r in rules} == {
        (EX2016, "esu_period"), (EX2019, "esu_period"), (EXSE, "supported_cus"),
    }
    assert all(r.source for r in rules)
    parsed = parse_policy("product,rule,start,end,value,source\nX,esu_period,2026-05,2026-10,P2,s\n")
    assert (parsed[0].start, parsed[0].end) == (date(2026, 5, 1), date(2026, 10, 31))


def test_the_build_table_shape_and_date_are_pinned():
    data = resources.files("casaudit") / "data"
    with (data / "exchange-builds.csv").open(encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert reader.fieldnames == ["product", "version_name", "build", "build_short", "release_date"]
    assert len(rows) == 418
    assert max(r["release_date"] for r in rows) == str(vintage().newest_release) == "2026-08-11"
    assert vintage().as_of == date(2026, 8, 20) and vintage().as_of >= vintage().newest_release
    assert vintage().sources
    assert tables().newest_release == "2026-08-11"


def test_a_table_older_than_90_days_at_the_scan_says_so_in_one_sentence():
    as_of = date(2026, 8, 20)
    assert stale_table_sentence(date(2026, 11, 18), as_of) is None  # 90 days: still fresh
    sentence = stale_table_sentence(date(2026, 11, 19), as_of)
    assert sentence == ("the Exchange build table is 91 days old (as of 2026-08-20): updates "
                        "released since are unknown to this scan; refresh with "
                        "scripts/refresh_exchange_tables.py or upgrade casaudit")
    assert STALE_AFTER_DAYS == 90


def test_currency_ignores_updates_released_after_the_scan_day():
    state = currency(Build.parse("15.2.1748.39"), EX2019, date(2025, 10, 20))
    assert state is not None and state.missing == () and state.newest.version_name == "CU15 Oct25SU"


def test_refresh_refuses_a_build_table_whose_date_was_not_updated(tmp_path):
    import importlib.util
    from pathlib import Path

    import pytest

    script = Path(__file__).resolve().parents[1] / "scripts" / "refresh_exchange_tables.py"
    spec = importlib.util.spec_from_file_location("refresh_vintage", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    data = resources.files("casaudit") / "data"
    source, target = tmp_path / "src", tmp_path / "dst"
    source.mkdir(), target.mkdir()
    (source / "exchange-lifecycle.csv").write_text((data / "exchange-lifecycle.csv").read_text())
    newer = (data / "exchange-builds.csv").read_text() + \
        "Exchange Server SE,RTM Sep26SU,15.2.2562.50,15.2.2562,2026-09-08\n"
    (source / "exchange-builds.csv").write_text(newer)
    with pytest.raises(module.TableError, match="newest_release 2026-08-11 .* is 2026-09-08"):
        module.refresh(source, target)
    assert not (target / "exchange-builds.csv").exists()
