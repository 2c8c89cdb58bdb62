"""Scan documents of a host that gave no answer at all (`summary.status` not_assessed).

Made by real scans over loopback: every Client Access port points at a port
nothing listens on, the three names a scan asks for (the host, autodiscover.
and the bare domain) are pinned to 127.0.0.1 and the DNS server is a closed
loopback UDP port, so neither the system resolver nor anything off the
machine is ever asked.
"""

from __future__ import annotations

import copy
import socket
from functools import cache
from typing import Any

from casaudit.api import ScanOptions, audit
from casaudit.plan import DEFAULT_PORTS, Target

HOST, DOMAIN = "mail.example.test", "example.test"
NAMES = (HOST, f"autodiscover.{DOMAIN}", DOMAIN)


def closed_port(kind: int = socket.SOCK_STREAM) -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def silent_host_args() -> list[str]:
    """`casaudit scan` arguments for a host whose every port refuses (never the system resolver)."""
    args = [HOST, "--dns-server", f"127.0.0.1:{closed_port(socket.SOCK_DGRAM)}", "--timeout", "2"]
    for name in NAMES:
        args += ["--resolve", f"{name}:127.0.0.1"]
    port = closed_port()
    for service in DEFAULT_PORTS:
        args += ["--port", f"{service}={port}"]
    return args


@cache
def _not_assessed() -> dict[str, Any]:
    ports = {service: closed_port() for service in DEFAULT_PORTS}
    options = ScanOptions(pins=dict.fromkeys(NAMES, "127.0.0.1"),
                          dns_server=("127.0.0.1", closed_port(socket.SOCK_DGRAM)), timeout=2)
    document = audit(Target(HOST, DOMAIN, ports), options).to_dict()
    assert document["summary"]["status"] == "not_assessed", document["summary"]
    return document


def not_assessed_document() -> dict[str, Any]:
    """A fresh copy of the scan document of a host where nothing listens (one scan per session)."""
    return copy.deepcopy(_not_assessed())
