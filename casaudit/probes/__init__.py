"""Probes: network I/O only. Each returns typed evidence and never judges it.

`PROBE_FACTORIES` lists every probe family a scan runs, in evidence order. A new
family is a module here and one line in that tuple, plus what it needs elsewhere:
its tasks from `casaudit.plan` (the only place URLs and ports are invented), its
evidence type and the checks that read it. Its network I/O goes through
`casaudit.probes.wire` (`connect`, and `wire.http.exchange` for HTTP), so pacing,
the host's deadline, the per-port breaker and the error map come with it. A
family's module is imported only when a scan runs it, so ``--probes tls`` does not
pay for httpx or dnspython.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from casaudit.probes.base import Probe, ProbeContext, ProbeFactory


@dataclass(frozen=True)
class LazyFactory:
    """A probe class named by module and class name, imported on first call."""

    module: str
    name: str

    @property
    def __name__(self) -> str:  # what family() reads, as for a class
        return self.name

    def __call__(self, context: ProbeContext) -> Probe:
        factory: ProbeFactory = getattr(importlib.import_module(self.module), self.name)
        return factory(context)


PROBE_FACTORIES: tuple[ProbeFactory, ...] = (
    LazyFactory("casaudit.probes.http", "HttpProbe"),
    LazyFactory("casaudit.probes.tls", "TlsProbe"),
    LazyFactory("casaudit.probes.mail", "MailProbe"),
    LazyFactory("casaudit.probes.ntlm", "NtlmProbe"),
    LazyFactory("casaudit.probes.hostless", "HostlessProbe"),
    LazyFactory("casaudit.probes.autodiscover", "AutodiscoverProbe"),
)


def family(factory: ProbeFactory) -> str:
    """A family's name for --probes: its class name without "Probe", lower-cased (TlsProbe -> tls)."""
    return getattr(factory, "__name__", "").removesuffix("Probe").lower()


def families() -> tuple[str, ...]:
    return tuple(family(factory) for factory in PROBE_FACTORIES)

__all__ = ["PROBE_FACTORIES", "LazyFactory", "ProbeContext", "ProbeFactory", "families", "family"]
