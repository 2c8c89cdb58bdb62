"""Reading what POP3 and IMAP4 servers say: greetings, capability lists, USER replies.

Pure functions over untrusted text (no I/O), shared by the mail probe (to
record what it saw) and the `mail.*` checks. Every input is treated as hostile:
lengths are capped before any regular expression runs, and the expressions are
anchored and linear.

Known wordings come from EXCHANGE-FACTS.md section 9 (nmap's service probes,
MailKit protocol logs, Set-ImapSettings/Set-PopSettings defaults) and from
dovecot's source (`AUTH_PLAINTEXT_DISABLED_MSG`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

#: Longest greeting or reply line any parser here looks at.
MAX_LINE_CHARS = 1024


@dataclass(frozen=True)
class BannerProduct:
    """The product a POP3/IMAP4 greeting names, for CAS-15 and version identification.

    Attributes:
        product: e.g. `Microsoft Exchange Server 2007`, `Microsoft Exchange`, `Dovecot`.
        release: the Exchange release family the wording belongs to (`2000`, `2003`,
            `2007`, `2010 or later`), else None.
        version: a version number the greeting carries (`6.5.7638.1`), else None.
        host: a host name the greeting names (Exchange 2000/2003), else None.
        form: which known greeting form matched, in words.
    """

    product: str
    release: str | None = None
    version: str | None = None
    host: str | None = None
    form: str = ""


_STATUS = r"^(?:\*\s+OK|\+OK)\s+(?:\[[^\]]{0,400}\]\s*)?"
_EXCHANGE_OLD = re.compile(
    _STATUS + r"Microsoft Exchange (?P<edition>2000|Server 2003) (?P<proto>IMAP4rev1|POP3) server "
    r"version (?P<version>\d+(?:\.\d+){1,3}) \((?P<host>[^)\s]{1,253})\) ready",
    re.IGNORECASE,
)
_EXCHANGE_2007 = re.compile(
    _STATUS + r"Microsoft Exchange Server 2007 (?P<proto>IMAP4|POP3) service ready", re.IGNORECASE
)
_EXCHANGE_DEFAULT = re.compile(
    _STATUS + r"The Microsoft Exchange (?P<proto>IMAP4|POP3) service is ready\.?"
    r"(?P<online>\s+\[[A-Za-z0-9+/=]{4,400}\])?",
    re.IGNORECASE,
)
_DOVECOT = re.compile(_STATUS + r"Dovecot(?P<distro> \([^)]{1,40}\))? ready", re.IGNORECASE)
#: Other server software whose name commonly appears in greetings.
_OTHER_PRODUCTS = (
    "Cyrus", "Courier", "Zimbra", "hMailServer", "MDaemon", "Kerio", "IceWarp", "Qpopper",
    "Dovecot", "Microsoft Exchange", "Lotus Domino", "Communigate", "Zarafa", "Kopano",
    "SmarterMail", "Axigen", "Gordano", "Stalwart", "UW IMAP",
)
_VERSION = re.compile(r"\b(?:v|version\s+)?(\d{1,4}\.\d{1,4}(?:\.\d{1,6}){0,2})\b", re.IGNORECASE)


def identify_banner(greeting: str | None) -> BannerProduct | None:
    """The product (and version) a greeting names, or None when it names neither."""
    if not greeting:
        return None
    text = greeting[:MAX_LINE_CHARS]
    if match := _EXCHANGE_OLD.match(text):
        edition = match["edition"]
        release = "2000" if edition == "2000" else "2003"
        return BannerProduct(
            product=f"Microsoft Exchange {edition}", release=release, version=match["version"],
            host=match["host"], form=f"Exchange {release} {match['proto']} banner with version and host",
        )
    if match := _EXCHANGE_2007.match(text):
        return BannerProduct(
            product="Microsoft Exchange Server 2007", release="2007",
            form=f"Exchange 2007 {match['proto']} banner",
        )
    if match := _EXCHANGE_DEFAULT.match(text):
        online = " with the Exchange Online server tag" if match["online"] else ""
        return BannerProduct(
            product="Microsoft Exchange", release="2010 or later",
            form=f"Exchange 2010+ default {match['proto']} banner{online}",
        )
    if match := _DOVECOT.match(text):
        distro = match["distro"].strip(" ()") if match["distro"] else None
        return BannerProduct(
            product="Dovecot", form="dovecot default greeting" + (f" ({distro} build)" if distro else ""),
        )
    lowered = text.lower()
    product = next((name for name in _OTHER_PRODUCTS if name.lower() in lowered), None)
    version_match = _VERSION.search(text)
    if product is None and version_match is None:
        return None
    return BannerProduct(
        product=product or "unrecognised software",
        version=version_match.group(1) if version_match else None,
        form="greeting names " + ("a product" if product else "a version number"),
    )


# --------------------------------------------------------------------------- capabilities


def imap_sasl(capabilities: Iterable[str]) -> tuple[str, ...]:
    """`AUTH=PLAIN AUTH=NTLM` -> ("PLAIN", "NTLM"), upper-cased, in order, no repeats."""
    found = [c[5:].upper() for c in capabilities if c.upper().startswith("AUTH=") and len(c) > 5]
    return tuple(dict.fromkeys(found))


def pop3_sasl(capa_lines: Iterable[str]) -> tuple[str, ...]:
    """CAPA's `SASL GSSAPI PLAIN` line(s) -> ("GSSAPI", "PLAIN")."""
    found: list[str] = []
    for line in capa_lines:
        words = line.split()
        if words and words[0].upper() == "SASL":
            found += [word.upper() for word in words[1:]]
    return tuple(dict.fromkeys(found))


def pop3_has(capa_lines: Iterable[str], name: str) -> bool:
    """Whether CAPA lists the capability `name` (its first word), case-insensitively."""
    wanted = name.upper()
    return any(line.split()[:1] == [wanted] for line in (x.upper() for x in capa_lines))


#: SASL mechanisms that carry a reusable password (RFC 4616 PLAIN, draft LOGIN).
CLEARTEXT_SASL = frozenset({"PLAIN", "LOGIN"})


# --------------------------------------------------------------------------- POP3 USER replies


@dataclass(frozen=True)
class UserReply:
    """How a POP3 server took `USER <name>` before TLS."""

    outcome: str  # accepted | refused_tls_required | refused_unknown | no_answer
    wording: str | None = None


#: (who says it, pattern) for refusals that mean "not before TLS". Searched, case-insensitive.
KNOWN_TLS_REFUSALS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # dovecot: "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
    ("dovecot", re.compile(r"plaintext authentication (?:is )?disallowed", re.IGNORECASE)),
    # Exchange 2007-SE with LoginType SecureLogin: USER before STLS is refused as out of state.
    ("exchange", re.compile(r"^-ERR Command is not valid in this state\.?$", re.IGNORECASE)),
    # RFC 5530-style response code some servers (Cyrus, Kopano, Stalwart) send.
    ("privacyrequired", re.compile(r"\[PRIVACYREQUIRED\]", re.IGNORECASE)),
    # Gordano, Courier and others.
    ("starttls-first", re.compile(r"must (?:issue|use) (?:a |the )?(?:STARTTLS|STLS)", re.IGNORECASE)),
    ("tls-required", re.compile(
        r"\b(?:SSL|TLS|encryption|secure connection)\b[^.]{0,40}\brequired\b"
        r"|\brequires? (?:an? )?(?:SSL|TLS|encrypted|secure)", re.IGNORECASE)),
)


def classify_user_reply(reply: str | None) -> UserReply:
    """Classify the answer to `USER <made-up name>` sent before TLS.

    `+OK` means the server waits for a password in clear. A known "TLS first"
    wording is a refusal; any other `-ERR` stays `refused_unknown`, kept
    verbatim by the caller, and is never read as proof that TLS is required.
    """
    if reply is None:
        return UserReply("no_answer")
    text = reply[:MAX_LINE_CHARS].strip()
    if text.upper().startswith("+OK"):
        return UserReply("accepted")
    if text.upper().startswith("-ERR"):
        for who, pattern in KNOWN_TLS_REFUSALS:
            if pattern.search(text):
                return UserReply("refused_tls_required", who)
        return UserReply("refused_unknown")
    return UserReply("refused_unknown")
