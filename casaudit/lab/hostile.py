"""Hostile and broken servers for proving casaudit stays bounded.

Each behaviour is a small function that owns one accepted connection and does
something a malicious or broken server does: never answer, trickle bytes,
stop half-way, send without end, send absurd headers, loop redirects, lure
off scope, speak garbage instead of TLS. `HostileServer` serves one behaviour
on 127.0.0.1 (port 0) until closed; every connection thread stops when the
server closes, so a test never leaves a thread writing forever.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable
from types import TracebackType

LOOPBACK = "127.0.0.1"
Behaviour = Callable[[socket.socket, threading.Event], None]

_CHUNK = b"x" * 65536


def _read_request_head(sock: socket.socket, stop: threading.Event, limit: int = 65536) -> bytes:
    """Read until the blank line ending a request head (bounded), or give up."""
    sock.settimeout(1.0)
    data = b""
    while not stop.is_set() and b"\r\n\r\n" not in data and len(data) < limit:
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            continue
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return data


def _path(head: bytes) -> str:
    try:
        return head.split(b"\r\n", 1)[0].split(b" ")[1].decode("latin-1")
    except IndexError:
        return "/"


def _send(sock: socket.socket, data: bytes) -> bool:
    try:
        sock.sendall(data)
        return True
    except OSError:
        return False


def silent(sock: socket.socket, stop: threading.Event) -> None:
    """Accept and never say a word."""
    stop.wait()


def slowloris(sock: socket.socket, stop: threading.Event) -> None:
    """Answer one byte per second, forever."""
    _read_request_head(sock, stop)
    answer = b"HTTP/1.1 200 OK\r\nX-Trickle: " + b"a" * 10_000
    for byte in answer:
        if stop.wait(1.0) or not _send(sock, bytes([byte])):
            return


def stop_midway(sock: socket.socket, stop: threading.Event) -> None:
    """Promise a body, send half of it, hang up."""
    _read_request_head(sock, stop)
    _send(sock, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nContent-Type: text/html\r\n\r\n" + b"y" * 500)


def endless_body(sock: socket.socket, stop: threading.Event) -> None:
    """A chunked body that never ends."""
    _read_request_head(sock, stop)
    if not _send(sock, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"):
        return
    chunk = b"%x\r\n" % len(_CHUNK) + _CHUNK + b"\r\n"
    while not stop.is_set() and _send(sock, chunk):
        pass


def huge_body(sock: socket.socket, stop: threading.Event) -> None:
    """Announce and send a 100 MB body."""
    _read_request_head(sock, stop)
    size = 100 * 1024 * 1024
    if not _send(sock, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size):
        return
    sent = 0
    while sent < size and not stop.is_set() and _send(sock, _CHUNK):
        sent += len(_CHUNK)


def many_headers(sock: socket.socket, stop: threading.Event) -> None:
    """10,000 header lines."""
    _read_request_head(sock, stop)
    headers = b"".join(b"X-H%d: v\r\n" % n for n in range(10_000))
    _send(sock, b"HTTP/1.1 401 Unauthorized\r\n" + headers + b"WWW-Authenticate: Basic\r\n"
          b"Content-Length: 0\r\n\r\n")


def long_header(sock: socket.socket, stop: threading.Event) -> None:
    """One header line of 1 MB."""
    _read_request_head(sock, stop)
    _send(sock, b"HTTP/1.1 200 OK\r\nX-Long: " + b"z" * (1024 * 1024) + b"\r\nContent-Length: 0\r\n\r\n")


def redirect_loop(sock: socket.socket, stop: threading.Event) -> None:
    """Redirect every path to itself plus one more segment, forever."""
    head = _read_request_head(sock, stop)
    path = _path(head).rstrip("/")
    _send(sock, f"HTTP/1.1 302 Found\r\nLocation: {path}/again\r\nContent-Length: 0\r\n"
                "Connection: close\r\n\r\n".encode())


def redirect_offsite(sock: socket.socket, stop: threading.Event) -> None:
    """Lure the client to a host outside the target's names."""
    _read_request_head(sock, stop)
    _send(sock, b"HTTP/1.1 302 Found\r\nLocation: https://collector.evil.test/owa\r\n"
                b"Content-Length: 0\r\nConnection: close\r\n\r\n")


def redirect_private_address(sock: socket.socket, stop: threading.Event) -> None:
    """Lure the client to a non-loopback private address."""
    _read_request_head(sock, stop)
    _send(sock, b"HTTP/1.1 301 Moved Permanently\r\nLocation: http://10.20.30.40/owa/\r\n"
                b"Content-Length: 0\r\nConnection: close\r\n\r\n")


def escape_strings(sock: socket.socket, stop: threading.Event) -> None:
    """Terminal escapes, invalid UTF-8 and markup in the reason, headers and body."""
    _read_request_head(sock, stop)
    body = b"<script>alert('body')</script>\xff\xfe\x1b[2J"
    _send(
        sock,
        b"HTTP/1.1 401 \x1b[31mOwned<script>alert(1)</script>\xff\r\n"
        b"Server: \x1b]0;pwned\x07<b>IIS</b>\r\n"
        b"WWW-Authenticate: Basic realm=\"<script>alert('realm')</script>\x1b[5m\xc3\x28\"\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body,
    )


def tls_garbage(sock: socket.socket, stop: threading.Event) -> None:
    """Answer a ClientHello with bytes that are not TLS."""
    sock.settimeout(2.0)
    try:
        sock.recv(4096)
    except OSError:
        return
    _send(sock, b"\x16\x03\x01\x00\x05garbage-not-a-server-hello" * 10)
    stop.wait(0.5)


def tls_reset(sock: socket.socket, stop: threading.Event) -> None:
    """Reset the connection in the middle of the handshake."""
    sock.settimeout(2.0)
    try:
        sock.recv(4096)
    except OSError:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


BEHAVIOURS: dict[str, Behaviour] = {
    "silent": silent,
    "slowloris": slowloris,
    "stop_midway": stop_midway,
    "endless_body": endless_body,
    "huge_body": huge_body,
    "many_headers": many_headers,
    "long_header": long_header,
    "redirect_loop": redirect_loop,
    "redirect_offsite": redirect_offsite,
    "redirect_private_address": redirect_private_address,
    "escape_strings": escape_strings,
    "tls_garbage": tls_garbage,
    "tls_reset": tls_reset,
}


class HostileServer:
    """One behaviour on 127.0.0.1; `tls_context` wraps accepted sockets first."""

    def __init__(self, behaviour: str, tls_context: ssl.SSLContext | None = None) -> None:
        self._behaviour = BEHAVIOURS[behaviour]
        self._tls = tls_context
        self._stop = threading.Event()
        self._listener = socket.create_server((LOOPBACK, 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self._tls is not None:
                conn.settimeout(5.0)
                conn = self._tls.wrap_socket(conn, server_side=True)
            self._behaviour(conn, self._stop)
        except (OSError, ssl.SSLError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        deadline = time.monotonic() + 5
        for thread in [self._acceptor, *self._threads]:
            thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
