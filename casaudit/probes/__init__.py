"""Probes: network I/O only. Each returns typed evidence and never judges it.

`PROBE_FACTORIES` lists every probe family a scan runs, in evidence order; a new
family is a module here and one line in that tuple.
"""

from __future__ import annotations

from casaudit.probes.autodiscover import AutodiscoverProbe
from casaudit.probes.base import ProbeContext, ProbeFactory
from casaudit.probes.hostless import HostlessProbe
from casaudit.probes.http import HttpProbe
from casaudit.probes.mail import MailProbe
from casaudit.probes.ntlm import NtlmProbe
from casaudit.probes.tls import TlsProbe

PROBE_FACTORIES: tuple[ProbeFactory, ...] = (
    HttpProbe,
    TlsProbe,
    MailProbe,
    NtlmProbe,
    HostlessProbe,
    AutodiscoverProbe,
)


def family(factory: ProbeFactory) -> str:
    """A family's name for --probes: its class name without "Probe", lower-cased (TlsProbe -> tls)."""
    return getattr(factory, "__name__", "").removesuffix("Probe").lower()


def families() -> tuple[str, ...]:
    return tuple(family(factory) for factory in PROBE_FACTORIES)

__all__ = ["PROBE_FACTORIES", "ProbeContext", "ProbeFactory", "families", "family"]
