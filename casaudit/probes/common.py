"""What every probe family shares and costs no third-party import: the clock and the TLS
context probes observe servers with.

Kept apart from `casaudit.probes.http` so that a scan running only some families
(``--probes tls``) does not import httpx for a timestamp.
"""

from __future__ import annotations

import ssl
from datetime import UTC, datetime

#: The first bytes of a TLS record (handshake or alert, SSL 3.0 to TLS 1.3 framing): what a
#: TLS server sends where a cleartext greeting was due.
TLS_RECORD_STARTS = (b"\x16\x03", b"\x15\x03")
#: Characters of one response header value kept in evidence.
MAX_HEADER_CHARS = 2048


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def observing_context() -> ssl.SSLContext:
    """A client context that completes a handshake with whatever the local OpenSSL can do.

    Observing, not trusting: the TLS probe judges certificates. Old servers must
    still be reachable, so allow what the local OpenSSL can do. Not
    create_default_context(): loading the system CA store costs ~30 ms of CPU per
    scan, a third of a fleet scan's CPU, for certificates never checked here.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return allow_old_servers(context)


def allow_old_servers(context: ssl.SSLContext) -> ssl.SSLContext:
    """Let `context` complete a handshake with any protocol and suite the local OpenSSL has."""
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    try:
        context.set_ciphers("ALL:@SECLEVEL=0")
    except ssl.SSLError:
        pass
    return context
