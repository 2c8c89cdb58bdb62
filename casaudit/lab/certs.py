"""Certificates and the TLS server context for the lab's HTTPS listener.

The CA is created when the lab starts and never leaves the lab's work
directory, so a scanner can trust exactly this lab (``--ca-file``) and nothing
else. The leaf carries only the posture's TLS names: a posture that leaves out
``autodiscover.<domain>`` gets a certificate a real client would reject for that
name, which is what the TLS checks are meant to notice.

Postures can also ask for the certificate flaws real servers show (expired or
not yet valid, a 1024-bit key, a SHA-1 signature, self-signed, issued by an
intermediate the server does not send) and for legacy protocol versions and
cipher suites. `cryptography` builds the certificates directly, since no test
CA library issues deliberately bad ones. OpenSSL refuses most of these at its
default security level, so the context drops to level 0 when the posture asks
for one of them (what an old server's TLS stack effectively did).
"""

from __future__ import annotations

import ssl
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from casaudit.lab.posture import TlsSettings

CA_FILE_NAME = "lab-ca.pem"
#: Python's own server default, minus its SHA-1 MAC exclusion (TLS 1.0 has no AEAD suite):
#: a posture that lowers the security level for another reason keeps ECDHE-only suites.
ECDHE_ONLY = "ECDH+AESGCM:ECDH+CHACHA20:ECDH+AES:!aNULL:!eNULL:!aDSS"
_VERSIONS = {
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}


@dataclass(frozen=True)
class LabCertificates:
    #: PEM of the lab CA, for clients that verify.
    ca_file: Path
    #: Server-side context presenting the leaf (and its chain).
    server_context: ssl.SSLContext
    #: PEM of the leaf and the chain sent with it, and of the leaf's key (tlslite-ng reads them).
    chain_file: Path | None = None
    key_file: Path | None = None


@dataclass(frozen=True)
class _Issued:
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey


def _name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _ca(subject: x509.Name, issuer: _Issued | None, now: datetime, path_length: int | None) -> _Issued:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signer = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
        )
    return _Issued(builder.sign(signer, hashes.SHA256()), key)


def _leaf(tls: TlsSettings, issuer: _Issued | None, now: datetime) -> _Issued:
    key = rsa.generate_private_key(public_exponent=65537, key_size=tls.key_bits)
    subject = _name(tls.names[0], "casaudit lab")
    not_before = now + timedelta(days=tls.starts_days) - timedelta(hours=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + timedelta(days=tls.valid_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in tls.names]), critical=False
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
        )
    signer = issuer.key if issuer else key
    if tls.signature_hash == "sha1":
        return _Issued(_sign_sha1(builder.sign(signer, hashes.SHA256()), signer), key)
    algorithm = hashes.SHA384() if tls.signature_hash == "sha384" else hashes.SHA256()
    return _Issued(builder.sign(signer, algorithm), key)


# DER of the AlgorithmIdentifier OIDs sha256WithRSAEncryption and sha1WithRSAEncryption:
# the same length, so one can stand in for the other without re-encoding lengths.
_SHA256_RSA = bytes.fromhex("06092a864886f70d01010b")
_SHA1_RSA = bytes.fromhex("06092a864886f70d010105")


def _sign_sha1(certificate: x509.Certificate, signer: rsa.RSAPrivateKey) -> x509.Certificate:
    """The same certificate signed with SHA-1, which cryptography no longer signs with.

    The TBS part and the outer algorithm name the signature algorithm; both OIDs
    are swapped in place, then the RSA signature (always the modulus length, so
    the same size) is replaced by one over the new TBS bytes.
    """
    tbs = certificate.tbs_certificate_bytes.replace(_SHA256_RSA, _SHA1_RSA, 1)
    signature = signer.sign(tbs, padding.PKCS1v15(), hashes.SHA1())
    der = certificate.public_bytes(serialization.Encoding.DER)
    der = der.replace(certificate.tbs_certificate_bytes, tbs, 1)
    der = der.replace(_SHA256_RSA, _SHA1_RSA, 1).replace(certificate.signature, signature, 1)
    return x509.load_der_x509_certificate(der)


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def issue_certificates(tls: TlsSettings, workdir: Path) -> LabCertificates:
    """Create the CA, issue the leaf as ``tls`` asks and build the server context.

    The CA PEM (the trust anchor for --ca-file) is written to ``workdir``.
    """
    now = datetime.now(UTC)
    # RSA, as Exchange's own certificates are; ECDSA would be an odd fingerprint.
    root = _ca(_name("casaudit lab root CA", "casaudit lab CA"), None, now, path_length=1)
    chain: list[x509.Certificate] = []
    if tls.issuer == "intermediate":
        intermediate = _ca(_name("casaudit lab issuing CA", "casaudit lab CA"), root, now, None)
        leaf = _leaf(tls, intermediate, now)
        if tls.send_intermediate:
            chain.append(intermediate.certificate)
    elif tls.issuer == "self":
        leaf = _leaf(tls, None, now)
    else:
        leaf = _leaf(tls, root, now)

    ca_file = workdir / CA_FILE_NAME
    ca_file.write_bytes(_pem(root.certificate))
    chain_file = workdir / "lab-server-chain.pem"
    chain_file.write_bytes(b"".join(_pem(c) for c in [leaf.certificate, *chain]))
    key_file = workdir / "lab-server-key.pem"
    key_file.write_bytes(leaf.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    key_file.chmod(0o600)
    context = server_context(tls)
    context.load_cert_chain(str(chain_file), str(key_file))
    return LabCertificates(ca_file=ca_file, server_context=context, chain_file=chain_file,
                           key_file=key_file)


def needs_security_level_0(tls: TlsSettings) -> bool:
    """OpenSSL 3 at its default level refuses TLS < 1.2, SHA-1 signatures and keys < 2048 bits."""
    return (
        _VERSIONS[tls.min_version] < ssl.TLSVersion.TLSv1_2
        or tls.signature_hash == "sha1"
        or tls.key_bits < 2048
        or tls.ciphers is not None
    )


def server_context(tls: TlsSettings) -> ssl.SSLContext:
    """The server context for the posture's protocol versions and cipher suites."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if needs_security_level_0(tls):
        context.set_ciphers(f"{tls.ciphers or ECDHE_ONLY}:@SECLEVEL=0")
    with warnings.catch_warnings():
        # Python deprecates TLSv1/TLSv1.1 as a version bound; serving them is the point here.
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = _VERSIONS[tls.min_version]
        context.maximum_version = _VERSIONS[tls.max_version]
    return context
