"""What the TLS probe observed on one TLS service: protocols, suites, certificate, flaws.

One `TlsEvidence` per distinct (address, port, SNI name) the scan met: HTTPS
for the host and for every other name clients use (autodiscover.<domain>,
<domain>), IMAPS, POP3S, and STARTTLS on IMAP and POP3. Facts only; the
`tls.*` checks judge them. Everything a check needs to stay pure is here,
including the scan time (`started_at`) that certificate expiry is measured
from and the expiry warning threshold the user chose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from casaudit.evidence.base import ProbeError, settle

#: Versions in the order sslyze scans them; the names used in evidence.
TLS_VERSIONS = ("SSL 2.0", "SSL 3.0", "TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3")


@dataclass(frozen=True)
class TlsCipherSuite:
    """A cipher suite the server accepted.

    Attributes:
        name: the IANA (RFC) name, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256.
        openssl_name: OpenSSL's name for it, e.g. ECDHE-RSA-AES128-GCM-SHA256.
        key_bits: the symmetric key size.
        anonymous: no server authentication (aNULL).
    """

    name: str
    openssl_name: str
    key_bits: int
    anonymous: bool = False


@dataclass(frozen=True)
class TlsProtocolSupport:
    """One protocol version: whether it was tested, and the suites accepted with it.

    `accepted` empty with `error` None means the version is refused. `error`
    set means the test of this version did not complete: nothing is known.
    """

    version: str
    accepted: tuple[TlsCipherSuite, ...] = ()
    error: ProbeError | None = None

    @property
    def supported(self) -> bool:
        return bool(self.accepted)


@dataclass(frozen=True)
class TlsCertificate:
    """One certificate as the server sent it (public facts only).

    Attributes:
        subject, issuer: RFC 4514 strings (untrusted text from the server).
        common_name: the subject CN, if any.
        dns_names: subjectAltName DNS entries, in order.
        serial: hexadecimal serial number.
        not_before, not_after: ISO-8601 UTC validity bounds.
        key_type: RSA, DSA, EC, Ed25519, Ed448 or the key class name.
        key_bits: RSA/DSA modulus size or EC curve size.
        signature_hash: the hash of the issuer's signature (sha1, sha256, md5...), None when
            the algorithm has no separate hash (Ed25519) or is unknown.
        self_issued: subject equals issuer and the certificate verifies under its own key.
        sha256: the SHA-256 fingerprint, hex.
    """

    subject: str
    issuer: str
    common_name: str | None
    dns_names: tuple[str, ...]
    serial: str
    not_before: str
    not_after: str
    key_type: str
    key_bits: int
    signature_hash: str | None
    self_issued: bool
    sha256: str


class Trust(StrEnum):
    """Does a chain reach a trusted root? (signatures and anchors only; see `TlsChain`)."""

    TRUSTED = "trusted"
    SELF_SIGNED = "self_signed"
    INCOMPLETE = "incomplete"
    UNTRUSTED_ROOT = "untrusted_root"
    INVALID = "invalid"


@dataclass(frozen=True)
class TlsChain:
    """The chain a server sent for one SNI name, and whether it reaches a trusted root.

    `trust` is one of:
      - `trusted`: it chains, signature by signature, to a certificate of the trust store;
      - `self_signed`: the leaf is its own issuer and is not in the trust store;
      - `incomplete`: the chain stops before any root: the issuer of the last certificate
        sent is neither sent nor in the trust store (an intermediate CA certificate the
        server should send is missing, or the issuing CA is unknown);
      - `untrusted_root`: the chain ends in a self-signed root that is not trusted;
      - `invalid`: a signature in the chain does not verify, or the chain is malformed.

    Trust is judged on signatures and trust anchors only; validity dates and the name
    are separate facts (`tls.cert_expired`, `tls.cert_name_mismatch`).
    """

    certificates: tuple[TlsCertificate, ...]
    trust: Trust
    trust_detail: str
    #: The trust stores used: the system's bundle and --ca-file, by path.
    trust_stores: tuple[str, ...]
    #: Subject of the trust anchor reached, when `trusted`.
    anchor: str | None = None
    #: How many certificates of the verified path are below the anchor (leaf first).
    path_length: int = 0

    def __post_init__(self) -> None:
        settle(self, "trust", Trust)

    @property
    def leaf(self) -> TlsCertificate:
        return self.certificates[0]


@dataclass(frozen=True)
class TlsVulnerabilities:
    """Results of sslyze's flaw tests; None: that test did not run or did not complete."""

    heartbleed: bool | None = None
    ccs_injection: bool | None = None
    #: sslyze's RobotScanResultEnum value, e.g. NOT_VULNERABLE_NO_ORACLE.
    robot: str | None = None
    secure_renegotiation: bool | None = None
    client_renegotiation_dos: bool | None = None
    compression: bool | None = None
    fallback_scsv: bool | None = None


@dataclass(frozen=True)
class TlsCommandError:
    """A scan command that did not complete: its name and why."""

    command: str
    error: ProbeError


@dataclass(frozen=True)
class TlsEvidence:
    """What one TLS service answered for one SNI name.

    Attributes:
        service: https, imaps, pop3s, imap (STARTTLS) or pop3 (STLS).
        host: the name used for SNI and certificate matching.
        name_role: why this name is scanned: `host`, `autodiscover` (autodiscover.<domain>)
            or `domain` (the bare mail domain, also an Autodiscover name).
        port: the TCP port.
        address: the address connected to (from the scan's resolver), None if unresolved.
        starttls: `IMAP` or `POP3` when TLS is negotiated in-band, else None.
        features: the Client Access features the plan looks for on this service (why it
            is scanned), not a claim that they answer there: the HTTP evidence says which
            did, and the tls.* findings name only those.
        scope: `full` (protocols, suites, certificate, flaws) or `certificate` (another name
            on a service already scanned in full at the same address and port).
        scan_commands: the sslyze scan commands run.
        expiry_warning_days: the --cert-expiry-days threshold for this scan.
        error: set when no TLS session could be made at all (`refused`: the port is
            closed; `timeout`: nothing is known; `tls`: the server refused every handshake;
            `protocol`: the STARTTLS upgrade failed).
        starttls_offered: for STARTTLS/STLS services (`starttls` set): True when the server
            accepted the upgrade command, False when it answered it with a refusal (STARTTLS
            is not offered: there is no TLS on this port to judge; `error` then says so too),
            None when the command was never answered (closed, silent, no greeting) and always
            for implicit-TLS services.
        client_auth: whether the handshake asks for a client certificate: `disabled`,
            `optional` or `required`.
        highest_version: the best protocol version the server negotiated.
        protocols: one entry per version tested (empty for certificate-only scans).
        certificate: the chain the server sends for this SNI name with a modern client.
        other_chains: further distinct chains (e.g. for non-RSA clients), rarely present.
        vulnerabilities: flaw tests (full scope only).
        command_errors: scan commands that did not complete.
    """

    id: str
    endpoint: str
    service: str
    host: str
    name_role: str
    port: int
    address: str | None
    starttls: str | None
    features: tuple[str, ...]
    scope: str
    scan_commands: tuple[str, ...]
    started_at: str
    finished_at: str
    expiry_warning_days: int
    error: ProbeError | None = None
    starttls_offered: bool | None = None
    client_auth: str | None = None
    highest_version: str | None = None
    protocols: tuple[TlsProtocolSupport, ...] = ()
    certificate: TlsChain | None = None
    other_chains: tuple[TlsChain, ...] = ()
    vulnerabilities: TlsVulnerabilities = field(default_factory=TlsVulnerabilities)
    command_errors: tuple[TlsCommandError, ...] = ()
    kind: str = field(default="tls", init=False)

    def command_error(self, *commands: str) -> ProbeError | None:
        """The error of the first of `commands` that failed, if any."""
        for failure in self.command_errors:
            if failure.command in commands:
                return failure.error
        return None

    @property
    def accepted_versions(self) -> tuple[str, ...]:
        return tuple(p.version for p in self.protocols if p.supported)


__all__ = [
    "TLS_VERSIONS", "TlsCertificate", "TlsChain", "TlsCipherSuite", "TlsCommandError", "TlsEvidence",
    "TlsProtocolSupport", "TlsVulnerabilities", "Trust",
]
