"""WWW-Authenticate challenges (RFC 9110 section 11.6.1), read tolerantly.

One header may carry several challenges separated by commas, and commas also
separate a challenge's parameters and appear inside quoted strings, so a naive
split on "," misreads `Basic realm="a, b", NTLM`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

MAX_VALUES = 50
MAX_VALUE_CHARS = 16 * 1024
MAX_CHALLENGES = 50

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_CANONICAL = {
    name.lower(): name for name in ("Basic", "Digest", "NTLM", "Negotiate", "Bearer", "Kerberos")
}


@dataclass(frozen=True)
class Challenge:
    scheme: str
    #: The rest of the challenge: a token68 (an NTLM blob) or auth-params, unparsed.
    data: str = ""


def _split_top_level(value: str) -> list[str]:
    pieces: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            pieces.append("".join(current))
            current = []
            continue
        current.append(char)
    pieces.append("".join(current))
    return pieces


def parse_challenges(values: Iterable[str]) -> tuple[Challenge, ...]:
    """Every challenge in the given WWW-Authenticate header values, in order."""
    challenges: list[Challenge] = []
    for count, value in enumerate(values):
        if count >= MAX_VALUES:
            break
        for piece in _split_top_level(value[:MAX_VALUE_CHARS]):
            piece = piece.strip()
            match = _TOKEN.match(piece)
            if not match:
                continue
            rest = piece[match.end():]
            if rest.lstrip().startswith("="):
                # An auth-param (realm="x") of the challenge before, not a new scheme.
                if challenges:
                    last = challenges[-1]
                    data = f"{last.data}, {piece}" if last.data else piece
                    challenges[-1] = Challenge(last.scheme, data[:MAX_VALUE_CHARS])
                continue
            if rest and not rest[0].isspace():
                continue
            scheme = match.group(0)[:32]
            challenges.append(Challenge(_CANONICAL.get(scheme.lower(), scheme), rest.strip()))
            if len(challenges) >= MAX_CHALLENGES:
                return tuple(challenges)
    return tuple(challenges)


def schemes(values: Iterable[str]) -> tuple[str, ...]:
    """The distinct schemes offered, in order of first appearance."""
    return tuple(dict.fromkeys(c.scheme for c in parse_challenges(values)))
