"""HTML report from a scan document, with Jinja2 autoescaping every string.

Server-supplied text (headers, reason phrases, body excerpts, banners) reaches
the template as data and is escaped there; nothing here builds HTML by hand.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from casaudit.recommendations import RECOMMENDATIONS

TEMPLATE = "report.html.j2"
SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")


def templates_dir() -> Path:
    """`report_templates/` inside an installed wheel, else beside the source tree.

    An editable install does not expose force-included files through
    importlib.resources, hence the two places.
    """
    packaged = resources.files("casaudit") / "report_templates"
    if packaged.is_dir():
        return Path(str(packaged))
    source = Path(__file__).resolve().parents[2] / "report_templates"
    if source.is_dir():
        return source
    raise FileNotFoundError("report_templates/ not found: casaudit is not installed correctly")


def environment() -> jinja2.Environment:
    # autoescape=True, not select_autoescape(): the latter skips "*.html.j2".
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(document: dict[str, Any]) -> str:
    findings = sorted(
        document.get("findings", []),
        key=lambda f: (SEVERITY_ORDER.index(f["severity"]), f["check"], f["endpoint"]),
    )
    evidence_by_id = {item["id"]: item for item in document.get("evidence", [])}
    sections = {r.id: r.section for r in RECOMMENDATIONS}
    return environment().get_template(TEMPLATE).render(
        doc=document,
        findings=findings,
        evidence_by_id=evidence_by_id,
        severity_order=SEVERITY_ORDER,
        sections=sections,
    )
