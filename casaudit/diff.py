"""What changed between two scans of the same host: new, resolved and changed findings.

A finding's identity is its check id plus its endpoint, normalised so that the
same URL matches from one scan to the next: scheme and host lower-cased, the
port left out when it is the target's port for that service (so a server
moved from 8443 to 443 with ``--port`` in between, or a lab restarted on
another port, is still the same endpoint), the path lower-cased (IIS paths are
case-insensitive) without a trailing slash. "Changed" is the same identity with
another severity or another observation (URLs inside the observation are
compared with the same port rule).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from casaudit.plan import DEFAULT_PORTS


def finding_identity(check: str, endpoint: str, ports: Mapping[str, int] | None = None) -> str:
    """`check scheme://host[:port]/path`, stable across scans of the same target."""
    try:
        parts = urlsplit(endpoint)
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").rstrip(".")
        port = parts.port
    except ValueError:
        return f"{check} {endpoint.lower()}"
    if not scheme or not host:
        return f"{check} {endpoint.lower()}"
    usual = {DEFAULT_PORTS.get(scheme), (ports or {}).get(scheme)}
    shown_port = "" if port is None or port in usual else f":{port}"
    shown_host = f"[{host}]" if ":" in host else host
    path = parts.path.lower().rstrip("/")
    return f"{check} {scheme}://{shown_host}{shown_port}{path}"


_URL_IN_TEXT = re.compile(r"\b([a-z][a-z0-9+.-]*)://([^/\s:\[\]]+|\[[0-9a-f:.]+\]):([0-9]{1,5})", re.I)


def comparable_observed(text: str, ports: Mapping[str, int] | None = None) -> str:
    """An observation with the target's usual ports left out of URLs, as in identities."""

    def strip(match: re.Match[str]) -> str:
        scheme, host, port = match.group(1), match.group(2), int(match.group(3))
        usual = {DEFAULT_PORTS.get(scheme.lower()), (ports or {}).get(scheme.lower())}
        return f"{scheme}://{host}" if port in usual else match.group(0)

    return _URL_IN_TEXT.sub(strip, text)


def document_identities(document: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """identity -> finding of a casaudit.scan/1 document."""
    ports = _ports(document)
    found: dict[str, Mapping[str, Any]] = {}
    for finding in document.get("findings", []):
        identity = finding_identity(finding["check"], finding["endpoint"], ports)
        key, number = identity, 2
        while key in found:  # two endpoints normalising alike stay two findings
            key, number = f"{identity} #{number}", number + 1
        found[key] = finding
    return found


@dataclass(frozen=True)
class ScanDiff:
    """`old` is None when there is no earlier scan: every finding is then new."""

    new: tuple[Mapping[str, Any], ...]
    resolved: tuple[Mapping[str, Any], ...]
    #: (old finding, new finding) pairs.
    changed: tuple[tuple[Mapping[str, Any], Mapping[str, Any]], ...]
    unchanged: int

    def to_dict(self, previous: Mapping[str, Any] | None) -> dict[str, Any]:
        """The `diff` of a fleet result entry (see docs/json-contract.md)."""
        return {
            "previous": None if previous is None else dict(previous),
            "new": [f["id"] for f in self.new],
            "changed": [
                {"id": new["id"], "was": {"severity": old["severity"], "observed": old["observed"]}}
                for old, new in self.changed
            ],
            "resolved": [
                {"check": f["check"], "endpoint": f["endpoint"], "severity": f["severity"]}
                for f in self.resolved
            ],
            "unchanged": self.unchanged,
        }


def diff_documents(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> ScanDiff:
    before = document_identities(old) if old is not None else {}
    after = document_identities(new)
    old_ports = _ports(old) if old is not None else {}
    new_ports = _ports(new)

    def differs(key: str) -> bool:
        was, now = before[key], after[key]
        return was["severity"] != now["severity"] or comparable_observed(
            was["observed"], old_ports) != comparable_observed(now["observed"], new_ports)

    changed = tuple((before[key], after[key]) for key in after if key in before and differs(key))
    return ScanDiff(
        new=tuple(after[key] for key in after if key not in before),
        resolved=tuple(before[key] for key in before if key not in after),
        changed=changed,
        unchanged=sum(1 for key in after if key in before) - len(changed),
    )


def _ports(document: Mapping[str, Any]) -> Mapping[str, int]:
    targets = document.get("targets") or [{}]
    ports: Mapping[str, int] = targets[0].get("ports", {})
    return ports
