"""What the build checks (exchange.known_vulnerable_build, exchange.version_eol) share.

A module name starting with "_" is not a check (the catalog skips it).
"""

from __future__ import annotations

from casaudit.evidence.base import EvidenceSet
from casaudit.identify import Identification, exchange_seen
from casaudit.model import CheckStatus, Outcome


def without_product(evidence: EvidenceSet, ident: Identification) -> Outcome | None:
    """The row when the identification names no single product (nothing to judge a build
    against), else None."""
    if ident.product is not None:
        return None
    if ident.build is None and not ident.sightings:
        return without_build(evidence, ident, "no response disclosed the Exchange product or build")
    return Outcome(ident.endpoint, CheckStatus.NOT_ASSESSED,
                   "the version seen does not name one product (" + ident.where() + ")",
                   ident.evidence_ids)


def without_build(evidence: EvidenceSet, ident: Identification, hidden: str) -> Outcome:
    """The row of a host whose build did not show: no Exchange there, or Exchange hiding it.

    Never a pass: only a build seen can be compared.
    """
    seen, how = exchange_seen(evidence, ident.host)
    if seen is False:
        return Outcome(ident.endpoint, CheckStatus.NOT_APPLICABLE,
                       f"no Exchange Client Access answered on this host ({how})",
                       ident.evidence_ids)
    if seen:
        return Outcome(ident.endpoint, CheckStatus.NOT_ASSESSED,
                       f"Exchange answered but its build is hidden: {hidden} (Exchange seen: {how})",
                       ident.evidence_ids)
    return Outcome(ident.endpoint, CheckStatus.NOT_ASSESSED,
                   f"could not tell whether Exchange (or which build) is here: {how}",
                   ident.evidence_ids)
