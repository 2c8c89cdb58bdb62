"""The four hosts of issue #13: hosts casaudit cannot fully assess, built on loopback.

Each builder is a context manager yielding an `UnassessedHost`: the arguments after
`casaudit scan` that audit it and nothing else (every name pinned to 127.0.0.1 with
--resolve, every service port set with --port, DNS sent to the lab's own server, so
no query reaches the system resolver), and the lab behind it. `scan` runs the real
CLI on one in a child process with a kill timer, like tests/hostile_scan.py.

- `refused_host`: nothing listens; all six ports refuse (the lab's known-closed port).
- `all_503_host`: real HTTP and HTTPS (the lab's listeners, TLS under the lab CA) that
  answer every method on every path `503 Service Unavailable` with `Retry-After`, as a
  balancer with no healthy backend does; POP3 and IMAP4 refuse.
- `hostile_host`: every port answers with malice or not at all: HTTPS a tarpit (accepts,
  never says a byte, so no handshake), HTTP a slowloris, IMAP4 silent after connect,
  POP3 garbage for a greeting, 993 and 995 garbage instead of a ServerHello.
- `partial_timeout_host`: the hardened Exchange SE lab whose HTTP and HTTPS listeners
  leave every request under /EWS and /owa unanswered (posture `hang_paths`), as behind a
  filter that tarpits those URLs; everything else answers as usual.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from casaudit.lab import Lab, LabInstance, Posture, load_posture, parse_posture
from casaudit.lab.hostile import Behaviour, HostileServer, greeting
from tests.hostile_scan import run_measured

#: Seconds for each network step of the scans (`--timeout`): short, so that the hosts
#: that never answer still finish quickly.
STEP_TIMEOUT_S = 2
#: A scan still running after this long is killed (and the test fails on its exit code).
KILL_AFTER_S = 120


def _nothing_listens(name: str, summary: str, domain: str) -> str:
    """A posture with no listener at all: the lab then gives only its DNS server (SRV
    answers NXDOMAIN, never the system resolver) and its known-closed port, where
    `target_ports` points all six services."""
    return f'name = "{name}"\nsummary = "{summary}"\nhost = "mail.{domain}"\ndomain = "{domain}"\n'


#: What a balancer with no healthy backend answers, whatever the method and path.
_UNAVAILABLE = """
status = 503
headers = [["Retry-After", "120"], ["Content-Type", "text/html"], ["Cache-Control", "no-cache"]]
body = "<html><body><h1>503 Service Unavailable</h1>No server is available.</body></html>"
"""


def _all_503(domain: str) -> str:
    # No route and no Server header: every request, Autodiscover POSTs and the random
    # baseline path included, gets the default reply, and no banner names a product.
    return (_nothing_listens("all-503", "A balancer without backend: 503 on every path", domain)
            + f'[tls]\nnames = ["mail.{domain}", "{domain}", "autodiscover.{domain}"]\n'
            + f"[http]\n[http.default]{_UNAVAILABLE}[https]\n[https.default]{_UNAVAILABLE}")


#: What the hostile host's POP3 port says instead of `+OK ...`: bytes of no protocol.
POP3_GARBAGE = b"\x8f\x02\xffgarbage\xfe\x00 not a greeting of any protocol\r\n"
#: The behaviour (casaudit.lab.hostile) on each port of the hostile host; none wraps TLS.
HOSTILE_PORTS: dict[str, str | Behaviour] = {
    "https": "silent",  # a tarpit: the ClientHello is never answered
    "http": "slowloris",  # a response head trickled one byte a second, never finished
    "imap": "silent",
    "pop3": greeting(POP3_GARBAGE),
    "imaps": "tls_garbage",
    "pop3s": "tls_garbage",
}

#: Where the partial-timeout host never answers: EWS (CAS-12) and OWA (CAS-04).
HANG_PATHS = ("/EWS", "/owa")


@dataclass(frozen=True)
class UnassessedHost:
    name: str
    lab: LabInstance
    #: The arguments after `casaudit scan`, outputs and history left to the caller.
    argv: tuple[str, ...]
    #: service -> port the scan is pointed at.
    ports: dict[str, int]


def _argv(lab: LabInstance, ports: dict[str, int]) -> tuple[str, ...]:
    """`lab.scan_args()` with `ports` instead of the lab's own, and the short step timeout."""
    args = [lab.host, "--timeout", str(STEP_TIMEOUT_S)]
    for name in lab.names:
        args += ["--resolve", f"{name}:{lab.address}"]
    for service, port in ports.items():
        args += ["--port", f"{service}={port}"]
    args += ["--dns-server", lab.dns_server, "--ca-file", str(lab.ca_file)]
    return tuple(args)


def _posture(text: str) -> Posture:
    return parse_posture(text, source="tests/unassessed_hosts.py")


@contextmanager
def refused_host() -> Iterator[UnassessedHost]:
    posture = _posture(_nothing_listens("refused", "Nothing listens: every port refuses",
                                        "refused.test"))
    with Lab.start(posture) as lab:
        ports = lab.target_ports()
        assert set(ports.values()) == {lab.closed_port}
        yield UnassessedHost("refused", lab, _argv(lab, ports), ports)


@contextmanager
def all_503_host() -> Iterator[UnassessedHost]:
    posture = _posture(_all_503("unavailable.test"))
    with Lab.start(posture) as lab:
        ports = lab.target_ports()
        yield UnassessedHost("all_503", lab, _argv(lab, ports), ports)


@contextmanager
def hostile_host() -> Iterator[UnassessedHost]:
    # The lab serves only DNS here (and a CA file for --ca-file); every port is hostile.
    posture = _posture(_nothing_listens(
        "hostile", "Tarpits, slowloris and garbage on every port", "hostile.test"))
    with Lab.start(posture) as lab, ExitStack() as servers:
        ports = {service: servers.enter_context(HostileServer(behaviour)).port
                 for service, behaviour in HOSTILE_PORTS.items()}
        yield UnassessedHost("hostile", lab, _argv(lab, ports), ports)


@contextmanager
def partial_timeout_host() -> Iterator[UnassessedHost]:
    hardened = load_posture("exchange-se-hardened")
    assert hardened.http is not None and hardened.https is not None
    # Both listeners hold the paths, as a filtering device in front that tarpits them on
    # every port would: so the plain-HTTP rows about EWS and OWA (the SSL-required ones,
    # CAS-12 and CAS-04) lose their answer too, not only the HTTPS ones.
    posture = dataclasses.replace(
        hardened,
        http=dataclasses.replace(hardened.http, hang_paths=HANG_PATHS),
        https=dataclasses.replace(hardened.https, hang_paths=HANG_PATHS),
    )
    with Lab.start(posture) as lab:
        ports = lab.target_ports()
        yield UnassessedHost("partial_timeout", lab, _argv(lab, ports), ports)


@dataclass
class ScanRun:
    """One finished `casaudit scan` of a host: exit code, time, outputs, the document."""

    code: int
    seconds: float
    stdout: str
    stderr: str
    json_path: Path
    document: dict[str, Any] | None

    @property
    def doc(self) -> dict[str, Any]:
        assert self.document is not None, f"no JSON document (exit {self.code}): {self.stderr}"
        return self.document

    def rows(self, prefix: str = "") -> list[dict[str, Any]]:
        """Check rows whose check id starts with `prefix`."""
        return [row for row in self.doc["checks"] if row["check"].startswith(prefix)]

    def evidence(self, kind: str) -> list[dict[str, Any]]:
        return [item for item in self.doc["evidence"] if item.get("kind") == kind]

    def recommendation(self, cas: str) -> dict[str, Any]:
        [item] = [r for r in self.doc["recommendations"] if r["id"] == cas]
        return item


def scan(host: UnassessedHost, out_dir: Path, *extra: str, label: str = "") -> ScanRun:
    """Scan `host` through the real CLI into `out_dir`/<host><label>.json, killed after
    KILL_AFTER_S; `extra` go after the host's own arguments."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{host.name}{label}.json"
    argv = [sys.executable, "-m", "casaudit", "scan", *host.argv, *extra,
            "--json", str(json_path), "--no-history"]
    with tempfile.TemporaryDirectory() as tmp:
        out, err = Path(tmp) / "out", Path(tmp) / "err"
        started = time.monotonic()
        with out.open("w") as stdout, err.open("w") as stderr:
            code, _ = run_measured(argv, stdout, stderr, KILL_AFTER_S)
        seconds = time.monotonic() - started
        document = json.loads(json_path.read_text()) if json_path.exists() else None
        return ScanRun(code, seconds, out.read_text(errors="replace"),
                       err.read_text(errors="replace"), json_path, document)
