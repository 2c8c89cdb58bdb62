"""What the mail probe observed on a POP3 or IMAP4 port, as bounded, typed evidence.

One `MailEvidence` per port (110, 995, 143, 993 or their overrides). Every string
in it came from the server and is untrusted: render it escaped. Nothing here is
a judgement; the `mail.*` checks judge. The TLS of these ports is the TLS
probe's business (certificates, versions offered); this evidence keeps only the
connection facts of the session the mail probe itself negotiated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from casaudit.evidence.base import ProbeError, settle
from casaudit.parse.mail import BannerProduct


@dataclass(frozen=True)
class MailCapabilities:
    """One capability listing: IMAP `CAPABILITY` or POP3 `CAPA`.

    Attributes:
        over_tls: True when read inside TLS (after STARTTLS/STLS or on an implicit-TLS port).
        items: the capability tokens (IMAP, upper-cased) or CAPA lines (POP3), bounded.
        sasl: the SASL mechanisms offered (IMAP `AUTH=X`, POP3 `SASL X Y`), upper-cased.
        starttls: STARTTLS (IMAP) or STLS (POP3) is listed.
        logindisabled: IMAP `LOGINDISABLED` is listed (always False for POP3).
        user: POP3 `USER` is listed (always False for IMAP).
        error: why no listing came back (the server refused the command, or broke off).
    """

    over_tls: bool
    items: tuple[str, ...] = ()
    sasl: tuple[str, ...] = ()
    starttls: bool = False
    logindisabled: bool = False
    user: bool = False
    error: ProbeError | None = None


@dataclass(frozen=True)
class StartTls:
    """The upgrade of a cleartext port to TLS (IMAP STARTTLS, POP3 STLS).

    Attributes:
        offered: the capability listing before TLS names it.
        attempted: casaudit sent the command (only when offered).
        ok: the server agreed and the TLS handshake completed.
        reply: the server's answer to the command, bounded (untrusted text).
        error: why the upgrade failed (refused command, handshake failure, timeout).
    """

    offered: bool
    attempted: bool = False
    ok: bool = False
    reply: str = ""
    error: ProbeError | None = None


@dataclass(frozen=True)
class TlsSession:
    """The TLS session the mail probe negotiated: connection facts only, never judged here.

    Certificates are not verified by this probe; the TLS probe assesses them.
    """

    version: str | None
    cipher: str | None


class LoginOutcome(StrEnum):
    """How a POP3 server took `USER <made-up name>` before TLS (see `CleartextLoginTest`)."""

    ACCEPTED = "accepted"
    REFUSED_TLS_REQUIRED = "refused_tls_required"
    REFUSED_UNKNOWN = "refused_unknown"
    NO_ANSWER = "no_answer"


class Reachability(StrEnum):
    """What the connection attempt to a mail port showed (see `MailEvidence`)."""

    OPEN = "open"
    #: The port is closed: evidence.
    REFUSED = "refused"
    #: No answer to the connection attempt: nothing is known.
    FILTERED = "filtered"
    UNREACHABLE = "unreachable"
    ERROR = "error"


@dataclass(frozen=True)
class CleartextLoginTest:
    """POP3 only: `USER <made-up name>` before TLS, and how the server took it.

    No password is ever sent: after the reply casaudit closes the session.

    Attributes:
        command: the line sent, e.g. `USER casaudit-probe`.
        reply: the server's answer, bounded (untrusted text).
        outcome: `accepted` (+OK: the server waits for the password in clear),
            `refused_tls_required` (a known "use TLS first" refusal),
            `refused_unknown` (another -ERR, kept verbatim), or `no_answer`.
        wording: which known refusal matched (`dovecot`, `exchange`, ...), else None.
        error: set when no reply came.
    """

    command: str
    reply: str
    outcome: LoginOutcome
    wording: str | None = None
    error: ProbeError | None = None

    def __post_init__(self) -> None:
        settle(self, "outcome", LoginOutcome)


@dataclass(frozen=True)
class NtlmChallenge:
    """`AUTHENTICATE NTLM` / `AUTH NTLM`: a Type-1 sent, the Type-2 kept, then aborted with `*`.

    Attributes:
        over_tls: whether the exchange ran inside TLS.
        challenge: the base64 Type-2 (CHALLENGE_MESSAGE) exactly as received, bounded;
            None when the server sent none. Decoding is `casaudit.parse.ntlm`'s job.
        reply: the server's line that carried (or replaced) the challenge, bounded.
        error: why no challenge came back.
    """

    over_tls: bool
    challenge: str | None
    reply: str = ""
    error: ProbeError | None = None


@dataclass(frozen=True)
class MailEvidence:
    """What one POP3 or IMAP4 port answered.

    Attributes:
        service: `pop3`, `pop3s`, `imap` or `imaps` (the --port service name).
        protocol: `pop3` or `imap`.
        implicit_tls: TLS from the first byte (995, 993) rather than STARTTLS/STLS.
        reachability: `open` (connected), `refused` (closed: evidence), `filtered`
            (no answer to the connection attempt: nothing is known), `unreachable`, `error`.
        peer: the `address:port` connected to.
        greeting: the server's first line, bounded (untrusted text).
        banner: the product the greeting names, when casaudit recognises it.
        capabilities_clear: the listing before TLS (cleartext ports only).
        starttls: the STARTTLS/STLS attempt (cleartext ports only).
        capabilities_tls: the listing inside TLS (after the upgrade, or on implicit TLS).
        tls: the negotiated TLS version and cipher, when TLS was set up.
        login_in_clear: POP3 cleartext ports: the `USER` test (a second connection).
        ntlm: the NTLM challenge exchange, when NTLM was offered.
        sent: every line casaudit sent, in order, tags stripped; never a credential.
        error: the first failure that ended the dialogue early, if any.
    """

    id: str
    endpoint: str
    service: str
    protocol: str
    host: str
    port: int
    implicit_tls: bool
    started_at: str
    finished_at: str
    reachability: Reachability
    peer: str | None = None
    greeting: str | None = None
    banner: BannerProduct | None = None
    capabilities_clear: MailCapabilities | None = None
    starttls: StartTls | None = None
    capabilities_tls: MailCapabilities | None = None
    tls: TlsSession | None = None
    login_in_clear: CleartextLoginTest | None = None
    ntlm: NtlmChallenge | None = None
    sent: tuple[str, ...] = ()
    error: ProbeError | None = None
    kind: str = field(default="mail", init=False)

    def __post_init__(self) -> None:
        settle(self, "reachability", Reachability)

    @property
    def speaks_protocol(self) -> bool:
        """The greeting is the protocol's own: `+OK` for POP3, `* OK`/`* PREAUTH`/`* BYE` for IMAP."""
        greeting = (self.greeting or "").upper()
        if self.protocol == "pop3":
            return greeting.startswith("+OK")
        return greeting.startswith(("* OK", "* PREAUTH", "* BYE"))

    @property
    def is_open(self) -> bool:
        return self.reachability is Reachability.OPEN


__all__ = [
    "CleartextLoginTest", "LoginOutcome", "MailCapabilities", "MailEvidence", "NtlmChallenge",
    "Reachability", "StartTls", "TlsSession",
]
