"""exchange.ntlm_info_disclosure: an anonymous NTLM NEGOTIATE draws the server's Windows identity."""

from __future__ import annotations

from casaudit.evidence.base import ErrorKind, EvidenceSet
from casaudit.evidence.mail import MailEvidence
from casaudit.evidence.ntlm import NtlmEvidence
from casaudit.identify import origin_of
from casaudit.model import CheckMeta, CheckStatus, Effort, Outcome, Severity
from casaudit.parse.ntlm import NtlmChallenge, NtlmError, decode_challenge_b64

CHECK = CheckMeta(
    id="exchange.ntlm_info_disclosure",
    title="NTLM challenge reveals internal Windows domain and host names",
    severity=Severity.MEDIUM,
    effort=Effort.MEDIUM,
    recommendations=("CAS-15",),
    description=(
        "A Client Access URL offers NTLM and answers an anonymous NTLM NEGOTIATE message with a "
        "CHALLENGE naming the Active Directory domain (NetBIOS and DNS), the server's own "
        "NetBIOS and DNS names, the forest and the Windows build. Anyone on the Internet learns "
        "the internal namespace, the DOMAIN\\user form for password spraying, and the server's "
        "operating system, and sees that the Client Access server itself, not a reverse proxy, "
        "answers authentication from the Internet."
    ),
    remediation=(
        "Publish Exchange through a reverse proxy that pre-authenticates users (for example with "
        "Kerberos constrained delegation) and does not pass NTLM from the Internet, or remove "
        "Windows (NTLM) authentication from the externally published virtual directories "
        "(Set-OutlookAnywhere -ExternalClientAuthenticationMethod Negotiate and IIS "
        "authentication providers) and use modern authentication."
    ),
    severity_rationale=(
        "Medium: no credential is exposed, but the internal domain and host names feed password "
        "spraying against the same endpoint and targeted attacks, and the leak proves the "
        "Client Access server faces the Internet directly, which the guide rules out."
    ),
    references=(
        "Microsoft, [MS-NLMP] 2.2.1.2 CHALLENGE_MESSAGE and 2.2.2.1 AV_PAIR",
        "nmap http-ntlm-info script",
        "Microsoft, Planning for Client Access Servers (Exchange 2007): perimeter network note",
    ),
)

_LABELS = {
    "target_name": "target name",
    "netbios_domain": "NetBIOS domain",
    "netbios_computer": "NetBIOS computer",
    "dns_domain": "DNS domain",
    "dns_computer": "DNS computer",
    "dns_tree": "forest",
}


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    groups: dict[str, list[NtlmEvidence]] = {}
    for item in evidence.of(NtlmEvidence):
        groups.setdefault(origin_of(item.endpoint), []).append(item)
    outcomes = [_judge(origin, items) for origin, items in groups.items()]
    return outcomes + [_judge_mail(item) for item in evidence.of(MailEvidence)
                       if item.ntlm is not None and item.ntlm.challenge is not None]


def _revealed(challenge: NtlmChallenge) -> list[str]:
    names = challenge.names
    revealed = [f"{_LABELS[key]} {value!r}" for key, value in names.items() if key != "target_name"]
    if not revealed and names.get("target_name"):
        revealed = [f"target name {names['target_name']!r}"]
    if challenge.os_version is not None:
        revealed.append(f"Windows {challenge.os_version}")
    return revealed


def _judge_mail(item: MailEvidence) -> Outcome:
    """IMAP4 AUTHENTICATE NTLM / POP3 AUTH NTLM: the mail probe kept the raw challenge."""
    assert item.ntlm is not None and item.ntlm.challenge is not None
    command = "AUTHENTICATE NTLM" if item.protocol == "imap" else "AUTH NTLM"
    try:
        challenge = decode_challenge_b64(item.ntlm.challenge)
    except NtlmError as exc:
        return Outcome(item.endpoint, CheckStatus.NOT_ASSESSED,
                       f"the {command} challenge could not be decoded: {exc}", (item.id,))
    revealed = _revealed(challenge)
    if not revealed:
        return Outcome(item.endpoint, CheckStatus.PASS, "the NTLM challenge names nothing",
                       (item.id,))
    where = "inside TLS" if item.ntlm.over_tls else "before TLS"
    return Outcome(
        item.endpoint, CheckStatus.FAIL,
        f"{command} drew a challenge naming the server", (item.id,),
        observed=(
            f"{command} on {item.endpoint} ({where}; a NEGOTIATE sent, the exchange then "
            f"cancelled with '*') was answered with a CHALLENGE revealing " + ", ".join(revealed)
        ),
    )


def _judge(origin: str, items: list[NtlmEvidence]) -> Outcome:
    ids = tuple(item.id for item in items)
    decoded = [item for item in items if item.challenge is not None]
    for item in decoded:
        challenge = item.challenge
        assert challenge is not None
        revealed = _revealed(challenge)
        if revealed:
            return Outcome(
                origin, CheckStatus.FAIL,
                f"an anonymous NTLM NEGOTIATE to {item.path} drew a challenge naming the server",
                (item.id,),
                observed=(
                    f"GET {item.endpoint} with an anonymous NTLM NEGOTIATE was answered "
                    f"{item.status} with a CHALLENGE revealing " + ", ".join(revealed)
                ),
            )
    if decoded:
        return Outcome(origin, CheckStatus.PASS, "the NTLM challenge names nothing", ids)
    broken = [item for item in items if item.decode_error]
    if broken:
        return Outcome(
            origin, CheckStatus.NOT_ASSESSED,
            f"the NTLM challenge from {broken[0].endpoint} could not be decoded: {broken[0].decode_error}",
            ids,
        )
    answered = [item for item in items if item.status is not None and 200 <= item.status < 500]
    if not answered:
        error = items[0].error
        if error is not None and error.kind is ErrorKind.REFUSED:
            return Outcome(origin, CheckStatus.NOT_APPLICABLE,
                           "the port refused the connection: no NTLM to ask", ids)
        # An error page (5xx) says nothing about which authentication the URLs offer.
        detail = error.detail if error else f"answered {items[0].status}"
        return Outcome(origin, CheckStatus.NOT_ASSESSED, f"no usable HTTP answer ({detail})", ids)
    if all(item.status in (404, 410) for item in answered):
        return Outcome(origin, CheckStatus.NOT_APPLICABLE,
                       f"none of the {len(answered)} Windows-authentication URLs exists here "
                       f"(answered {answered[0].status})", ids)
    silent = [item for item in answered if "NTLM" in item.auth_schemes]
    if silent:
        return Outcome(
            origin, CheckStatus.NOT_ASSESSED,
            f"{silent[0].endpoint} offers NTLM but answered the NEGOTIATE without a challenge",
            ids,
        )
    offered = sorted({s for item in answered for s in item.auth_schemes})
    return Outcome(
        origin, CheckStatus.PASS,
        f"none of {len(answered)} Windows-authentication URLs offered NTLM"
        + (f" (offered: {', '.join(offered)})" if offered else ""),
        ids,
    )
