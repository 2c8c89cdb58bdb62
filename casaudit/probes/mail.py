"""POP3 and IMAP4 on 110, 995, 143 and 993: who answers, what they offer, before and after TLS.

What goes on the wire, per port (never a password, never a credential):

IMAP4 (143): greeting; `CAPABILITY`; `STARTTLS` and the TLS handshake when
offered, then `CAPABILITY` again; when NTLM is offered, `AUTHENTICATE NTLM`, a
fixed Type-1 (NEGOTIATE) blob, and `*` to cancel as soon as the Type-2
challenge arrives; `LOGOUT`. IMAPS (993): the TLS handshake, then the same
without STARTTLS. Whether LOGIN would be accepted in clear is read from the
capability list (LOGINDISABLED, AUTH=PLAIN), never tried.

POP3 (110): greeting; `CAPA`; `STLS` and the handshake when offered, `CAPA`
again; `AUTH NTLM`, the Type-1 blob, `*` when NTLM is offered; `QUIT`. Then a
second connection: greeting, `USER casaudit-probe` (a made-up name), `QUIT`:
the reply says whether the server would take a password in clear. POP3S (995):
handshake, greeting, `CAPA`, the NTLM exchange when offered, `QUIT`.

IMAP goes through imaplib2 (the design card's choice) with its socket, TLS
wrapping and reads replaced so that it connects through the scan's resolver and
every read counts against a byte budget and a deadline. POP3 is a small dialogue
of its own (`_Pop3`): see there why not poplib.

Every connection goes through `casaudit.probes.wire.connect` (pacing, the per-port
breaker); every read is bounded (line length, line count, bytes per connection),
every step has the scan's timeout, with an overall deadline per port, and each
step checks the host's --deadline (`ScanStopped` propagates: it is not evidence).
A greeting counts as the port's answer for the breaker; none in time as its silence. TLS is not
verified here: the TLS probe judges certificates on these same ports; this
probe records only the version and cipher it negotiated.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import imaplib2

from casaudit.evidence.base import ProbeError
from casaudit.evidence.mail import (
    CleartextLoginTest,
    MailCapabilities,
    MailEvidence,
    NtlmChallenge,
    StartTls,
    TlsSession,
)
from casaudit.parse.mail import (
    classify_user_reply,
    identify_banner,
    imap_sasl,
    pop3_has,
    pop3_sasl,
)
from casaudit.plan import MailProbeTask, plan_mail
from casaudit.probes.base import ProbeContext
from casaudit.probes.common import TLS_RECORD_STARTS, now, observing_context
from casaudit.probes.errors import (
    DeadlinePassed,
    Detail,
    ErrorKind,
    ProtocolBroken,
    TooLarge,
    probe_error,
)
from casaudit.probes.pacing import ScanStopped
from casaudit.probes.wire.ports import PortSkipped, Silence, connect

#: nmap's NTLM NEGOTIATE (Type-1): 32 bytes, flags 0xA0088207, no domain, no
#: workstation, no version (EXCHANGE-FACTS.md section 8). Sent as is, never built
#: from anything of the user's.
NTLM_NEGOTIATE = "TlRMTVNTUAABAAAAB4IIoAAAAAAAAAAAAAAAAAAAAAA="
#: The made-up user name of the POP3 cleartext-login test. Never followed by PASS.
PROBE_USER = "casaudit-probe"

MAX_LINE_BYTES = 4096
MAX_CAPA_LINES = 100
MAX_SESSION_BYTES = 64 * 1024
MAX_TEXT_CHARS = 512
MAX_CHALLENGE_CHARS = 4096
MAX_SENT_RECORDED = 32
MAX_SASL_STEPS = 3
#: A port's whole dialogue may take this many step timeouts, at most.
SESSION_STEPS = 6


_TLS_WHERE_CLEARTEXT = "the server spoke TLS where a cleartext greeting was due (not a mail greeting)"


_TooLarge = TooLarge  # the server sent more than a bounded read allows
_Protocol = ProtocolBroken  # no greeting, garbage where a status was due


class _Budget:
    """Bytes and time one connection may still use; `check` raises past the host's deadline."""

    def __init__(self, step_timeout: float, max_bytes: int = MAX_SESSION_BYTES,
                 check: Callable[[], None] | None = None) -> None:
        self.step = step_timeout
        self.ends = time.monotonic() + step_timeout * SESSION_STEPS
        self.left = max_bytes
        self._check = check

    def timeout(self) -> float:
        """The timeout for the next socket operation; TimeoutError once the deadline passed."""
        if self._check is not None:
            self._check()  # the host's --deadline, between dialogue steps
        remaining = self.ends - time.monotonic()
        if remaining <= 0:
            raise DeadlinePassed(Detail.DIALOGUE_DEADLINE)
        return min(self.step, remaining)

    def spend(self, count: int) -> None:
        self.left -= count
        if self.left < 0:
            raise _TooLarge(f"the server sent more than {MAX_SESSION_BYTES} bytes")


def _text(data: bytes | str | None, limit: int = MAX_TEXT_CHARS) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    return data.rstrip("\r\n")[:limit]


def _peer(sock: socket.socket) -> str | None:
    try:
        address = sock.getpeername()
    except OSError:
        return None
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def _tls_facts(sock: ssl.SSLSocket) -> TlsSession:
    cipher = sock.cipher()
    return TlsSession(version=sock.version(), cipher=cipher[0] if cipher else None)


def _error(exc: BaseException) -> ProbeError:
    return probe_error(exc)


@dataclass
class _Transcript:
    """What one port's dialogue produced, filled in as it goes (one thread per port)."""

    sent: list[str] = field(default_factory=list)
    greeting: str | None = None
    clear: MailCapabilities | None = None
    over_tls: MailCapabilities | None = None
    starttls: StartTls | None = None
    tls: TlsSession | None = None
    ntlm: NtlmChallenge | None = None
    error: ProbeError | None = None
    #: The socket-level exception behind an imaplib2 abort, when its reader saw one.
    cause: BaseException | None = None
    #: When the server last sent a byte (or the dialogue began), monotonic seconds.
    heard: float = field(default_factory=time.monotonic)

    def record_sent(self, line: str) -> None:
        if len(self.sent) < MAX_SENT_RECORDED:
            self.sent.append(line[:MAX_TEXT_CHARS])

    def capabilities(self, listing: MailCapabilities) -> None:
        if listing.over_tls:
            self.over_tls = listing
        else:
            self.clear = listing

    @property
    def latest(self) -> MailCapabilities | None:
        return self.over_tls or self.clear


# --------------------------------------------------------------------------- connecting


class MailProbe:
    """Every POP3/IMAP4 port of the target; `run` is thread-safe (one connection per call)."""

    def __init__(self, context: ProbeContext) -> None:
        self._context = context
        self._tls = observing_context()

    def tasks(self) -> list[MailProbeTask]:
        return plan_mail(self._context.target)

    def close(self) -> None:
        pass

    def run(self, task: MailProbeTask) -> list[MailEvidence]:
        return [self.observe(task)]

    def observe(self, task: MailProbeTask) -> MailEvidence:
        started = now()
        transcript = _Transcript()
        evidence: dict[str, Any] = {}
        try:
            connected = connect(self._context, task.host, task.port)
        except ScanStopped:
            raise
        except Exception as exc:  # noqa: BLE001 - a closed or filtered port is evidence
            return self._evidence(task, started, _Transcript(error=self._connect_error(exc)),
                                  reachability=_reachability(exc))
        sock = connected.sock
        try:
            if task.protocol == "imap":
                self._imap(task, sock, transcript)
            else:
                self._pop3(task, sock, transcript)
        finally:
            _close_quietly(sock)
        self._record(connected.key, task, transcript)
        if task.protocol != "imap" and not task.implicit_tls \
                and (transcript.greeting or "").startswith("+OK"):
            evidence["login_in_clear"] = self._pop3_user_test(task, transcript)
        error = transcript.error
        if not task.implicit_tls and transcript.greeting is None and error is not None \
                and error.kind in ("timeout", "reset", "protocol") and error.detail != _TLS_WHERE_CLEARTEXT:
            # Silence, a reset or a hang-up instead of a greeting: what a TLS server does
            # to a client that never sends its ClientHello (at its own handshake timeout).
            transcript.error = self._silent_port(task, error)
        return self._evidence(task, started, transcript, reachability="open", peer=connected.peer,
                              **evidence)

    def _record(self, key: tuple[str, int], task: MailProbeTask, transcript: _Transcript) -> None:
        """A greeting is the port's answer; no greeting in time is its silence (the breaker)."""
        if transcript.greeting is not None:
            self._context.breaker.answered(key)
        elif transcript.error is not None and transcript.error.kind == ErrorKind.TIMEOUT:
            where = Silence.HANDSHAKE if task.implicit_tls and transcript.tls is None else Silence.ANSWER
            self._context.breaker.silent(key, where)

    def _silent_port(self, task: MailProbeTask, error: ProbeError) -> ProbeError:
        """No greeting on a cleartext port: does it wait for a TLS ClientHello instead?

        One more connection, a handshake and nothing else, bounded by the step
        timeout: a port that completes it speaks TLS from the first byte (an
        IMAPS/POP3S listener on the cleartext port), which is worth naming.
        """
        try:
            connected = connect(self._context, task.host, task.port)
        except ScanStopped:
            raise
        except Exception:  # noqa: BLE001 - the first connection's error stands
            return error
        sock = connected.sock
        try:
            with self._wrap(sock, task.host) as tls:
                version = tls.version()
        except TimeoutError:
            self._context.breaker.silent(connected.key, Silence.HANDSHAKE)
            return error
        except Exception:  # noqa: BLE001 - not TLS either: the timeout stands
            return error
        finally:
            _close_quietly(sock)
        return ProbeError(
            "protocol",
            f"no cleartext greeting ({error.detail}), and the port completes "
            f"a TLS handshake ({version}): it speaks TLS from the first byte, not cleartext "
            f"{task.protocol.upper()}",
        )

    def _evidence(
        self, task: MailProbeTask, started: str, transcript: _Transcript, *, reachability: str,
        peer: str | None = None, login_in_clear: CleartextLoginTest | None = None,
    ) -> MailEvidence:
        return MailEvidence(
            id=task.evidence_id, endpoint=task.endpoint, service=task.service,
            protocol=task.protocol, host=task.host, port=task.port,
            implicit_tls=task.implicit_tls, started_at=started, finished_at=now(),
            reachability=reachability, peer=peer, greeting=transcript.greeting,
            banner=identify_banner(transcript.greeting),
            capabilities_clear=transcript.clear, starttls=transcript.starttls,
            capabilities_tls=transcript.over_tls, tls=transcript.tls,
            login_in_clear=login_in_clear, ntlm=transcript.ntlm,
            sent=tuple(transcript.sent), error=transcript.error,
        )

    def _connect_error(self, exc: BaseException) -> ProbeError:
        error = probe_error(exc)
        if error.kind == ErrorKind.TIMEOUT and error.detail.startswith(Detail.CONNECT_TIMEOUT):
            # Name the step timeout: the mail evidence always did.
            return ProbeError(error.kind, error.detail.replace(
                Detail.CONNECT_TIMEOUT, Detail.connect_timeout_after(self._context.timeout)))
        return error

    def _budget(self) -> _Budget:
        return _Budget(self._context.timeout, check=self._context.pacer.check)

    def _wrap(self, sock: socket.socket, host: str) -> ssl.SSLSocket:
        # SNI carries the host name while the socket went to the resolved address.
        return self._tls.wrap_socket(sock, server_hostname=host)

    # ----------------------------------------------------------------------- IMAP4

    def _imap(self, task: MailProbeTask, sock: socket.socket, transcript: _Transcript) -> None:
        budget = self._budget()
        client: _Imap | None = None
        try:
            if task.implicit_tls:
                sock = self._wrap(sock, task.host)
                transcript.tls = _tls_facts(sock)
            client = _Imap(sock, task.host, self._context.timeout, budget, transcript,
                           self._tls, tls_from_start=task.implicit_tls)
            if not task.implicit_tls:
                offered = bool(transcript.clear and transcript.clear.starttls)
                transcript.starttls = StartTls(offered=offered)
                if offered:
                    transcript.starttls = client.upgrade()
            latest = transcript.latest
            if latest is not None and "NTLM" in latest.sasl:
                transcript.ntlm = client.ntlm_challenge()
        except ScanStopped:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes evidence
            if isinstance(transcript.cause, ScanStopped):
                raise transcript.cause from exc
            transcript.error = _imap_error(transcript, exc, self._context.timeout)
        finally:
            if client is not None:
                client.finish()

    # ----------------------------------------------------------------------- POP3

    def _pop3(self, task: MailProbeTask, sock: socket.socket, transcript: _Transcript) -> None:
        budget = self._budget()
        session: _Pop3 | None = None
        try:
            if task.implicit_tls:
                sock = self._wrap(sock, task.host)
                transcript.tls = _tls_facts(sock)
            session = _Pop3(sock, budget, transcript)
            session.greet()
            transcript.capabilities(session.capa(over_tls=task.implicit_tls))
            if not task.implicit_tls:
                offered = bool(transcript.clear and transcript.clear.starttls)
                transcript.starttls = StartTls(offered=offered)
                if offered:
                    transcript.starttls = session.stls(lambda raw: self._wrap(raw, task.host))
                    if transcript.starttls.ok:
                        transcript.capabilities(session.capa(over_tls=True))
            latest = transcript.latest
            if latest is not None and "NTLM" in latest.sasl:
                transcript.ntlm = session.ntlm_challenge()
            session.quit()
        except ScanStopped:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes evidence
            transcript.error = _error(exc)

    def _pop3_user_test(self, task: MailProbeTask, first: _Transcript) -> CleartextLoginTest:
        """A fresh cleartext connection: greeting, `USER <made-up name>`, `QUIT`. No PASS, ever."""
        command = f"USER {PROBE_USER}"
        transcript = _Transcript()
        try:
            sock = connect(self._context, task.host, task.port).sock
        except ScanStopped:
            raise
        except Exception as exc:  # noqa: BLE001
            return CleartextLoginTest(command, "", "no_answer", error=self._connect_error(exc))
        try:
            session = _Pop3(sock, self._budget(), transcript)
            session.greet()
            reply = session.command(command)
            verdict = classify_user_reply(reply)
            session.quit()
            return CleartextLoginTest(command, _text(reply), verdict.outcome, verdict.wording)
        except ScanStopped:
            raise
        except Exception as exc:  # noqa: BLE001
            return CleartextLoginTest(command, "", "no_answer", error=_error(exc))
        finally:
            _close_quietly(sock)
            for line in ["(second connection)", *transcript.sent]:
                first.record_sent(line)


def _imap_error(transcript: _Transcript, exc: BaseException, step: float) -> ProbeError:
    """Why an IMAP dialogue broke: the socket-level cause its reader saw, else the abort.

    imaplib2 gives one exception type (`abort`) for a response timeout, a BYE and a
    hang-up; a server that sent nothing for a whole step timeout is what a timeout
    is, so that observation decides, not the abort's message.
    """
    if transcript.cause is not None:
        return probe_error(transcript.cause)
    if isinstance(exc, imaplib2.IMAP4.abort) and time.monotonic() - transcript.heard >= step * 0.9:
        return ProbeError(ErrorKind.TIMEOUT, Detail.STOPPED_ANSWERING)
    return probe_error(exc)


def _reachability(exc: BaseException) -> str:
    if isinstance(exc, PortSkipped):
        return "error"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, TimeoutError):
        return "filtered"
    if isinstance(exc, OSError):
        return "unreachable"
    return "error"


def _close_quietly(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass


# --------------------------------------------------------------------------- POP3 dialogue


class _Pop3:
    """A bounded POP3 dialogue: RFC 1939, CAPA (RFC 2449), STLS (RFC 2595), AUTH (RFC 5034).

    Not poplib, because poplib cannot be bounded the way a scanner must be:
    `_getlongresp` reads a multi-line answer (CAPA) until "." with no limit on
    line count, bytes or total time (each line only has the socket timeout, so
    a server dribbling lines holds it forever); it has no AUTH command for the
    NTLM exchange; and connecting to a resolved address while keeping the name
    for SNI means overriding its private `_create_socket`. This class does only
    the few commands the probe sends, each read counted against a `_Budget`.
    """

    def __init__(self, sock: socket.socket, budget: _Budget, transcript: _Transcript) -> None:
        self._sock = sock
        self._budget = budget
        self._transcript = transcript
        self._buffer = b""

    def readline(self) -> str:
        while b"\n" not in self._buffer:
            if len(self._buffer) > MAX_LINE_BYTES:
                raise _TooLarge(f"a line longer than {MAX_LINE_BYTES} bytes")
            self._sock.settimeout(self._budget.timeout())
            chunk = self._sock.recv(4096)
            if not chunk:
                raise _Protocol("the server closed the connection")
            self._budget.spend(len(chunk))
            if self._transcript.greeting is None and not self._buffer \
                    and not isinstance(self._sock, ssl.SSLSocket) and chunk.startswith(TLS_RECORD_STARTS):
                raise _Protocol(_TLS_WHERE_CLEARTEXT)
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        if len(line) > MAX_LINE_BYTES:
            raise _TooLarge(f"a line longer than {MAX_LINE_BYTES} bytes")
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def send(self, line: str, shown: str | None = None) -> None:
        self._transcript.record_sent(shown or line)
        self._sock.settimeout(self._budget.timeout())
        self._sock.sendall(line.encode("ascii") + b"\r\n")

    def command(self, line: str) -> str:
        self.send(line)
        return self.readline()

    def greet(self) -> None:
        greeting = self.readline()
        self._transcript.greeting = _text(greeting)
        if not greeting.startswith("+OK"):
            raise _Protocol("the greeting is not +OK")

    def capa(self, *, over_tls: bool) -> MailCapabilities:
        reply = self.command("CAPA")
        if not reply.startswith("+OK"):
            return MailCapabilities(
                over_tls, error=ProbeError("protocol", f"CAPA refused: {_text(reply)}")
            )
        lines: list[str] = []
        while (line := self.readline()) != ".":
            if len(lines) >= MAX_CAPA_LINES:
                raise _TooLarge(f"a CAPA answer longer than {MAX_CAPA_LINES} lines")
            lines.append(_text(line[1:] if line.startswith("..") else line, 200))
        return MailCapabilities(
            over_tls=over_tls, items=tuple(lines), sasl=pop3_sasl(lines),
            starttls=pop3_has(lines, "STLS"), user=pop3_has(lines, "USER"),
        )

    def stls(self, wrap: Callable[[socket.socket], ssl.SSLSocket]) -> StartTls:
        reply = self.command("STLS")
        if not reply.startswith("+OK"):
            return StartTls(True, True, False, _text(reply),
                            ProbeError("protocol", "the server refused STLS"))
        if self._buffer:
            # Bytes sent before the handshake would be read as if inside TLS.
            raise _Protocol("the server sent data after +OK to STLS, before the TLS handshake")
        try:
            self._sock.settimeout(self._budget.timeout())
            self._sock = wrap(self._sock)
        except Exception as exc:  # noqa: BLE001
            return StartTls(True, True, False, _text(reply), _error(exc))
        assert isinstance(self._sock, ssl.SSLSocket)
        self._transcript.tls = _tls_facts(self._sock)
        return StartTls(True, True, True, _text(reply))

    def ntlm_challenge(self) -> NtlmChallenge:
        over_tls = isinstance(self._sock, ssl.SSLSocket)
        reply = self.command("AUTH NTLM")
        # "+ " per RFC 5034; Exchange 2003 answers "+OK" and then takes the Type-1 all the same.
        if not reply.startswith("+"):
            return NtlmChallenge(over_tls, None, _text(reply),
                                 ProbeError("protocol", "AUTH NTLM refused"))
        self.send(NTLM_NEGOTIATE)
        reply = self.readline()
        challenge = reply[1:].strip() if reply.startswith("+") and not reply.startswith("+OK") else ""
        self.send("*")
        self.readline()  # -ERR: authentication cancelled
        if not challenge:
            return NtlmChallenge(over_tls, None, _text(reply),
                                 ProbeError("protocol", "no NTLM challenge after the Type-1"))
        return NtlmChallenge(over_tls, challenge[:MAX_CHALLENGE_CHARS], _text(reply, 80))

    def quit(self) -> None:
        try:
            self.command("QUIT")
        except (OSError, _Protocol, _TooLarge):
            pass


# --------------------------------------------------------------------------- IMAP4 via imaplib2


class _Imap(imaplib2.IMAP4):  # type: ignore[misc]
    """imaplib2's IMAP4 on a socket casaudit connected, with every read bounded.

    imaplib2 runs a reader, a writer and a handler thread per connection and
    aborts a command when no line arrives within `timeout`. It has no bound on
    bytes or line length, and connects by name itself; so `open` adopts the
    socket the probe connected through the scan's resolver, `read` counts bytes
    against the budget and enforces the deadline (a server dribbling lines
    never holds the probe), `send` records each line (tag stripped), and
    `ssl_wrap_socket` uses the probe's unverified context with the host name
    for SNI. `_get_capabilities` and `_put_response` are hooked to record the
    greeting and each capability list as they arrive, even when imaplib2 then
    gives up on the server.
    """

    def __init__(
        self, sock: socket.socket, host: str, timeout: float, budget: _Budget,
        transcript: _Transcript, tls_context: ssl.SSLContext, *, tls_from_start: bool,
    ) -> None:
        self._adopted = sock
        self._budget = budget
        self._transcript = transcript
        self._tls_context = tls_context
        self._in_tls = tls_from_start
        self._upgrade_reply: str | None = None
        #: A failed STARTTLS leaves the stream in an unknown state: no LOGOUT then.
        self._broken = False
        self._last_line = b""
        self._seen_bytes = False
        super().__init__(host=host, port=0, timeout=timeout, debug=0, identifier="casaudit-imap")

    # -- imaplib2's overridable I/O ------------------------------------------------

    def open(self, host: str | None = None, port: int | None = None) -> None:
        self.host, self.port = host, port
        self.sock = self._adopted
        self.read_fd = self.sock.fileno()

    def read(self, size: int) -> bytes:
        try:
            self.sock.settimeout(self._budget.timeout())
            data: bytes = self.sock.recv(size)
            if isinstance(self.sock, ssl.SSLSocket):
                # Records already decrypted do not wake poll(): drain them now.
                while self.sock.pending() and len(data) < MAX_LINE_BYTES:
                    data += self.sock.recv(self.sock.pending())
            self._budget.spend(len(data))
            if data:
                self._transcript.heard = time.monotonic()
            if not self._seen_bytes and not self._in_tls and data.startswith(TLS_RECORD_STARTS):
                raise _Protocol(_TLS_WHERE_CLEARTEXT)
            self._seen_bytes = self._seen_bytes or bool(data)
            return data
        except BaseException as exc:
            if not self.Terminate:
                # Once imaplib2 is shutting the connection down itself, a read failing on
                # the closed socket (EBADF) says nothing about the server.
                self._transcript.cause = self._transcript.cause or exc
            raise

    def send(self, data: bytes) -> None:
        for line in data.split(b"\r\n"):
            if line:
                tag, _, rest = line.partition(b" ")
                shown = rest if tag.startswith(self.tagpre) and rest else line
                self._transcript.record_sent(_text(shown))
        self.sock.sendall(data)

    def ssl_wrap_socket(self) -> None:
        self._upgrade_reply = self._reply()  # the OK to STARTTLS, before TLS replaces the stream
        self.sock.settimeout(self._budget.timeout())
        self.sock = self._tls_context.wrap_socket(self.sock, server_hostname=self.host)
        self.read_fd = self.sock.fileno()
        self._in_tls = True
        self._transcript.tls = _tls_facts(self.sock)

    def _mesg(self, s: str, tn: str | None = None, secs: float | None = None) -> None:
        # imaplib2 dumps its "last log messages" to stderr on errors even at debug 0:
        # server bytes must never reach a terminal unescaped.
        pass

    # -- hooks that record as the dialogue goes -------------------------------------

    def _put_response(self, resp: bytes) -> None:
        if self._transcript.greeting is None:
            self._transcript.greeting = _text(resp)
        self._last_line = resp
        super()._put_response(resp)

    def _get_capabilities(self) -> None:
        try:
            _, data = self.capability()
            if data == [None]:
                raise self.error("no CAPABILITY response from server")
            # imaplib2 decodes the listing as strict ASCII, so one stray byte from the
            # server (invalid UTF-8, Latin-1) aborted the whole dialogue with a
            # UnicodeDecodeError; such bytes become U+FFFD instead.
            self.capabilities = tuple(bytes(data[-1]).decode("ascii", "replace").upper().split())
        except Exception as exc:
            self._transcript.capabilities(MailCapabilities(self._in_tls, error=self.failure(exc)))
            raise
        items = tuple(str(item)[:200] for item in self.capabilities[:MAX_CAPA_LINES])
        self._transcript.capabilities(MailCapabilities(
            over_tls=self._in_tls, items=items, sasl=imap_sasl(items),
            starttls="STARTTLS" in items, logindisabled="LOGINDISABLED" in items,
        ))

    # -- the steps the probe takes ---------------------------------------------------

    def _reply(self) -> str:
        """The last line received, tag stripped, bounded."""
        tag, _, rest = self._last_line.partition(b" ")
        return _text(rest if tag.startswith(self.tagpre) else self._last_line)

    def upgrade(self) -> StartTls:
        try:
            self.starttls()
        except Exception as exc:  # noqa: BLE001 - a failed upgrade is evidence
            self._broken = True
            return StartTls(True, True, False, self._upgrade_reply or self._reply(), self.failure(exc))
        return StartTls(True, True, True, self._upgrade_reply or "")

    def ntlm_challenge(self) -> NtlmChallenge:
        """`AUTHENTICATE NTLM`, the fixed Type-1, then `*` as soon as the Type-2 arrives."""
        steps = _NtlmSteps()
        # imaplib2 calls a bound method set as `literal` for each continuation.
        self.literal = steps.answer
        error: ProbeError | None = None
        try:
            self._simple_command("AUTHENTICATE", "NTLM")
        except Exception as exc:  # noqa: BLE001 - the cancelled exchange ends in BAD/NO
            if steps.challenge is None:
                error = self.failure(exc)
        finally:
            self._release_state_change()
        challenge = _text(steps.challenge, MAX_CHALLENGE_CHARS) if steps.challenge else None
        if not challenge:
            return NtlmChallenge(self._in_tls, None, self._reply(),
                                 error or ProbeError("protocol", "no NTLM challenge after the Type-1"))
        return NtlmChallenge(self._in_tls, challenge, "+ " + challenge[:78])

    def failure(self, exc: BaseException) -> ProbeError:
        """Why the dialogue broke: the socket-level cause when the reader saw one."""
        return _imap_error(self._transcript, exc, self._budget.step)

    def finish(self) -> None:
        """LOGOUT when the session still stands, then stop imaplib2's threads."""
        try:
            if not self.Terminate and not self._broken:
                self.logout()
            else:
                self._close_threads()
        except Exception:  # noqa: BLE001 - the port's evidence is already complete
            try:
                self._close_threads()
            except Exception:  # noqa: BLE001
                pass


class _NtlmSteps:
    """Answers the server's continuations: the Type-1 first, then `*` (RFC 3501 6.2.2)."""

    def __init__(self) -> None:
        self.count = 0
        self.challenge: bytes | None = None

    def answer(self, data: bytes | None, request: object) -> bytes | None:
        self.count += 1
        if self.count == 1:
            return NTLM_NEGOTIATE.encode("ascii")
        if self.count == 2:
            self.challenge = data or b""
        # Cancel; stop answering a server that keeps asking (imaplib2 then times out).
        return b"*" if self.count <= MAX_SASL_STEPS else None
