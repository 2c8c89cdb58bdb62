"""HTTP and HTTPS requests to Client Access URLs, recorded as bounded evidence.

Each request is one `casaudit.probes.wire.http.exchange`: through the scan's
resolver (so --resolve and --dns-server apply) while the URL keeps the host
name, which httpx then uses for SNI and the Host header; paced, bounded, under
the per-port breaker. Certificates are not verified here: this probe observes
what a URL answers; the TLS probe judges the certificate. No credential is ever sent.
"""

from __future__ import annotations

import dataclasses
import threading

import httpx

from casaudit.evidence.base import ProbeError
from casaudit.evidence.http import HttpEvidence, HttpExchange, LogonForm
from casaudit.exchange import EXPORT_TOOL_ROLE
from casaudit.parse.clickonce import read_manifest
from casaudit.parse.html_form import find_logon_form
from casaudit.plan import HttpProbeTask, plan_build_carriers, plan_http
from casaudit.probes.base import ProbeContext
from casaudit.probes.common import now, observing_context
from casaudit.probes.wire.http import REDIRECT_STATUSES, client, exchange, join_location
from casaudit.resolve import ResolutionError

MAX_REDIRECTS = 5


class HttpProbe:
    """Every Client Access URL over HTTP and HTTPS; one shared client, `run` is thread-safe."""

    def __init__(self, context: ProbeContext) -> None:
        self._context = context
        self._client = client(context, observing_context())
        self._scope = context.scope
        self._tls_ports: dict[tuple[str, int], bool] = {}
        self._tls_lock = threading.Lock()

    def tasks(self) -> list[HttpProbeTask]:
        target = self._context.target
        return plan_http(target) + plan_build_carriers(target)

    def close(self) -> None:
        self._client.close()

    def run(self, task: HttpProbeTask) -> list[HttpEvidence]:
        return [self.fetch(task)]

    def fetch(self, task: HttpProbeTask) -> HttpEvidence:
        started = now()
        chain: list[HttpExchange] = []
        stopped: str | None = None
        method, url = task.method, task.url
        headers, body = task.headers, task.body
        visited = {url}
        for hop in range(MAX_REDIRECTS + 1):
            # Only the manifest URL's own answer is a manifest; a redirect to logon is not.
            manifest = task.role == EXPORT_TOOL_ROLE and hop == 0
            exchange = self._exchange(method, url, headers, body, manifest)
            if exchange.error is not None and exchange.error.kind in ("reset", "protocol") \
                    and url.startswith("http://") and self._speaks_tls(url):
                exchange = dataclasses.replace(exchange, error=ProbeError(
                    exchange.error.kind, f"{exchange.error.detail}; the port completes a TLS "
                    "handshake: it speaks TLS, not plain HTTP"))
            chain.append(exchange)
            if exchange.error or exchange.status not in REDIRECT_STATUSES:
                break
            locations = exchange.header_values("location")
            if not locations:
                break
            next_url, stopped = self._next_hop(url, locations[0])
            if stopped or next_url is None:
                break
            if next_url in visited:
                stopped = f"redirect loop back to {next_url}"
                break
            if hop == MAX_REDIRECTS:
                stopped = f"more than {MAX_REDIRECTS} redirects"
                break
            visited.add(next_url)
            if exchange.status == 303 or (exchange.status in (301, 302) and method == "POST"):
                # As browsers do: the body and its headers are not sent again.
                method, body = "GET", b""
                headers = tuple(
                    (name, value) for name, value in headers
                    if name.lower() not in ("content-type", "content-length")
                )
            url = next_url
        return HttpEvidence(
            id=task.evidence_id,
            endpoint=task.url,
            role=task.role,
            scheme=task.scheme,
            host=task.host,
            port=task.port,
            path=task.path,
            started_at=started,
            finished_at=now(),
            exchanges=tuple(chain),
            redirect_stopped=stopped,
        )

    def _speaks_tls(self, url: str) -> bool:
        """Whether the port of a plain-HTTP URL that broke off completes a TLS handshake.

        One bounded handshake per host and port (a TLS server on port 80 resets or
        hangs up on a cleartext request; this names why).
        """
        from casaudit.probes.tls_preflight import preflight

        parsed = httpx.URL(url)
        key = (parsed.host, parsed.port or 80)
        with self._tls_lock:
            if key not in self._tls_ports:
                try:
                    address = self._context.resolver.resolve(key[0])[0]
                except (ResolutionError, IndexError):
                    self._tls_ports[key] = False
                else:
                    self._tls_ports[key] = preflight(
                        address, key[1], key[0], None, self._context.timeout / 2,
                        self._context) is None
            return self._tls_ports[key]

    def _next_hop(self, current: str, location: str) -> tuple[str | None, str | None]:
        """The absolute URL to follow, or why not to follow it."""
        target, why = join_location(current, location)
        if target is None:
            return None, why
        host = httpx.URL(target).host
        if not self._scope.allows(host):
            return None, f"redirect to {host!r} is outside the target's names: not followed"
        return target, None

    def _exchange(
        self,
        method: str,
        url: str,
        extra_headers: tuple[tuple[str, str], ...] = (),
        content: bytes = b"",
        manifest: bool = False,
    ) -> HttpExchange:
        reply = exchange(self._context, self._client, method, url, extra_headers, content or None)
        if reply.exchange.status is None:
            return reply.exchange
        if manifest and reply.exchange.status == 200:
            # Parsed here, from the whole bounded body: the excerpt may cut the XML short.
            return dataclasses.replace(
                reply.exchange, manifest=read_manifest(reply.body, reply.truncated))
        return dataclasses.replace(
            reply.exchange, logon_form=_logon_form(reply.body, url, reply.exchange.headers))


def _logon_form(body: bytes, url: str, headers: tuple[tuple[str, str], ...]) -> LogonForm | None:
    """A logon form in an HTML answer (the whole bounded body, not just the excerpt)."""
    content_type = next((v for k, v in headers if k.lower() == "content-type"), "").lower()
    if content_type and "html" not in content_type:
        return None
    if b"<" not in body:
        return None
    return find_logon_form(body.decode("utf-8", "replace"), url)


__all__ = ["HttpProbe", "ProbeError", "now"]
