"""How much of a host was assessed, and the summary every view only displays.

Pure functions over a scan's evidence and check rows (docs/verdicts.md):

- `host_answered`: did any Client Access service of the host give an answer?
  When none did (every port refused, stayed silent or spoke garbage), a closed
  port proves nothing about the host the user meant, so `gate` turns every
  pass into `not_assessed`;
- `summarise`: the host's `status`, a grade per area and the headline, which
  the HTML, PDF, terminal, SARIF, JUnit and fleet views display as they are.

Areas are keyed by check-id prefix, so checks added later land in the right
area without touching this module; an unknown prefix lands in "other".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from casaudit.model import CheckResult, CheckStatus, Finding, Severity

ASSESSED, PARTIALLY_ASSESSED, NOT_ASSESSED = "assessed", "partially_assessed", "not_assessed"

#: (prefix, area key), first match wins: the version checks live under `exchange.`.
AREA_PREFIXES: tuple[tuple[str, str], ...] = (
    ("exchange.version", "version"),
    ("exchange.known_vulnerable", "version"),
    ("exchange.security_update", "version"),
    ("version.", "version"),
    ("http.", "web"),
    ("exchange.", "web"),
    ("owa.", "web"),
    ("tls.", "tls"),
    ("mail.", "mail"),
    ("autodiscover.", "autodiscover"),
)
AREAS: tuple[tuple[str, str], ...] = (
    ("web", "Web (OWA, ActiveSync, EWS, Outlook Anywhere)"),
    ("tls", "TLS and certificates"),
    ("mail", "POP3 and IMAP4"),
    ("autodiscover", "Autodiscover"),
    ("version", "Exchange version"),
)
OTHER_AREA = ("other", "Other checks")

#: Grade letter by the worst severity that failed in an area.
_GRADE_BY_WORST = {
    Severity.CRITICAL: "F", Severity.HIGH: "D", Severity.MEDIUM: "C", Severity.LOW: "B", Severity.INFO: "A",
}
_UNJUDGED = (CheckStatus.NOT_ASSESSED, CheckStatus.ERROR)
#: What a row claims about the host: "absent" is a claim too (docs/verdicts.md).
_CLAIMS = (CheckStatus.PASS, CheckStatus.FAIL, CheckStatus.NOT_APPLICABLE)
NOTHING_ANSWERED = (
    "no Client Access service of the host answered: every port refused the connection, "
    "stayed silent or spoke something else than its protocol"
)


def area_of(check_id: str) -> str:
    for prefix, area in AREA_PREFIXES:
        if check_id.startswith(prefix):
            return area
    return OTHER_AREA[0]


# --------------------------------------------------------------------------- did the host answer


def host_answered(evidence: Iterable[Any], host: str | None = None) -> bool:
    """True when a service of the host itself gave an answer in its protocol.

    An answer is an HTTP status line (any status: a 503 is an answer, though it
    proves nothing for the checks), a completed TLS handshake, or a POP3/IMAP4
    greeting in that protocol. Answers from the mail domain's other names
    (autodiscover.<domain>, <domain>) do not count: they say nothing of the
    host the user named.
    """
    return any(_is_host(item, host) and answered(item) for item in evidence)


def answered(item: Any) -> bool:
    """Did this evidence item get an answer in its protocol (see `host_answered`)?"""
    kind = getattr(item, "kind", "")
    if kind in ("http", "autodiscover"):
        return any(x.status is not None for x in item.exchanges)
    if kind in ("hostless_http", "ntlm"):
        return item.status is not None
    if kind == "tls":
        return item.error is None
    if kind == "mail":
        return bool(item.speaks_protocol)
    return False


def _is_host(item: Any, host: str | None) -> bool:
    kind = getattr(item, "kind", "")
    if kind == "autodiscover":
        return False  # asked of the mail domain's names, whatever they resolve to
    if kind == "tls":
        return item.name_role == "host"
    if host is None or kind == "mail":
        return True  # mail is only ever asked of the host
    return str(getattr(item, "host", host)).lower() == host.lower()


def gate(rows: Sequence[CheckResult], evidence: Iterable[Any], host: str | None) -> tuple[CheckResult, ...]:
    """The rows as they stand for the host (docs/verdicts.md).

    When no service of the host answered, a refusal or a timeout proves nothing
    about the host the user meant (a typo in --resolve looks exactly like it):
    every pass, failure or "not applicable" that rests only on such non-answers
    becomes not assessed. A row citing an answer (the mail domain's web site
    answering Autodiscover badly) stands.
    """
    items = list(evidence)
    if host_answered(items, host):
        return tuple(rows)
    heard = {item.id for item in items if answered(item)}
    # The evidence keeps what each port did (refused, timed out); the row says why it
    # cannot count, in the same words everywhere so a summary can say it once.
    return tuple(
        dataclasses.replace(row, status=CheckStatus.NOT_ASSESSED, reason=NOTHING_ANSWERED)
        if row.status in _CLAIMS and not heard & set(row.evidence)
        else row
        for row in rows
    )


# --------------------------------------------------------------------------- a host that is not Exchange

#: Families whose every row is about the host's own Exchange Client Access services:
#: its virtual directories (http.*), Exchange itself (exchange.*) and its POP3/IMAP4 (mail.*).
EXCHANGE_FAMILIES = ("http.", "exchange.", "mail.")
NOT_EXCHANGE_STATUS_REASON = (
    "no Exchange Client Access service answered on this host "
    "(it answered as a plain web server)"
)


def about_the_host_only(row: CheckResult, host: str) -> bool:
    """Does the row judge the host's own Exchange services (not a fact about the mail domain)?

    autodiscover.* rows are about the mail domain, wherever they were asked; a tls.* row is
    about the host when its endpoint is the host, about the domain on its other names
    (autodiscover.<domain>, <domain>).
    """
    if row.check.startswith(EXCHANGE_FAMILIES):
        return True
    if row.check.startswith("tls."):
        return (urlsplit(row.endpoint).hostname or "").lower() == host.lower()
    return False


def set_aside_for_no_exchange(rows: Sequence[CheckResult], host: str,
                              reason: str) -> tuple[CheckResult, ...]:
    """On a host where no Exchange Client Access service answered (docs/verdicts.md):
    every row about the host's own Exchange services is not applicable, with `reason`;
    an `error` row stays (a bug is never hidden), and the mail domain's rows stand."""
    return tuple(
        dataclasses.replace(row, status=CheckStatus.NOT_APPLICABLE, reason=reason)
        if row.status is not CheckStatus.ERROR and about_the_host_only(row, host)
        else row
        for row in rows
    )


# --------------------------------------------------------------------------- the summary


@dataclass(frozen=True)
class Area:
    id: str
    title: str
    #: A to F, None when no row of the area was assessed (or the host was not).
    grade: str | None
    counts: Mapping[str, int]
    findings: int
    summary: str


@dataclass(frozen=True)
class Headline:
    level: str  # fail | attention | pass | unknown
    title: str
    detail: str


@dataclass(frozen=True)
class Summary:
    status: str
    status_reason: str
    headline: Headline
    areas: tuple[Area, ...]


def status_counts(rows: Iterable[CheckResult]) -> dict[str, int]:
    counts = {status.value: 0 for status in CheckStatus}
    for row in rows:
        counts[row.status.value] += 1
    return counts


def summarise(rows: Sequence[CheckResult], findings: Sequence[Finding], answered: bool,
              not_exchange: bool = False) -> Summary:
    """`not_exchange`: the host answered, but no Exchange Client Access service did."""
    if answered and not_exchange:
        # Not assessed, so a CI gate pointed at the wrong host does not pass (exit 3); the
        # mail domain's facts still get their grades.
        areas = tuple(_areas(rows, findings, graded=True))
        return Summary(NOT_ASSESSED, NOT_EXCHANGE_STATUS_REASON, _not_exchange_headline(findings), areas)
    status, reason = _host_status(rows, answered)
    areas = tuple(_areas(rows, findings, graded=status != NOT_ASSESSED))
    return Summary(status, reason, _headline(status, reason, rows, findings), areas)


def _not_exchange_headline(findings: Sequence[Finding]) -> Headline:
    total = len(findings)
    about = (f" {total} finding{_s(total)} below {'are' if total != 1 else 'is'} about the "
             "mail domain, not about an Exchange server." if total else "")
    return Headline("unknown", "No Exchange Client Access service answered on this host",
                    "It answered, but no Exchange marker showed anywhere: every Exchange check is "
                    "not applicable. Check that you named the mail server (not the web site) and "
                    f"whether the mailboxes moved to Exchange Online.{about}")


def _host_status(rows: Sequence[CheckResult], answered: bool) -> tuple[str, str]:
    if not answered:
        return NOT_ASSESSED, NOTHING_ANSWERED
    applicable = [r for r in rows if r.status is not CheckStatus.NOT_APPLICABLE]
    missing = [r for r in applicable if r.status in _UNJUDGED]
    if not missing:
        return ASSESSED, f"all {len(applicable)} check rows that apply were assessed"
    why = top_reasons(missing)
    return PARTIALLY_ASSESSED, (
        f"{len(missing)} of {len(applicable)} check rows that apply could not be assessed ({why})"
    )


def top_reasons(rows: Sequence[CheckResult], limit: int = 2) -> str:
    """The distinct reasons of `rows`, commonest first (shortest wording among equals), bounded."""
    tally: dict[str, int] = {}
    for row in rows:
        tally[row.reason] = tally.get(row.reason, 0) + 1
    ranked = sorted(tally.items(), key=lambda item: (-item[1], len(item[0]), item[0]))
    parts = [f"{_cut(reason)}" + (f" x{count}" if count > 1 else "") for reason, count in ranked[:limit]]
    more = len(ranked) - limit
    return "; ".join(parts) + (f"; and {more} other reason{'s' if more > 1 else ''}" if more > 0 else "")


def _cut(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _areas(rows: Sequence[CheckResult], findings: Sequence[Finding], graded: bool) -> Iterable[Area]:
    rows_by_area: dict[str, list[CheckResult]] = {}
    for row in rows:
        rows_by_area.setdefault(area_of(row.check), []).append(row)
    findings_by_area: dict[str, int] = {}
    for finding in findings:
        key = area_of(finding.check)
        findings_by_area[key] = findings_by_area.get(key, 0) + 1
    areas = list(AREAS) + ([OTHER_AREA] if OTHER_AREA[0] in rows_by_area else [])
    for key, title in areas:
        yield _area(key, title, rows_by_area.get(key, []), findings_by_area.get(key, 0), graded)


def _area(key: str, title: str, rows: Sequence[CheckResult], findings: int, graded: bool) -> Area:
    counts = status_counts(rows)
    assessed = counts["pass"] + counts["fail"]
    unjudged = counts["not_assessed"] + counts["error"]
    tail = f"; {unjudged} not assessed" if unjudged else ""
    if not rows:
        return Area(key, title, None, counts, findings, "not run")
    if not graded:
        return Area(key, title, None, counts, findings, "not assessed: the host gave no answer")
    if not assessed:
        if not unjudged:
            return Area(key, title, None, counts, findings,
                        f"not applicable ({counts['not_applicable']} rows with nothing to judge)")
        return Area(key, title, None, counts, findings,
                    f"not assessed ({unjudged} check rows without a usable answer)")
    failed = [r.severity for r in rows if r.status is CheckStatus.FAIL]
    if failed:
        worst = max(failed, key=lambda s: s.rank)
        summary = f"{len(failed)} of {assessed} assessed failed, worst {worst.value}{tail}"
        return Area(key, title, _GRADE_BY_WORST[worst], counts, findings, summary)
    return Area(key, title, "A", counts, findings, f"all {assessed} assessed passed{tail}")


def _headline(status: str, reason: str, rows: Sequence[CheckResult],
              findings: Sequence[Finding]) -> Headline:
    if status == NOT_ASSESSED:
        return Headline("unknown", "Not assessed",
                        "casaudit could not observe this host, so it gives no grade and no verdict. "
                        "Check the address it resolved to (--resolve, --dns-server), the ports "
                        "(--port) and any firewall between this machine and the host.")
    counts = {severity: 0 for severity in Severity}
    for finding in findings:
        counts[finding.severity] += 1
    total = len(findings)
    serious = counts[Severity.CRITICAL] + counts[Severity.HIGH]
    minor = total - serious - counts[Severity.INFO]
    unjudged = sum(1 for r in rows if r.status in _UNJUDGED)
    tail = f" {unjudged} check rows could not be assessed." if unjudged else ""
    if serious:
        return Headline("fail", "Action needed",
                        f"{serious} critical or high finding{_s(serious)} among {total} in total.{tail}")
    if minor:
        return Headline("attention", "Needs attention",
                        f"{minor} medium or low finding{_s(minor)}, none critical or high.{tail}")
    assessed = sum(1 for r in rows if r.status in (CheckStatus.PASS, CheckStatus.FAIL))
    if not assessed:
        return Headline("unknown", "Not assessed", "No check row could be assessed." + tail)
    info = counts[Severity.INFO]
    extra = f" ({info} informational finding{_s(info)})" if info else ""
    if status == PARTIALLY_ASSESSED:
        return Headline("attention", "No problems found in what could be assessed",
                        f"All {assessed} assessed check rows passed{extra}.{tail}")
    return Headline("pass", "No problems found", f"All {assessed} assessed check rows passed{extra}.")


def _s(n: int) -> str:
    return "" if n == 1 else "s"
