"""The wire layer: every byte a probe sends goes through here.

- `casaudit.probes.wire.ports`: ONE connect (resolved addresses in turn, the
  host's pacing slot, its deadline and Ctrl-C, the per-port breaker, the step
  timeout), used by the mail, host-less, Autodiscover certificate, TLS preflight
  probes and by the HTTP client's network backend.
- `casaudit.probes.wire.http`: ONE HTTP exchange (bounded head and body, the
  exchange's watchdog, the host's deadline inside the body loop, the breaker's
  bookkeeping, recording into `HttpExchange`), used by the http, ntlm and
  Autodiscover probes; ONE redirect/Location resolver. It imports httpx, so it is
  a module of its own: a TLS-only scan never loads it.
- `casaudit.probes.errors`: ONE error map from exceptions to `ProbeError`.

sslyze's own connections (the TLS scan) are outside this layer: see tls_scan.py.
"""

from casaudit.probes.wire.ports import (
    Connected,
    PortBreaker,
    PortSkipped,
    Silence,
    connect,
    port_key,
    release_slot,
    take_slot,
)

__all__ = [
    "Connected", "PortBreaker", "PortSkipped", "Silence", "connect", "port_key", "release_slot",
    "take_slot",
]
