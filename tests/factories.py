"""Built evidence for testing checks in milliseconds, without a network."""

from __future__ import annotations

from casaudit.exchange import BASELINE_ROLE
from casaudit.model import EvidenceSet, HttpEvidence, HttpExchange, LogonForm, ProbeError
from casaudit.plan import endpoint_url

T0 = "2026-01-01T00:00:00.000Z"


def exchange(
    url: str,
    status: int | None = 200,
    *,
    method: str = "GET",
    headers: tuple[tuple[str, str], ...] = (),
    auth: tuple[str, ...] = (),
    error: ProbeError | None = None,
    body: str = "",
    form: LogonForm | None = None,
) -> HttpExchange:
    return HttpExchange(
        method=method, url=url, request_headers=(), started_at=T0,
        status=None if error else status, reason="", headers=headers,
        body_excerpt=body, body_bytes=len(body.encode()),
        auth_schemes=auth, error=error, logon_form=form,
    )


def logon_form(action_url: str, action: str | None = None) -> LogonForm:
    return LogonForm(
        action=action if action is not None else action_url, action_url=action_url,
        method="POST", posts_cleartext=action_url.startswith("http://"),
    )


def baseline(
    *chain: HttpExchange, scheme: str = "https", host: str = "mail.example.test",
    evidence_id: str = "B001",
) -> HttpEvidence:
    """The random nonexistent-path probe of a scheme (default: an IIS-like 404)."""
    port = 80 if scheme == "http" else 443
    path = "/casaudit-0123456789abcdef/"
    if not chain:
        chain = (exchange(endpoint_url(scheme, host, port, path), 404, body="not found"),)
    return http_evidence(
        *chain, scheme=scheme, path=path, role=BASELINE_ROLE, host=host,
        evidence_id=evidence_id,
    )


def http_evidence(
    *chain: HttpExchange,
    scheme: str = "http",
    path: str = "/owa",
    role: str = "owa",
    host: str = "mail.example.test",
    port: int | None = None,
    evidence_id: str = "E001",
    redirect_stopped: str | None = None,
) -> HttpEvidence:
    port = port or (80 if scheme == "http" else 443)
    url = endpoint_url(scheme, host, port, path)
    if not chain:
        chain = (exchange(url),)
    return HttpEvidence(
        id=evidence_id, endpoint=url, role=role, scheme=scheme, host=host, port=port,
        path=path, started_at=T0, finished_at=T0, exchanges=tuple(chain),
        redirect_stopped=redirect_stopped,
    )


def evidence_set(*items: object) -> EvidenceSet:
    return EvidenceSet(tuple(items))
