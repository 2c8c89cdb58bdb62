"""`casaudit demo`: scan every shipped lab posture and write its reports.

A newcomer sees a real report of a real (emulated) server over real sockets,
with no server of their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from casaudit.api import ScanOptions, audit
from casaudit.errors import UsageError
from casaudit.lab import Lab, LabInstance, posture_names
from casaudit.plan import DEFAULT_PORTS, Target
from casaudit.report import document as doc_io
from casaudit.report import html
from casaudit.report.terminal import safe


def lab_target(lab: LabInstance) -> tuple[Target, ScanOptions]:
    """The target and options that audit a running lab, as `lab.scan_args()` would."""
    target = Target(host=lab.host, domain=lab.domain, ports={**DEFAULT_PORTS, **lab.ports})
    options = ScanOptions(
        pins={name: lab.address for name in lab.names},
        dns_server=(lab.address, lab.dns_port),
        ca_file=lab.ca_file,
        timeout=5.0,
    )
    return target, options


def run_demo(out: Path, stream: TextIO) -> list[Path]:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {str(out)!r}: cannot create ({exc.strerror or exc})") from None
    written: list[Path] = []
    for name in posture_names():
        with Lab.start(name) as lab:
            target, options = lab_target(lab)
            document = audit(target, options).to_dict()
        json_path, html_path = out / f"{name}.json", out / f"{name}.html"
        json_path.write_text(doc_io.dumps(document), encoding="utf-8")
        html_path.write_text(html.render(document), encoding="utf-8")
        written += [json_path, html_path]
        counts = document["summary"]["findings_by_severity"]
        stream.write(
            f"{name}: {len(document['findings'])} findings "
            f"({', '.join(f'{n} {sev}' for sev, n in counts.items() if n)})\n"
        )
        for finding in document["findings"]:
            stream.write(
                f"  {finding['severity'].upper():8} {safe(finding['check']):24} "
                f"{safe(finding['endpoint'])}\n"
            )
        stream.write(f"  HTML report: {html_path}\n  JSON report: {json_path}\n")
    return written
