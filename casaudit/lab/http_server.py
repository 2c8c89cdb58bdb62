"""Threaded HTTP and HTTPS listeners that answer from a posture's routes.

Built on the standard library so the lab has no server dependency of its own,
with three changes a scanner notices: every method is answered (Exchange
speaks RPC_IN_DATA, RPC_OUT_DATA and OPTIONS, not only GET), the only ``Server``
header is the posture's, and every read is bounded (10 s per socket operation,
request bodies discarded up to 1 MiB) so a probe can never wedge the lab.

The TLS handshake runs in the connection's own thread, not in the accept loop,
so one slow client cannot stall the others. Teardown shuts every open
connection down before joining its thread, so idle keep-alive connections do
not hold ``close()`` for their full timeout.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import cast
from urllib.parse import unquote, urlsplit

from casaudit.lab.connections import ConnectionLog
from casaudit.lab.posture import HttpService, NtlmIdentity, Reply, Route, VirtualHost
from casaudit.lab.tlslite_server import TlsliteContext, TlsliteSocket, connection_slots, wake
from casaudit.parse.http_auth import schemes
from casaudit.parse.ntlm import build_challenge

LOOPBACK = "127.0.0.1"
CLIENT_TIMEOUT_SECONDS = 10.0
MAX_BODY_BYTES = 1024 * 1024
_MAX_REQUEST_LINE = 65536
_DIGITS = re.compile(r"^[0-9]+$")

_log = logging.getLogger(__name__)


def _covers(prefix: str, wanted: str) -> bool:
    """Whether path prefix `prefix` covers the lower-cased path `wanted`, on whole segments."""
    prefix = prefix.lower()
    return prefix == "/" or wanted == prefix or wanted.startswith(prefix + "/")


@dataclass(frozen=True)
class Site:
    """A listener's routes plus the values its placeholders take once ports are known."""

    service: HttpService
    #: Placeholder (``"{host}"``) -> text.
    placeholders: Mapping[str, str]
    scheme: str = "http"
    ntlm: NtlmIdentity | None = None
    _by_length: tuple[Route, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Longest prefix wins, so try long paths first.
        ordered = sorted(self.service.routes, key=lambda route: len(route.path), reverse=True)
        object.__setattr__(self, "_by_length", tuple(ordered))

    def match(self, path: str) -> Route | None:
        """The route for a request path: whole segments, case-insensitive, as IIS does."""
        wanted = unquote(path).lower()
        for route in self._by_length:
            if _covers(route.path, wanted):
                return route
        return None

    def hangs(self, path: str) -> bool:
        """Whether the service leaves a request for `path` unanswered (its ``hang_paths``)."""
        wanted = unquote(path).lower()
        return any(_covers(prefix, wanted) for prefix in self.service.hang_paths)

    def fill(self, text: str, host: str | None = None) -> str:
        """Placeholders filled; ``host`` replaces ``{host}`` (a Host-less request on IIS)."""
        for placeholder, value in self.placeholders.items():
            if host is not None and placeholder == "{host}":
                value = host
            text = text.replace(placeholder, value)
        return text

    def ntlm_challenge(self, authorization: str) -> str | None:
        """``NTLM <Type-2>`` for an ``NTLM <Type-1>`` Authorization value, else None."""
        scheme, _, token = authorization.strip().partition(" ")
        if self.ntlm is None or scheme.lower() != "ntlm":
            return None
        try:
            message = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            return None
        if len(message) < 16 or message[:8] != b"NTLMSSP\x00" or message[8:12] != b"\x01\0\0\0":
            return None
        identity = self.ntlm
        blob = build_challenge(
            netbios_domain=identity.netbios_domain,
            netbios_computer=identity.netbios_computer,
            dns_domain=identity.dns_domain,
            dns_computer=identity.dns_computer,
            dns_tree=identity.dns_tree,
            os_version=identity.os_version,
            timestamp=datetime.now(UTC),
        )
        return "NTLM " + base64.b64encode(blob).decode("ascii")


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the lab received it: who was asked what, and with which credentials."""

    scheme: str
    #: The Host header's name (no port), lower-cased; "" when absent.
    host: str
    method: str
    path: str
    #: The Authorization header as received, or None. Kept in memory only, for tests.
    authorization: str | None


class RequestJournal:
    """Every request the lab's listeners answered, in order, bounded, thread-safe."""

    MAX_ENTRIES = 10000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[RecordedRequest] = []

    def add(self, entry: RecordedRequest) -> None:
        with self._lock:
            if len(self._entries) < self.MAX_ENTRIES:
                self._entries.append(entry)

    def entries(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _basic_matches(header: str | None, credentials: tuple[str, str]) -> bool:
    if not header or not header[:6].lower() == "basic ":
        return False
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return decoded == f"{credentials[0]}:{credentials[1]}"


def _method_not_allowed(methods: tuple[str, ...]) -> Reply:
    allowed = ", ".join(methods)
    return Reply(
        status=405,
        reason="Method Not Allowed",
        headers=(("Allow", allowed), ("Content-Type", "text/html")),
        body="<html><head><title>405 - HTTP verb used to access this page is not allowed."
        "</title></head><body><h2>405 - HTTP verb used to access this page is not allowed."
        "</h2></body></html>",
    )


def _split_target(raw: str) -> tuple[str, str]:
    """(path, query) of an origin-form (``/a?b``) or absolute-form request target."""
    if not raw.startswith("/"):
        parts = urlsplit(raw)
        raw = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    path, _, query = raw.partition("?")
    return path, query


class _Handler(BaseHTTPRequestHandler):
    """Answers any method from the listener's Site; HTTP/1.1 with keep-alive."""

    protocol_version = "HTTP/1.1"
    # Garbage or HTTP/0.9 still gets a status line, as HTTP.sys gives one.
    default_request_version = "HTTP/1.0"
    timeout = CLIENT_TIMEOUT_SECONDS
    error_content_type = "text/html; charset=us-ascii"
    error_message_format = (
        "<HTML><HEAD><TITLE>%(message)s</TITLE></HEAD><BODY><h2>%(message)s</h2><hr>"
        "<p>HTTP Error %(code)d. %(explain)s</p></BODY></HTML>"
    )

    def handle_one_request(self) -> None:
        # The stdlib version dispatches to do_<METHOD> and answers 501 for the
        # rest; a Client Access server answers every verb from its routes.
        try:
            self.raw_requestline = self.rfile.readline(_MAX_REQUEST_LINE + 1)
            if len(self.raw_requestline) > _MAX_REQUEST_LINE:
                self.requestline = self.request_version = self.command = ""
                self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            if self._discard_body():
                self._answer()
            self.wfile.flush()
        except TimeoutError:
            self.close_connection = True

    def send_response(self, code: int, message: str | None = None) -> None:
        # Used by send_error (malformed requests): no stdlib "Server: BaseHTTP" banner.
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def log_message(self, format: str, *args: object) -> None:
        _log.debug("%s %s", self.address_string(), format % args)

    def _discard_body(self) -> bool:
        """Read and drop the body so the connection can carry the next request.

        False when a response (400) was already sent or the client went away.
        """
        if "Transfer-Encoding" in self.headers:
            # Chunked bodies are not parsed: answer, then close rather than misread.
            self.close_connection = True
            return True
        lengths = self.headers.get_all("Content-Length") or []
        if not lengths:
            return True
        if len(lengths) > 1 or not _DIGITS.match(lengths[0].strip()):
            self.close_connection = True
            self.send_error(HTTPStatus.BAD_REQUEST, "Bad Content-Length")
            return False
        remaining = int(lengths[0].strip())
        if remaining > MAX_BODY_BYTES:
            # RPC_IN_DATA announces up to 2 GB and waits; answer at once, then close.
            self.close_connection = True
            return True
        while remaining:
            chunk = self.rfile.read(min(remaining, 65536))
            if not chunk:
                self.close_connection = True
                return False
            remaining -= len(chunk)
        return True

    def _answer(self) -> None:
        server = cast(_Server, self.server)
        host = (self.headers.get("Host") or "").strip().lower()
        host = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        site = server.site_for(host)
        path, query = _split_target(self.path)
        authorization = self.headers.get("Authorization")
        server.journal.add(RecordedRequest(
            scheme="https" if server.tls_context is not None else "http",
            host=host, method=self.command, path=path, authorization=authorization,
        ))
        if site.hangs(path):
            self._hold()
            return
        route = site.match(path)
        reply = route.reply if route is not None else site.service.default
        if route is not None and route.methods and self.command not in route.methods:
            reply = _method_not_allowed(route.methods)
        elif route is not None and route.credentials and route.authorized is not None:
            if _basic_matches(authorization, route.credentials):
                reply = route.authorized
        internal = site.service.hostless_address if "Host" not in self.headers else None
        shown = f"[{internal}]" if internal and ":" in internal else internal
        if shown and route is not None and path.rstrip("/").lower() == route.path.lower() \
                and not path.endswith("/"):
            # IIS's courtesy redirect for a directory, built from its own address.
            reply = Reply(301, "Moved Permanently", (
                ("Location", f"{site.scheme}://{shown}{path}/"),
                ("Content-Type", "text/html; charset=UTF-8"),
            ), "<head><title>Document Moved</title></head><body><h1>Object Moved</h1></body>")
        headers = [(name, site.fill(value, shown)) for name, value in site.service.headers]
        headers += [(name, site.fill(value, shown)) for name, value in reply.headers]
        if reply.redirect_to_https:
            location = site.fill("https://{host}:{https_port}", shown) + path
            headers.append(("Location", location + (f"?{query}" if query else "")))
        if reply.status == 401:
            offered = schemes(v for k, v in headers if k.lower() == "www-authenticate")
            challenge = site.ntlm_challenge(self.headers.get("Authorization", ""))
            if challenge is not None and "NTLM" in offered:
                headers = [(k, v) for k, v in headers if k.lower() != "www-authenticate"]
                headers.append(("WWW-Authenticate", challenge))
        stripped = site.service.strip_headers
        headers = [(k, v) for k, v in headers if k.lower() not in stripped]
        self._send(reply.status, reply.reason, headers, site.fill(reply.body, shown).encode("utf-8"))

    def _hold(self) -> None:
        """Answer nothing: drop what the client sends until it hangs up, the lab closes
        (server_close wakes the socket) or CLIENT_TIMEOUT_SECONDS pass, then close."""
        self.close_connection = True
        deadline = time.monotonic() + CLIENT_TIMEOUT_SECONDS
        try:
            while time.monotonic() < deadline and self.connection.recv(4096):
                pass
        except OSError:  # the client's or the lab's hang-up, or the read timeout
            pass

    def _send(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response_only(status, reason)
        self.send_header("Date", self.date_time_string())
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        elif self.request_version == "HTTP/1.0":
            self.send_header("Connection", "keep-alive")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """A thread per connection; TLS (if any) is negotiated in that thread."""

    daemon_threads = False  # tracked, so server_close() can join them
    block_on_close = True
    request_queue_size = 64

    def __init__(
        self,
        address: tuple[str, int],
        tls_context: ssl.SSLContext | TlsliteContext | None,
        journal: RequestJournal | None = None,
        connections: ConnectionLog | None = None,
    ) -> None:
        super().__init__(address, _Handler)
        self.tls_context = tls_context
        self.connections = connections or ConnectionLog()
        self._slots = connection_slots(tls_context)
        self.site = Site(HttpService(headers=(), default=Reply(404, "Not Found")), {})
        #: Host name -> its own Site (posture vhosts); other names get `site`.
        self.vhost_sites: dict[str, Site] = {}
        self.journal = journal or RequestJournal()
        self._lock = threading.Lock()
        self._live: set[socket.socket | TlsliteSocket] = set()
        self._closing = False

    def get_request(self) -> tuple[socket.socket, object]:
        request, client_address = super().get_request()
        self.connections.record("https" if self.tls_context is not None else "http",
                                int(self.server_address[1]))
        return request, client_address

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        # A bounded stack (tlslite-ng) serves so many clients at once; the rest wait here,
        # in the accept backlog, and one not served within the client timeout is dropped.
        if self._slots is not None and not self._slots.acquire(timeout=CLIENT_TIMEOUT_SECONDS):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)  # type: ignore[arg-type]
        except BaseException:
            if self._slots is not None:
                self._slots.release()
            raise

    def process_request_thread(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        try:
            super().process_request_thread(request, client_address)  # type: ignore[arg-type]
        finally:
            if self._slots is not None:
                self._slots.release()

    def finish_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        connection: socket.socket | TlsliteSocket = request
        try:
            if self.tls_context is not None:
                request.settimeout(CLIENT_TIMEOUT_SECONDS)
                connection = self.tls_context.wrap_socket(
                    request, server_side=True, do_handshake_on_connect=False
                )
            with self._lock:
                if self._closing:
                    return
                self._live.add(connection)
            try:
                if connection is not request:
                    connection.do_handshake()  # type: ignore[union-attr]

                _Handler(connection, client_address, self)  # type: ignore[arg-type]
            finally:
                with self._lock:
                    self._live.discard(connection)
        finally:
            if connection is not request:
                connection.close()

    def site_for(self, host: str) -> Site:
        return self.vhost_sites.get(host, self.site)

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients hang up, fail handshakes and time out: that is a lab's daily bread.
        _log.debug("lab connection from %s ended with an error", client_address, exc_info=True)

    def server_close(self) -> None:
        with self._lock:
            self._closing = True
            live = list(self._live)
        for connection in live:
            wake(connection)
        super().server_close()


class HttpListener:
    """One listening socket (bound at construction) and the thread serving it."""

    def __init__(
        self,
        service: HttpService,
        tls_context: ssl.SSLContext | TlsliteContext | None = None,
        address: str = LOOPBACK,
        ntlm: NtlmIdentity | None = None,
        vhosts: tuple[VirtualHost, ...] = (),
        journal: RequestJournal | None = None,
        connections: ConnectionLog | None = None,
    ) -> None:
        self._service = service
        self._ntlm = ntlm
        self._vhosts = vhosts
        self._server = _Server((address, 0), tls_context, journal, connections)
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def serve(self, placeholders: Mapping[str, str]) -> None:
        """Start answering. The socket already listens, so no connection is lost before."""
        scheme = "https" if self._server.tls_context is not None else "http"
        self._server.site = Site(self._service, dict(placeholders), scheme, self._ntlm)
        for vhost in self._vhosts:
            service = vhost.https if scheme == "https" else vhost.http
            if service is not None:
                self._server.vhost_sites[vhost.name] = Site(
                    service, dict(placeholders), scheme, self._ntlm
                )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"casaudit-lab-{scheme}-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        """Stop accepting, cut open connections, join every thread, close the socket."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()
