"""HTML report from a scan document, with Jinja2 autoescaping every string.

Server-supplied text (headers, reason phrases, body excerpts, banners) reaches
the template as data and is escaped there; nothing here builds HTML by hand.
The host's status, the headline, the grades and the verdicts are the
engine's (`summary`, `recommendations`), shown as they are; what else the
report shows (the inventory, count lines) comes from `casaudit.report.view`,
which only arranges the document.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from casaudit.currency import table_note
from casaudit.report import view

TEMPLATE = "report.html.j2"
SEVERITY_ORDER = view.SEVERITY_ORDER
#: Response headers shown per exchange, and body characters shown (the JSON has the rest).
HEADER_LIMIT = 30
BODY_LIMIT = 2000
#: Finding ids linked from a recommendation's row; the rest are counted.
FINDING_LINKS = 8

_CSS_UNSAFE = re.compile(r"[^A-Za-z0-9 .:_\-]")


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


def css_string(value: object) -> str:
    """Text safe inside a CSS string in <style> (page headers): a whitelist, not an escaper."""
    return _CSS_UNSAFE.sub("?", str(value))[:120]


def environment() -> jinja2.Environment:
    # autoescape=True, not select_autoescape(): the latter skips "*.html.j2".
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["css_string"] = css_string
    return env


def render(document: dict[str, Any], evidence: str = "cited") -> str:
    """The report page; `evidence` is what the appendix prints (view.EVIDENCE_MODES)."""
    document = view.printable(document)
    groups = view.finding_groups(document.get("findings", []))
    appendix = view.appendix_evidence(document, evidence)
    targets = document.get("targets") or []
    host = ", ".join(str(t.get("host", "")) for t in targets) or "unknown target"
    requests_sent = sum(
        len(item.get("exchanges") or ()) if item.get("kind") == "http" else 1
        for item in document.get("evidence", [])
    )
    return environment().get_template(TEMPLATE).render(
        doc=document,
        host=host,
        verdict=view.overall(document),
        status=view.host_status(document),
        areas=view.area_grades(document),
        no_grade=view.NO_GRADE,
        counts_text=view.counts_text,
        coverage_text=view.coverage_text,
        counts={s: document["summary"]["findings_by_severity"].get(s, 0) for s in SEVERITY_ORDER},
        finding_groups=groups,
        group_count=sum(len(members) for _, members in groups),
        attention=view.attention_rows(document),
        failed_rows=sum(1 for row in document.get("checks", []) if row.get("status") == "fail"),
        settled=view.settled_rows(document),
        evidence_mode=evidence,
        appendix=appendix,
        appendix_ids={item["id"] for item in appendix},
        tls_rows=view.tls_rows,
        mail_rows=view.mail_rows,
        ntlm_rows=view.ntlm_rows,
        autodiscover_rows=view.autodiscover_rows,
        inventory=view.inventory(document),
        services=view.service_inventory(document),
        actions=view.top_actions(document),
        first_sentence=view.first_sentence,
        effort_labels=view.EFFORT_LABELS,
        names=view.scanned_names(document),
        evidence_by_id={item["id"]: item for item in document.get("evidence", [])},
        evidence_rows=view.evidence_rows,
        request_line=view.request_line,
        requests_sent=requests_sent,
        severity_order=SEVERITY_ORDER,
        sections={r["id"]: r.get("section", "") for r in document.get("recommendations", [])},
        titles={r["id"]: r.get("title", "") for r in document.get("recommendations", [])},
        header_limit=HEADER_LIMIT,
        finding_links=FINDING_LINKS,
        body_limit=BODY_LIMIT,
        build_table=table_note((document.get("tool") or {}).get("build_table_as_of"),
                               document.get("started_at", "")),
    )
