"""Lab TLS served by tlslite-ng: the protocol versions and suites OpenSSL 3 dropped.

Debian's OpenSSL 3 no longer implements SSL 3.0 or RC4 (and refuses 3DES at
any security level above 0), yet Exchange 2007 and 2010 on Windows Server
2003/2008 accepted all three by default. A posture's ``[tls.tlslite]`` table
hands chosen listeners to tlslite-ng, a pure-Python TLS stack that still speaks
them, with the lab's own certificate chain and key.

`TlsliteContext` offers the one method of `ssl.SSLContext` the lab's listeners
call (``wrap_socket(sock, server_side=True, do_handshake_on_connect=...)``) and
`TlsliteSocket` the part of `ssl.SSLSocket` they use (``do_handshake``,
``recv``, ``sendall``, ``makefile``...), so the HTTP and mail servers serve
either stack; tlslite's errors surface as `ssl.SSLError`, which they already
handle.

Bounds, since tlslite is slow and its handshake is pure Python: a handshake must
finish within `HANDSHAKE_SECONDS` in all (checked on every socket read and
write, so a client dribbling bytes cannot stretch it), and a listener serves at
most `MAX_CONNECTIONS` clients at once (`connection_slots`).

tlslite-ng is imported only when a posture asks for it.
"""

from __future__ import annotations

import io
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any, cast

from casaudit.lab.posture import TlsliteSettings

HANDSHAKE_SECONDS = 10.0
#: Clients one tlslite listener serves at once; more wait in the accept backlog.
MAX_CONNECTIONS = 64

#: Posture version names -> tlslite's (major, minor).
_VERSIONS = {"SSLv3": (3, 0), "TLSv1": (3, 1), "TLSv1.1": (3, 2), "TLSv1.2": (3, 3)}


def _load() -> None:
    """Import tlslite-ng once, without the asyncore deprecation its package __init__ triggers."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import tlslite  # noqa: F401


def suite_ids(names: Sequence[str]) -> tuple[int, ...]:
    """tlslite's ids for IANA suite names, in order; ValueError for one it cannot serve here.

    The lab's key is RSA, so only suites authenticated by an RSA certificate qualify.
    """
    _load()
    from tlslite.constants import CipherSuite

    by_name = {name: number for number, name in CipherSuite.ietfNames.items()}
    usable = set(CipherSuite.certSuites + CipherSuite.dheCertSuites + CipherSuite.ecdheCertSuites)
    ids = []
    for name in names:
        if name not in by_name:
            raise ValueError(f"{name!r} is not a cipher suite tlslite-ng knows")
        if by_name[name] not in usable:
            raise ValueError(f"{name!r} is not a suite for an RSA certificate in tlslite-ng")
        ids.append(by_name[name])
    return tuple(ids)


def _handshake_settings(settings: TlsliteSettings) -> Any:
    """Everything tlslite can do for an RSA certificate in the version range; the suite
    list then narrows it (`_connection_class`)."""
    _load()
    from tlslite.handshakesettings import HandshakeSettings

    low, high = _VERSIONS[settings.min_version], _VERSIONS[settings.max_version]
    wanted = HandshakeSettings()
    wanted.minVersion = low
    wanted.maxVersion = high
    wanted.versions = [v for v in sorted(_VERSIONS.values(), reverse=True) if low <= v <= high]
    wanted.cipherNames = ["aes256gcm", "aes128gcm", "aes256", "aes128", "3des", "rc4"]
    wanted.macNames = ["sha", "sha256", "sha384", "md5", "aead"]
    wanted.keyExchangeNames = ["rsa", "dhe_rsa", "ecdhe_rsa"]
    wanted.use_heartbeat_extension = False
    return wanted.validate()


@cache
def _connection_class() -> type:
    """TLSConnection that accepts only the posture's suites, in the posture's order.

    tlslite accepts every suite its cipher, MAC and key exchange names combine to,
    ECDHE ones in SSL 3.0 included (RFC 4492 defines them for TLS only, and Schannel,
    like every real server, never negotiates them there). Its server chooses the
    suite from the list handed to `_server_select_certificate`, in that list's order:
    narrowing and ordering that list is what makes the lab answer like the server it
    stands for. A tlslite-ng without that method fails here, not silently. Heartbeats
    stay off, as in Schannel.
    """
    _load()
    from tlslite.constants import CipherSuite
    from tlslite.tlsconnection import TLSConnection

    if not callable(getattr(TLSConnection, "_server_select_certificate", None)):
        raise RuntimeError("this tlslite-ng has no _server_select_certificate to narrow suites")
    elliptic = set(CipherSuite.ecdhAllSuites)

    class Connection(TLSConnection):  # type: ignore[misc, valid-type]
        allowed: tuple[int, ...] = ()

        # Schannel never implemented heartbeats (RFC 6520): a heartbeat record is an
        # unexpected message, answered with a fatal alert. tlslite turns heartbeats on
        # whenever a client offers them, and then silently drops the malformed request
        # sslyze's Heartbleed test sends, which leaves that test waiting for its timeout.
        @property
        def heartbeat_supported(self) -> bool:
            return False

        @heartbeat_supported.setter
        def heartbeat_supported(self, value: bool) -> None:
            pass

        def _server_select_certificate(self, settings: Any, client_hello: Any, cipher_suites: Any,
                                       cert_chain: Any, private_key: Any, version: Any) -> Any:
            possible = set(cipher_suites)
            narrowed = [suite for suite in self.allowed if suite in possible
                        and not (tuple(version) == (3, 0) and suite in elliptic)]
            return super()._server_select_certificate(
                settings, client_hello, narrowed, cert_chain, private_key, version)

    return Connection


class TlsliteContext:
    """Server-side tlslite-ng settings plus the lab's chain and key, shared by a listener."""

    max_connections = MAX_CONNECTIONS

    def __init__(self, settings: TlsliteSettings, chain_file: Path, key_file: Path) -> None:
        _load()
        from tlslite.utils.keyfactory import parsePEMKey
        from tlslite.x509certchain import X509CertChain

        self.settings = settings
        self._suites = suite_ids(settings.suites)
        self._handshake = _handshake_settings(settings)
        self._chain = X509CertChain()
        self._chain.parsePemList(chain_file.read_text(encoding="ascii"))
        self._key = parsePEMKey(key_file.read_text(encoding="ascii"), private=True)

    def wrap_socket(
        self, sock: socket.socket, server_side: bool = True, do_handshake_on_connect: bool = True
    ) -> TlsliteSocket:
        if not server_side:
            raise ValueError("the lab's tlslite stack serves only")
        wrapped = TlsliteSocket(sock, self)
        if do_handshake_on_connect:
            wrapped.do_handshake()
        return wrapped

    def connection(self, sock: object) -> Any:
        connection = _connection_class()(sock)
        connection.allowed = self._suites
        return connection

    def handshake(self, connection: Any) -> None:
        connection.handshakeServer(certChain=self._chain, privateKey=self._key,
                                   settings=self._handshake)


class _DeadlineSocket:
    """The raw socket as tlslite sees it: each read or write also bounded by a deadline."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.deadline: float | None = None
        self._timeout = sock.gettimeout()

    def _bound(self) -> None:
        if self.deadline is None:
            return
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"TLS handshake not finished within {HANDSHAKE_SECONDS:g} s")
        self.sock.settimeout(remaining if self._timeout is None else min(remaining, self._timeout))

    def recv(self, size: int) -> bytes:
        self._bound()
        return self.sock.recv(size)

    def send(self, data: bytes) -> int:
        self._bound()
        return self.sock.send(data)

    def sendall(self, data: bytes) -> None:
        self._bound()
        self.sock.sendall(data)

    def settimeout(self, value: float | None) -> None:
        self._timeout = value
        self.sock.settimeout(value)

    def gettimeout(self) -> float | None:
        return self._timeout

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


class TlsliteSocket:
    """A server-side tlslite connection that behaves like the `ssl.SSLSocket` the lab uses."""

    def __init__(self, sock: socket.socket, context: TlsliteContext) -> None:
        self._raw = sock
        # tlslite writes each record with its own send(): without this, Nagle holds a
        # response's second record until the client's delayed ACK (40 ms on Linux).
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        self._context = context
        self._bounded = _DeadlineSocket(sock)
        self._tls = context.connection(self._bounded)
        # A client hanging up without close_notify is how most clients leave: end of stream.
        self._tls.ignoreAbruptClose = True
        self._handshaken = False

    def do_handshake(self) -> None:
        self._bounded.deadline = time.monotonic() + HANDSHAKE_SECONDS
        try:
            with _as_ssl_errors():
                self._context.handshake(self._tls)
        finally:
            self._bounded.deadline = None
            try:
                self._bounded.settimeout(self._bounded.gettimeout())
            except OSError:
                pass  # tlslite closed the socket on a failed handshake
        self._handshaken = True

    def version(self) -> str | None:
        """``SSLv3``, ``TLSv1``... as `ssl.SSLSocket.version` names them."""
        if not self._handshaken:
            return None
        return {(3, 0): "SSLv3", (3, 1): "TLSv1", (3, 2): "TLSv1.1", (3, 3): "TLSv1.2",
                (3, 4): "TLSv1.3"}.get(tuple(self._tls.version))

    def cipher_name(self) -> str | None:
        """tlslite's name of the negotiated cipher (``rc4``, ``3des``, ``aes128``...)."""
        return str(self._tls.getCipherName()) if self._handshaken else None

    def recv(self, size: int) -> bytes:
        with _as_ssl_errors():
            return bytes(self._tls.read(max=size, min=1))

    def recv_into(self, buffer: Any, size: int = 0) -> int:
        data = self.recv(size or len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def send(self, data: bytes) -> int:
        self.sendall(data)
        return len(data)

    def sendall(self, data: bytes) -> None:
        with _as_ssl_errors():
            self._tls.write(bytes(data))

    def makefile(self, mode: str = "r", buffering: int = -1) -> io.BufferedIOBase:
        raw = socket.SocketIO(cast(socket.socket, self), "wb" if "w" in mode else "rb")
        if "w" in mode:
            return io.BufferedWriter(raw)
        return io.BufferedReader(raw)

    def _decref_socketios(self) -> None:
        """SocketIO calls this when a file from makefile() closes; close() does the work."""

    def settimeout(self, value: float | None) -> None:
        self._bounded.settimeout(value)

    def gettimeout(self) -> float | None:
        return self._bounded.gettimeout()

    def setsockopt(self, *args: Any) -> None:
        self._raw.setsockopt(*args)

    def getpeername(self) -> Any:
        return self._raw.getpeername()

    def getsockname(self) -> Any:
        return self._raw.getsockname()

    def fileno(self) -> int:
        return self._raw.fileno()

    def shutdown(self, how: int) -> None:
        """The plain socket's shutdown: wakes a thread blocked reading, sends no alert."""
        self._raw.shutdown(how)

    def close(self) -> None:
        try:
            if self._handshaken:
                self._raw.settimeout(1.0)
                self._tls.close()  # close_notify, then the socket; never waits for the peer's
        except Exception:  # noqa: BLE001 - the peer is gone: nothing left to tell it
            pass
        finally:
            self._raw.close()


@contextmanager
def _as_ssl_errors() -> Iterator[None]:
    """tlslite's exceptions as `ssl.SSLError`, which the lab's servers already handle."""
    _load()
    from tlslite.errors import BaseTLSException

    try:
        yield
    except BaseTLSException as exc:
        raise ssl.SSLError(f"tlslite-ng: {type(exc).__name__}: {exc}") from None


def connection_slots(context: object) -> threading.BoundedSemaphore | None:
    """The semaphore bounding a listener's concurrent clients, for the stacks that need one."""
    limit = getattr(context, "max_connections", None)
    return threading.BoundedSemaphore(limit) if isinstance(limit, int) else None


def wake(connection: object) -> None:
    """Shut a live connection's socket down so its reader returns, whatever the TLS stack."""
    try:
        if isinstance(connection, TlsliteSocket):
            connection.shutdown(socket.SHUT_RDWR)
        else:
            # The plain-socket shutdown, even for an SSLSocket: it only wakes the reader.
            socket.socket.shutdown(cast(socket.socket, connection), socket.SHUT_RDWR)
    except OSError:
        pass


__all__ = ["HANDSHAKE_SECONDS", "MAX_CONNECTIONS", "TlsliteContext", "TlsliteSocket",
           "connection_slots", "suite_ids", "wake"]
