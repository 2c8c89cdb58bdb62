"""Which Windows Server an Exchange host runs, from the Windows version its NTLM challenge discloses.

Pure: no I/O beyond reading casaudit's own ``casaudit/data/windows-server-lifecycle.csv``
(each row names its sources: Microsoft's lifecycle page for the dates, Microsoft's
version tables for the major.minor.build), no clock.

An anonymous NTLM NEGOTIATE (HTTP ``WWW-Authenticate: NTLM``, IMAP4 ``AUTHENTICATE
NTLM``, POP3 ``AUTH NTLM``) draws a CHALLENGE whose VERSION field is the server's
Windows major.minor.build (MS-NLMP 2.2.2.10). Client editions share those numbers
(6.1.7601 is also Windows 7 SP1, 10.0.14393 also Windows 10 1607); on a host that
answers as Exchange they are the server edition, since Exchange installs only there.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from importlib import resources

from casaudit.evidence.base import EvidenceSet
from casaudit.evidence.mail import MailEvidence
from casaudit.evidence.ntlm import NtlmEvidence
from casaudit.identify import origin_of
from casaudit.parse.ntlm import NtlmError, WindowsVersion, decode_challenge_b64

#: Schannel offers TLS 1.3 from Windows Server 2022 (10.0.20348) on.
FIRST_TLS13_BUILD = (10, 0, 20348)


@dataclass(frozen=True)
class WindowsServer:
    """One row of the table: a Windows build and its support dates."""

    version: tuple[int, int, int]
    product: str
    mainstream_end: date
    extended_end: date
    lifecycle_source: str
    version_source: str

    @property
    def offers_tls13(self) -> bool:
        return self.version >= FIRST_TLS13_BUILD


def parse_table(text: str) -> dict[tuple[int, int, int], WindowsServer]:
    rows = {}
    for record in csv.DictReader(io.StringIO(text)):
        major, minor, build = (int(part) for part in record["os_version"].split("."))
        rows[(major, minor, build)] = WindowsServer(
            (major, minor, build), record["product"],
            date.fromisoformat(record["mainstream_end"]), date.fromisoformat(record["extended_end"]),
            record["lifecycle_source"], record["version_source"],
        )
    return rows


@cache
def table() -> dict[tuple[int, int, int], WindowsServer]:
    """The table shipped in casaudit/data (read once per process)."""
    data = resources.files("casaudit") / "data" / "windows-server-lifecycle.csv"
    return parse_table(data.read_text(encoding="utf-8"))


def lookup(version: WindowsVersion) -> WindowsServer | None:
    """The Windows Server of a disclosed version, None when the table does not list it."""
    return table().get((version.major, version.minor, version.build))


@dataclass(frozen=True)
class Disclosure:
    """A Windows version one NTLM challenge disclosed, and where."""

    version: WindowsVersion
    #: The origin (scheme://host:port) whose challenge carried it.
    endpoint: str
    #: What was sent to draw it, for `observed` sentences.
    how: str
    evidence_id: str
    #: Day of the probe, from the evidence (never the clock).
    seen_on: date | None


def disclosures(evidence: EvidenceSet, host: str) -> list[Disclosure]:
    """Every Windows version the NTLM challenges of `host` disclosed, HTTPS first."""
    found: list[Disclosure] = []
    for item in evidence.of(NtlmEvidence):
        challenge = item.challenge
        if item.host == host and challenge is not None and challenge.os_version is not None:
            found.append(Disclosure(
                challenge.os_version, origin_of(item.endpoint),
                f"GET {item.endpoint} with an anonymous NTLM NEGOTIATE", item.id,
                _day(item.started_at),
            ))
    for mail in evidence.of(MailEvidence):
        if mail.host != host or mail.ntlm is None or mail.ntlm.challenge is None:
            continue
        try:
            version = decode_challenge_b64(mail.ntlm.challenge).os_version
        except NtlmError:
            continue  # exchange.ntlm_info_disclosure reports the undecodable token
        if version is not None:
            command = "AUTHENTICATE NTLM" if mail.protocol == "imap" else "AUTH NTLM"
            found.append(Disclosure(version, mail.endpoint, f"{command} on {mail.endpoint}",
                                    mail.id, _day(mail.started_at)))
    return sorted(found, key=lambda d: not d.endpoint.startswith("https://"))



def _day(text: str) -> date | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        return None
