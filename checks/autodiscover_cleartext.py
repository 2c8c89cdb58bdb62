"""autodiscover.cleartext: Autodiscover content (not just a redirect) served on plain HTTP."""

from __future__ import annotations

from casaudit.evidence.autodiscover import AutodiscoverEvidence, Failure
from casaudit.evidence.base import ErrorKind, EvidenceSet
from casaudit.evidence.http import REDIRECT_STATUSES, HttpEvidence, HttpExchange
from casaudit.model import CheckMeta, CheckStatus, Effort, Outcome, Severity

CHECK = CheckMeta(
    id="autodiscover.cleartext",
    title="Autodiscover served over plain HTTP",
    severity=Severity.HIGH,
    effort=Effort.LOW,
    recommendations=("CAS-11", "CAS-13"),
    description=(
        "An Autodiscover URL answers on plain HTTP with Autodiscover itself (a 401 asking "
        "for credentials, or Autodiscover XML) instead of only redirecting to HTTPS. A client "
        "that answers the challenge sends the mailbox password across the network in the "
        "clear, and the settings it receives (server names, URLs) can be altered on the way "
        "to send the client anywhere."
    ),
    remediation=(
        "Tick Require SSL on the Autodiscover virtual directory and let plain HTTP only "
        "redirect (302) to https://.../autodiscover/autodiscover.xml, or close port 80."
    ),
    severity_rationale=(
        "High: credentials and client configuration over cleartext are open to anyone on "
        "the path; Autodiscover is what tells Outlook where to send its password."
    ),
    references=(
        "Microsoft, Security Planning for Client Access Servers (use SSL for all features)",
        "MS-OXDISCO 3.1.5.3: the HTTP redirect method must only redirect",
    ),
    # Is Autodiscover reachable in cleartext? A closed port 80 answers that: a pass.
    exposure=True,
)

_MARK = "schemas.microsoft.com/exchange/autodiscover"
#: The name or port is observably not serving plain HTTP: nothing reachable, a pass.
_ABSENT_ERRORS = frozenset({ErrorKind.REFUSED, ErrorKind.DNS})


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    outcomes = [_redirect_method(item) for item in evidence.of(AutodiscoverEvidence)
                if item.method == "http_redirect"]
    outcomes += [_client_access_url(http) for http in evidence.of(HttpEvidence)
                 if http.role == "autodiscover" and http.scheme == "http"]
    return outcomes


def _unreadable(exchange: HttpExchange) -> str | None:
    """Why a plain-HTTP answer cannot say whether Autodiscover is served there, or None.

    An error, a 5xx (a 503 is neither Autodiscover nor its absence) or a body cut
    short before it could be read: silence, which never passes.
    """
    if exchange.error is not None or exchange.status is None:
        return f"no answer ({exchange.error.detail if exchange.error else 'no status'})"
    if exchange.status >= 500:
        return f"{exchange.method} {exchange.url} answered {exchange.status}: proves nothing"
    if exchange.body_error is not None and exchange.status not in REDIRECT_STATUSES:
        return (f"{exchange.method} {exchange.url} answered {exchange.status} but the body was "
                f"cut short ({exchange.body_error.detail})")
    return None


def _redirect_method(item: AutodiscoverEvidence) -> Outcome:
    """http://autodiscover.<domain>/...: only its own (plain-HTTP) answer is judged here."""
    if item.failure is Failure.CLEARTEXT_CONTENT:
        return Outcome(item.endpoint, CheckStatus.FAIL, item.detail, (item.id,),
                       observed=f"GET {item.endpoint} {item.detail}")
    first = item.exchanges[0] if item.exchanges else None
    if first is None:
        return Outcome(item.endpoint, CheckStatus.NOT_ASSESSED, f"no answer: {item.detail}",
                       (item.id,))
    if first.error is not None and first.error.kind in _ABSENT_ERRORS:
        return Outcome(item.endpoint, CheckStatus.PASS,
                       f"nothing answers on plain HTTP: {first.error.detail}", (item.id,))
    if (why := _unreadable(first)) is not None:
        return Outcome(item.endpoint, CheckStatus.NOT_ASSESSED, why, (item.id,))
    return Outcome(item.endpoint, CheckStatus.PASS,
                   f"no Autodiscover content on plain HTTP: {first.status}; {item.detail}",
                   (item.id,))


def _client_access_url(http: HttpEvidence) -> Outcome:
    """/autodiscover/autodiscover.xml over plain HTTP on the host, from the web probe."""
    if http.error is not None:
        status = CheckStatus.PASS if http.error.kind is ErrorKind.REFUSED else CheckStatus.NOT_ASSESSED
        return Outcome(http.endpoint, status, http.error.detail, (http.id,))
    plain = [exchange for exchange in http.exchanges if exchange.url.startswith("http://")]
    served = [exchange for exchange in plain
              if exchange.status == 401 or _MARK in exchange.body_excerpt]
    if served:
        first = served[0]
        what = "a 401 challenge" if first.status == 401 else "Autodiscover XML"
        return Outcome(
            http.endpoint, CheckStatus.FAIL, f"{what} over plain HTTP", (http.id,),
            observed=f"{first.method} {first.url} answered {first.status} with {what} over "
            f"plain HTTP",
        )
    for exchange in plain:
        if (why := _unreadable(exchange)) is not None:
            return Outcome(http.endpoint, CheckStatus.NOT_ASSESSED, why, (http.id,))
    last = plain[-1]
    return Outcome(
        http.endpoint, CheckStatus.PASS,
        f"{last.url} answered {last.status} with no Autodiscover content in cleartext",
        (http.id,),
    )
