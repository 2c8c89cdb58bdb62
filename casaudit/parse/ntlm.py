"""NTLM NEGOTIATE (Type 1) messages out, CHALLENGE (Type 2) messages in.

The Type-2 a server sends to an anonymous Type-1 names its Windows identity:
NetBIOS and DNS domain and computer names, the forest, the OS build. casaudit
reads it from HTTP ``WWW-Authenticate: NTLM <base64>`` and (later) IMAP/POP3
``AUTHENTICATE NTLM``. The bytes are hostile: every offset and length is
checked against the message before use, every count is capped, and the only
exception :func:`decode_challenge` raises is :class:`NtlmError`.

Public API (small on purpose):

* :func:`negotiate_message` -> the Type-1 bytes to send;
* :func:`decode_challenge` ``(blob: bytes) -> NtlmChallenge``;
* :func:`decode_challenge_b64` for the base64 text protocols carry.

Layout: MS-NLMP 2.2.1.2 (CHALLENGE_MESSAGE), 2.2.2.1 (AV_PAIR), 2.2.2.10 (VERSION).
"""

from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

SIGNATURE = b"NTLMSSP\x00"

NEGOTIATE_UNICODE = 0x00000001
NEGOTIATE_OEM = 0x00000002
REQUEST_TARGET = 0x00000004
NEGOTIATE_NTLM = 0x00000200
NEGOTIATE_ALWAYS_SIGN = 0x00008000
NEGOTIATE_EXTENDED_SESSIONSECURITY = 0x00080000
NEGOTIATE_TARGET_INFO = 0x00800000
NEGOTIATE_VERSION = 0x02000000
NEGOTIATE_128 = 0x20000000
NEGOTIATE_56 = 0x80000000

#: What nmap's http-ntlm-info sends: UNICODE|OEM|REQUEST_TARGET|NTLM|ALWAYS_SIGN|ESS|128|56.
NMAP_FLAGS = 0xA0088207

#: Largest challenge decoded; real ones are a few hundred bytes.
MAX_MESSAGE_BYTES = 8192
MAX_AV_PAIRS = 32
MAX_TEXT_CHARS = 256
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)

AV_NAMES = {
    0: "MsvAvEOL",
    1: "MsvAvNbComputerName",
    2: "MsvAvNbDomainName",
    3: "MsvAvDnsComputerName",
    4: "MsvAvDnsDomainName",
    5: "MsvAvDnsTreeName",
    6: "MsvAvFlags",
    7: "MsvAvTimestamp",
    8: "MsvAvSingleHost",
    9: "MsvAvTargetName",
    10: "MsvAvChannelBindings",
}
_TEXT_AV_IDS = frozenset({1, 2, 3, 4, 5, 9})


class NtlmError(ValueError):
    """The bytes are not a well-formed NTLM CHALLENGE message; the text says where."""


def negotiate_message(*, with_version: bool = False) -> bytes:
    """The anonymous Type-1 to send.

    Default: exactly nmap's 32 bytes (flags 0xA0088207, empty domain and
    workstation). ``with_version`` adds NEGOTIATE_VERSION and a VERSION
    structure (6.1.7601, NTLM revision 15, as Metasploit sends): 40 bytes.
    """
    flags = NMAP_FLAGS | (NEGOTIATE_VERSION if with_version else 0)
    message = SIGNATURE + struct.pack("<II", 1, flags) + bytes(16)
    if with_version:
        message += struct.pack("<BBH3xB", 6, 1, 7601, 15)
    return message


def negotiate_b64(*, with_version: bool = False) -> str:
    return base64.b64encode(negotiate_message(with_version=with_version)).decode("ascii")


@dataclass(frozen=True)
class WindowsVersion:
    """VERSION (MS-NLMP 2.2.2.10): the Windows build, "for debugging purposes only"."""

    major: int
    minor: int
    build: int
    ntlm_revision: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.build}"


@dataclass(frozen=True)
class AvPair:
    id: int
    name: str
    #: Text for name pairs, ISO time for the timestamp, hex for anything else (capped).
    value: str


@dataclass(frozen=True)
class NtlmChallenge:
    """A decoded CHALLENGE_MESSAGE. Strings are server-supplied: render them escaped."""

    flags: int
    #: The 8-byte server challenge, hex.
    server_challenge: str
    #: TargetName: the domain for a domain member, else the server's name.
    target_name: str
    netbios_domain: str | None = None
    netbios_computer: str | None = None
    dns_domain: str | None = None
    dns_computer: str | None = None
    dns_tree: str | None = None
    target_spn: str | None = None
    #: MsvAvTimestamp as ISO-8601 UTC (the server's clock), if sent and plausible.
    timestamp: str | None = None
    os_version: WindowsVersion | None = None
    av_pairs: tuple[AvPair, ...] = ()

    @property
    def names(self) -> dict[str, str]:
        """The identity fields that are set, by name, in a stable order."""
        fields = {
            "target_name": self.target_name,
            "netbios_domain": self.netbios_domain,
            "netbios_computer": self.netbios_computer,
            "dns_domain": self.dns_domain,
            "dns_computer": self.dns_computer,
            "dns_tree": self.dns_tree,
        }
        return {key: value for key, value in fields.items() if value}


def decode_challenge_b64(text: str | bytes) -> NtlmChallenge:
    """Base64 text (as after ``NTLM `` or ``+ ``) to a decoded challenge."""
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise NtlmError("the challenge is not base64 text") from None
    text = text.strip()
    if len(text) > (MAX_MESSAGE_BYTES * 4) // 3 + 4:
        raise NtlmError(f"the challenge is longer than {MAX_MESSAGE_BYTES} bytes")
    try:
        blob = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NtlmError("the challenge is not valid base64") from None
    return decode_challenge(blob)


def decode_challenge(blob: bytes) -> NtlmChallenge:
    """Decode a CHALLENGE_MESSAGE; raises NtlmError (only) when it is malformed."""
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise NtlmError("the challenge must be bytes")
    data = bytes(blob)
    if len(data) > MAX_MESSAGE_BYTES:
        raise NtlmError(f"the challenge is longer than {MAX_MESSAGE_BYTES} bytes")
    if len(data) < 32:
        raise NtlmError(f"{len(data)} bytes is too short for a CHALLENGE message (at least 32)")
    if data[:8] != SIGNATURE:
        raise NtlmError("no NTLMSSP signature")
    (message_type,) = struct.unpack_from("<I", data, 8)
    if message_type != 2:
        raise NtlmError(f"message type {message_type}, not 2 (CHALLENGE)")
    (flags,) = struct.unpack_from("<I", data, 20)
    challenge = data[24:32].hex()
    # The fixed header ends at 48 when TargetInfoFields are present, else at 32 (old servers).
    header_end = 48 if len(data) >= 48 else 32
    unicode = bool(flags & NEGOTIATE_UNICODE)
    target_raw = _field(data, 12, header_end, "TargetName")
    target_name = _text(target_raw, unicode, "TargetName")

    pairs: tuple[AvPair, ...] = ()
    values: dict[int, str] = {}
    if header_end == 48:
        info = _field(data, 40, header_end, "TargetInfo")
        if info:
            pairs, values = _av_pairs(info)

    version = None
    payload_start = _payload_start(data, header_end)
    if flags & NEGOTIATE_VERSION and len(data) >= 56 and payload_start >= 56:
        major, minor, build, revision = struct.unpack_from("<BBH3xB", data, 48)
        version = WindowsVersion(major, minor, build, revision)

    return NtlmChallenge(
        flags=flags,
        server_challenge=challenge,
        target_name=target_name,
        netbios_computer=values.get(1),
        netbios_domain=values.get(2),
        dns_computer=values.get(3),
        dns_domain=values.get(4),
        dns_tree=values.get(5),
        target_spn=values.get(9),
        timestamp=values.get(7),
        os_version=version,
        av_pairs=pairs,
    )


def _field(data: bytes, at: int, header_end: int, name: str) -> bytes:
    """The payload a (Len u16, MaxLen u16, Offset u32) descriptor points at, bounds-checked."""
    length, _max_length, offset = struct.unpack_from("<HHI", data, at)
    if length == 0:
        return b""
    if offset < header_end:
        raise NtlmError(f"{name} offset {offset} points into the fixed header (ends at {header_end})")
    if offset + length > len(data):
        raise NtlmError(f"{name} ({length} bytes at offset {offset}) runs past the end ({len(data)} bytes)")
    return data[offset:offset + length]


def _payload_start(data: bytes, header_end: int) -> int:
    """Where the first non-empty payload field begins (VERSION must not overlap it)."""
    starts = []
    for at in (12, 40) if header_end == 48 else (12,):
        length, _, offset = struct.unpack_from("<HHI", data, at)
        if length:
            starts.append(offset)
    return min(starts, default=len(data))


def _text(raw: bytes, unicode: bool, name: str) -> str:
    if unicode:
        if len(raw) % 2:
            raise NtlmError(f"{name} has an odd length ({len(raw)}) for UTF-16")
        text = raw.decode("utf-16-le", "replace")
    else:
        text = raw.decode("latin-1")
    return text[:MAX_TEXT_CHARS]


def _av_pairs(info: bytes) -> tuple[tuple[AvPair, ...], dict[int, str]]:
    pairs: list[AvPair] = []
    values: dict[int, str] = {}
    at = 0
    while True:
        if len(pairs) >= MAX_AV_PAIRS:
            raise NtlmError(f"more than {MAX_AV_PAIRS} AV pairs")
        if at + 4 > len(info):
            raise NtlmError("the AV pair list ends without MsvAvEOL")
        av_id, av_len = struct.unpack_from("<HH", info, at)
        at += 4
        if at + av_len > len(info):
            raise NtlmError(f"AV pair {av_id} ({av_len} bytes) runs past the TargetInfo field")
        raw = info[at:at + av_len]
        at += av_len
        if av_id == 0:
            if av_len:
                raise NtlmError("MsvAvEOL carries a value")
            break
        name = AV_NAMES.get(av_id, f"0x{av_id:04x}")
        if av_id in _TEXT_AV_IDS:
            value: str | None = _text(raw, True, name)
        elif av_id == 7:
            value = _filetime(raw)
        elif av_id == 6 and av_len == 4:
            value = f"0x{struct.unpack('<I', raw)[0]:08x}"
        else:
            value = raw[:64].hex() + ("..." if av_len > 64 else "")
        pairs.append(AvPair(av_id, name, value or ""))
        if value is not None and av_id not in values:
            values[av_id] = value
    return tuple(pairs), values


def _filetime(raw: bytes) -> str | None:
    """A FILETIME (100 ns ticks since 1601) as ISO UTC; None when absent or implausible."""
    if len(raw) != 8:
        return None
    (ticks,) = struct.unpack("<Q", raw)
    try:
        moment = _FILETIME_EPOCH + timedelta(microseconds=ticks // 10)
    except OverflowError:
        return None
    if not 1990 <= moment.year <= 2200:
        return None
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------- building


def build_challenge(
    *,
    netbios_domain: str,
    netbios_computer: str,
    dns_domain: str,
    dns_computer: str,
    dns_tree: str,
    os_version: tuple[int, int, int] | None,
    server_challenge: bytes = b"\x01\x23\x45\x67\x89\xab\xcd\xef",
    timestamp: datetime | None = None,
) -> bytes:
    """A CHALLENGE_MESSAGE laid out as Windows lays it out (for the lab and tests).

    TargetName = NetBIOS domain; AV pairs in Windows' order (NbDomain,
    NbComputer, DnsDomain, DnsComputer, DnsTree, Timestamp, EOL); flags
    0x02890205 (UNICODE|REQUEST_TARGET|NTLM|TARGET_TYPE_DOMAIN|ESS|TARGET_INFO|VERSION)
    as in the Exchange capture of EXCHANGE-FACTS section 8, without VERSION when
    ``os_version`` is None.
    """
    def utf16(text: str) -> bytes:
        return text.encode("utf-16-le")

    info = b""
    for av_id, text in ((2, netbios_domain), (1, netbios_computer), (4, dns_domain),
                        (3, dns_computer), (5, dns_tree)):
        if text:
            info += struct.pack("<HH", av_id, len(utf16(text))) + utf16(text)
    if timestamp is not None:
        ticks = int((timestamp - _FILETIME_EPOCH).total_seconds() * 10_000_000)
        info += struct.pack("<HHQ", 7, 8, ticks)
    info += struct.pack("<HH", 0, 0)
    flags = 0x02890205 if os_version is not None else 0x00890205
    header_size = 56 if os_version is not None else 48
    target = utf16(netbios_domain)
    target_offset = header_size
    info_offset = target_offset + len(target)
    header = SIGNATURE + struct.pack(
        "<IHHII8s8sHHI", 2, len(target), len(target), target_offset, flags,
        server_challenge, bytes(8), len(info), len(info), info_offset,
    )
    if os_version is not None:
        major, minor, build = os_version
        header += struct.pack("<BBH3xB", major, minor, build, 15)
    return header + target + info
