"""The mail probe and checks against a real dovecot (Debian's 2.3), on loopback.

Two instances from `tests/interop/dovecot/dovecot.conf.in`: one allowing
plaintext authentication without TLS, one requiring TLS. Both listen on
127.0.0.2: dovecot counts a connection whose remote and local addresses are
equal as secure (so 127.0.0.1 -> 127.0.0.1 would always be allowed plaintext),
and the kernel gives a client of 127.0.0.2 the source address 127.0.0.1.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from casaudit.api import ScanOptions, audit
from casaudit.model import AuditResult
from casaudit.plan import Target
from tests.system_packages import ensure_debian_packages

pytestmark = pytest.mark.interop

CONFIG = Path(__file__).parent / "interop" / "dovecot" / "dovecot.conf.in"
ADDRESS = "127.0.0.2"
HOST = "mail.dovecot.test"
SERVICES = ("pop3", "pop3s", "imap", "imaps")


@dataclass
class Dovecot:
    ports: dict[str, int]
    closed_port: int
    workdir: Path

    def scan(self) -> AuditResult:
        ports = {"http": self.closed_port, "https": self.closed_port, **self.ports}
        return audit(Target(HOST, "dovecot.test", ports),
                     ScanOptions(pins={HOST: ADDRESS}, timeout=5.0))


@pytest.fixture(scope="session")
def dovecot_binary() -> str:
    return ensure_debian_packages("dovecot", "dovecot-imapd", "dovecot-pop3d")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((ADDRESS, 0))
        return int(probe.getsockname()[1])


def _wait_listening(ports: list[int], process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    pending = list(ports)
    while pending:
        if process.poll() is not None:
            text = log.read_text() if log.exists() else ""
            pytest.fail(f"dovecot exited with {process.returncode}: {text[-1500:]}")
        try:
            socket.create_connection((ADDRESS, pending[0]), timeout=1).close()
            pending.pop(0)
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"dovecot did not listen on {pending} in 15 s")
            time.sleep(0.05)


def _start(binary: str, name: str, plaintext_disabled: bool) -> Iterator[Dovecot]:
    workdir = Path(tempfile.mkdtemp(prefix=f"casaudit-dovecot-{name}-"))
    workdir.chmod(0o755)  # dovecot's unprivileged login processes walk into it
    process: subprocess.Popen[bytes] | None = None
    closed = socket.socket()
    try:
        closed.bind((ADDRESS, 0))  # bound, never listening: refused for the scan's HTTP ports
        ca = trustme.CA()
        leaf = ca.issue_cert(HOST)
        leaf.cert_chain_pems[0].write_to_path(str(workdir / "cert.pem"))
        leaf.private_key_pem.write_to_path(str(workdir / "key.pem"))
        (workdir / "passwd").write_text("someone:{PLAIN}not-a-real-password\n")
        ports = {service: _free_port() for service in SERVICES}
        if os.geteuid() == 0:
            user_settings = ""  # the package's dovecot/dovenull users
            owner = pwd.getpwnam("nobody")
        else:
            me = pwd.getpwuid(os.geteuid())
            user_settings = f"default_internal_user = {me.pw_name}\ndefault_login_user = {me.pw_name}"
            owner = me
        text = CONFIG.read_text()
        for key, value in {
            "@WORKDIR@": str(workdir), "@NAME@": name, "@USER_SETTINGS@": user_settings,
            "@PLAINTEXT@": "yes" if plaintext_disabled else "no",
            "@UID@": str(owner.pw_uid), "@GID@": str(owner.pw_gid),
            "@IMAP_PORT@": str(ports["imap"]), "@IMAPS_PORT@": str(ports["imaps"]),
            "@POP3_PORT@": str(ports["pop3"]), "@POP3S_PORT@": str(ports["pop3s"]),
        }.items():
            text = text.replace(key, value)
        text = text.replace("listen = 127.0.0.1", f"listen = {ADDRESS}").replace(
            "address = 127.0.0.1", f"address = {ADDRESS}")
        config = workdir / "dovecot.conf"
        config.write_text(text)
        process = subprocess.Popen(
            [binary, "-F", "-c", str(config)], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        _wait_listening(list(ports.values()), process, workdir / "dovecot.log")
        yield Dovecot(ports, int(closed.getsockname()[1]), workdir)
    finally:
        closed.close()
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def dovecot_plaintext(dovecot_binary: str) -> Iterator[Dovecot]:
    yield from _start(dovecot_binary, "plaintext", plaintext_disabled=False)


@pytest.fixture(scope="module")
def dovecot_tls_required(dovecot_binary: str) -> Iterator[Dovecot]:
    yield from _start(dovecot_binary, "tlsrequired", plaintext_disabled=True)


def _status(result: AuditResult, check: str) -> dict[str, str]:
    return {row.endpoint.split("://")[0]: row.status.value for row in result.checks if row.check == check}


def _mail(result: AuditResult) -> dict:
    return {e.service: e for e in result.evidence if e.kind == "mail"}


def test_dovecot_allowing_plaintext_fails_cleartext_login(dovecot_plaintext: Dovecot) -> None:
    result = dovecot_plaintext.scan()
    mail = _mail(result)
    assert {e.reachability for e in mail.values()} == {"open"}
    imap = mail["imap"]
    assert imap.banner is not None and imap.banner.product == "Dovecot"
    assert not imap.capabilities_clear.logindisabled and "PLAIN" in imap.capabilities_clear.sasl
    assert imap.starttls.ok and imap.tls.version.startswith("TLS")
    assert mail["pop3"].login_in_clear.outcome == "accepted"
    assert _status(result, "mail.cleartext_login") == {"pop3": "fail", "imap": "fail"}
    assert _status(result, "mail.starttls_missing") == {"pop3": "pass", "imap": "pass"}
    assert set(_status(result, "mail.banner_disclosure").values()) == {"fail"}
    exposed = {f.endpoint.split("://")[0]: f.severity.value for f in result.findings
               if f.check in ("mail.pop3_exposed", "mail.imap4_exposed")}
    assert exposed == {"pop3": "low", "pop3s": "info", "imap": "low", "imaps": "info"}


def test_dovecot_requiring_tls_passes_cleartext_login(dovecot_tls_required: Dovecot) -> None:
    result = dovecot_tls_required.scan()
    mail = _mail(result)
    imap, pop3 = mail["imap"], mail["pop3"]
    assert imap.capabilities_clear.logindisabled and not imap.capabilities_clear.sasl
    assert "PLAIN" in imap.capabilities_tls.sasl  # offered once inside TLS
    assert pop3.login_in_clear.outcome == "refused_tls_required"
    assert pop3.login_in_clear.wording == "dovecot"
    assert "Plaintext authentication disallowed" in pop3.login_in_clear.reply
    assert pop3.starttls.ok and "PLAIN" in pop3.capabilities_tls.sasl
    assert _status(result, "mail.cleartext_login") == {"pop3": "pass", "imap": "pass"}
    assert _status(result, "mail.starttls_missing") == {"pop3": "pass", "imap": "pass"}
    assert mail["imaps"].capabilities_tls is not None and mail["pop3s"].tls is not None
    # dovecot saw the made-up user name as a failed attempt and never a login
    log = (dovecot_tls_required.workdir / "dovecot.log").read_text()
    assert "user=<casaudit-probe>" in log and "Login: " not in log
