"""The short text summary printed after a scan.

Anything that may come from a server passes through `safe()`, so an escape
sequence in a banner or header can never drive the user's terminal.
"""

from __future__ import annotations

import re
from typing import Any, TextIO

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def safe(text: object, limit: int = 300) -> str:
    """Printable text: control characters shown as \\xNN, length capped."""
    value = _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", str(text))
    return value if len(value) <= limit else value[: limit - 1] + "…"


def summary(document: dict[str, Any], out: TextIO) -> None:
    counts = document["summary"]["findings_by_severity"]
    statuses = document["summary"]["checks_by_status"]
    for target in document["targets"]:
        out.write(
            f"casaudit {safe(document['tool']['version'])}: {safe(target['host'])} "
            f"(domain {safe(target['domain'])}, {safe(', '.join(target['addresses']))})\n"
        )
    out.write(
        "findings: "
        + ", ".join(f"{n} {severity}" for severity, n in counts.items())
        + "  |  checks: "
        + ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in statuses.items())
        + "\n"
    )
    for finding in document["findings"]:
        accepted = finding.get("accepted")
        note = f"  [accepted until {safe(accepted['expires'])}]" if accepted else ""
        out.write(
            f"  {finding['severity'].upper():8} {safe(finding['check']):24} "
            f"{safe(finding['endpoint'])}{note}\n"
        )
