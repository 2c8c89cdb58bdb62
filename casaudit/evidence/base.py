"""What every evidence family shares: why a step got no answer, the endpoint form, the set.

Pure data: nothing here imports a probe, the planner or a third-party library.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, TypeVar

W = TypeVar("W", bound=StrEnum)


def settle(record: object, name: str, words: type[W]) -> None:
    """In a frozen record's __post_init__: turn the plain string in field `name` into its member.

    Probes and tests may pass the JSON word ("refused"); the record then holds the
    enum member, and an unknown word raises ValueError instead of reaching a report.
    """
    value = getattr(record, name)
    if value is not None and not isinstance(value, words):
        object.__setattr__(record, name, words(value))


class ErrorKind(StrEnum):
    """Why a probe step produced no answer, in the words the JSON contract uses.

    A StrEnum: a kind compares equal to its string (`kind == "refused"`) and
    serialises as that string.
    """

    #: The port is closed: evidence in itself.
    REFUSED = "refused"
    #: No answer in time: nothing is known.
    TIMEOUT = "timeout"
    #: The server reset the connection.
    RESET = "reset"
    #: The TLS handshake failed (or the server refused STARTTLS).
    TLS = "tls"
    #: The server answered, but not in the protocol spoken (or broke it off).
    PROTOCOL = "protocol"
    #: The name did not resolve.
    DNS = "dns"
    #: The server sent more than casaudit reads.
    TOO_LARGE = "too_large"
    #: No route, host down, network error below the protocol.
    UNREACHABLE = "unreachable"
    #: Not tried: the port stopped answering earlier in this scan (the per-port breaker).
    SKIPPED = "skipped"
    #: Anything else; the detail names the exception.
    ERROR = "error"


@dataclass(frozen=True)
class ProbeError:
    """Why a probe step produced no answer.

    `kind` keeps apart what an auditor must not confuse: `refused` (the port is
    closed: evidence) and `timeout` (nothing is known). A plain string is
    accepted and turned into its `ErrorKind`; an unknown kind is a programming
    error (ValueError), never a silent new word in the report.
    """

    kind: ErrorKind
    detail: str

    def __post_init__(self) -> None:
        settle(self, "kind", ErrorKind)


def endpoint_url(scheme: str, host: str, port: int, path: str = "") -> str:
    """The endpoint form of the JSON contract: scheme, name, explicit port, path."""
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}{path}"


class Evidence(Protocol):
    id: str
    kind: str
    endpoint: str


E = TypeVar("E")


@dataclass(frozen=True)
class EvidenceSet:
    """Everything the probes observed in one scan, in plan order."""

    items: tuple[Any, ...]

    def of(self, kind: type[E]) -> Iterator[E]:
        return (item for item in self.items if isinstance(item, kind))

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


__all__ = [
    "E", "ErrorKind", "settle", "Evidence", "EvidenceSet", "ProbeError", "endpoint_url",
]
