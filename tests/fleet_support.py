"""Helpers for the scheduled-scan tests: targets files for running labs, a tarpit, drifting postures."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from casaudit.lab import LabInstance
from casaudit.plan import DEFAULT_PORTS


def target_entry(lab: LabInstance, host: str | None = None, **extra: object) -> str:
    """A [[targets]] table auditing a running lab and nothing else (as `lab.scan_args()` does):
    services the posture lacks point at the lab's closed port, DNS goes to the lab's server."""
    host = host or lab.host
    names = dict.fromkeys([host, *lab.names])
    pins = ", ".join(f'"{name}:{lab.address}"' for name in names)
    ports = ", ".join(f"{service} = {port}" for service, port in lab.target_ports().items())
    lines = [
        "[[targets]]",
        f'host = "{host}"',
        f"resolve = [{pins}]",
        f"ports = {{ {ports} }}",
        f'ca_file = "{lab.ca_file}"',
    ]
    if "dns_server" not in extra:
        lines.append(f'dns_server = "{lab.dns_server}"')
    lines += [f"{key} = {_toml(value)}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


def _toml(value: object) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return str(value)


def write_targets(path: Path, *entries: str, defaults: str = "timeout = 5\n") -> Path:
    path.write_text("[defaults]\n" + defaults + "\n" + "\n".join(entries), encoding="utf-8")
    return path


@contextmanager
def tarpit() -> Iterator[int]:
    """A loopback port that accepts connections (kernel backlog) and never answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        yield int(listener.getsockname()[1])
    finally:
        listener.close()


def tarpit_entry(port: int, host: str = "mail.tarpit.test", **extra: object) -> str:
    """A host whose HTTP(S) port is the tarpit; its other names are pinned to loopback, its
    other ports and its DNS server are a closed loopback port: no lookup leaves the machine."""
    from tests.scan_documents import closed_port

    domain = host.split(".", 1)[1]
    closed = closed_port()
    pins = ", ".join(f'"{name}:127.0.0.1"' for name in (host, f"autodiscover.{domain}", domain))
    ports = {service: closed for service in DEFAULT_PORTS} | {"http": port, "https": port}
    lines = [
        "[[targets]]",
        f'host = "{host}"',
        f"resolve = [{pins}]",
        "ports = { " + ", ".join(f"{service} = {number}" for service, number in ports.items()) + " }",
    ]
    if "dns_server" not in extra:
        lines.append(f'dns_server = "127.0.0.1:{closed}"')
    lines += [f"{key} = {_toml(value)}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


def silent_entry(host: str = "mail.silent.test", **extra: object) -> str:
    """A [[targets]] table for a host whose every port refuses: its scan is not assessed.

    The host, autodiscover.<domain> and the domain are pinned to 127.0.0.1 and the
    DNS server is a closed loopback port: no lookup leaves the machine.
    """
    from tests.scan_documents import closed_port

    domain = host.split(".", 1)[1]
    port = closed_port()
    ports = ", ".join(f"{service} = {port}" for service in DEFAULT_PORTS)
    pins = ", ".join(f'"{name}:127.0.0.1"' for name in (host, f"autodiscover.{domain}", domain))
    lines = [
        "[[targets]]",
        f'host = "{host}"',
        f"resolve = [{pins}]",
        f"ports = {{ {ports} }}",
        f'dns_server = "127.0.0.1:{closed_port(socket.SOCK_DGRAM)}"',
        "timeout = 2",
    ]
    lines += [f"{key} = {_toml(value)}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


_DRIFT_HEAD = '''
host = "mail.drift.test"
domain = "drift.test"
[tls]
names = ["mail.drift.test"]
[https]
default = { status = 404, body = "nothing" }
[http]
default = { status = 404, body = "nothing" }
'''

#: Basic in clear on ActiveSync and EWS.
DRIFT_BEFORE = 'name = "drift-before"\nsummary = "before"\n' + _DRIFT_HEAD + '''
[[http.routes]]
path = "/Microsoft-Server-ActiveSync"
status = 401
headers = [["WWW-Authenticate", "Basic realm=\\"mail.drift.test\\""]]
[[http.routes]]
path = "/EWS"
status = 401
headers = [["WWW-Authenticate", "Basic realm=\\"mail.drift.test\\""]]
'''

#: ActiveSync fixed (resolved), EWS now offers NTLM too (changed), Autodiscover opened (new).
DRIFT_AFTER = 'name = "drift-after"\nsummary = "after"\n' + _DRIFT_HEAD + '''
[[http.routes]]
path = "/EWS"
status = 401
headers = [["WWW-Authenticate", "NTLM"], ["WWW-Authenticate", "Basic realm=\\"mail.drift.test\\""]]
[[http.routes]]
path = "/autodiscover"
status = 401
headers = [["WWW-Authenticate", "Basic realm=\\"mail.drift.test\\""]]
'''
