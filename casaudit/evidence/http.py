"""What the HTTP probe observed on one Client Access URL: its exchanges, bounded.

One `HttpEvidence` per URL the plan names (and one per scheme for the random
baseline path); `exchanges[0]` is the request to the URL, later entries follow
in-scope redirects. Every string in it came from the server and is untrusted.
Facts only: `casaudit.web_checks` and the `http.*`/`exchange.*` checks judge.
`HttpExchange` is also the unit of the Autodiscover evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from casaudit.evidence.base import ProbeError

#: The statuses that carry a Location to follow.
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class LogonForm:
    """A logon form found in a response: a <form> holding a password input.

    Attributes:
        action: the form's action attribute as written (untrusted, bounded);
            empty when the form has none (it then posts to the page itself).
        action_url: the absolute URL the browser posts the password to
            (action resolved against the page URL and any <base href>),
            None when it cannot be resolved.
        method: the form's method, upper-cased (GET when absent).
        posts_cleartext: True when action_url is an http:// URL.
    """

    action: str
    action_url: str | None
    method: str
    posts_cleartext: bool


@dataclass(frozen=True)
class DeploymentManifest:
    """What a ClickOnce deployment manifest (ECP's export tool, a static file) says.

    Read from the whole bounded body of a 200 answer at the export tool's URL;
    only the top-level ``assemblyIdentity`` matters: its ``version`` is the
    server's full 4-part Exchange build (EXCHANGE-FACTS 3.1, method 3).

    Attributes:
        name: the assemblyIdentity's name attribute (untrusted, bounded), or None.
        version: its version attribute as written (untrusted, bounded), or None.
        problem: why no version could be read (too large, refused by defusedxml,
            not well-formed, not a manifest), else None.
    """

    name: str | None = None
    version: str | None = None
    problem: str | None = None


@dataclass(frozen=True)
class HttpExchange:
    """One HTTP request and what came back, bounded.

    Attributes:
        method: the request method sent (GET, OPTIONS, RPC_IN_DATA, ...).
        url: the absolute URL requested, with an explicit port.
        request_headers: the headers casaudit set (never credentials).
        started_at: ISO-8601 UTC time the request started.
        status: the response status code, None when no response came.
        reason: the reason phrase as sent by the server (untrusted text).
        http_version: e.g. "HTTP/1.1".
        headers: response headers in order, capped in count and length.
        body_excerpt: the first bytes of the body decoded leniently (untrusted text).
        body_bytes: how many body bytes were read (reading stops at a cap).
        body_truncated: True when casaudit stopped reading before the end.
        body_error: why the body could not be read to its end (cut, reset, deadline)
            while status and headers were received.
        auth_schemes: the WWW-Authenticate schemes offered (Basic, NTLM, ...), in order.
        tls_version: the negotiated TLS version on https, else None.
        peer: the "address:port" actually connected to.
        error: set when the exchange failed before or while reading the response.
        logon_form: the first logon form (a form with a password input) in the
            bounded body, None when there is none (forms-based authentication).
        manifest: the export tool's deployment manifest, read from the whole
            bounded body; only on a 200 answer to that URL, else None.
    """

    method: str
    url: str
    request_headers: tuple[tuple[str, str], ...]
    started_at: str
    status: int | None = None
    reason: str = ""
    http_version: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body_excerpt: str = ""
    body_bytes: int = 0
    body_truncated: bool = False
    body_error: ProbeError | None = None
    #: Set when this request was sent a second time because the first got no answer in
    #: time (the per-port breaker's retry): why the first attempt failed.
    first_attempt: ProbeError | None = None
    auth_schemes: tuple[str, ...] = ()
    tls_version: str | None = None
    peer: str | None = None
    error: ProbeError | None = None
    logon_form: LogonForm | None = None
    manifest: DeploymentManifest | None = None

    def header_values(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]


@dataclass(frozen=True)
class HttpEvidence:
    """What one Client Access URL answered, following in-scope redirects.

    `exchanges[0]` is the request to `endpoint`; later entries follow the
    redirect chain. `redirect_stopped` says why casaudit did not follow a
    redirect (off scope, loop, limit).
    """

    id: str
    endpoint: str
    role: str
    scheme: str
    host: str
    port: int
    path: str
    started_at: str
    finished_at: str
    exchanges: tuple[HttpExchange, ...]
    redirect_stopped: str | None = None
    kind: str = field(default="http", init=False)

    @property
    def first(self) -> HttpExchange:
        return self.exchanges[0]

    @property
    def error(self) -> ProbeError | None:
        return self.exchanges[0].error


__all__ = [
    "REDIRECT_STATUSES", "DeploymentManifest", "HttpEvidence", "HttpExchange", "LogonForm",
]
