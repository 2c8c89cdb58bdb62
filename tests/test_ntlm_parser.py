"""The NTLM Type-1 builder and Type-2 decoder, with well-formed and hostile bytes."""

from __future__ import annotations

import base64
import struct
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from casaudit.parse.ntlm import (
    MAX_MESSAGE_BYTES,
    NtlmError,
    build_challenge,
    decode_challenge,
    decode_challenge_b64,
    negotiate_b64,
    negotiate_message,
)

WHEN = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def _windows_like(version=(6, 3, 9600)):
    return build_challenge(
        netbios_domain="CONTOSO", netbios_computer="CAS02", dns_domain="corp.contoso.local",
        dns_computer="cas02.corp.contoso.local", dns_tree="contoso.local", os_version=version,
        timestamp=WHEN,
    )


def test_type1_is_nmaps_message_and_the_version_variant_is_metasploits_layout():
    assert negotiate_b64() == "TlRMTVNTUAABAAAAB4IIoAAAAAAAAAAAAAAAAAAAAAA="
    with_version = negotiate_message(with_version=True)
    assert len(with_version) == 40
    assert struct.unpack_from("<I", with_version, 12)[0] == 0xA2088207
    assert with_version[32:] == bytes([6, 1]) + struct.pack("<H", 7601) + bytes(3) + b"\x0f"


def test_decodes_every_identity_field_the_version_and_the_timestamp():
    challenge = decode_challenge(_windows_like())
    assert challenge.target_name == "CONTOSO"
    assert (challenge.netbios_domain, challenge.netbios_computer) == ("CONTOSO", "CAS02")
    assert challenge.dns_domain == "corp.contoso.local"
    assert challenge.dns_computer == "cas02.corp.contoso.local"
    assert challenge.dns_tree == "contoso.local"
    assert str(challenge.os_version) == "6.3.9600" and challenge.os_version.ntlm_revision == 15
    assert challenge.timestamp == "2026-01-01T12:00:00Z"
    assert challenge.flags == 0x02890205 and challenge.server_challenge == "0123456789abcdef"
    assert [p.id for p in challenge.av_pairs] == [2, 1, 4, 3, 5, 7]
    assert list(challenge.names) == [
        "target_name", "netbios_domain", "netbios_computer", "dns_domain", "dns_computer", "dns_tree",
    ]


def test_no_version_when_not_negotiated_and_base64_entry_point():
    blob = _windows_like(version=None)
    challenge = decode_challenge_b64(base64.b64encode(blob).decode())
    assert challenge.os_version is None and challenge.dns_computer == "cas02.corp.contoso.local"


def test_old_32_byte_challenge_without_target_info():
    blob = b"NTLMSSP\x00" + struct.pack("<IHHII8s", 2, 0, 0, 0, 0x8201, b"\x11" * 8)
    challenge = decode_challenge(blob)
    assert challenge.target_name == "" and challenge.av_pairs == ()


def _mutate(blob: bytes, at: int, fmt: str, *values: int) -> bytes:
    data = bytearray(blob)
    struct.pack_into(fmt, data, at, *values)
    return bytes(data)


@pytest.mark.parametrize(("blob", "message"), [
    (b"", "too short"),
    (b"NTLMSSP\x00" + bytes(20), "too short"),
    (b"NTLMSSX\x00" + bytes(40), "signature"),
    (_mutate(_windows_like(), 8, "<I", 3), "message type 3"),
    (_windows_like()[:60], "runs past the end"),
    (_mutate(_windows_like(), 16, "<I", 0xFFFFFFFF), "runs past the end"),   # TargetName offset
    (_mutate(_windows_like(), 44, "<I", 0xFFFFFFF0), "runs past the end"),   # TargetInfo offset
    (_mutate(_windows_like(), 16, "<I", 8), "fixed header"),
    (_mutate(_windows_like(), 12, "<H", 7), "odd length"),                   # TargetName length
    (_windows_like() + bytes(MAX_MESSAGE_BYTES), "longer than"),
])
def test_malformed_challenges_raise_ntlm_error_naming_the_problem(blob, message):
    with pytest.raises(NtlmError, match=message):
        decode_challenge(blob)


def test_av_pair_list_errors():
    blob = _windows_like(version=None)
    (info_len,) = struct.unpack_from("<H", blob, 40)
    (info_offset,) = struct.unpack_from("<I", blob, 44)
    # Cut the trailing EOL by shortening TargetInfo by 4 bytes
    cut = _mutate(_mutate(blob, 40, "<H", info_len - 4), 42, "<H", info_len - 4)
    with pytest.raises(NtlmError, match="without MsvAvEOL"):
        decode_challenge(cut)
    # First pair claims more bytes than TargetInfo holds
    huge = _mutate(blob, info_offset + 2, "<H", 0xFFFF)
    with pytest.raises(NtlmError, match="runs past the TargetInfo"):
        decode_challenge(huge)
    # An endless list of empty pairs is capped
    pairs = struct.pack("<HH", 6, 0) * 100 + struct.pack("<HH", 0, 0)
    endless = blob[:info_offset] + pairs
    endless = _mutate(_mutate(endless, 40, "<HH", len(pairs), len(pairs)), 44, "<I", info_offset)
    with pytest.raises(NtlmError, match="more than"):
        decode_challenge(endless)


def test_bad_base64_is_an_ntlm_error():
    for text in ("not base64!", "TlRMTVNTUAAC", b"\xff\xfe", "A" * 20000):
        with pytest.raises(NtlmError):
            decode_challenge_b64(text)


def test_absurd_timestamp_is_dropped_not_fatal():
    blob = build_challenge(
        netbios_domain="D", netbios_computer="C", dns_domain="", dns_computer="", dns_tree="",
        os_version=None, timestamp=datetime(1601, 1, 1, tzinfo=UTC),
    )
    assert decode_challenge(blob).timestamp is None


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_only_ever_raise_ntlm_error(blob):
    try:
        decode_challenge(blob)
    except NtlmError:
        pass


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_mutated_real_challenges_only_ever_raise_ntlm_error(data):
    blob = bytearray(_windows_like())
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(blob) - 1))
        blob[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(blob)))
    try:
        decode_challenge(bytes(blob[:cut]))
    except NtlmError:
        pass
