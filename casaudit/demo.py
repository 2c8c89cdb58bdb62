"""`casaudit demo`: scan every shipped lab posture and write its reports.

A newcomer sees a real report of a real (emulated) server over real sockets,
with no server of their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TextIO

from casaudit.api import ScanOptions, audit
from casaudit.errors import UsageError
from casaudit.lab import Lab, LabInstance, posture_names
from casaudit.plan import Target
from casaudit.report import document as doc_io
from casaudit.report import findings_csv, html, junit, pdf, sarif, view
from casaudit.report.terminal import safe


def lab_target(lab: LabInstance) -> tuple[Target, ScanOptions]:
    """The target and options that audit a running lab, as `lab.scan_args()` would."""
    # Services the posture does not run point at the lab's known-closed port,
    # never at the defaults (something else may listen on 127.0.0.1:110).
    target = Target(host=lab.host, domain=lab.domain, ports=lab.target_ports())
    options = ScanOptions(
        pins={name: lab.address for name in lab.names},
        dns_server=(lab.address, lab.dns_port),
        ca_file=lab.ca_file,
        timeout=5.0,
    )
    return target, options


def posture_line(name: str, document: dict[str, Any]) -> str:
    """``NAME: N findings (2 high, 2 low)``, and why when the host was not assessed
    (a host that is not Exchange says so here too: README quotes these lines)."""
    counts = document["summary"]["findings_by_severity"]
    by_severity = ", ".join(f"{n} {sev}" for sev, n in counts.items() if n)
    line = f"{name}: {len(document['findings'])} findings" + (f" ({by_severity})" if by_severity else "")
    if document["summary"]["status"] == "not_assessed":
        line += f"; not assessed: {safe(document['summary']['status_reason'])}"
    return line


def run_demo(out: Path, stream: TextIO) -> list[Path]:
    """Scan each posture; write JSON, HTML, SARIF, JUnit, CSV, and PDF when Chromium is here."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {str(out)!r}: cannot create ({exc.strerror or exc})") from None
    chromium = pdf.find_chromium()
    written: list[Path] = []
    for name in posture_names():
        with Lab.start(name) as lab:
            target, options = lab_target(lab)
            document = audit(target, options).to_dict()
        page = html.render(document)
        files = {
            "JSON": (out / f"{name}.json", doc_io.dumps(document), "utf-8"),
            "HTML": (out / f"{name}.html", page, "utf-8"),
            "SARIF": (out / f"{name}.sarif", sarif.render(document), "utf-8"),
            "JUnit": (out / f"{name}.junit.xml", junit.render(document), "utf-8"),
            "CSV": (out / f"{name}.findings.csv", findings_csv.render(document), findings_csv.ENCODING),
        }
        for path, text, encoding in files.values():
            path.write_text(text, encoding=encoding)
        paths = {label: path for label, (path, _, _) in files.items()}
        if chromium:
            paths["PDF"] = out / f"{name}.pdf"
            pdf.write_pdf(page, paths["PDF"], chromium)
        written += paths.values()
        stream.write(posture_line(name, document) + "\n")
        # By check and host, as in the reports: "HIGH  http.hsts_missing  9 endpoints of ..."
        for _, groups in view.finding_groups(document["findings"]):
            for group in groups:
                stream.write(f"  {group.severity.upper():8} {safe(group.check):24} {safe(group.heading)}\n")
        for label, path in paths.items():
            stream.write(f"  {label + ' report:':14}{path}\n")
        if not chromium:
            stream.write("  PDF skipped: Chromium not found (apt-get install chromium)\n")
    return written
