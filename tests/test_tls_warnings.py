"""No CryptographyDeprecationWarning reaches stderr, however many TLS scans run at once (issue #15, item 9).

Trust stores hold old roots with non-positive serial numbers, which cryptography
warns about on every parse. casaudit silences that warning; it did so per call
with `warnings.catch_warnings()`, which is not thread-safe: one thread leaving the
block restores the filter list while another is still parsing, and a fleet run
under cron mailed the warning. Each test here runs in a child process with
Python's warnings shown (`-W default`), so a leak would show on its stderr.
"""

from __future__ import annotations

import base64
import datetime
import subprocess
import sys
import textwrap
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import run_cli
from tests.fleet_support import target_entry, write_targets

WARNING = "CryptographyDeprecationWarning"


def _root_with_negative_serial() -> bytes:
    """A PEM certificate whose serial number is -86, as some old roots in system bundles have:
    built with serial 0x55, whose DER byte is then flipped (cryptography refuses to build one)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "casaudit test: an old root")])
    since = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(0x55).not_valid_before(since).not_valid_after(since + datetime.timedelta(days=9000))
        .sign(key, hashes.SHA256())
    )
    der = certificate.public_bytes(serialization.Encoding.DER)
    version_then_serial = b"\xa0\x03\x02\x01\x02\x02\x01\x55"
    at = der.index(version_then_serial) + len(version_then_serial) - 1
    der = der[:at] + b"\xaa" + der[at + 1:]
    return b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(der) + b"-----END CERTIFICATE-----\n"


def _ca_bundle(tmp_path: Path, lab_ca: Path | None = None) -> Path:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes((lab_ca.read_bytes() if lab_ca else b"") + _root_with_negative_serial())
    return bundle


def test_the_test_certificate_does_make_cryptography_warn(tmp_path):
    # Without casaudit's filter the certificate warns: the tests below would see a leak.
    done = subprocess.run(
        [sys.executable, "-W", "default", "-c",
         "import sys; from cryptography import x509; "
         "x509.load_pem_x509_certificates(open(sys.argv[1], 'rb').read())", str(_ca_bundle(tmp_path))],
        capture_output=True, text=True, timeout=60,
    )
    assert WARNING in done.stderr


def test_trust_anchors_loaded_in_many_threads_never_warn(tmp_path):
    # Given 16 threads each loading the trust anchors (system bundle + the odd root) 25 times,
    # as the TLS probes of 16 hosts scanned at once do
    script = textwrap.dedent("""
        import sys, threading
        from pathlib import Path
        from casaudit.probes.tls_scan import TrustAnchors

        bundle = Path(sys.argv[1])
        start = threading.Barrier(16)

        def load():
            start.wait(timeout=30)
            for _ in range(25):
                TrustAnchors.load(bundle)

        threads = [threading.Thread(target=load) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        print("alive" if any(thread.is_alive() for thread in threads) else "done")
    """)
    done = subprocess.run([sys.executable, "-W", "default", "-c", script, str(_ca_bundle(tmp_path))],
                          capture_output=True, text=True, timeout=180)
    # Then they all finished and not one warning was printed
    assert done.returncode == 0 and done.stdout.strip() == "done", done.stderr
    assert WARNING not in done.stderr, done.stderr


def test_a_fleet_scan_prints_no_cryptography_warning(legacy_lab, tmp_path):
    # Given six hosts (names of one lab) scanned at once, trusting a bundle with the odd root
    bundle = _ca_bundle(tmp_path, legacy_lab.ca_file)
    entries = [target_entry(legacy_lab, host=f"mail{number}.{legacy_lab.domain}", ca_file=str(bundle))
               .replace(f'ca_file = "{legacy_lab.ca_file}"\n', "")
               for number in range(6)]
    targets = write_targets(tmp_path / "fleet.toml", *entries, defaults="timeout = 5\nconcurrency = 4\n")
    # When the fleet runs with Python's warnings shown
    run = run_cli("scan", "--targets", str(targets), "--parallel", "6", "--no-history",
                  "--probes", "tls", timeout=170, env={"PYTHONWARNINGS": "default"})
    # Then every host was scanned and stderr has no warning
    assert run.code in (0, 1, 3), run.stderr
    assert "mail5." in run.stdout
    assert WARNING not in run.stderr, run.stderr
