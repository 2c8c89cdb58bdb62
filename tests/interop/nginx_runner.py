"""Run nginx (HTTPS + IMAP/POP3 mail proxy) on loopback high ports from a config in the repo.

Used by the interop suite and by benchmarks/tls_benchmark.py. nginx runs in the
foreground as a child process with a temporary prefix, and is always stopped.
The mail proxy answers the greeting, CAPABILITY/CAPA and STARTTLS/STLS without
any authentication backend (auth_http points at a closed port): enough for TLS.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from string import Template
from types import TracebackType

from casaudit.lab.certs import issue_certificates
from casaudit.lab.posture import TlsSettings

CONFIG_DIR = Path(__file__).resolve().parent / "nginx"
MAIL_MODULE = "/usr/lib/nginx/modules/ngx_mail_module.so"
HOST = "mail.nginx.test"
DOMAIN = "nginx.test"
NAMES = (HOST, f"autodiscover.{DOMAIN}", DOMAIN)
SERVICES = ("https", "imaps", "pop3s", "imap", "pop3")


def free_port() -> int:
    """A port free right now (bind 0, close): daemons cannot be handed a bound socket."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class NginxInstance:
    ports: dict[str, int]
    ca_file: Path
    prefix: Path

    def scan_args(self) -> list[str]:
        """`casaudit scan` arguments auditing this nginx's five TLS services and nothing else."""
        args = [HOST]
        for name in NAMES:
            args += ["--resolve", f"{name}:127.0.0.1"]
        for service, port in self.ports.items():
            args += ["--port", f"{service}={port}"]
        return args + ["--port", f"http={free_port()}", "--ca-file", str(self.ca_file)]


class NginxServer:
    """`with NginxServer(binary, "legacy") as instance:` serves tests/interop/nginx/legacy.conf."""

    def __init__(self, binary: str, config: str, workdir: Path | None = None) -> None:
        self._binary = binary
        self._config = config
        self._owned = workdir is None
        self._prefix = workdir or Path(tempfile.mkdtemp(prefix=f"casaudit-nginx-{config}-"))
        self._prefix.mkdir(parents=True, exist_ok=True)
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> NginxInstance:
        try:
            return self._start()
        except BaseException:
            self._stop()
            raise

    def _start(self) -> NginxInstance:
        certificates = issue_certificates(TlsSettings(names=NAMES), self._prefix)
        ports = {service: free_port() for service in SERVICES}
        text = Template((CONFIG_DIR / f"{self._config}.conf").read_text()).substitute(
            module=MAIL_MODULE,
            prefix=self._prefix,
            certificate=self._prefix / "lab-server-chain.pem",
            key=self._prefix / "lab-server-key.pem",
            host=HOST,
            **{f"{service}_port": port for service, port in ports.items()},
        )
        config = self._prefix / "nginx.conf"
        config.write_text(text)
        self._process = subprocess.Popen(
            [self._binary, "-p", str(self._prefix), "-c", str(config),
             "-e", str(self._prefix / "stderr.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        pending = set(ports.values())
        while pending:
            if self._process.poll() is not None:
                errors = self._process.stderr.read().decode(errors="replace") if self._process.stderr else ""
                log = (self._prefix / "error.log")
                raise RuntimeError(f"nginx exited: {errors} {log.read_text() if log.exists() else ''}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not listen on {sorted(pending)} within 10 s")
            for port in list(pending):
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                        pending.discard(port)
                except OSError:
                    pass
            if pending:
                time.sleep(0.05)
        return NginxInstance(ports=ports, ca_file=certificates.ca_file, prefix=self._prefix)

    def _stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        if self._process is not None and self._process.stderr:
            self._process.stderr.close()
        if self._owned:
            shutil.rmtree(self._prefix, ignore_errors=True)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop()
