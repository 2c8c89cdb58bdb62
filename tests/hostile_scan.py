"""Scan a lab host some of whose ports are hostile servers, measuring time and memory.

Shared by the hostile tests and benchmarks/hostile_table.py: the scan runs in a
child process (real CLI) whose own peak RSS is measured (see `run_measured`).
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
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme

from casaudit.lab import Lab
from casaudit.lab.hostile import Behaviour, HostileServer
from casaudit.lab.runtime import LabInstance

#: Behaviours that break TLS itself are served raw on the HTTPS port.
TLS_BREAKERS = {"tls_garbage", "tls_reset"}
KILL_AFTER_S = 120
#: Every family but sslyze's TLS scan, whose hundreds of handshakes against the same lab
#: listener would make the other port's 2 s timeouts flaky on 2 cores.
NO_TLS_FAMILY = "http,ntlm,hostless,autodiscover,mail"


#: Started by the (possibly large) test process; it starts the command and reports the
#: command's own rusage. Linux carries the peak RSS of the address space an exec replaces
#: into the new program's ru_maxrss, so a command spawned straight from a pytest process
#: of 300 MB "peaks" at 300 MB; spawned from this small launcher it shows its own peak.
_LAUNCHER = """
import os, sys
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as report:
    report.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}")
"""


def run_measured(argv: list[str], stdout: Any, stderr: Any, kill_after_s: float) -> tuple[int, int]:
    """Run `argv` to its end (killed after `kill_after_s`); its exit code and own peak RSS in KiB."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "rusage"
        launcher = subprocess.Popen(
            [sys.executable, "-S", "-c", _LAUNCHER, str(report), *argv],
            stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        # A hung scan is a failure to report, not a hung test run.
        killer = threading.Timer(kill_after_s, os.killpg, (launcher.pid, 9))
        killer.start()
        try:
            launcher.wait()
        finally:
            killer.cancel()
        if not report.exists():
            return -9, 0
        code, peak = report.read_text().split()
        return int(code), int(peak)


@dataclass(frozen=True)
class Served:
    """A hostile behaviour for one service port, and how its connections are wrapped.

    `tls`: "none" (raw socket), "lab" (the lab's own certificate, valid for every
    lab name under --ca-file), or "stranger" (a certificate from a CA nobody trusts,
    for the host only).
    """

    behaviour: str | Behaviour
    tls: str = "none"
    name: str = ""


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
    json_text: str = ""

    def evidence(self, scheme: str) -> list[dict[str, Any]]:
        assert self.document is not None
        return [e for e in self.document["evidence"]
                if e.get("kind") == "http" and e["scheme"] == scheme]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        assert self.document is not None
        return [e for e in self.document["evidence"] if e.get("kind") == kind]

    def mail(self, service: str) -> dict[str, Any]:
        [item] = [e for e in self.of_kind("mail") if e["service"] == service]
        return item

    def autodiscover(self, method: str) -> dict[str, Any]:
        [item] = [e for e in self.of_kind("autodiscover") if e["method"] == method]
        return item

    def checks(self, check: str) -> list[dict[str, Any]]:
        assert self.document is not None
        return [row for row in self.document["checks"] if row["check"] == check]


def _tls_context(mode: str, lab: LabInstance) -> ssl.SSLContext | None:
    if mode == "none":
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    if mode == "lab":
        context.load_cert_chain(lab.workdir / "lab-server-chain.pem", lab.workdir / "lab-server-key.pem")
    else:
        trustme.CA().issue_cert(lab.host).configure_cert(context)
    return context


def scan_hostile(behaviour: str, scheme: str = "http", timeout: float = 2.0) -> HostileRun:
    """Serve `behaviour` on the `scheme` port of a hardened lab host and scan that host."""
    tls = "stranger" if scheme == "https" and behaviour not in TLS_BREAKERS else "none"
    return scan_served({scheme: Served(behaviour, tls)}, timeout=timeout)


def scan_served(
    served: dict[str, Served],
    *,
    timeout: float = 2.0,
    probes: str = NO_TLS_FAMILY,
    posture: str = "exchange-se-hardened",
    extra_args: tuple[str, ...] = (),
    db: Path | None = None,
) -> HostileRun:
    """Scan the lab host with each service of `served` replaced by its hostile server.

    With `db`, the scan records into that history database, else into none.
    """
    with Lab.start(posture) as lab, ExitStack() as stack, \
            tempfile.TemporaryDirectory() as tmp:
        ports = lab.target_ports()
        for service, serve in served.items():
            hostile = stack.enter_context(HostileServer(serve.behaviour, _tls_context(serve.tls, lab)))
            ports[service] = hostile.port
        args = [lab.host, "--timeout", str(timeout), "--probes", probes,
                "--dns-server", lab.dns_server, "--ca-file", str(lab.ca_file), *extra_args]
        args += ["--db", str(db)] if db is not None else ["--no-history"]
        for name in lab.names:
            args += ["--resolve", f"{name}:127.0.0.1"]
        for service, port in ports.items():
            args += ["--port", f"{service}={port}"]
        json_path, html_path = Path(tmp) / "scan.json", Path(tmp) / "scan.html"
        args += ["--json", str(json_path), "--html", str(html_path)]
        out, err = Path(tmp) / "out", Path(tmp) / "err"
        started = time.monotonic()
        with out.open("w") as stdout, err.open("w") as stderr:
            code, peak_rss_kib = run_measured(
                [sys.executable, "-m", "casaudit", "scan", *args], stdout, stderr, KILL_AFTER_S)
        seconds = time.monotonic() - started
        document = json.loads(json_path.read_text()) if json_path.exists() else None
        html = html_path.read_text() if html_path.exists() else ""
        first_service, first = next(iter(served.items()))
        return HostileRun(
            behaviour=first.name or str(first.behaviour), scheme=first_service,
            code=code, seconds=seconds,
            peak_rss_mib=peak_rss_kib / 1024, stdout=out.read_text(errors="replace"),
            stderr=err.read_text(errors="replace"), document=document, html=html,
            json_text=json_path.read_text() if json_path.exists() else "",
        )
