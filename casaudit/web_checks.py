"""Pure helpers the Client Access web checks share: what a chain means, per endpoint.

A plain-HTTP endpoint that redirects to HTTPS is judged, for what lies behind
the redirect, on the HTTPS endpoint itself; so the checks read an http://
endpoint only up to its first https:// hop, and an https:// endpoint whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from casaudit.exchange import (
    ROLE_BY_NAME,
    ClientAccessUrl,
    Presence,
    Signals,
    baseline_for,
    exchange_signals,
)
from casaudit.model import CheckStatus, EvidenceSet, HttpEvidence, HttpExchange, Outcome

#: Final statuses that mean "this URL answers": content, a challenge, or a redirect not followed.
REACHABLE = frozenset({200, 201, 202, 203, 204, 206, 207, 301, 302, 303, 307, 308, 401, 407, 449})


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


def unanswered(endpoint: Endpoint, refused_means: str) -> Outcome | None:
    """The outcome of an endpoint whose first request failed, or None when it was answered.

    A refused port is evidence (`refused_means` says what it proves); anything
    else (timeout, TLS failure, reset) leaves the question open.
    """
    item = endpoint.item
    if item.error is None:
        return None
    if item.error.kind == "refused":
        return Outcome(item.endpoint, CheckStatus.PASS, refused_means, (item.id,))
    return Outcome(
        item.endpoint, CheckStatus.NOT_ASSESSED, f"no answer ({item.error.detail})", (item.id,)
    )


def describe(exchange: HttpExchange) -> str:
    """`GET https://host:443/owa answered 200` for an outcome's observed sentence."""
    answer = f"answered {exchange.status}" if exchange.status is not None else "gave no answer"
    return f"{exchange.method} {exchange.url} {answer}"


def exposure_outcome(endpoint: Endpoint, what: str) -> Outcome:
    """Is this URL reachable from outside? Shared by exchange.legacy_vdir and admin_exposed.

    Fails when something other than a catch-all answers with content, a
    challenge or a redirect; passes when the port is closed, the URL is not
    found or is blocked (403); not assessed when no answer or a 5xx says nothing.
    """
    item = endpoint.item
    if (outcome := unanswered(endpoint, "the port refused the connection")) is not None:
        return outcome
    if (target := endpoint.leaves_for_https) is not None:
        return Outcome(
            item.endpoint, CheckStatus.PASS,
            f"plain HTTP only redirects to {target}; the HTTPS endpoint is judged on its own",
            (item.id,),
        )
    signals = endpoint.signals
    last = item.exchanges[-1]
    if signals.presence is Presence.UNKNOWN:
        return Outcome(item.endpoint, CheckStatus.NOT_ASSESSED, signals.reason, (item.id,))
    if not signals.found:
        return Outcome(item.endpoint, CheckStatus.PASS, f"{what} not served: {signals.reason}",
                       (item.id,))
    if last.status == 403:
        return Outcome(item.endpoint, CheckStatus.PASS,
                       f"{describe(last)}: access to {what} is blocked", (item.id,))
    if last.status in REACHABLE:
        return Outcome(
            item.endpoint, CheckStatus.FAIL, f"{what} answers from outside", (item.id,),
            observed=f"{_chain_text(item)}; {signals.reason}",
        )
    return Outcome(
        item.endpoint, CheckStatus.NOT_ASSESSED,
        f"{describe(last)}: cannot tell whether {what} is served", (item.id,),
    )


def _chain_text(item: HttpEvidence) -> str:
    first, last = item.exchanges[0], item.exchanges[-1]
    if first is last:
        return describe(first)
    return f"{describe(first)}, then {last.url} answered {last.status}"
