"""The sslyze half of the TLS probe: scan requests, sslyze's results, certificate chains.

Imported (and its trust stores parsed, `prepare`) by `casaudit.probes.tls` on a
background thread as soon as a scan includes the TLS family, so that importing
sslyze (about a quarter of a second of CPU) overlaps the name resolution and the
bounded pre-handshakes instead of preceding them. Everything here reads or
drives sslyze, nassl and `cryptography`.

Every connection sslyze opens for the scan, and every handshake of the suite
enumeration, first waits for the host's pacer (``--rate``; past ``--deadline``
or on cancel it fails at once, `casaudit.probes.tls_pacing`), and the pacer is
checked between sslyze's results, so the batch stops with the host's deadline.
"""

from __future__ import annotations

import hashlib
import math
import re
import ssl
import threading
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID
from sslyze import (
    ProtocolWithOpportunisticTlsEnum,
    ScanCommand,
    Scanner,
    ServerNetworkConfiguration,
    ServerNetworkLocation,
    ServerScanRequest,
    ServerScanResult,
    ServerTlsProbingResult,
    TlsVersionEnum,
)
from sslyze.errors import (
    ConnectionToServerFailed,
    ConnectionToServerTimedOut,
    ServerRejectedConnection,
    ServerRejectedOpportunisticTlsNegotiation,
    TlsHandshakeFailed,
)
from sslyze.plugins.certificate_info.implementation import CertificateInfoExtraArgument
from sslyze.plugins.certificate_info.trust_stores.trust_store_repository import TrustStoresRepository
from sslyze.scanner.models import ScanCommandsExtraArguments
from sslyze.scanner.scan_command_attempt import ScanCommandAttemptStatusEnum
from sslyze.scanner.scanner_observer import ScannerObserver
from sslyze.server_connectivity import ServerConnectivityInfo

from casaudit.evidence.base import ProbeError
from casaudit.evidence.tls import (
    TLS_VERSIONS,
    TlsCertificate,
    TlsChain,
    TlsCipherSuite,
    TlsCommandError,
    TlsEvidence,
    TlsProtocolSupport,
    TlsVulnerabilities,
)
from casaudit.plan import TlsServiceTask
from casaudit.probes.base import ProbeContext
from casaudit.probes.common import now
from casaudit.probes.errors import ErrorKind, is_timeout, is_timeout_type
from casaudit.probes.tls import Planned, failed_evidence
from casaudit.probes.tls_pacing import register as pace_connections
from casaudit.probes.tls_suites import Enumeration, enumerate_version

#: The protocol versions whose accepted suites are enumerated (casaudit.probes.tls_suites).
VERSIONS: tuple[tuple[str, TlsVersionEnum], ...] = tuple(zip(TLS_VERSIONS, (
    TlsVersionEnum.SSL_2_0,
    TlsVersionEnum.SSL_3_0,
    TlsVersionEnum.TLS_1_0,
    TlsVersionEnum.TLS_1_1,
    TlsVersionEnum.TLS_1_2,
    TlsVersionEnum.TLS_1_3,
), strict=True))
#: How the evidence names the suite enumeration, in place of sslyze's six
#: *_cipher_suites commands (which try every suite, one handshake each).
SUITE_ENUMERATION = "cipher_suites_by_elimination"

#: What the tls.* checks read besides the suites; sslyze's default adds resumption,
#: curves, early data, EMS and HTTP headers, which no check here needs.
FULL_COMMANDS: frozenset[ScanCommand] = frozenset({
    ScanCommand.CERTIFICATE_INFO,
    ScanCommand.TLS_COMPRESSION,
    ScanCommand.OPENSSL_CCS_INJECTION,
    ScanCommand.TLS_FALLBACK_SCSV,
    ScanCommand.HEARTBLEED,
    ScanCommand.ROBOT,
    ScanCommand.SESSION_RENEGOTIATION,
})
CERTIFICATE_COMMANDS: frozenset[ScanCommand] = frozenset({ScanCommand.CERTIFICATE_INFO})

_STARTTLS = {
    "IMAP": ProtocolWithOpportunisticTlsEnum.IMAP,
    "POP3": ProtocolWithOpportunisticTlsEnum.POP3,
}
_MAX_CHAIN = 10

# sslyze parses its bundled trust stores, and TrustAnchors.load the system bundle and
# --ca-file, some of whose old roots (non-positive serial numbers) cryptography warns
# about on every scan; the warning is about that data, not about the server. Installed
# once, process-wide: warnings.catch_warnings() around each parse is not thread-safe
# (a thread leaving it restores the filters under another one still parsing).
warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning, module=r"sslyze\.")
warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning, module=re.escape(__name__) + "$")


@dataclass(frozen=True)
class _Request:
    planned: Planned
    request: ServerScanRequest

    @property
    def task(self) -> TlsServiceTask:
        return self.planned.task

    @property
    def address(self) -> str:
        return self.planned.address

    @property
    def scope(self) -> str:
        return self.planned.scope


def prepare(context: ProbeContext) -> SslyzeScan:
    """A scan with the trust stores already parsed (sslyze's and ours), ready to `run`."""
    prepared = SslyzeScan(context)
    # sslyze's repository is a lazily built, not thread-safe singleton: build it here, once.
    TrustStoresRepository.get_default()
    prepared.trust_anchors()
    return prepared


class SslyzeScan:
    """One sslyze Scanner over every planned service, and the evidence it yields."""

    def __init__(self, context: ProbeContext) -> None:
        self._context = context
        self._anchors: TrustAnchors | None = None
        self._anchors_lock = threading.Lock()

    def run(self, planned: Sequence[Planned], started: str) -> dict[str, TlsEvidence]:
        """Run sslyze on every planned service at once; evidence by evidence id."""
        return self._scan([self._request(item) for item in planned], started)

    def _failed_evidence(self, service: TlsServiceTask, address: str | None, scope: str,
                         commands: tuple[str, ...], started: str, error: ProbeError) -> TlsEvidence:
        return failed_evidence(self._context, service, address, scope, commands, started, error)

    # -- building requests ------------------------------------------------------------

    def _request(self, planned: Planned) -> _Request:
        service, address = planned.task, planned.address
        commands = FULL_COMMANDS if planned.scope == "full" else CERTIFICATE_COMMANDS
        configuration = ServerNetworkConfiguration(
            tls_server_name_indication=service.host,
            tls_opportunistic_encryption=_STARTTLS.get(service.starttls or ""),
            network_timeout=max(1, math.ceil(self._context.timeout)),
            network_max_retries=2,
        )
        extra = ScanCommandsExtraArguments(
            certificate_info=CertificateInfoExtraArgument(custom_ca_file=self._context.ca_file)
            if self._context.ca_file else None,
        )
        request = ServerScanRequest(
            server_location=ServerNetworkLocation(service.host, service.port, ip_address=address),
            network_configuration=configuration,
            scan_commands=set(commands),
            scan_commands_extra_arguments=extra,
        )
        return _Request(planned, request)

    def _scan(self, planned: Sequence[_Request], started: str) -> dict[str, TlsEvidence]:
        by_uuid = {item.request.uuid: item for item in planned}
        suites = _SuiteEnumerations(
            {item.request.uuid for item in planned if item.scope == "full"},
            ThreadPoolExecutor(max_workers=max(4, 4 * self._context.concurrency),
                               thread_name_prefix="tls-versions"),
        )
        scanner = Scanner(
            per_server_concurrent_connections_limit=max(2, min(5, self._context.concurrency)),
            concurrent_server_scans_limit=len(planned),
            observers=[suites],
        )
        evidence: dict[str, TlsEvidence] = {}
        pacer = self._context.pacer
        # Every connection sslyze (and the suite enumeration) opens waits for the host's
        # --rate; past --deadline or on cancel it fails at once (casaudit.probes.tls_pacing).
        pace_connections((item.request.server_location for item in planned), pacer)
        try:
            scanner.queue_scans([item.request for item in planned])
            for result in scanner.get_results():
                pacer.check()  # stop here, not after the batch, once the deadline has passed
                item = by_uuid[result.uuid]
                try:
                    evidence[item.task.evidence_id] = self._evidence(
                        item, result, started, suites.protocols(result.uuid))
                except Exception as exc:  # noqa: BLE001 - a result we cannot read is evidence too
                    evidence[item.task.evidence_id] = self._failed_evidence(
                        item.task, item.address, item.scope, _command_names(item), started,
                        ProbeError("error",
                                   f"could not read sslyze's result: {type(exc).__name__}: {exc}"),
                    )
        finally:
            suites.close()
        return evidence

    # -- reading results --------------------------------------------------------------

    def _evidence(
        self,
        item: _Request,
        result: ServerScanResult,
        started: str,
        protocols: tuple[TlsProtocolSupport, ...],
    ) -> TlsEvidence:
        service = item.task
        commands = _command_names(item)
        if result.connectivity_result is None or result.scan_result is None:
            return self._failed_evidence(
                service, item.address, item.scope, commands, started,
                _connectivity_error(result, service),
            )
        probing = result.connectivity_result
        attempts = result.scan_result
        failures: list[TlsCommandError] = []

        def completed(name: str) -> Any:
            attempt = getattr(attempts, name)
            if attempt.status is ScanCommandAttemptStatusEnum.COMPLETED:
                return attempt.result
            if attempt.status is ScanCommandAttemptStatusEnum.ERROR:
                failures.append(TlsCommandError(name, _attempt_error(attempt)))
            return None

        chains: list[TlsChain] = []
        certificate_info = completed(ScanCommand.CERTIFICATE_INFO.value)
        if certificate_info is not None:
            anchors = self.trust_anchors()
            for deployment in certificate_info.certificate_deployments:
                chains.append(describe_chain(deployment.received_certificate_chain, anchors))

        vulnerabilities = TlsVulnerabilities()
        if item.scope == "full":
            heartbleed = completed(ScanCommand.HEARTBLEED.value)
            ccs = completed(ScanCommand.OPENSSL_CCS_INJECTION.value)
            robot = completed(ScanCommand.ROBOT.value)
            renegotiation = completed(ScanCommand.SESSION_RENEGOTIATION.value)
            compression = completed(ScanCommand.TLS_COMPRESSION.value)
            fallback = completed(ScanCommand.TLS_FALLBACK_SCSV.value)
            vulnerabilities = TlsVulnerabilities(
                heartbleed=heartbleed.is_vulnerable_to_heartbleed if heartbleed else None,
                ccs_injection=ccs.is_vulnerable_to_ccs_injection if ccs else None,
                robot=robot.robot_result.value if robot else None,
                secure_renegotiation=(
                    renegotiation.supports_secure_renegotiation if renegotiation else None),
                client_renegotiation_dos=(
                    renegotiation.is_vulnerable_to_client_renegotiation_dos if renegotiation else None),
                compression=compression.supports_compression if compression else None,
                fallback_scsv=fallback.supports_fallback_scsv if fallback else None,
            )
        return TlsEvidence(
            id=service.evidence_id, endpoint=service.endpoint, service=service.service,
            host=service.host, name_role=service.name_role, port=service.port,
            address=item.address, starttls=service.starttls, features=service.features,
            scope=item.scope, scan_commands=commands, started_at=started, finished_at=now(),
            expiry_warning_days=self._context.cert_expiry_days,
            # sslyze connected, so the upgrade command was accepted.
            starttls_offered=True if service.starttls else None,
            client_auth=probing.client_auth_requirement.value.lower(),
            highest_version=_version_name(probing.highest_tls_version_supported.name),
            protocols=protocols,
            certificate=chains[0] if chains else None,
            other_chains=tuple(chains[1:]),
            vulnerabilities=vulnerabilities,
            command_errors=tuple(failures),
        )

    def trust_anchors(self) -> TrustAnchors:
        with self._anchors_lock:
            if self._anchors is None:
                self._anchors = TrustAnchors.load(self._context.ca_file)
            return self._anchors


def _command_names(item: _Request) -> tuple[str, ...]:
    names = sorted(command.value for command in item.request.scan_commands)
    return tuple(names + [SUITE_ENUMERATION] if item.scope == "full" else names)


class _SuiteEnumerations(ScannerObserver):
    """Starts each full service's suite enumeration as soon as sslyze has connected to it.

    It then runs alongside sslyze's own scan commands, on its own pool.
    """

    def __init__(self, wanted: set[UUID], pool: ThreadPoolExecutor) -> None:
        self._wanted = wanted
        self.pool = pool
        self._waiting: dict[UUID, list[tuple[str, Callable[[], Enumeration]]]] = {}
        self._lock = threading.Lock()

    def server_connectivity_test_completed(
        self, server_scan_request: ServerScanRequest, connectivity_result: ServerTlsProbingResult
    ) -> None:
        if server_scan_request.uuid not in self._wanted:
            return
        info = ServerConnectivityInfo(
            server_location=server_scan_request.server_location,
            network_configuration=server_scan_request.network_configuration,
            tls_probing_result=connectivity_result,
        )
        started = [(name, enumerate_version(info, version, self.pool)) for name, version in VERSIONS]
        with self._lock:
            self._waiting[server_scan_request.uuid] = started

    def server_connectivity_test_error(
        self, server_scan_request: ServerScanRequest, connectivity_error: ConnectionToServerFailed
    ) -> None:
        pass

    def server_scan_completed(self, server_scan_result: ServerScanResult) -> None:
        pass

    def all_server_scans_completed(self) -> None:
        pass

    def protocols(self, uuid: UUID) -> tuple[TlsProtocolSupport, ...]:
        with self._lock:
            started = self._waiting.pop(uuid, [])
        protocols = []
        for name, wait in started:
            try:
                found = wait()
            except Exception as exc:  # noqa: BLE001 - this version stays unknown, with why
                kind = ErrorKind.TIMEOUT if is_timeout(exc) else ErrorKind.ERROR
                protocols.append(TlsProtocolSupport(
                    name, error=ProbeError(kind, f"{type(exc).__name__}: {exc}"[:500])))
                continue
            protocols.append(TlsProtocolSupport(name, tuple(
                TlsCipherSuite(suite.name, suite.openssl_name, suite.key_size, suite.is_anonymous)
                for suite in found.accepted
            )))
        return tuple(protocols)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _version_name(enum_name: str) -> str:
    """sslyze's TLS_1_2 -> "TLS 1.2"."""
    protocol, major, minor = enum_name.split("_")
    return f"{protocol} {major}.{minor}"


def _connectivity_error(result: ServerScanResult, service: TlsServiceTask) -> ProbeError:
    trace = result.connectivity_error_trace
    kind = getattr(trace, "exc_type", None) if trace is not None else None
    detail = "".join(trace.format_exception_only()).strip() if trace is not None else "no result"
    # sslyze's message names host:port and then its reason in quotes; keep the reason.
    reason = detail.split("->", 1)[-1].strip().strip('"').strip() if "->" in detail else detail
    if kind is not None and issubclass(kind, ServerRejectedConnection):
        return ProbeError("refused", "connection refused: nothing listens on this port")
    if kind is not None and issubclass(kind, ConnectionToServerTimedOut):
        return ProbeError("timeout", "no answer to the connection attempt in time (filtered?)")
    if kind is not None and issubclass(kind, ServerRejectedOpportunisticTlsNegotiation):
        return ProbeError(
            "protocol", f"the {service.starttls} STARTTLS upgrade failed: {reason}")
    if kind is not None and issubclass(kind, TlsHandshakeFailed):
        return ProbeError("tls", f"no TLS handshake succeeded: {reason}")
    return ProbeError("error", reason[:500])


def _attempt_error(attempt: Any) -> ProbeError:
    reason = attempt.error_reason.value if attempt.error_reason else "ERROR"
    trace = attempt.error_trace
    detail = "".join(trace.format_exception_only()).strip() if trace is not None else ""
    kind = ErrorKind.TIMEOUT if _timed_out(trace) else ErrorKind.ERROR
    return ProbeError(kind, f"{reason}: {detail}"[:500])


def _timed_out(trace: Any) -> bool:
    """Whether an attempt's traceback, or one of its causes, is a timeout (by type)."""
    while trace is not None:
        if trace.exc_type is not None and is_timeout_type(trace.exc_type):
            return True
        trace = trace.__cause__ or trace.__context__
    return False


# --------------------------------------------------------------------------- certificates


@dataclass(frozen=True)
class TrustAnchors:
    """The certificates a client of this scan trusts: the system bundle plus --ca-file."""

    by_subject: dict[bytes, tuple[x509.Certificate, ...]]
    stores: tuple[str, ...]

    @classmethod
    def load(cls, ca_file: Path | None) -> TrustAnchors:
        paths = ssl.get_default_verify_paths()
        candidates = [paths.cafile, paths.openssl_cafile]
        stores: list[str] = []
        certificates: list[x509.Certificate] = []
        for candidate in candidates:
            if candidate and Path(candidate).is_file():
                certificates += _read_pem_bundle(Path(candidate))
                stores.append(f"system ({candidate})")
                break
        if ca_file is not None:
            certificates += _read_pem_bundle(ca_file)
            stores.append(f"--ca-file ({ca_file})")
        by_subject: dict[bytes, list[x509.Certificate]] = {}
        for certificate in certificates:
            by_subject.setdefault(certificate.subject.public_bytes(), []).append(certificate)
        return cls({k: tuple(v) for k, v in by_subject.items()}, tuple(stores))

    def issuers_of(self, certificate: x509.Certificate) -> tuple[x509.Certificate, ...]:
        return self.by_subject.get(certificate.issuer.public_bytes(), ())


def _read_pem_bundle(path: Path) -> list[x509.Certificate]:
    try:
        # Old roots in system bundles carry non-positive serial numbers: the module's
        # warning filter (above) keeps cryptography's deprecation warning quiet.
        return list(x509.load_pem_x509_certificates(path.read_bytes()))
    except (OSError, ValueError):
        return []


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether `issuer`'s key signed `certificate` (SHA-1 and MD5 signatures included)."""
    if certificate.issuer != issuer.subject:
        return False
    try:
        certificate.verify_directly_issued_by(issuer)
        return True
    except InvalidSignature:
        return False
    except Exception:  # noqa: BLE001 - an algorithm cryptography refuses (SHA-1): check by hand
        pass
    key = issuer.public_key()
    algorithm = certificate.signature_hash_algorithm
    if algorithm is None:
        return False
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(certificate.signature, certificate.tbs_certificate_bytes,
                       asym_padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(certificate.signature, certificate.tbs_certificate_bytes, ec.ECDSA(algorithm))
        else:
            return False
    except Exception:  # noqa: BLE001 - invalid or unverifiable: not issued by it
        return False
    return True


def describe_chain(received: Iterable[x509.Certificate], anchors: TrustAnchors) -> TlsChain:
    """The chain as sent, and how far it gets towards a trust anchor (signatures only)."""
    sent = list(received)[:_MAX_CHAIN]
    described = tuple(_describe(certificate) for certificate in sent)
    stores = anchors.stores
    leaf = sent[0]
    pool = sent[1:]
    current = leaf
    path = [leaf]
    while len(path) <= _MAX_CHAIN:
        for anchor in anchors.issuers_of(current):
            if _issued_by(current, anchor):
                return TlsChain(
                    described, "trusted",
                    f"chains to {anchor.subject.rfc4514_string()} in the trust store",
                    stores, anchor.subject.rfc4514_string(), len(path),
                )
        if _issued_by(current, current):
            if current is leaf:
                return TlsChain(described, "self_signed",
                                "the leaf certificate is self-signed and not in the trust store", stores)
            return TlsChain(
                described, "untrusted_root",
                f"the chain ends in the self-signed root {current.subject.rfc4514_string()}, "
                "which is not in the trust store", stores,
            )
        parent = next((c for c in pool if c not in path and _issued_by(current, c)), None)
        if parent is None:
            named = [c for c in pool if c.subject == current.issuer]
            if named:
                return TlsChain(
                    described, "invalid",
                    f"the certificate sent as the issuer of {current.subject.rfc4514_string()} "
                    "did not sign it", stores,
                )
            return TlsChain(
                described, "incomplete",
                f"incomplete chain: the server sent {len(sent)} certificate(s) and not the issuer "
                f"{current.issuer.rfc4514_string()} of {current.subject.rfc4514_string()}, which "
                "is not in the trust store either (a missing intermediate CA certificate, or an "
                "unknown CA)", stores,
            )
        path.append(parent)
        current = parent
    return TlsChain(described, "invalid", f"no path within {_MAX_CHAIN} certificates", stores)


def _describe(certificate: x509.Certificate) -> TlsCertificate:
    key = certificate.public_key()
    key_type, key_bits = _key(key)
    try:
        hash_algorithm = certificate.signature_hash_algorithm
        signature_hash = hash_algorithm.name if hash_algorithm is not None else None
    except Exception:  # noqa: BLE001 - an algorithm cryptography does not know
        signature_hash = None
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        dns_names = tuple(san.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        dns_names = ()
    except ValueError:
        dns_names = ()
    common_names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = common_names[0].value if common_names else None
    return TlsCertificate(
        subject=certificate.subject.rfc4514_string(),
        issuer=certificate.issuer.rfc4514_string(),
        common_name=str(common_name) if common_name is not None else None,
        dns_names=dns_names,
        serial=format(certificate.serial_number, "x"),
        not_before=_iso(certificate.not_valid_before_utc),
        not_after=_iso(certificate.not_valid_after_utc),
        key_type=key_type,
        key_bits=key_bits,
        signature_hash=signature_hash,
        self_issued=_issued_by(certificate, certificate),
        sha256=hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest(),
    )


def _key(key: object) -> tuple[str, int]:
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.curve.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    return type(key).__name__, 0


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")




__all__ = ["SslyzeScan", "TrustAnchors", "describe_chain", "prepare"]
