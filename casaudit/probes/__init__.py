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

PROBE_FACTORIES: tuple[ProbeFactory, ...] = (
    HttpProbe,
    MailProbe,
    NtlmProbe,
    HostlessProbe,
    AutodiscoverProbe,
)

__all__ = ["PROBE_FACTORIES", "ProbeContext", "ProbeFactory"]
