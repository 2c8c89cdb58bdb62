"""ONE HTTP exchange and ONE redirect resolver, for the http, ntlm and Autodiscover probes.

`exchange` sends one request through an httpx client built by `client` and
records the answer as a bounded `HttpExchange`:

- the host's pacing slot is taken per request (``--rate``), and the connection
  the request opens uses that same slot (`casaudit.probes.wire.ports.connect`
  is the client's network backend, so the breaker and the resolver apply too);
- the response head is capped (`MAX_HEADERS`, `MAX_HEADER_CHARS`), the body read
  up to a caller's limit, and the host's ``--deadline`` is checked between body
  chunks (`ScanStopped` propagates: it is not evidence);
- a `Watchdog` cuts an exchange that outlives twice the step timeout (slowloris);
- a timeout before the first answer counts for the port's breaker and is retried
  once while the breaker lets it; the evidence then says "(tried 2 times)".

The host-less probe does not use this: httpx always sends Host, so it writes its
own HTTP/1.0 request over `wire.connect`.
"""

from __future__ import annotations

import dataclasses
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import httpcore
import httpx

# httpcore's own socket stream (TLS upgrade, TLS in TLS, extra info); it exports no name for it.
from httpcore._backends.sync import SyncStream

from casaudit import __version__
from casaudit.model import HttpExchange, ProbeError
from casaudit.parse.http_auth import schemes
from casaudit.plan import endpoint_url
from casaudit.probes.common import MAX_HEADER_CHARS, now
from casaudit.probes.errors import Detail, ErrorKind, probe_error, retried, watch, watched
from casaudit.probes.pacing import ScanStopped
from casaudit.probes.wire.ports import Silence, connect, port_key, release_slot, take_slot

if TYPE_CHECKING:
    from casaudit.probes.base import ProbeContext

MAX_BODY_BYTES = 64 * 1024
MAX_EXCERPT_CHARS = 4096
MAX_HEADERS = 200
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
USER_AGENT = f"casaudit/{__version__} (Exchange Client Access audit)"
REQUEST_HEADERS = (("User-Agent", USER_AGENT), ("Accept", "*/*"), ("Accept-Encoding", "identity"))
WITHHELD = "[credentials withheld from the report]"


# --------------------------------------------------------------------------- the client


class WireBackend(httpcore.NetworkBackend):
    """httpcore's sync backend, connecting through `wire.connect` (resolver, pacing, breaker)."""

    def __init__(self, context: ProbeContext) -> None:
        self._context = context

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            connected = connect(self._context, host, port, timeout)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(str(exc)) from exc
        except ScanStopped:
            raise
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        for option in socket_options or ():
            connected.sock.setsockopt(*option)  # type: ignore[arg-type]
        return SyncStream(connected.sock)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def client(context: ProbeContext, ssl_context: ssl.SSLContext) -> httpx.Client:
    """An httpx client on the wire: the scan's resolver, pacing and breaker, no redirects
    followed, no environment, and a hard deadline on every exchange."""
    return httpx.Client(
        transport=WatchedTransport(ssl_context, context, deadline=context.timeout * 2),
        timeout=httpx.Timeout(context.timeout),
        follow_redirects=False,
        trust_env=False,
        # identity: an excerpt of a compressed body says nothing, and inflating
        # what a hostile server compressed is a memory bomb.
        headers=dict(REQUEST_HEADERS),
    )


class WatchedTransport(httpx.HTTPTransport):
    """httpx's transport, connecting through the wire and cutting overlong exchanges.

    httpx has no hook for name resolution; its pool takes a network backend.
    The scan's thread pool bounds how many requests run at once, so the
    connection pool gets no limit of its own: httpcore 1.0.9's sync pool closes
    an idle connection it has just handed to another thread when it "makes room"
    or trims keep-alives (encode/httpcore#1110), which showed as "Bad file
    descriptor" on a few requests of a scan. No keep-alive either: one connection
    per exchange, so the watchdog cuts exactly the connection of the exchange
    that outlived its deadline (and each request's pacing slot is its connection's).
    """

    def __init__(self, ssl_context: ssl.SSLContext, context: ProbeContext, deadline: float) -> None:
        super().__init__(verify=ssl_context)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=None,
            max_keepalive_connections=0,
            network_backend=WireBackend(context),
        )
        self._deadline = deadline

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        watchdog = Watchdog(self._deadline, https=request.url.scheme == "https")
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
    which unblocks the reading thread at once. It also knows how far the
    exchange got (`stage`), which tells the breaker where a port went silent.
    """

    def __init__(self, seconds: float, https: bool = False) -> None:
        self._seconds = seconds
        self._https = https
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True
        self.expired = False
        #: None until TCP connected; then where a silence would be.
        self.stage: Silence | None = None

    def trace(self, event: str, info: dict[str, object]) -> None:
        # start_tls hands the descriptor to a new SSLSocket: follow it there.
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None  # type: ignore[attr-defined]
            with self._lock:
                self._socket = sock
                cut_now = self.expired
                self.stage = (Silence.HANDSHAKE if self._https and event.endswith("connect_tcp.complete")
                              else Silence.ANSWER)
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
        return Detail.exchange_deadline(self._seconds)


# --------------------------------------------------------------------------- the exchange


@dataclasses.dataclass(frozen=True)
class Reply:
    """One exchange plus the body bytes read (up to the caller's limit)."""

    exchange: HttpExchange
    body: bytes = b""
    truncated: bool = False

    @property
    def cut(self) -> ProbeError | None:
        """Why the body stopped before its end (the server hung up, reset, ran out of time)."""
        return self.exchange.body_error


def exchange(
    context: ProbeContext,
    http: httpx.Client,
    method: str,
    url: str,
    headers: tuple[tuple[str, str], ...] = (),
    content: bytes | None = None,
    *,
    max_body: int = MAX_BODY_BYTES,
    body_seconds: float | None = None,
) -> Reply:
    """Send one request and record the answer; a failure is evidence, `ScanStopped` is not.

    `body_seconds` stops reading the body (truncated, no error) after that long.
    A request whose port gave no answer in time is sent once more while the
    port's breaker lets it; then `PortSkipped` or the second failure stands.
    """
    reply, silence, key = _once(context, http, method, url, headers, content, max_body, body_seconds)
    if silence is None or key is None or not context.breaker.silent(key, silence):
        return reply
    second, silence, _ = _once(context, http, method, url, headers, content, max_body, body_seconds)
    error = second.exchange.error
    if silence is not None:
        context.breaker.silent(key, silence)
    if error is not None and error.kind == ErrorKind.TIMEOUT:
        error = ProbeError(error.kind, retried(error.detail, 2))
    # The evidence says the request was sent twice, and why, whether or not the retry answered.
    recorded = dataclasses.replace(second.exchange, error=error, first_attempt=reply.exchange.error)
    return dataclasses.replace(second, exchange=recorded)


def _once(
    context: ProbeContext,
    http: httpx.Client,
    method: str,
    url: str,
    headers: tuple[tuple[str, str], ...],
    content: bytes | None,
    max_body: int,
    body_seconds: float | None,
) -> tuple[Reply, Silence | None, tuple[str, int] | None]:
    started = now()
    key: tuple[str, int] | None = None
    try:
        parsed = httpx.URL(url)
        key = port_key(context, parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80))
        # The breaker first: a skipped request sends nothing and waits for no --rate slot.
        with context.breaker.attempt(key):
            take_slot(context)  # --rate; raises past the deadline or on Ctrl-C
            started = now()  # when the request leaves, after its slot
            with http.stream(method, url, headers=dict(headers), content=content or None) as response:
                context.breaker.answered(key)
                # Read the socket's facts before the body: once the body is read,
                # httpx may close the connection (Connection: close), and asking a
                # closed socket fails with EBADF.
                stream = response.extensions.get("network_stream")
                tls, peer = tls_version(stream), peer_of(stream)
                response_headers = bounded_headers(response.headers.raw)
                body, truncated, cut = _read_body(context, response, max_body, body_seconds)
                return Reply(HttpExchange(
                    method=method, url=url,
                    request_headers=recorded_headers(response.request.headers.raw),
                    started_at=started, status=response.status_code,
                    reason=response.reason_phrase, http_version=response.http_version,
                    headers=response_headers,
                    body_excerpt=body[:MAX_EXCERPT_CHARS * 4].decode("utf-8", "replace")[:MAX_EXCERPT_CHARS],
                    body_bytes=len(body), body_truncated=truncated, body_error=cut,
                    auth_schemes=schemes(v for k, v in response_headers if k.lower() == "www-authenticate"),
                    tls_version=tls, peer=peer,
                ), body, truncated), None, key
    except ScanStopped:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure becomes evidence
        error = probe_error(exc)
        current = watched()
        stage = getattr(current, "stage", None)
        # A TCP connect timeout was counted (and retried) by wire.connect already.
        silence = stage if error.kind == ErrorKind.TIMEOUT else None
        if silence is Silence.HANDSHAKE and not getattr(current, "expired", False):
            # httpx calls a handshake that never ends a connect timeout: say which step it was.
            error = ProbeError(error.kind, Detail.handshake_timeout(context.timeout))
        sent = merged(REQUEST_HEADERS, headers)
        return Reply(HttpExchange(
            method=method, url=url,
            request_headers=recorded_headers([(k.encode(), v.encode()) for k, v in sent]),
            started_at=started, error=error,
        )), silence, key
    finally:
        watch(None)
        release_slot()


def _read_body(
    context: ProbeContext, response: httpx.Response, limit: int, seconds: float | None
) -> tuple[bytes, bool, ProbeError | None]:
    """At most `limit` bytes; a body cut short keeps the status and headers, and names the cut."""
    ends = time.monotonic() + seconds if seconds is not None else None
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_raw():
            context.pacer.check()  # the host's --deadline inside the body loop
            chunks.append(chunk)
            size += len(chunk)
            if size > limit or (ends is not None and time.monotonic() > ends):
                return b"".join(chunks)[:limit], True, None
    except ScanStopped:
        raise
    except Exception as exc:  # noqa: BLE001 - the answer so far is still evidence
        return b"".join(chunks), True, probe_error(exc)
    return b"".join(chunks), False, None


# --------------------------------------------------------------------------- recording


def merged(
    base: tuple[tuple[str, str], ...], extra: tuple[tuple[str, str], ...]
) -> tuple[tuple[str, str], ...]:
    """The probe's default headers with a service's own headers replacing same-named ones."""
    replaced = {name.lower() for name, _ in extra}
    return tuple((n, v) for n, v in base if n.lower() not in replaced) + extra


def bounded_headers(raw: list[tuple[bytes, bytes]]) -> tuple[tuple[str, str], ...]:
    return tuple(
        (name.decode("latin-1")[:256], value.decode("latin-1")[:MAX_HEADER_CHARS])
        for name, value in raw[:MAX_HEADERS]
    )


def recorded_headers(raw: list[tuple[bytes, bytes]]) -> tuple[tuple[str, str], ...]:
    """Request headers as recorded in evidence: an Authorization value never is."""
    return tuple(
        (name, WITHHELD if name.lower() == "authorization" else value)
        for name, value in bounded_headers(raw)
    )


def tls_version(stream: object) -> str | None:
    if stream is None:
        return None
    ssl_object = stream.get_extra_info("ssl_object")  # type: ignore[attr-defined]
    return ssl_object.version() if ssl_object is not None else None


def peer_of(stream: object) -> str | None:
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


# --------------------------------------------------------------------------- redirects


def join_location(current: str, location: str) -> tuple[str | None, str | None]:
    """The absolute http(s) URL a Location header points to from `current`, or why none.

    The one redirect resolver: each probe then applies its own scope policy.
    """
    try:
        target = httpx.URL(current).join(location.strip())
    except (httpx.InvalidURL, ValueError):
        return None, "the Location header is not a valid URL"
    if target.scheme not in ("http", "https") or not target.host:
        return None, f"redirect to a {target.scheme!r} URL is not followed"
    port = target.port or (443 if target.scheme == "https" else 80)
    path = target.raw_path.decode("ascii", "replace") or "/"
    return endpoint_url(target.scheme, target.host, port, path), None


__all__ = [
    "MAX_BODY_BYTES", "MAX_EXCERPT_CHARS", "MAX_HEADERS", "MAX_HEADER_CHARS", "REDIRECT_STATUSES",
    "REQUEST_HEADERS", "USER_AGENT", "Reply", "WatchedTransport", "Watchdog", "WireBackend",
    "bounded_headers", "client", "exchange", "join_location", "merged", "peer_of",
    "recorded_headers", "tls_version",
]
