"""HTTP/1.0 requests without a Host header, as IIS's internal-address leak needs.

``GET <path> HTTP/1.0`` and an empty line, nothing else: with no Host to echo,
IIS builds absolute URLs (the courtesy redirect of a directory, some 401
realms) from its own address, which behind NAT is the private one
(KB834141; nmap http-internal-ip-disclosure; Metasploit owa_iis_internal_ip).
httpx always sends Host, so this probe does not use the wire's HTTP exchange:
it keeps its own request writer and head reader over `casaudit.probes.wire.connect`
(the scan's resolver, pacing, deadline and per-port breaker), TLS with SNI (the
target's name) and no certificate check on https, the response head read up to
16 KiB and 100 headers, every step bounded by the scan's timeout, the whole head
by twice that. The body is never read. A complete head counts as the port's
answer for the breaker; no head in time as its silence.
"""

from __future__ import annotations

import ipaddress
import socket
import time

from casaudit.evidence.hostless import HostlessEvidence
from casaudit.plan import HostlessProbeTask, plan_hostless
from casaudit.probes.base import ProbeContext
from casaudit.probes.common import MAX_HEADER_CHARS, now, observing_context
from casaudit.probes.errors import DeadlinePassed, Detail, ErrorKind, ProtocolBroken, probe_error
from casaudit.probes.pacing import ScanStopped
from casaudit.probes.wire.ports import Silence, connect

MAX_HEAD_BYTES = 16 * 1024
MAX_HEADERS = 100


class HeadError(ProtocolBroken):
    """The response head was not HTTP."""


class HostlessProbe:
    def __init__(self, context: ProbeContext) -> None:
        self._context = context
        self._tls = observing_context()

    def tasks(self) -> list[HostlessProbeTask]:
        return plan_hostless(self._context.target)

    def close(self) -> None:
        pass

    def run(self, task: HostlessProbeTask) -> list[HostlessEvidence]:
        return [self.fetch(task)]

    def fetch(self, task: HostlessProbeTask) -> HostlessEvidence:
        started = now()
        request = f"GET {task.path} HTTP/1.0"
        common = dict(
            id=task.evidence_id, endpoint=task.url, scheme=task.scheme, host=task.host,
            port=task.port, path=task.path, started_at=started, request=request,
        )
        timeout = self._context.timeout
        key: tuple[str, int] | None = None
        silence: Silence | None = None
        try:
            connected = connect(self._context, task.host, task.port, timeout)
            key, sock = connected.key, connected.sock
            conn: socket.socket = sock
            try:
                tls_version = None
                if task.scheme == "https":
                    silence = Silence.HANDSHAKE
                    # The SSLSocket takes over the descriptor: close that one, once.
                    conn = self._tls.wrap_socket(sock, server_hostname=_sni(task.host))
                    tls_version = conn.version()
                silence = Silence.ANSWER
                conn.sendall(request.encode("ascii") + b"\r\n\r\n")
                head = _read_head(conn, time.monotonic() + timeout * 2)
                silence = None
            finally:
                conn.close()
                sock.close()
            self._context.breaker.answered(key)
            version, status, reason, headers = _parse_head(head)
            return HostlessEvidence(
                **common,  # type: ignore[arg-type]
                finished_at=now(), status=status, reason=reason, http_version=version,
                headers=headers, tls_version=tls_version, peer=connected.peer,
            )
        except ScanStopped:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes evidence
            error = probe_error(exc)
            if key is not None and silence is not None and error.kind == ErrorKind.TIMEOUT:
                self._context.breaker.silent(key, silence)
            return HostlessEvidence(
                **common,  # type: ignore[arg-type]
                finished_at=now(), error=error,
            )


def _sni(host: str) -> str | None:
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        return host


def _read_head(conn: socket.socket, deadline: float) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data and b"\n\n" not in data:
        if len(data) >= MAX_HEAD_BYTES:
            raise HeadError(f"no end of the response head in {MAX_HEAD_BYTES} bytes")
        if time.monotonic() > deadline:
            raise DeadlinePassed(Detail.HEAD_DEADLINE)
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    if not data:
        raise HeadError("the server closed the connection without answering")
    return data[:MAX_HEAD_BYTES]


def _parse_head(head: bytes) -> tuple[str, int, str, tuple[tuple[str, str], ...]]:
    text = head.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0].decode("latin-1")
    lines = text.replace("\r\n", "\n").split("\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit() or len(parts[1]) != 3:
        raise HeadError(f"not an HTTP status line: {lines[0][:80]!r}")
    headers = []
    for line in lines[1:MAX_HEADERS + 1]:
        name, sep, value = line.partition(":")
        if sep and name and " " not in name:
            headers.append((name[:256], value.strip()[:MAX_HEADER_CHARS]))
    return parts[0], int(parts[1]), (parts[2] if len(parts) > 2 else "")[:256], tuple(headers)
