"""Start and stop a whole lab: certificates, HTTP/HTTPS and mail listeners, DNS.

``Lab.start`` binds every socket on 127.0.0.1 (or another loopback address,
``address=``) port 0 first, then fills the
posture's ``{http_port}``/``{https_port}`` placeholders with the ports the kernel
chose, then starts serving. Sockets listen from the moment they are bound, so
the lab is ready when ``start`` returns. Whatever fails half-way, everything
already started is torn down again: a failed test never leaves a port behind.

A lab also holds one port that is *known closed*: a socket bound on 127.0.0.1
but never listening, so connecting to it is refused for as long as the lab runs.
A scan of the lab points every service the posture does not run at that port
(`LabInstance.target_ports`), so it never probes whatever else listens on
127.0.0.1:110 or :443 of the machine running it.
"""

from __future__ import annotations

import ipaddress
import shutil
import socket
import ssl
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from casaudit.lab.certs import issue_certificates
from casaudit.lab.connections import AcceptedConnection, ConnectionLog
from casaudit.lab.dns_server import DnsServer
from casaudit.lab.http_server import LOOPBACK, HttpListener, RecordedRequest, RequestJournal
from casaudit.lab.mail_server import MailListener, MailRecorder
from casaudit.lab.posture import Posture, TlsSettings, load_posture
from casaudit.lab.tlslite_server import TlsliteContext
from casaudit.plan import DEFAULT_PORTS


@dataclass(frozen=True)
class LabInstance:
    """Where a running lab listens and what a scanner needs to audit it."""

    posture: Posture
    #: The loopback address every listener is bound to.
    address: str
    #: service -> port, only for the listeners the posture opens ("http", "https",
    #: "pop3", "pop3s", "imap", "imaps").
    ports: dict[str, int]
    #: PEM of the lab's own CA: the only certificate that makes its HTTPS verify.
    ca_file: Path
    dns_port: int
    workdir: Path
    #: A port on `address` that refuses every connection while the lab runs.
    closed_port: int
    #: Every line the mail listeners received (service, TLS up, text).
    mail_log: MailRecorder
    #: Every HTTP(S) request the lab answered, with its Authorization header (tests only).
    journal: RequestJournal = field(default_factory=RequestJournal)
    #: Every TCP connection any listener accepted, with its time (tests only).
    connection_log: ConnectionLog = field(default_factory=ConnectionLog)

    def requests(self) -> list[RecordedRequest]:
        return self.journal.entries()

    def connections(self) -> list[AcceptedConnection]:
        """Every connection the lab's HTTP, HTTPS, POP3 and IMAP4 listeners accepted, oldest first."""
        return self.connection_log.entries()

    @property
    def host(self) -> str:
        return self.posture.host

    @property
    def domain(self) -> str:
        return self.posture.domain

    @property
    def names(self) -> tuple[str, ...]:
        """Every name the lab's DNS answers with its address: host, domain, autodiscover, extras."""
        return self.posture.names

    @property
    def dns_server(self) -> str:
        """``ADDR:PORT``, the form ``casaudit scan --dns-server`` takes."""
        return f"{self.address}:{self.dns_port}"

    def url(self, scheme: str, path: str = "/", name: str | None = None) -> str:
        """A URL naming the lab host (or ``name``) on the lab's port for ``scheme``."""
        return f"{scheme}://{name or self.host}:{self.ports[scheme]}{path}"

    def target_ports(self) -> dict[str, int]:
        """Every scan service: the lab's port, or the known-closed port when the lab lacks it."""
        return {service: self.ports.get(service, self.closed_port) for service in DEFAULT_PORTS}

    def scan_args(self) -> list[str]:
        """The arguments after ``casaudit scan`` that audit this lab and nothing else.

        Services the posture does not run point at `closed_port`: a scan of a lab
        without POP3 finds port 110 refused instead of probing the real
        127.0.0.1:110 of the machine.
        """
        args = [self.host]
        for name in self.names:
            args += ["--resolve", f"{name}:{self.address}"]
        for service, port in self.target_ports().items():
            args += ["--port", f"{service}={port}"]
        # SRV (Autodiscover) has no pin: it goes to the lab's DNS, never the system's.
        args += ["--dns-server", self.dns_server]
        args += ["--ca-file", str(self.ca_file)]
        return args


class Lab:
    """A running lab; use it as a context manager so it is always torn down.

    ``with Lab.start("exchange2007-legacy") as lab:`` gives a :class:`LabInstance`.
    """

    def __init__(self, posture: Posture, workdir: Path | None = None, address: str = LOOPBACK) -> None:
        if not ipaddress.ip_address(address).is_loopback:
            raise ValueError(f"the lab binds loopback addresses only, not {address}")
        self._stack = ExitStack()
        self._address = address
        try:
            self.instance = self._open(posture, workdir)
        except BaseException:
            self._stack.close()
            raise

    @classmethod
    def start(
        cls, posture: str | Path | Posture, workdir: Path | None = None, address: str = LOOPBACK
    ) -> Lab:
        """Start serving ``posture``: a shipped name, a posture file, or a Posture.

        ``address``: the loopback address to bind (any of 127.0.0.0/8 on Linux), so that
        several labs can stand for several hosts.
        """
        if not isinstance(posture, Posture):
            posture = load_posture(posture)
        return cls(posture, workdir, address)

    def _open(self, posture: Posture, workdir: Path | None) -> LabInstance:
        if workdir is None:
            workdir = Path(tempfile.mkdtemp(prefix="casaudit-lab-"))
            self._stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        else:
            workdir.mkdir(parents=True, exist_ok=True)
        tls = posture.tls or TlsSettings(names=(posture.host,))
        certificates = issue_certificates(tls, workdir)
        contexts: dict[str, ssl.SSLContext | TlsliteContext] = {}
        if tls.tlslite is not None:
            assert certificates.chain_file is not None and certificates.key_file is not None
            legacy = TlsliteContext(tls.tlslite, certificates.chain_file, certificates.key_file)
            contexts = dict.fromkeys(tls.tlslite.services, legacy)

        listeners: dict[str, HttpListener] = {}
        journal = RequestJournal()
        connections = ConnectionLog()
        for scheme, service in (("http", posture.http), ("https", posture.https)):
            if service is None:
                continue
            context = contexts.get(scheme, certificates.server_context) if scheme == "https" else None
            listener = HttpListener(
                service, context, self._address, posture.ntlm, posture.vhosts, journal, connections
            )
            self._stack.callback(listener.close)
            listeners[scheme] = listener
        recorder = MailRecorder()
        mail: dict[str, MailListener] = {}
        for name, mail_service in posture.mail.items():
            mail_listener = MailListener(
                name, mail_service, contexts.get(name, certificates.server_context), recorder,
                self._address, connections,
            )
            self._stack.callback(mail_listener.close)
            mail[name] = mail_listener
        closed = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._stack.callback(closed.close)
        closed.bind((self._address, 0))  # bound, never listening: connections are refused

        ports = {scheme: listener.port for scheme, listener in listeners.items()}
        ports.update({name: mail_listener.port for name, mail_listener in mail.items()})
        dns = DnsServer(posture, self._address, ports)
        self._stack.callback(dns.close)
        placeholders = {
            "{host}": posture.host,
            "{http_port}": str(ports.get("http", "")),
            "{https_port}": str(ports.get("https", "")),
        }
        for listener in listeners.values():
            listener.serve(placeholders)
        for mail_listener in mail.values():
            mail_listener.serve()
        dns.serve()
        return LabInstance(
            posture=posture,
            address=self._address,
            ports=ports,
            ca_file=certificates.ca_file,
            dns_port=dns.port,
            workdir=workdir,
            closed_port=int(closed.getsockname()[1]),
            mail_log=recorder,
            journal=journal,
            connection_log=connections,
        )

    def close(self) -> None:
        """Stop every thread and close every socket; safe to call twice."""
        self._stack.close()

    def __enter__(self) -> LabInstance:
        return self.instance

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
