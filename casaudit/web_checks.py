"""Pure helpers the Client Access web checks share: what an answer proves, per endpoint.

`read` is the one place that decides what an HTTP answer proves (docs/verdicts.md):
a refused port or a 404 means the URL is absent, a 5xx or a timeout proves
nothing, a redirect to HTTPS, a 403, content or a challenge are answers a
check can judge. Every web check starts from it.

A plain-HTTP endpoint that redirects to HTTPS is judged, for what lies behind
the redirect, on the HTTPS endpoint itself; so the checks read an http://
endpoint only up to its first https:// hop, and an https:// endpoint whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from casaudit.evidence.base import EvidenceSet
from casaudit.evidence.http import HttpEvidence, HttpExchange
from casaudit.exchange import (
    ROLE_BY_NAME,
    ClientAccessUrl,
    Presence,
    Signals,
    baseline_for,
    exchange_signals,
)
from casaudit.identify import origin_of
from casaudit.model import CheckStatus, Outcome


@dataclass(frozen=True)
class Endpoint:
    """One Client Access URL's evidence with its catalog entry and its classification."""

    item: HttpEvidence
    url: ClientAccessUrl
    signals: Signals

    @property
    def own_chain(self) -> tuple[HttpExchange, ...]:
        """The exchanges judged on this endpoint: for http://, those before any https:// hop."""
        if self.item.scheme != "http":
            return self.item.exchanges
        chain = []
        for exchange in self.item.exchanges:
            if not exchange.url.startswith("http://"):
                break
            chain.append(exchange)
        return tuple(chain)

    @property
    def leaves_for_https(self) -> str | None:
        """The https:// URL a plain-HTTP endpoint's chain moved to, if it did."""
        if self.item.scheme != "http":
            return None
        for exchange in self.item.exchanges:
            if exchange.url.startswith("https://"):
                return exchange.url
        return None


def endpoints(evidence: EvidenceSet) -> Iterator[Endpoint]:
    """Every Client Access URL probed (not the baseline), with its classification."""
    for item in evidence.of(HttpEvidence):
        url = ROLE_BY_NAME.get(item.role)
        if url is None:
            continue
        yield Endpoint(item, url, exchange_signals(item, baseline_for(evidence, item)))


class Answer(StrEnum):
    """What an endpoint's answer proves, decided once for every web check (docs/verdicts.md)."""

    #: The port refused the connection: nothing listens there.
    REFUSED = "refused"
    #: No answer: timeout, reset, TLS failure, a chain cut before a status.
    NO_ANSWER = "no_answer"
    #: The URL is not there: 404/410, a verb its service does not know, or the same answer
    #: as a path that cannot exist (a catch-all).
    ABSENT = "absent"
    #: An answer that proves nothing about the service: 5xx, 1xx, or a status no check reads.
    UNREADABLE = "unreadable"
    #: A plain-HTTP URL that hands the client to an https:// URL.
    TO_HTTPS = "to_https"
    #: A redirect casaudit did not follow (off the target's names, loop, limit).
    REDIRECTED = "redirected"
    #: 403: the URL exists or is fronted, and refuses access.
    BLOCKED = "blocked"
    #: Content or an authentication challenge: the service answered.
    SERVED = "served"


#: Final statuses that mean "the service answered": content or a challenge.
SERVED_STATUSES = frozenset({200, 201, 202, 203, 204, 206, 207, 401, 407, 449})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class Reading:
    """An endpoint's answer as the web checks read it: what it proves, and the sentence why."""

    answer: Answer
    reason: str
    #: The last exchange judged on this endpoint (its own chain), None without any.
    last: HttpExchange | None

    @property
    def usable(self) -> bool:
        """True when the answer says something about the URL a check can judge."""
        return self.answer in (Answer.TO_HTTPS, Answer.REDIRECTED, Answer.BLOCKED, Answer.SERVED)

    @property
    def absent(self) -> bool:
        """Nothing to judge: the port is closed or the URL is not there."""
        return self.answer in (Answer.REFUSED, Answer.ABSENT)


def read(endpoint: Endpoint) -> Reading:
    """What `endpoint`'s answer proves; the one place that maps HTTP answers to meaning."""
    item = endpoint.item
    if item.error is not None:
        if item.error.kind == "refused":
            return Reading(Answer.REFUSED, f"{item.endpoint}: the port refused the connection", None)
        return Reading(Answer.NO_ANSWER, f"no answer ({item.error.detail})", None)
    if (target := endpoint.leaves_for_https) is not None:
        return Reading(Answer.TO_HTTPS, f"plain HTTP redirects to {target}", endpoint.own_chain[-1])
    last = endpoint.own_chain[-1]
    if last.error is not None or last.status is None:
        detail = last.error.detail if last.error is not None else "no answer"
        return Reading(Answer.NO_ANSWER, f"{last.url}: no answer ({detail})", last)
    status = last.status
    if status >= 500 or status < 200:
        return Reading(Answer.UNREADABLE,
                       f"{describe(last)}: an error answer proves nothing about the service", last)
    location = (last.header_values("location") or [""])[0].strip()
    redirect = status in _REDIRECTS
    if redirect and item.scheme == "http" and location.lower().startswith("https://"):
        why = item.redirect_stopped or "not followed"
        return Reading(Answer.TO_HTTPS, f"plain HTTP redirects to {location[:200]} ({why})", last)
    if endpoint.signals.presence is Presence.ABSENT:
        return Reading(Answer.ABSENT, endpoint.signals.reason, last)
    if redirect:
        why = item.redirect_stopped or "not followed"
        return Reading(Answer.REDIRECTED,
                       f"{describe(last)}, a redirect to {location[:200] or 'nowhere'} ({why})", last)
    if status == 403:
        return Reading(Answer.BLOCKED, f"{describe(last)}: access is refused", last)
    if status in SERVED_STATUSES:
        return Reading(Answer.SERVED, describe(last), last)
    return Reading(Answer.UNREADABLE, f"{describe(last)}: not an answer casaudit can read", last)


def unusable(endpoint: Endpoint, reading: Reading, recommendations: tuple[str, ...] = ()) -> Outcome:
    """The row of a property check for an answer it cannot judge: absent or unknown.

    `recommendations` are those the row would have decided (the URL's own SSL
    recommendation...): a row not assessed must count against their coverage.
    """
    item = endpoint.item
    status = CheckStatus.NOT_APPLICABLE if reading.absent else CheckStatus.NOT_ASSESSED
    return Outcome(item.endpoint, status, reading.reason, (item.id,), recommendations)


def proves_something(exchange: HttpExchange) -> bool:
    """A response whose headers say something about the server: a status, and not an error page."""
    return exchange.status is not None and 200 <= exchange.status < 500


def at_own_origin(item: HttpEvidence) -> tuple[HttpExchange, ...]:
    """The exchanges answered by the item's own origin (scheme, host and port).

    What a redirect led to on another origin (plain HTTP handing over to HTTPS)
    belongs to that origin: its own probe asked the same URLs directly. Counting
    it here too would report one fact twice, once on an endpoint that never said it.
    """
    origin = origin_of(item.endpoint).lower()
    return tuple(x for x in item.exchanges if origin_of(x.url).lower() == origin)


def describe(exchange: HttpExchange) -> str:
    """`GET https://host:443/owa answered 200` for an outcome's observed sentence."""
    answer = f"answered {exchange.status}" if exchange.status is not None else "gave no answer"
    return f"{exchange.method} {exchange.url} {answer}"


def exposure_outcome(endpoint: Endpoint, what: str) -> Outcome:
    """Is this URL reachable from outside? Shared by exchange.legacy_vdir and admin_exposed.

    An exposure question: a refused port, a 404 or a 403 is the observation and
    passes; content, a challenge or a redirect from something that is not a
    catch-all fails; no answer or an error page says nothing.
    """
    item = endpoint.item
    reading = read(endpoint)
    ids = (item.id,)
    if reading.answer is Answer.REFUSED:
        return Outcome(item.endpoint, CheckStatus.PASS, f"{what} is not reachable: {reading.reason}", ids)
    if reading.answer is Answer.ABSENT:
        return Outcome(item.endpoint, CheckStatus.PASS, f"{what} not served: {reading.reason}", ids)
    if reading.answer is Answer.BLOCKED:
        return Outcome(item.endpoint, CheckStatus.PASS, f"{reading.reason}: {what} is blocked", ids)
    if reading.answer is Answer.TO_HTTPS:
        return Outcome(
            item.endpoint, CheckStatus.PASS,
            f"{reading.reason}; {what} over HTTPS is judged on the HTTPS endpoint", ids,
        )
    if not reading.usable:
        return Outcome(item.endpoint, CheckStatus.NOT_ASSESSED, reading.reason, ids)
    return Outcome(
        item.endpoint, CheckStatus.FAIL, f"{what} answers from outside", ids,
        observed=f"{_chain_text(item)}; {endpoint.signals.reason}",
    )


def _chain_text(item: HttpEvidence) -> str:
    first, last = item.exchanges[0], item.exchanges[-1]
    if first is last:
        return describe(first)
    return f"{describe(first)}, then {last.url} answered {last.status}"
