"""POP3 and IMAP4 listeners that answer from a posture's mail sections, and record every line.

Enough of each protocol for an auditor's probe and for a curious human with
``openssl s_client``: the greeting, CAPABILITY/CAPA before and after
STARTTLS/STLS, USER (POP3), LOGIN and AUTHENTICATE/AUTH (never succeeding: the
lab has no users), the NTLM challenge exchange, LOGOUT/QUIT. The replies to
what the posture does not describe are Exchange's wordings.

Every line a client sends is recorded (`MailRecorder`), with the service and
whether TLS was up, so a test can prove what a scanner sent, and in particular
that no password ever crossed. Reads are bounded (8 KiB a line, 200 lines a
connection, 10 s a read) so a probe can never wedge the lab.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from dataclasses import dataclass

from casaudit.lab.connections import ConnectionLog
from casaudit.lab.posture import MailService
from casaudit.lab.tlslite_server import TlsliteContext, TlsliteSocket, connection_slots

#: What serves TLS for a mail listener: OpenSSL, or tlslite-ng for what OpenSSL dropped.
ServerTls = ssl.SSLContext | TlsliteContext

CLIENT_TIMEOUT_SECONDS = 10.0
MAX_LINE_BYTES = 8192
MAX_LINES_PER_CONNECTION = 200
MAX_RECORDED_LINES = 20000

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReceivedLine:
    """One line a client sent to a lab mail listener."""

    #: ``imap``, ``imaps``, ``pop3`` or ``pop3s``.
    service: str
    #: TLS was up when the line arrived.
    tls: bool
    line: str


class MailRecorder:
    """Thread-safe log of every line received by the lab's mail listeners."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lines: list[ReceivedLine] = []

    def add(self, item: ReceivedLine) -> None:
        with self._lock:
            if len(self._lines) < MAX_RECORDED_LINES:
                self._lines.append(item)

    def lines(self, service: str | None = None) -> list[ReceivedLine]:
        with self._lock:
            return [item for item in self._lines if service is None or item.service == service]

    def clear(self) -> None:
        with self._lock:
            self._lines.clear()


class _Closed(Exception):
    """The client went away, or the connection hit its bounds."""


class _Connection:
    """One client: a socket that may turn into TLS, read a bounded line at a time."""

    def __init__(
        self, sock: socket.socket | TlsliteSocket, service: str, recorder: MailRecorder
    ) -> None:
        self.sock = sock
        self.service = service
        self.recorder = recorder
        self.tls = isinstance(sock, (ssl.SSLSocket, TlsliteSocket))
        self._buffer = b""
        self._count = 0

    def send(self, *lines: str) -> None:
        self.sock.sendall(b"".join(line.encode("utf-8") + b"\r\n" for line in lines))

    def readline(self) -> str:
        while b"\n" not in self._buffer:
            if len(self._buffer) > MAX_LINE_BYTES:
                raise _Closed("line too long")
            chunk = self.sock.recv(4096)
            if not chunk:
                raise _Closed("client closed")
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\n")
        self._count += 1
        if self._count > MAX_LINES_PER_CONNECTION:
            raise _Closed("too many lines")
        line = raw.rstrip(b"\r").decode("utf-8", "replace")
        self.recorder.add(ReceivedLine(self.service, self.tls, line))
        return line

    def start_tls(self, context: ServerTls) -> None:
        if self._buffer:
            raise _Closed("data pipelined after STARTTLS")  # what a careful server does
        self.sock = context.wrap_socket(self.sock, server_side=True)  # type: ignore[arg-type]
        self.tls = True


# --------------------------------------------------------------------------- IMAP4


def _imap_session(conn: _Connection, service: MailService, context: ServerTls) -> None:
    conn.send(service.greeting)
    if not service.greeting.startswith("* OK"):
        return
    while True:
        line = conn.readline()
        tag, _, rest = line.partition(" ")
        command, _, argument = rest.partition(" ")
        command = command.upper()
        capabilities = service.capabilities_tls if conn.tls and not service.implicit_tls \
            else service.capabilities
        if command == "CAPABILITY":
            conn.send("* CAPABILITY " + " ".join(capabilities), f"{tag} OK CAPABILITY completed.")
        elif command == "NOOP":
            conn.send(f"{tag} OK NOOP completed.")
        elif command == "STARTTLS":
            if conn.tls or not service.offers_starttls():
                conn.send(f"{tag} BAD Command received in Invalid state.")
                continue
            conn.send(f"{tag} OK Begin TLS negotiation now.")
            conn.start_tls(context)
        elif command == "LOGIN":
            if "LOGINDISABLED" in (c.upper() for c in capabilities):
                conn.send(f"{tag} BAD Command received in Invalid state.")
            else:
                conn.send(f"{tag} NO LOGIN failed.")
        elif command == "AUTHENTICATE":
            _imap_authenticate(conn, service, tag, argument, capabilities)
        elif command == "LOGOUT":
            conn.send(f"* BYE {service.goodbye or 'Microsoft Exchange Server IMAP4 server signing off.'}",
                      f"{tag} OK LOGOUT completed.")
            return
        else:
            conn.send(f"{tag} BAD Command Error. 10")


def _imap_authenticate(
    conn: _Connection, service: MailService, tag: str, argument: str, capabilities: tuple[str, ...]
) -> None:
    mechanism, _, initial = argument.partition(" ")
    if f"AUTH={mechanism.upper()}" not in (c.upper() for c in capabilities):
        conn.send(f"{tag} NO The specified authentication mechanism is not supported.")
        return
    if not initial:
        conn.send("+ ")
        if conn.readline().strip() == "*":
            conn.send(f"{tag} BAD Command Argument Error. 12")
            return
    if mechanism.upper() == "NTLM" and service.ntlm_challenge:
        conn.send(f"+ {service.ntlm_challenge}")
        if conn.readline().strip() == "*":
            conn.send(f"{tag} BAD Command Argument Error. 12")
            return
    conn.send(f"{tag} NO AUTHENTICATE failed.")


# --------------------------------------------------------------------------- POP3


def _pop3_session(conn: _Connection, service: MailService, context: ServerTls) -> None:
    conn.send(service.greeting)
    if not service.greeting.startswith("+OK"):
        return
    user_given = False
    while True:
        line = conn.readline()
        command, _, argument = line.partition(" ")
        command = command.upper()
        capabilities = service.capabilities_tls if conn.tls and not service.implicit_tls \
            else service.capabilities
        if command == "CAPA":
            conn.send("+OK", *(("." + c) if c.startswith(".") else c for c in capabilities), ".")
        elif command == "NOOP":
            conn.send("+OK")
        elif command == "STLS":
            if conn.tls or not service.offers_starttls():
                conn.send("-ERR Command is not valid in this state.")
                continue
            conn.send("+OK Begin TLS negotiation.")
            conn.start_tls(context)
        elif command == "USER":
            reply = service.user_before_tls if not conn.tls else "+OK"
            user_given = reply.startswith("+OK")
            conn.send(reply)
        elif command == "PASS":
            conn.send("-ERR Logon failure: unknown user name or bad password." if user_given
                      else "-ERR Command is not valid in this state.")
            user_given = False
        elif command == "AUTH":
            _pop3_authenticate(conn, service, argument, capabilities)
        elif command == "QUIT":
            conn.send(f"+OK {service.goodbye or 'Microsoft Exchange Server POP3 server signing off.'}")
            return
        else:
            conn.send("-ERR Protocol error. 14")


def _pop3_authenticate(
    conn: _Connection, service: MailService, argument: str, capabilities: tuple[str, ...]
) -> None:
    mechanism = argument.split(" ", 1)[0].upper()
    offered = {word.upper() for c in capabilities if c.upper().startswith("SASL ")
               for word in c.split()[1:]}
    if mechanism not in offered:
        conn.send("-ERR Unrecognized authentication type.")
        return
    conn.send("+ ")
    if conn.readline().strip() == "*":
        conn.send("-ERR Authentication cancelled.")
        return
    if mechanism == "NTLM" and service.ntlm_challenge:
        conn.send(f"+ {service.ntlm_challenge}")
        if conn.readline().strip() == "*":
            conn.send("-ERR Authentication cancelled.")
            return
    conn.send("-ERR Logon failure: unknown user name or bad password.")


# --------------------------------------------------------------------------- the listener


class MailListener:
    """One listening socket (bound at construction) and a thread per client."""

    def __init__(
        self,
        name: str,
        service: MailService,
        tls_context: ServerTls,
        recorder: MailRecorder,
        address: str,
        connections: ConnectionLog | None = None,
    ) -> None:
        self.name = name
        self._connections = connections or ConnectionLog()
        self._service = service
        self._context = tls_context
        self._slots = connection_slots(tls_context)
        self._recorder = recorder
        self._socket = socket.create_server((address, 0), backlog=64)
        self._socket.settimeout(0.05)
        self._lock = threading.Lock()
        self._clients: dict[threading.Thread, socket.socket] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._socket.getsockname()[1])

    def serve(self) -> None:
        self._thread = threading.Thread(
            target=self._accept_loop, name=f"casaudit-lab-{self.name}-{self.port}", daemon=True
        )
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            # A bounded stack (tlslite-ng) serves so many clients at once; the rest wait in
            # the accept backlog.
            if self._slots is not None and not self._slots.acquire(timeout=0.5):
                continue
            try:
                client, _ = self._socket.accept()
            except TimeoutError:
                self._release()
                continue
            except OSError:
                self._release()
                return
            self._connections.record(self.name, self.port)
            thread = threading.Thread(
                target=self._handle, args=(client,), name=f"casaudit-lab-{self.name}-client",
                daemon=True,
            )
            with self._lock:
                if self._stop.is_set():
                    client.close()
                    self._release()
                    return
                self._clients[thread] = client
            thread.start()

    def _release(self) -> None:
        if self._slots is not None:
            self._slots.release()

    def _handle(self, client: socket.socket) -> None:
        sock: socket.socket | TlsliteSocket = client
        try:
            client.settimeout(CLIENT_TIMEOUT_SECONDS)
            if self._service.implicit_tls:
                sock = self._context.wrap_socket(client, server_side=True)
            conn = _Connection(sock, self.name, self._recorder)
            session = _imap_session if self._service.protocol == "imap" else _pop3_session
            session(conn, self._service, self._context)
            sock = conn.sock
        except (_Closed, OSError, ssl.SSLError):
            _log.debug("lab %s connection ended", self.name, exc_info=True)
        finally:
            try:
                sock.close()
            finally:
                client.close()
                with self._lock:
                    self._clients.pop(threading.current_thread(), None)
                self._release()

    def close(self) -> None:
        """Stop accepting, cut every client, join every thread, close the socket."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._socket.close()
        with self._lock:
            clients = dict(self._clients)
        for client in clients.values():
            try:
                client.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in clients:
            thread.join(timeout=CLIENT_TIMEOUT_SECONDS)
