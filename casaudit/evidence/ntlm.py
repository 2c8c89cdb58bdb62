"""What the NTLM probe observed: one URL's answer to an anonymous NTLM NEGOTIATE.

`GET <url>` with `Authorization: NTLM <Type-1>` (nmap's http-ntlm-info message);
no Type-3 follows, so no credential is ever sent. The decoded CHALLENGE
(`casaudit.parse.ntlm`) carries the server's own names and Windows build:
untrusted text, judged by `exchange.ntlm_info_disclosure`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from casaudit.evidence.base import ProbeError
from casaudit.parse.ntlm import NtlmChallenge


@dataclass(frozen=True)
class NtlmEvidence:
    """One URL's answer to an anonymous NTLM NEGOTIATE.

    Attributes:
        request_headers: as sent, including the Type-1 (not a credential).
        status: the response status, None without a response.
        auth_schemes: the WWW-Authenticate schemes of the answer.
        challenge_b64: the raw NTLM challenge token as received (capped), or None.
        challenge: the decoded CHALLENGE message; its strings are the server's (untrusted).
        decode_error: why the token did not decode, when it did not.
        error: set when no HTTP answer came.
    """

    id: str
    endpoint: str
    scheme: str
    host: str
    port: int
    path: str
    started_at: str
    finished_at: str
    request_headers: tuple[tuple[str, str], ...] = ()
    status: int | None = None
    auth_schemes: tuple[str, ...] = ()
    challenge_b64: str | None = None
    challenge: NtlmChallenge | None = None
    decode_error: str | None = None
    tls_version: str | None = None
    peer: str | None = None
    error: ProbeError | None = None
    kind: str = field(default="ntlm", init=False)


__all__ = [
    "NtlmEvidence",
]
