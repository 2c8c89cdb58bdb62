"""Every evidence type, one home: what the probes observed, as frozen dataclasses.

One module per probe family, plus what they share:

    base.py          ProbeError and its ErrorKind, EvidenceSet, the endpoint form
    http.py          HttpEvidence, HttpExchange, LogonForm,      (probes/http.py)
                     DeploymentManifest
    tls.py           TlsEvidence and its parts                   (probes/tls.py, sslyze)
    mail.py          MailEvidence and its parts                  (probes/mail.py)
    ntlm.py          NtlmEvidence                                (probes/ntlm.py)
    hostless.py      HostlessEvidence                            (probes/hostless.py)
    autodiscover.py  AutodiscoverEvidence and its parts          (probes/autodiscover.py)
    dns.py           SrvLookup, SrvAnswer                        (resolve.py, for Autodiscover SRV)

Facts only: nothing here judges, does I/O, or imports a probe, the planner,
httpx, dnspython or sslyze, so the checks load without them (the parsers whose
results evidence holds, `casaudit.parse`, are pure too).
Every record serialises to the `casaudit.scan/1` JSON contract through
`casaudit.model.to_jsonable`; enum members serialise as their string values.
"""

from __future__ import annotations

from casaudit.evidence.autodiscover import (
    GUIDE_METHODS,
    METHODS,
    AdvertisedUrl,
    AuthenticatedAttempt,
    AutodiscoverEvidence,
    AutodiscoverVerdict,
    CertificateCheck,
    CertificateProblem,
    Failure,
)
from casaudit.evidence.base import ErrorKind, Evidence, EvidenceSet, ProbeError, endpoint_url
from casaudit.evidence.dns import SrvAnswer, SrvError, SrvLookup
from casaudit.evidence.hostless import HostlessEvidence
from casaudit.evidence.http import (
    REDIRECT_STATUSES,
    DeploymentManifest,
    HttpEvidence,
    HttpExchange,
    LogonForm,
)
from casaudit.evidence.mail import (
    CleartextLoginTest,
    LoginOutcome,
    MailCapabilities,
    MailEvidence,
    Reachability,
    StartTls,
    TlsSession,
)
from casaudit.evidence.mail import NtlmChallenge as MailNtlmChallenge
from casaudit.evidence.ntlm import NtlmEvidence
from casaudit.evidence.tls import (
    TLS_VERSIONS,
    TlsCertificate,
    TlsChain,
    TlsCipherSuite,
    TlsCommandError,
    TlsEvidence,
    TlsProtocolSupport,
    TlsVulnerabilities,
    Trust,
)

__all__ = [
    "GUIDE_METHODS", "METHODS", "REDIRECT_STATUSES", "TLS_VERSIONS",
    "AdvertisedUrl", "AuthenticatedAttempt", "AutodiscoverEvidence", "AutodiscoverVerdict",
    "CertificateCheck", "CertificateProblem", "CleartextLoginTest", "DeploymentManifest",
    "ErrorKind", "Failure",
    "LoginOutcome", "Reachability", "Trust", "Evidence", "EvidenceSet", "HostlessEvidence",
    "HttpEvidence", "HttpExchange", "LogonForm", "MailCapabilities", "MailEvidence",
    "MailNtlmChallenge", "NtlmEvidence", "ProbeError", "SrvAnswer", "SrvError", "SrvLookup",
    "StartTls", "TlsCertificate", "TlsChain", "TlsCipherSuite", "TlsCommandError", "TlsEvidence",
    "TlsProtocolSupport", "TlsSession", "TlsVulnerabilities", "endpoint_url",
]
