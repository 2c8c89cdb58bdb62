"""Presentation derived from a `casaudit.scan/1` document, shared by every renderer.

Pure functions over the document: the findings grouped by severity, the check
rows grouped by area, an endpoint inventory and a bounded key/value view of any
evidence item. Nothing here judges the target: the headline, the host's status
and the grade per area are the engine's (`summary`, casaudit.assessment),
shown as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from casaudit.assessment import AREAS, OTHER_AREA, area_of
from casaudit.model import EFFORT_MEANING

SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")
STATUS_ORDER = ("fail", "error", "not_assessed", "not_applicable", "pass")
NO_GRADE = "–"
#: Row statuses as the count lines list them (docs/verdicts.md order), and their short labels.
COUNT_ORDER = ("pass", "fail", "not_assessed", "error", "not_applicable")
SHORT_STATUS = {"not_applicable": "n/a"}
#: What each host status (`summary.status`, or a fleet entry's "error") reads as.
HOST_STATUS_LABELS = {
    "assessed": "assessed", "partially_assessed": "partially assessed",
    "not_assessed": "not assessed", "error": "error",
}

#: Bounds for the generic evidence view: server text must not flood the report.
MAX_EVIDENCE_ROWS = 80
MAX_VALUE_CHARS = 600
MAX_DEPTH = 4


@dataclass(frozen=True)
class AreaGrade:
    key: str
    label: str
    grade: str  # A, B, C, D, F, or NO_GRADE when nothing in the area was assessed
    summary: str
    counts: Mapping[str, int]  # check rows by status
    findings: int


@dataclass(frozen=True)
class Overall:
    level: str  # fail | attention | pass | unknown
    headline: str
    detail: str


def severity_rank(severity: str) -> int:
    """0 for critical; unknown severities sort last."""
    return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)


def area_grades(document: Mapping[str, Any]) -> list[AreaGrade]:
    """The engine's grade per area (`summary.areas`), as the views show it."""
    return [
        AreaGrade(
            key=str(area.get("id", "")), label=str(area.get("title", "")),
            grade=str(area["grade"]) if area.get("grade") else NO_GRADE,
            summary=str(area.get("summary", "")), counts=dict(area.get("counts", {})),
            findings=int(area.get("findings", 0)),
        )
        for area in document.get("summary", {}).get("areas", [])
    ]


def overall(document: Mapping[str, Any]) -> Overall:
    """The one line a manager reads first: the engine's `summary.headline`."""
    headline = document.get("summary", {}).get("headline") or {}
    return Overall(str(headline.get("level", "unknown")), str(headline.get("title", "Not assessed")),
                   str(headline.get("detail", "")))


@dataclass(frozen=True)
class HostStatus:
    status: str  # assessed | partially_assessed | not_assessed (the engine's summary.status)
    label: str
    reason: str


def host_status(document: Mapping[str, Any]) -> HostStatus:
    """The engine's `summary.status` and `status_reason`, as the views show them."""
    summary = document.get("summary", {})
    if not summary.get("status"):  # a document written before hosts had a status
        return HostStatus("unknown", "not recorded in this document", "")
    status = str(summary["status"])
    return HostStatus(status, status_label(status), str(summary.get("status_reason", "")))


def status_label(status: str) -> str:
    """A host status (or a row status) in words: `partially_assessed` is "partially assessed"."""
    return HOST_STATUS_LABELS.get(status, status.replace("_", " "))


def counts_text(counts: Mapping[str, int], every: bool = True, short: bool = False,
                separator: str = ", ") -> str:
    """Row counts by status as one line: "75 pass, 82 fail, 1 not assessed, 0 error, 34 not applicable".

    `every`: list all five statuses, zeros included (else only the non-zero ones);
    `short`: "n/a" for not applicable (the CAS table's coverage). Statuses this
    version does not know are listed last, as they are.
    """
    order = list(COUNT_ORDER) + [key for key in counts if key not in COUNT_ORDER]
    parts = []
    for key in order:
        number = int(counts.get(key, 0))
        if number or (every and key in COUNT_ORDER):
            label = SHORT_STATUS.get(key, key.replace("_", " ")) if short else key.replace("_", " ")
            parts.append(f"{number} {label}")
    return separator.join(parts) if parts else "no check row"


def coverage_text(coverage: Mapping[str, int]) -> str:
    """A recommendation's `coverage` compactly: "12 pass · 2 not assessed · 3 n/a"."""
    return counts_text(coverage, every=False, short=True, separator=" · ")


def findings_by_severity(findings: Iterable[Mapping[str, Any]]) -> list[tuple[str, list[Mapping[str, Any]]]]:
    """(severity, findings) worst first, omitting empty groups; stable within a group."""
    ordered = sorted(findings, key=lambda f: (severity_rank(str(f.get("severity"))),
                                              str(f.get("check")), str(f.get("endpoint"))))
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for finding in ordered:
        groups.setdefault(str(finding.get("severity")), []).append(finding)
    return list(groups.items())


def checks_by_area(document: Mapping[str, Any]) -> list[tuple[str, list[Mapping[str, Any]]]]:
    """Check rows grouped by area label, failures first inside each area."""
    labels = dict(AREAS + (OTHER_AREA,))  # from casaudit.assessment
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in document.get("checks", []):
        groups.setdefault(area_of(str(row.get("check", ""))), []).append(row)

    def order(row: Mapping[str, Any]) -> tuple[int, int, str, str]:
        status = str(row.get("status"))
        return (STATUS_ORDER.index(status) if status in STATUS_ORDER else len(STATUS_ORDER),
                severity_rank(str(row.get("severity"))), str(row.get("check")), str(row.get("endpoint")))

    keys = [key for key, _ in AREAS + (OTHER_AREA,) if key in groups]
    return [(labels[key], sorted(groups[key], key=order)) for key in keys]


# --------------------------------------------------------------------------- server text

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def visible_text(text: str) -> str:
    """Control characters as \\xNN so a reader sees them (an ESC in a reason phrase
    is a finding in itself); line ends and tabs stay."""
    text = text.replace("\r\n", "\n")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)


def printable(value: Any) -> Any:
    """The document with every string passed through `visible_text`, for display only."""
    if isinstance(value, str):
        return visible_text(value)
    if isinstance(value, Mapping):
        return {key: printable(inner) for key, inner in value.items()}
    if isinstance(value, (list, tuple)):
        return [printable(inner) for inner in value]
    return value


# --------------------------------------------------------------------------- evidence


@dataclass(frozen=True)
class InventoryRow:
    evidence: str
    kind: str
    endpoint: str
    request: str
    answer: str
    auth: str
    tls: str


def inventory(document: Mapping[str, Any]) -> list[InventoryRow]:
    """Every endpoint probed and what answered, one row per evidence item."""
    rows = []
    for item in document.get("evidence", []):
        kind = str(item.get("kind", ""))
        if kind == "http" and item.get("exchanges"):
            rows.append(_http_inventory(item))
        else:
            rows.append(InventoryRow(
                evidence=str(item.get("id", "")), kind=kind, endpoint=str(item.get("endpoint", "")),
                request=kind, answer=_error_text(item.get("error")) or "answered",
                auth=_join(item.get("auth_schemes") or item.get("mechanisms") or ()),
                tls=_tls_text(item),
            ))
    return rows


@dataclass(frozen=True)
class ServiceRow:
    """The inventory of one service (scheme, host, port) in one line."""

    service: str
    probed: int  # evidence items
    kinds: str
    answers: str  # "9 × 401, 3 × 404" or "refused"
    auth: str
    tls: str


def service_inventory(document: Mapping[str, Any]) -> list[ServiceRow]:
    """`inventory` summed per service: what was probed there and how it answered."""
    from collections import Counter

    grouped: dict[str, list[InventoryRow]] = {}
    for row in inventory(document):
        grouped.setdefault(authority(row.endpoint), []).append(row)
    services = []
    for service, rows in grouped.items():
        answers = Counter(row.answer.split(" (ends at")[0] for row in rows)
        services.append(ServiceRow(
            service=service, probed=len(rows),
            kinds=", ".join(dict.fromkeys(row.kind for row in rows)),
            answers=", ".join(f"{count} × {answer}" if count > 1 else answer
                              for answer, count in answers.most_common()),
            auth=", ".join(dict.fromkeys(a for row in rows for a in row.auth.split(", ") if a)),
            tls=", ".join(dict.fromkeys(t for row in rows for t in row.tls.split(", ") if t)),
        ))
    return services


def _tls_text(item: Mapping[str, Any]) -> str:
    """What TLS an evidence item shows: its version, or the versions its service accepted."""
    protocols = item.get("protocols") or ()
    if any(isinstance(p, Mapping) for p in protocols):
        return accepted_versions(item)
    return _join(item.get("tls_version") or protocols)


def _http_inventory(item: Mapping[str, Any]) -> InventoryRow:
    exchanges = item["exchanges"]
    first, last = exchanges[0], exchanges[-1]
    if first.get("error"):
        answer = _error_text(first["error"])
    else:
        answer = " → ".join(str(x.get("status")) if x.get("status") is not None
                            else _error_text(x.get("error")) for x in exchanges)
        if len(exchanges) > 1:
            answer += f" (ends at {_short_url(str(last.get('url', '')), str(first.get('url', '')))})"
    if item.get("redirect_stopped"):
        answer += "; redirect not followed"
    return InventoryRow(
        evidence=str(item.get("id", "")), kind="http", endpoint=str(item.get("endpoint", "")),
        request=str(first.get("method", "")), answer=answer,
        auth=_join(last.get("auth_schemes") or ()),
        tls=str(last.get("tls_version") or ""),
    )


def _short_url(url: str, origin: str) -> str:
    """`url` without its query, and without its service when that is `origin`'s."""
    path = url.split("?", 1)[0] + ("?…" if "?" in url else "")
    service = authority(url)
    return path[len(service):] or "/" if service == authority(origin) else path


def _error_text(error: Any) -> str:
    if isinstance(error, Mapping) and error.get("kind"):
        return f"{error.get('kind')}: {error.get('detail', '')}"
    return ""


def _join(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def request_line(exchange: Mapping[str, Any]) -> str:
    """The request as it went on the wire: `GET /owa HTTP/1.1` and its Host."""
    from urllib.parse import urlsplit

    url = str(exchange.get("url", ""))
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return f"{exchange.get('method', '')} {target} HTTP/1.1"


def evidence_rows(item: Mapping[str, Any], skip: Iterable[str] = ()) -> list[tuple[str, str]]:
    """Any evidence item as bounded (key, value) rows: dotted keys, scalar values as text.

    Used for evidence kinds this renderer has no dedicated layout for, so a new
    probe family's evidence shows up in the report without a template change.
    The values are untrusted: the template escapes them; here they are only cut.
    """
    rows: list[tuple[str, str]] = []
    skipped = set(skip)

    def add(key: str, value: Any, depth: int) -> None:
        if len(rows) >= MAX_EVIDENCE_ROWS:
            return
        if isinstance(value, Mapping) and depth < MAX_DEPTH and value:
            for sub, inner in value.items():
                add(f"{key}.{sub}" if key else str(sub), inner, depth + 1)
        elif (isinstance(value, (list, tuple)) and depth < MAX_DEPTH and value
              and any(isinstance(v, (Mapping, list, tuple)) for v in value)):
            for index, inner in enumerate(value):
                add(f"{key}[{index}]", inner, depth + 1)
        else:
            rows.append((key, _cut(_scalar(value))))

    for key, value in item.items():
        if key not in skipped:
            add(str(key), value, 1)
    if len(rows) >= MAX_EVIDENCE_ROWS:
        rows.append(("…", f"cut at {MAX_EVIDENCE_ROWS} rows; the JSON document has everything"))
    return rows


def _scalar(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_scalar(v) for v in value) if value else "—"
    if isinstance(value, Mapping):
        return "{…}" if value else "—"
    return str(value)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


# --------------------------------------------------------------------------- grouped views


def authority(endpoint: str) -> str:
    """`https://mail.example.com:443` for any URL on that service; other endpoints as they are."""
    from urllib.parse import urlsplit

    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else endpoint


@dataclass(frozen=True)
class FindingGroup:
    """The findings of one check on one host: one entry in human views.

    The JSON, SARIF, CSV and the history keep one finding per endpoint (diffs and
    baselines match on it); people read "HSTS missing on 9 URLs of https://host:443".
    """

    check: str
    severity: str  # the worst of the group
    service: str  # the host name the group's endpoints share
    findings: tuple[Mapping[str, Any], ...]
    evidence: tuple[str, ...]  # cited by any finding of the group, in first-cited order

    @property
    def size(self) -> int:
        return len(self.findings)

    @property
    def first(self) -> Mapping[str, Any]:
        return self.findings[0]

    @property
    def id(self) -> str:
        return f"group-{self.first.get('id', '')}"

    @property
    def shared_observation(self) -> str | None:
        """The observed text when every finding of the group says the same, else None."""
        observed = {str(f.get("observed", "")) for f in self.findings}
        return observed.pop() if len(observed) == 1 else None

    @property
    def accepted(self) -> int:
        return sum(1 for f in self.findings if f.get("accepted"))

    @property
    def heading(self) -> str:
        count = len(self.findings)
        if count == 1:
            return str(self.first.get("endpoint", ""))
        services = {authority(str(f.get("endpoint", ""))) for f in self.findings}
        where = services.pop() if len(services) == 1 else self.service
        return f"{count} endpoints of {where}"

    @property
    def entries(self) -> list[tuple[Mapping[str, Any], str, str]]:
        """(finding, where, observed) with the URL written once: `where` is the path when the
        group is on one service, and the observed text names it by that path too."""
        services = {authority(str(f.get("endpoint", ""))) for f in self.findings}
        entries = []
        for finding in self.findings:
            endpoint = str(finding.get("endpoint", ""))
            where = endpoint
            if len(services) == 1 and endpoint.startswith(next(iter(services))):
                where = endpoint[len(next(iter(services))):] or endpoint
            entries.append((finding, where, str(finding.get("observed", "")).replace(endpoint, where)))
        return entries


def finding_groups(findings: Iterable[Mapping[str, Any]]) -> list[tuple[str, list[FindingGroup]]]:
    """(severity, groups) worst first: findings grouped by check and host name."""
    from urllib.parse import urlsplit

    by_key: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for finding in findings:
        endpoint = str(finding.get("endpoint", ""))
        key = (str(finding.get("check", "")), urlsplit(endpoint).hostname or authority(endpoint))
        by_key.setdefault(key, []).append(finding)
    groups = []
    for (check, service), members in by_key.items():
        members.sort(key=lambda f: (severity_rank(str(f.get("severity"))), str(f.get("endpoint"))))
        cited = dict.fromkeys(str(e) for f in members for e in f.get("evidence") or ())
        groups.append(FindingGroup(check, str(members[0].get("severity")), service, tuple(members),
                                   tuple(cited)))
    groups.sort(key=lambda g: (severity_rank(g.severity), g.check, g.service))
    by_severity: dict[str, list[FindingGroup]] = {}
    for group in groups:
        by_severity.setdefault(group.severity, []).append(group)
    return list(by_severity.items())


@dataclass(frozen=True)
class RowGroup:
    """Settled check rows on the same endpoints, shown as one line: the checks that passed
    there (each with what it saw), or the checks that did not apply there for one reason."""

    status: str
    endpoints: tuple[str, ...]
    checks: tuple[tuple[str, str], ...]  # (check id, what its rows say in common)
    reason: str = ""  # shared by every check of the group (not applicable)

    @property
    def services(self) -> list[tuple[str, list[str]]]:
        return by_service(self.endpoints)

    @property
    def rows(self) -> int:
        """The check rows this line stands for (every check has a row on every endpoint)."""
        return len(self.endpoints) * len(self.checks)


#: Rows a reader must see one by one (failures as findings); the others are summarised.
ATTENTION_STATUSES = ("fail", "error", "not_assessed")


def attention_rows(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Rows that could not be judged, errors first: each with its reason. (Failed rows are the
    findings, shown there.)"""
    rows = [row for row in document.get("checks", []) if row.get("status") in ("error", "not_assessed")]
    return sorted(rows, key=lambda row: (ATTENTION_STATUSES.index(str(row["status"])),
                                         severity_rank(str(row.get("severity"))),
                                         str(row.get("check")), str(row.get("endpoint"))))


def settled_rows(document: Mapping[str, Any]) -> list[tuple[str, list[RowGroup]]]:
    """Passed and not-applicable rows by area label, one line per set of endpoints: the checks
    that passed there, and the checks that did not apply there for the same reason (a closed
    port makes fifteen TLS checks not applicable for one reason: one line, not fifteen)."""
    labels = dict(AREAS + (OTHER_AREA,))
    by_check: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for row in document.get("checks", []):
        status = str(row.get("status", ""))
        if status not in ATTENTION_STATUSES:
            by_check.setdefault((str(row.get("check", "")), status), []).append(row)
    lines: dict[tuple[str, str, tuple[str, ...], str], list[tuple[str, str]]] = {}
    for (check, status), rows in sorted(by_check.items()):
        endpoints = tuple(sorted({str(row.get("endpoint", "")) for row in rows}))
        reason = shared_reason(rows)
        shared = reason if status != "pass" else ""
        lines.setdefault((area_of(check), status, endpoints, shared), []).append((check, reason))
    by_area: dict[str, list[RowGroup]] = {}
    for (area, status, endpoints, shared), checks in sorted(
            lines.items(), key=lambda item: (item[0][1] != "pass", item[1][0][0])):
        by_area.setdefault(area, []).append(RowGroup(status, endpoints, tuple(checks), shared))
    return [(labels[key], by_area[key]) for key, _ in AREAS + (OTHER_AREA,) if key in by_area]


def shared_reason(rows: Iterable[Mapping[str, Any]]) -> str:
    """What the rows' reasons say in common: the reason itself when they agree, else their
    common ending ("… answered 404: not found") when it says something, else ""."""
    reasons = list(dict.fromkeys(str(row.get("reason", "")) for row in rows))
    if len(reasons) == 1:
        return reasons[0]
    words = [reason.split(" ") for reason in reasons]
    common: list[str] = []
    for column in zip(*(reversed(w) for w in words), strict=False):
        if len(set(column)) != 1:
            break
        common.append(column[0])
    return "… " + " ".join(reversed(common)) if len(common) >= 3 else ""


def by_service(endpoints: Iterable[str]) -> list[tuple[str, list[str]]]:
    """Endpoints as (service, [path...]): `https://host:443` and `/owa`, `/ecp`; an endpoint
    that is the service itself (a TLS or mail endpoint) has no paths."""
    from urllib.parse import urlsplit

    services: dict[str, list[str]] = {}
    for endpoint in endpoints:
        service = authority(endpoint)
        rest = endpoint[len(service):] if endpoint.startswith(service) else ""
        paths = services.setdefault(service, [])
        if rest and rest != "/":
            paths.append(rest if urlsplit(endpoint).scheme else endpoint)
    return list(services.items())


#: `--evidence`: which evidence items the human report prints in its appendix.
EVIDENCE_MODES = ("cited", "all", "none")


def appendix_evidence(document: Mapping[str, Any], mode: str = "cited") -> list[Mapping[str, Any]]:
    """The evidence the appendix prints, once each: what a finding cites, everything, or nothing."""
    if mode == "none":
        return []
    items = list(document.get("evidence", []))
    if mode == "all":
        return items
    cited = {str(e) for f in document.get("findings", []) for e in f.get("evidence") or ()}
    return [item for item in items if str(item.get("id")) in cited]


# --------------------------------------------------------------------------- TLS in words

_VULNERABILITIES = (
    ("heartbleed", "Heartbleed (CVE-2014-0160)", {True: "vulnerable", False: "not vulnerable"}),
    ("ccs_injection", "OpenSSL CCS injection (CVE-2014-0224)", {True: "vulnerable", False: "not vulnerable"}),
    ("robot", "ROBOT (RSA padding oracle)", {}),
    ("secure_renegotiation", "Secure renegotiation (RFC 5746)", {True: "supported", False: "not supported"}),
    ("client_renegotiation_dos", "Client-initiated renegotiation",
     {True: "accepted (DoS risk)", False: "refused"}),
    ("compression", "TLS compression (CRIME)", {True: "enabled", False: "disabled"}),
    ("fallback_scsv", "TLS_FALLBACK_SCSV (downgrade protection)",
     {True: "supported", False: "not supported"}),
)


def tls_rows(item: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A TLS evidence item as labelled rows in words (no field paths, no Python reprs)."""
    rows: list[tuple[str, str]] = [("Scope", str(item.get("scope", "")))]
    if item.get("starttls"):
        rows.append(("STARTTLS", str(item["starttls"])))
    if item.get("error"):
        rows.append(("Error", _error_text(item["error"])))
    for protocol in item.get("protocols") or ():
        accepted = protocol.get("accepted") or ()
        if protocol.get("error"):
            value = f"not tested: {_error_text(protocol['error'])}"
        elif accepted:
            value = f"accepted: {', '.join(str(c.get('name', '')) for c in accepted)}"
        else:
            value = "refused"
        rows.append((str(protocol.get("version", "")), value))
    certificate = item.get("certificate") or {}
    for index, cert in enumerate(certificate.get("certificates") or (), start=1):
        label = "Certificate" if index == 1 else f"Chain certificate {index}"
        rows.append((label, f"{cert.get('subject', '')}, issued by {cert.get('issuer', '')}"))
        if index == 1:
            rows.append(("Names (SAN)", ", ".join(str(n) for n in cert.get("dns_names") or ()) or "none"))
        rows.append((f"{label}: validity", f"{cert.get('not_before', '')} to {cert.get('not_after', '')}"))
        rows.append((f"{label}: key", f"{cert.get('key_type', '')} {cert.get('key_bits', '')} bits, "
                                       f"signed with {cert.get('signature_hash', '')}"))
    if certificate:
        rows.append(("Trust", f"{str(certificate.get('trust', '')).replace('_', ' ')}: "
                              f"{certificate.get('trust_detail', '')}"))
    vulnerabilities = item.get("vulnerabilities") or {}
    for key, label, words in _VULNERABILITIES:
        if key in vulnerabilities and vulnerabilities[key] is not None:
            value = vulnerabilities[key]
            text = words.get(value) if isinstance(value, bool) else None
            rows.append((label, text or str(value).replace("_", " ").lower()))
    if item.get("client_auth"):
        rows.append(("Client certificate", str(item["client_auth"]).replace("_", " ")))
    for error in item.get("command_errors") or ():
        if isinstance(error, Mapping):
            why = _error_text(error.get("error"))
            rows.append(("Test not completed", f"{error.get('command', '')}: {why}"))
    return [(label, _cut(value)) for label, value in rows]


def accepted_versions(item: Mapping[str, Any]) -> str:
    """The protocol versions a TLS service accepted: "TLS 1.2, TLS 1.3"."""
    return ", ".join(str(p.get("version", "")) for p in item.get("protocols") or ()
                     if isinstance(p, Mapping) and p.get("accepted"))


# --------------------------------------------------------------------------- first page

EFFORT_ORDER = tuple(effort.value for effort in EFFORT_MEANING)
EFFORT_LABELS = {effort.value: f"{effort.value} effort: {meaning}"
                 for effort, meaning in EFFORT_MEANING.items()}


def top_actions(document: Mapping[str, Any], count: int = 3) -> list[FindingGroup]:
    """The first things to fix: finding groups not wholly accepted, worst first, and the cheaper
    fix first among equals (the engine's severities and the checks' efforts, only ordered here)."""
    groups = [g for _, members in finding_groups(document.get("findings", [])) for g in members
              if g.accepted < g.size]

    def order(group: FindingGroup) -> tuple[int, int, int]:
        effort = str(group.first.get("effort") or "")
        return (severity_rank(group.severity),
                EFFORT_ORDER.index(effort) if effort in EFFORT_ORDER else len(EFFORT_ORDER),
                -group.size)

    return sorted(groups, key=order)[:count]


def first_sentence(text: str) -> str:
    """The first sentence of a remediation: what to do, without the detail."""
    match = re.match(r"(.+?[.!?])(\s|$)", text.strip(), re.S)
    return match.group(1) if match else text.strip()


def scanned_names(document: Mapping[str, Any]) -> list[str]:
    """Every host name casaudit sent traffic to, from the evidence (the target's own names)."""
    from urllib.parse import urlsplit

    names = dict.fromkeys(str(t.get("host", "")) for t in document.get("targets", []))
    for item in document.get("evidence", []):
        host = urlsplit(str(item.get("endpoint", ""))).hostname
        if host and not host.startswith("_"):
            names[host] = None
    return [name for name in names if name]


# --------------------------------------------------------------------------- other evidence in words


def mail_rows(item: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A POP3/IMAP4 evidence item as labelled rows: what the server said, what casaudit sent."""
    rows: list[tuple[str, str]] = [("Reachability", str(item.get("reachability", "")))]
    if item.get("error"):
        rows.append(("Error", _error_text(item["error"])))
    if item.get("greeting") is not None:
        rows.append(("Greeting", str(item["greeting"])))
    banner = item.get("banner") or {}
    if banner.get("product"):
        form = f" ({banner['form']})" if banner.get("form") else ""
        rows.append(("Banner names", f"{banner['product']}{form}"))
    for key, label in (("capabilities_clear", "Capabilities in clear"),
                       ("capabilities_tls", "Capabilities over TLS")):
        capabilities = item.get(key) or {}
        if capabilities.get("items") or capabilities.get("error"):
            rows.append((label, ", ".join(str(c) for c in capabilities.get("items") or ())
                         or _error_text(capabilities.get("error"))))
    starttls = item.get("starttls") or {}
    if starttls:
        state = "offered" if starttls.get("offered") else "not offered"
        if starttls.get("attempted"):
            failed = f", failed: {_error_text(starttls.get('error'))}"
            state += ", succeeded" if starttls.get("ok") else failed
        rows.append(("STARTTLS", state + (f" ({starttls['reply']})" if starttls.get("reply") else "")))
    tls = item.get("tls") or {}
    if tls:
        rows.append(("TLS", f"{tls.get('version', '')} {tls.get('cipher', '')}".strip()))
    login = item.get("login_in_clear") or {}
    if login:
        rows.append(("Login in clear", f"{login.get('command', '')} → {login.get('reply', '')}: "
                                       f"{str(login.get('outcome', '')).replace('_', ' ')}"))
    if item.get("sent"):
        rows.append(("Sent", " · ".join(str(line) for line in item["sent"])))
    return [(label, _cut(value)) for label, value in rows]


_NTLM_NAMES = (("netbios_domain", "NetBIOS domain"), ("netbios_computer", "NetBIOS computer"),
               ("dns_domain", "DNS domain"), ("dns_computer", "DNS computer"), ("dns_tree", "DNS forest"),
               ("target_spn", "Target SPN"), ("timestamp", "Server time"))


def ntlm_rows(item: Mapping[str, Any]) -> list[tuple[str, str]]:
    """An anonymous NTLM NEGOTIATE and the CHALLENGE's disclosed names, in words."""
    rows: list[tuple[str, str]] = [
        ("Sent", "an anonymous NTLM NEGOTIATE (Authorization: NTLM, Type 1)"),
    ]
    if item.get("error"):
        rows.append(("Error", _error_text(item["error"])))
    else:
        rows.append(("Answer", f"{item.get('status', '')}, schemes offered: "
                               f"{', '.join(str(s) for s in item.get('auth_schemes') or ()) or 'none'}"))
    challenge = item.get("challenge") or {}
    for key, label in _NTLM_NAMES:
        if challenge.get(key):
            rows.append((label, str(challenge[key])))
    version = challenge.get("os_version") or {}
    if version:
        number = f"{version.get('major')}.{version.get('minor')} build {version.get('build')}"
        rows.append(("Windows version", number))
    if item.get("decode_error"):
        rows.append(("Challenge not decoded", str(item["decode_error"])))
    if item.get("challenge_b64"):
        rows.append(("Challenge (base64)", str(item["challenge_b64"])))
    return [(label, _cut(value)) for label, value in rows]


def autodiscover_rows(item: Mapping[str, Any]) -> list[tuple[str, str]]:
    """An Autodiscover method's attempt in words; its HTTP exchanges are shown as exchanges."""
    rows: list[tuple[str, str]] = [
        ("Method", f"{item.get('order', '')}. {str(item.get('method', '')).replace('_', ' ')}"),
        ("Asked about", str(item.get("email", ""))),
        ("Request", str(item.get("request", ""))),
        ("Verdict", str(item.get("verdict", "")) + (f" ({str(item['failure']).replace('_', ' ')})"
                                                    if item.get("failure") else "")),
        ("What came back", str(item.get("detail", ""))),
    ]
    if item.get("target_url"):
        rows.append(("Points to", str(item["target_url"])))
    if item.get("redirect_stopped"):
        rows.append(("Redirect not followed", str(item["redirect_stopped"])))
    for certificate in item.get("certificates") or ():
        problem = str(certificate.get("problem") or "not checked").replace("_", " ")
        state = "verified" if certificate.get("verified") else f"{problem}: {certificate.get('detail', '')}"
        rows.append((f"Certificate of {certificate.get('host', '')}", state))
    if item.get("error"):
        rows.append(("Error", _error_text(item["error"])))
    return [(label, _cut(value)) for label, value in rows]
