"""NTLM over HTTP(S): send an anonymous Type-1, record the Type-2 the server answers.

One request per URL: ``GET <url>`` with ``Authorization: NTLM <Type-1>`` (nmap's
http-ntlm-info message). No Type-3 follows, so no credential, not even an
anonymous one, is ever sent. The URLs are tried in plan order on each
listener (HTTPS, then plain HTTP) and the listener is left alone after

* the first challenge that decodes: every virtual directory of one IIS site
  answers with the same machine's identity, so more requests would add log
  noise on the target and nothing to the evidence;
* a connection-level failure (refused, timeout, TLS, DNS): the next URL goes to
  the same port and would fail the same way.

A load balancer spreading vdirs over several servers could therefore hide a
second server's names; that is accepted to keep the probe to a handful of
requests. Each request is one `casaudit.probes.wire.http.exchange` (resolver
pinning, pacing, bounds, per-port breaker), the body drained up to 16 KiB.
"""

from __future__ import annotations

from casaudit.evidence.ntlm import NtlmEvidence
from casaudit.parse.http_auth import parse_challenges, schemes
from casaudit.parse.ntlm import NtlmError, decode_challenge_b64, negotiate_b64
from casaudit.plan import NtlmProbeTask, endpoint_url, plan_ntlm
from casaudit.probes.base import ProbeContext
from casaudit.probes.common import now, observing_context
from casaudit.probes.wire.http import REQUEST_HEADERS, client, exchange

#: Characters of the raw challenge kept in evidence (a real one is well under 1000).
MAX_CHALLENGE_CHARS = 4096
#: Body bytes read (and dropped) so the connection can be reused.
MAX_DRAIN_BYTES = 16 * 1024
_STOP_ERRORS = frozenset({"refused", "timeout", "unreachable", "dns", "tls", "skipped"})


class NtlmProbe:
    def __init__(self, context: ProbeContext) -> None:
        self._context = context
        self._client = client(context, observing_context())
        self._type1 = "NTLM " + negotiate_b64()

    def tasks(self) -> list[NtlmProbeTask]:
        return plan_ntlm(self._context.target)

    def close(self) -> None:
        self._client.close()

    def run(self, task: NtlmProbeTask) -> list[NtlmEvidence]:
        found: list[NtlmEvidence] = []
        for evidence_id, path in task.attempts:
            item = self.attempt(evidence_id, task, path)
            found.append(item)
            if item.challenge is not None:
                break
            if item.error is not None and item.error.kind in _STOP_ERRORS:
                break
        return found

    def attempt(self, evidence_id: str, task: NtlmProbeTask, path: str) -> NtlmEvidence:
        url = endpoint_url(task.scheme, task.host, task.port, path)
        started = now()
        common = dict(
            id=evidence_id, endpoint=url, scheme=task.scheme, host=task.host, port=task.port,
            path=path, started_at=started,
        )
        sent = (*REQUEST_HEADERS, ("Authorization", self._type1))
        reply = exchange(self._context, self._client, "GET", url, (("Authorization", self._type1),),
                         max_body=MAX_DRAIN_BYTES)
        answer = reply.exchange
        if answer.status is None:
            return NtlmEvidence(
                **common,  # type: ignore[arg-type]
                finished_at=now(), request_headers=sent, error=answer.error,
            )
        values = answer.header_values("www-authenticate")
        token = _ntlm_token(values)
        challenge, problem = None, None
        if token is not None:
            try:
                challenge = decode_challenge_b64(token)
            except NtlmError as exc:
                problem = str(exc)
        return NtlmEvidence(
            **common,  # type: ignore[arg-type]
            finished_at=now(),
            request_headers=sent,
            status=answer.status,
            auth_schemes=schemes(values),
            challenge_b64=token[:MAX_CHALLENGE_CHARS] if token is not None else None,
            challenge=challenge,
            decode_error=problem,
            tls_version=answer.tls_version,
            peer=answer.peer,
        )


def _ntlm_token(values: list[str]) -> str | None:
    """The first NTLM challenge token (or NTLMSSP inside a Negotiate challenge), if any."""
    for challenge in parse_challenges(values):
        token = challenge.data.strip()
        if not token or " " in token or "=" in token.rstrip("="):
            continue
        if challenge.scheme == "NTLM" or (
            challenge.scheme == "Negotiate" and token.startswith("TlRMTVNT")
        ):
            return token
    return None


__all__ = ["NtlmEvidence", "NtlmProbe"]
