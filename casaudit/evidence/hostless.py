"""What the host-less probe observed: the response head to `GET <path> HTTP/1.0` with no Host.

With no Host to echo, IIS builds absolute URLs from its own address, which
behind NAT is the private one (KB834141). The head's headers are untrusted
text; `exchange.internal_address_disclosure` judges them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from casaudit.evidence.base import ProbeError


@dataclass(frozen=True)
class HostlessEvidence:
    """The response head to one Host-less HTTP/1.0 request.

    Attributes:
        request: the request as sent, without its final empty line.
        status, reason, http_version: from the status line (None/"" without one).
        headers: response headers in order, capped in count and length (untrusted text).
        peer: the "address:port" connected to: the address the scan itself used.
        error: set when no response head came.
    """

    id: str
    endpoint: str
    scheme: str
    host: str
    port: int
    path: str
    started_at: str
    finished_at: str
    request: str
    status: int | None = None
    reason: str = ""
    http_version: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    tls_version: str | None = None
    peer: str | None = None
    error: ProbeError | None = None
    kind: str = field(default="hostless_http", init=False)

    def header_values(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]


__all__ = [
    "HostlessEvidence",
]
