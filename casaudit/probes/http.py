"""HTTP and HTTPS requests to Client Access URLs, recorded as bounded evidence.

The probe connects through the scan's resolver (so --resolve and --dns-server
apply) while the URL keeps the host name, which httpx then uses for SNI and the
Host header. Certificates are not verified here: this probe observes what a
URL answers; the TLS probe judges the certificate. No credential is ever sent.
"""

from __future__ import annotations

import dataclasses
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx

from casaudit import __version__
from casaudit.evidence.base import ProbeError
from casaudit.evidence.http import HttpEvidence, HttpExchange, LogonForm
from casaudit.parse.html_form import find_logon_form
from casaudit.parse.http_auth import schemes
from casaudit.plan import HttpProbeTask, endpoint_url, plan_http
from casaudit.probes.base import ProbeContext
from casaudit.probes.common import now, observing_context
from casaudit.probes.errors import probe_error, watch
from casaudit.resolve import ResolutionError, Resolver

MAX_BODY_BYTES = 64 * 1024
MAX_EXCERPT_CHARS = 4096
MAX_HEADERS = 200
MAX_HEADER_CHARS = 2048
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
USER_AGENT = f"casaudit/{__version__} (Exchange Client Access audit)"
REQUEST_HEADERS = (("User-Agent", USER_AGENT), ("Accept", "*/*"), ("Accept-Encoding", "identity"))


class PinnedNetworkBackend(httpcore.NetworkBackend):
    """Resolves through the scan's resolver, trying each address in turn."""

    def __init__(self, resolver: Resolver) -> None:
        self._resolver = resolver
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = self._resolver.resolve(host)
        failure: Exception | None = None
        for address in addresses[:4]:
            try:
                return self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def _client(resolver: Resolver, timeout: float) -> httpx.Client:
    """An httpx client that resolves through the scan's resolver and never follows alone."""
    return pinned_client(resolver, timeout, observing_context())


def pinned_client(resolver: Resolver, timeout: float, context: ssl.SSLContext) -> httpx.Client:
    """A client through the scan's resolver whose every exchange has a hard deadline."""
    return httpx.Client(
        transport=WatchedTransport(context, resolver, deadline=timeout * 2),
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        trust_env=False,
        # identity: an excerpt of a compressed body says nothing, and inflating
        # what a hostile server compressed is a memory bomb.
        headers=dict(REQUEST_HEADERS),
    )


class WatchedTransport(httpx.HTTPTransport):
    """httpx's transport, resolving through the scan and cutting overlong exchanges.

    httpx has no hook for name resolution; its pool takes a network backend.
    The scan's thread pool bounds how many requests run at once, so the
    connection pool gets no limit of its own: httpcore 1.0.9's sync pool closes
    an idle connection it has just handed to another thread when it "makes room"
    or trims keep-alives (encode/httpcore#1110), which showed as "Bad file
    descriptor" on a few requests of a scan. No keep-alive either: one connection
    per exchange, so the watchdog cuts exactly the connection of the exchange
    that outlived its deadline.
    """

    def __init__(self, context: ssl.SSLContext, resolver: Resolver, deadline: float) -> None:
        super().__init__(verify=context)
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=None,
            max_keepalive_connections=0,
            network_backend=PinnedNetworkBackend(resolver),
        )
        self._deadline = deadline

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        watchdog = Watchdog(self._deadline)
        outer = request.extensions.get("trace")

        def trace(event: str, info: dict[str, object]) -> None:
            watchdog.trace(event, info)
            if outer is not None:
                outer(event, info)

        request.extensions = {**request.extensions, "trace": trace}
        watch(watchdog)
        watchdog.start()
        try:
            response = super().handle_request(request)
        except BaseException:
            watchdog.cancel()
            raise
        response.stream = _WatchedStream(response.stream, watchdog)  # type: ignore[arg-type]
        return response


class _WatchedStream(httpx.SyncByteStream):
    """The response body; its close ends the exchange's watchdog."""

    def __init__(self, inner: Any, watchdog: Watchdog) -> None:
        self._inner = inner
        self._watchdog = watchdog

    def __iter__(self) -> Iterator[bytes]:
        yield from self._inner

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._watchdog.cancel()


class Watchdog:
    """Cuts the connection of an exchange that outlives its deadline.

    httpx's timeouts bound each read, so a server trickling one byte per second
    (slowloris) would never trip them; this bounds the whole exchange. It learns
    the socket from httpcore's trace hook and shuts it down from a timer thread,
    which unblocks the reading thread at once.
    """

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True
        self.expired = False

    def trace(self, event: str, info: dict[str, object]) -> None:
        # start_tls hands the descriptor to a new SSLSocket: follow it there.
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None  # type: ignore[attr-defined]
            with self._lock:
                self._socket = sock
                cut_now = self.expired
            if cut_now:
                self._cut()

    def start(self) -> None:
        self._timer.start()

    def cancel(self) -> None:
        self._timer.cancel()

    def _cut(self) -> None:
        with self._lock:
            self.expired = True
            sock = self._socket
        if sock is not None:
            try:
                # The plain socket method: SSLSocket.shutdown would also drop its TLS
                # object under the feet of the reading thread.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass

    @property
    def describe(self) -> str:
        return f"the exchange did not finish within its {self._seconds:g} s deadline"


class HttpProbe:
    """Every Client Access URL over HTTP and HTTPS; one shared client, `run` is thread-safe."""

    def __init__(self, context: ProbeContext) -> None:
        self._context = context
        self._client = _client(context.resolver, context.timeout)
        self._scope = context.scope
        self._tls_ports: dict[tuple[str, int], bool] = {}
        self._tls_lock = threading.Lock()

    def tasks(self) -> list[HttpProbeTask]:
        return plan_http(self._context.target)

    def close(self) -> None:
        self._client.close()

    def run(self, task: HttpProbeTask) -> list[HttpEvidence]:
        return [self.fetch(task)]

    def fetch(self, task: HttpProbeTask) -> HttpEvidence:
        started = now()
        chain: list[HttpExchange] = []
        stopped: str | None = None
        method, url = task.method, task.url
        headers, body = task.headers, task.body
        visited = {url}
        for hop in range(MAX_REDIRECTS + 1):
            exchange = self._exchange(method, url, headers, body)
            if exchange.error is not None and exchange.error.kind in ("reset", "protocol") \
                    and url.startswith("http://") and self._speaks_tls(url):
                exchange = dataclasses.replace(exchange, error=ProbeError(
                    exchange.error.kind, f"{exchange.error.detail}; the port completes a TLS "
                    "handshake: it speaks TLS, not plain HTTP"))
            chain.append(exchange)
            if exchange.error or exchange.status not in REDIRECT_STATUSES:
                break
            locations = exchange.header_values("location")
            if not locations:
                break
            next_url, stopped = self._next_hop(url, locations[0])
            if stopped or next_url is None:
                break
            if next_url in visited:
                stopped = f"redirect loop back to {next_url}"
                break
            if hop == MAX_REDIRECTS:
                stopped = f"more than {MAX_REDIRECTS} redirects"
                break
            visited.add(next_url)
            if exchange.status == 303 or (exchange.status in (301, 302) and method == "POST"):
                # As browsers do: the body and its headers are not sent again.
                method, body = "GET", b""
                headers = tuple(
                    (name, value) for name, value in headers
                    if name.lower() not in ("content-type", "content-length")
                )
            url = next_url
        return HttpEvidence(
            id=task.evidence_id,
            endpoint=task.url,
            role=task.role,
            scheme=task.scheme,
            host=task.host,
            port=task.port,
            path=task.path,
            started_at=started,
            finished_at=now(),
            exchanges=tuple(chain),
            redirect_stopped=stopped,
        )

    def _speaks_tls(self, url: str) -> bool:
        """Whether the port of a plain-HTTP URL that broke off completes a TLS handshake.

        One bounded handshake per host and port (a TLS server on port 80 resets or
        hangs up on a cleartext request; this names why).
        """
        from casaudit.probes.tls_preflight import preflight

        parsed = httpx.URL(url)
        key = (parsed.host, parsed.port or 80)
        with self._tls_lock:
            if key not in self._tls_ports:
                try:
                    address = self._context.resolver.resolve(key[0])[0]
                except (ResolutionError, IndexError):
                    self._tls_ports[key] = False
                else:
                    self._tls_ports[key] = preflight(
                        address, key[1], key[0], None, self._context.timeout / 2) is None
            return self._tls_ports[key]

    def _next_hop(self, current: str, location: str) -> tuple[str | None, str | None]:
        """The absolute URL to follow, or why not to follow it."""
        try:
            target = httpx.URL(current).join(location.strip())
        except (httpx.InvalidURL, ValueError):
            return None, "the Location header is not a valid URL"
        if target.scheme not in ("http", "https"):
            return None, f"redirect to a {target.scheme!r} URL is not followed"
        if not self._scope.allows(target.host):
            return None, f"redirect to {target.host!r} is outside the target's names: not followed"
        port = target.port or (443 if target.scheme == "https" else 80)
        path = target.raw_path.decode("ascii", "replace") or "/"
        return endpoint_url(target.scheme, target.host, port, path), None

    def _exchange(
        self,
        method: str,
        url: str,
        extra_headers: tuple[tuple[str, str], ...] = (),
        content: bytes = b"",
    ) -> HttpExchange:
        self._context.pace()  # rate limit; raises past the deadline or on Ctrl-C
        started = now()
        request_headers = _merged(REQUEST_HEADERS, extra_headers)
        try:
            with self._client.stream(
                method, url, headers=dict(extra_headers), content=content or None
            ) as response:
                # Read the socket's facts before the body: once the body is read,
                # httpx may close the connection (Connection: close) or hand it to
                # another thread, and asking a closed socket fails with EBADF.
                stream = response.extensions.get("network_stream")
                tls_version, peer = _tls_version(stream), _peer(stream)
                headers = _bounded_headers(response.headers.raw)
                body, truncated, body_error = self._read_bounded(response)
                return HttpExchange(
                    method=method,
                    url=url,
                    request_headers=_bounded_headers(response.request.headers.raw),
                    started_at=started,
                    status=response.status_code,
                    reason=response.reason_phrase,
                    http_version=response.http_version,
                    headers=headers,
                    body_excerpt=body[:MAX_EXCERPT_CHARS * 4].decode("utf-8", "replace")[
                        :MAX_EXCERPT_CHARS
                    ],
                    body_bytes=len(body),
                    body_truncated=truncated,
                    body_error=body_error,
                    auth_schemes=schemes(v for k, v in headers if k.lower() == "www-authenticate"),
                    tls_version=tls_version,
                    peer=peer,
                    logon_form=_logon_form(body, url, headers),
                )
        except Exception as exc:  # noqa: BLE001 - every failure becomes evidence
            return HttpExchange(
                method=method,
                url=url,
                request_headers=request_headers,
                started_at=started,
                error=probe_error(exc),
            )

    def _read_bounded(self, response: httpx.Response) -> tuple[bytes, bool, ProbeError | None]:
        """At most MAX_BODY_BYTES; a body cut short keeps the status and headers."""
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_raw():
                chunks.append(chunk)
                size += len(chunk)
                if size >= MAX_BODY_BYTES:
                    return b"".join(chunks)[:MAX_BODY_BYTES], True, None
        except Exception as exc:  # noqa: BLE001 - the answer so far is still evidence
            return b"".join(chunks), True, probe_error(exc)
        return b"".join(chunks), False, None


def _merged(
    base: tuple[tuple[str, str], ...], extra: tuple[tuple[str, str], ...]
) -> tuple[tuple[str, str], ...]:
    """The probe's default headers with a service's own headers replacing same-named ones."""
    replaced = {name.lower() for name, _ in extra}
    return tuple((n, v) for n, v in base if n.lower() not in replaced) + extra


def _logon_form(body: bytes, url: str, headers: tuple[tuple[str, str], ...]) -> LogonForm | None:
    """A logon form in an HTML answer (the whole bounded body, not just the excerpt)."""
    content_type = next((v for k, v in headers if k.lower() == "content-type"), "").lower()
    if content_type and "html" not in content_type:
        return None
    if b"<" not in body:
        return None
    return find_logon_form(body.decode("utf-8", "replace"), url)


def _bounded_headers(raw: list[tuple[bytes, bytes]]) -> tuple[tuple[str, str], ...]:
    return tuple(
        (
            name.decode("latin-1")[:256],
            value.decode("latin-1")[:MAX_HEADER_CHARS],
        )
        for name, value in raw[:MAX_HEADERS]
    )


def _tls_version(stream: object) -> str | None:
    if stream is None:
        return None
    ssl_object = stream.get_extra_info("ssl_object")  # type: ignore[attr-defined]
    return ssl_object.version() if ssl_object is not None else None


def _peer(stream: object) -> str | None:
    if stream is None:
        return None
    try:
        address = stream.get_extra_info("server_addr")  # type: ignore[attr-defined]
    except OSError:  # already closed: the peer is unknown, the answer still stands
        return None
    if not address:
        return None
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


__all__ = ["HttpProbe", "ProbeError", "now"]
