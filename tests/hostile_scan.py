"""Scan a host whose HTTP or HTTPS port is a hostile server, measuring time and memory.

Shared by the hostile tests and benchmarks/hostile_table.py: the scan runs in a
child process (real CLI), and os.wait4 gives that child's own peak RSS.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme

from casaudit.lab import Lab
from casaudit.lab.hostile import HostileServer

#: Behaviours that break TLS itself are served raw on the HTTPS port.
TLS_BREAKERS = {"tls_garbage", "tls_reset"}
KILL_AFTER_S = 120


@dataclass
class HostileRun:
    behaviour: str
    scheme: str
    code: int
    seconds: float
    peak_rss_mib: float
    stdout: str
    stderr: str
    document: dict[str, Any] | None
    html: str

    def evidence(self, scheme: str) -> list[dict[str, Any]]:
        assert self.document is not None
        return [e for e in self.document["evidence"]
                if e.get("kind") == "http" and e["scheme"] == scheme]


def scan_hostile(behaviour: str, scheme: str = "http", timeout: float = 2.0) -> HostileRun:
    """Serve `behaviour` on the `scheme` port of a hardened lab host and scan that host."""
    tls_context = None
    with Lab.start("exchange-se-hardened") as lab:
        if scheme == "https" and behaviour not in TLS_BREAKERS:
            tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            trustme.CA().issue_cert(lab.host).configure_cert(tls_context)
        with HostileServer(behaviour, tls_context) as hostile, tempfile.TemporaryDirectory() as tmp:
            ports = lab.target_ports()
            ports[scheme] = hostile.port
            # Every family but sslyze's TLS scan, whose hundreds of handshakes against the
            # same lab listener would make the other port's 2 s timeouts flaky on 2 cores.
            args = [lab.host, "--timeout", str(timeout), "--no-history",
                    "--probes", "http,ntlm,hostless,autodiscover,mail",
                    "--dns-server", lab.dns_server, "--ca-file", str(lab.ca_file)]
            for name in lab.names:
                args += ["--resolve", f"{name}:127.0.0.1"]
            for service, port in ports.items():
                args += ["--port", f"{service}={port}"]
            json_path, html_path = Path(tmp) / "scan.json", Path(tmp) / "scan.html"
            args += ["--json", str(json_path), "--html", str(html_path)]
            out, err = Path(tmp) / "out", Path(tmp) / "err"
            started = time.monotonic()
            with out.open("w") as stdout, err.open("w") as stderr:
                process = subprocess.Popen(
                    [sys.executable, "-m", "casaudit", "scan", *args],
                    stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL,
                )
                # A hung scan is a failure to report, not a hung test run.
                killer = threading.Timer(KILL_AFTER_S, process.kill)
                killer.start()
                _, status, usage = os.wait4(process.pid, 0)
                killer.cancel()
                process.returncode = os.waitstatus_to_exitcode(status)
            seconds = time.monotonic() - started
            document = json.loads(json_path.read_text()) if json_path.exists() else None
            html = html_path.read_text() if html_path.exists() else ""
            return HostileRun(
                behaviour=behaviour, scheme=scheme, code=process.returncode, seconds=seconds,
                peak_rss_mib=usage.ru_maxrss / 1024, stdout=out.read_text(errors="replace"),
                stderr=err.read_text(errors="replace"), document=document, html=html,
            )

