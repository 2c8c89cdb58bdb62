"""What a DNS SRV query returned (the Autodiscover SRV method's record).

Filled in by `casaudit.resolve.Resolver.srv`; kept here so that evidence and
the checks that read it need no resolver (and no dnspython) to load.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from casaudit.evidence.base import settle

#: How the resolver words a name that does not exist, in `ResolutionError` and `SrvLookup.detail`.
#: A `ProbeError` of kind `dns` carries it in its detail: the one DNS fact its kind does not hold.
NXDOMAIN_DETAIL = "no such name (NXDOMAIN)"


class SrvError(StrEnum):
    """Why an SRV query gave no records; kept apart because the report must not confuse them."""

    #: The name does not exist.
    NXDOMAIN = "nxdomain"
    #: The name exists, without SRV data.
    NO_RECORD = "no_record"
    #: No answer from the DNS server: nothing is known.
    TIMEOUT = "timeout"
    #: Any other resolver failure (no configuration, SERVFAIL, a malformed answer).
    DNS = "dns"


@dataclass(frozen=True)
class SrvAnswer:
    """One SRV record as received (RFC 2782); `target` without the trailing dot."""

    priority: int
    weight: int
    port: int
    target: str


@dataclass(frozen=True)
class SrvLookup:
    """What an SRV query returned: records, or why there are none (`error`, an `SrvError`).

    A plain string for `error` is accepted and turned into its `SrvError`.
    """

    name: str
    server: str
    records: tuple[SrvAnswer, ...] = ()
    error: SrvError | None = None
    detail: str = ""

    def __post_init__(self) -> None:
        settle(self, "error", SrvError)


__all__ = [
    "NXDOMAIN_DETAIL", "SrvAnswer", "SrvError", "SrvLookup",
]
