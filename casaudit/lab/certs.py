"""Certificates for the lab's HTTPS listener: a throw-away CA and one leaf.

The CA is created when the lab starts and never leaves the lab's work
directory, so a scanner can trust exactly this lab (``--ca-file``) and nothing
else. The leaf carries only the posture's TLS names: a posture that leaves out
``autodiscover.<domain>`` gets a certificate a real client would reject for that
name, which is what the TLS checks are meant to notice.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import trustme

from casaudit.lab.posture import TlsSettings

CA_FILE_NAME = "lab-ca.pem"


@dataclass(frozen=True)
class LabCertificates:
    #: PEM of the lab CA, for clients that verify.
    ca_file: Path
    #: Server-side context presenting the leaf (and its chain).
    server_context: ssl.SSLContext


def issue_certificates(tls: TlsSettings, workdir: Path) -> LabCertificates:
    """Create the CA, issue the leaf for ``tls.names`` and write the CA PEM to workdir."""
    # RSA, as Exchange's own certificates are; ECDSA would be an odd fingerprint.
    ca = trustme.CA(organization_name="casaudit lab CA", key_type=trustme.KeyType.RSA)
    now = datetime.now(UTC)
    leaf = ca.issue_cert(
        *tls.names,
        common_name=tls.names[0],
        organization_name="casaudit lab",
        not_before=now - timedelta(hours=1),
        not_after=now + timedelta(days=tls.valid_days),
        key_type=trustme.KeyType.RSA,
    )
    ca_file = workdir / CA_FILE_NAME
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    leaf.configure_cert(context)
    return LabCertificates(ca_file=ca_file, server_context=context)
