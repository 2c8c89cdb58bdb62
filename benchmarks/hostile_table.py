"""Print the hostile-server table: case, outcome, time taken, peak memory of the scan.

Each case replaces one or more ports of a hardened lab host on 127.0.0.1 with a
hostile server (casaudit/lab/hostile.py) and scans that host through the real CLI
in a child process (tests/hostile_scan.py); os.wait4 gives the child's own peak
RSS. The ports not listed stay the lab's (and are assessed in every case).

    PYTHONPATH=. .venv/bin/python benchmarks/hostile_table.py [--only WORD]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from casaudit.lab.hostile import HitRecorder, autodiscover_xml, external_dtd, external_entities  # noqa: E402
from tests.hostile_scan import NO_TLS_FAMILY, TLS_BREAKERS, HostileRun, Served, scan_served  # noqa: E402

WITH_TLS = NO_TLS_FAMILY + ",tls"


def _web(behaviour: str, scheme: str = "http") -> tuple[str, dict[str, Served], str]:
    tls = "stranger" if scheme == "https" and behaviour not in TLS_BREAKERS else "none"
    return behaviour, {scheme: Served(behaviour, tls)}, NO_TLS_FAMILY


def _mail(label: str, pop3: str, imap: str) -> tuple[str, dict[str, Served], str]:
    return label, {"pop3": Served(pop3), "imap": Served(imap)}, NO_TLS_FAMILY


def _autodiscover(behaviour: str) -> tuple[str, dict[str, Served], str]:
    return behaviour, {"https": Served(behaviour, "lab")}, NO_TLS_FAMILY


def _autodiscover_xml(label: str, payload: bytes) -> tuple[str, dict[str, Served], str]:
    return label, {"https": Served(autodiscover_xml(payload), "lab")}, NO_TLS_FAMILY


CASES: list[tuple[str, dict[str, Served], str]] = [
    *(_web(b) for b in ("silent", "slowloris")), _web("slowloris", "https"),
    *(_web(b) for b in ("stop_midway", "endless_body", "huge_body", "many_headers", "long_header",
                        "redirect_loop", "redirect_offsite", "redirect_private_address",
                        "escape_strings")),
    _web("tls_garbage", "https"), _web("tls_reset", "https"),
    ("tls_garbage, TLS family", {s: Served("tls_garbage") for s in ("https", "imaps", "pop3s")}, WITH_TLS),
    ("tls_reset, TLS family", {s: Served("tls_reset") for s in ("https", "imaps", "pop3s")}, WITH_TLS),
    _mail("mail: endless line", "mail_flood", "mail_flood"),
    _mail("mail: silent", "silent", "silent"),
    _mail("mail: greeting, then silence", "pop3_greeting", "imap_greeting"),
    _mail("mail: dribbling CAPA/CAPABILITY", "pop3_dribble", "imap_dribble"),
    _mail("mail: escapes, <script>, bad UTF-8", "pop3_escapes", "imap_escapes"),
    ("TLS on 110/143/80 (waits for ClientHello)",
     {"pop3": Served("pop3_greeting", "lab"), "imap": Served("imap_greeting", "lab"),
      "http": Served("silent", "lab")}, NO_TLS_FAMILY),
    ("TLS on 110/143/80 (ServerHello first)",
     {s: Served("server_hello_first") for s in ("pop3", "imap", "http")}, NO_TLS_FAMILY),
    ("cleartext on 443/993/995, TLS family",
     {"https": Served("cleartext_http"), "imaps": Served("imap_greeting"),
      "pop3s": Served("pop3_greeting")}, WITH_TLS),
    *(_autodiscover(b) for b in ("autodiscover_billion_laughs", "autodiscover_quadratic_blowup",
                                 "autodiscover_malformed", "autodiscover_cut_short",
                                 "autodiscover_huge")),
]


def _counted(keys: list[str]) -> str:
    return "; ".join(f"{key} x{count}" for key, count in sorted(Counter(keys).items()))


def _web_outcome(run: HostileRun, scheme: str) -> str:
    keys = []
    for item in run.evidence(scheme):
        first = item["exchanges"][0]
        if first["error"]:
            keys.append(f"error {first['error']['kind']}")
        elif item["redirect_stopped"]:
            keys.append("redirect not followed")
        elif first.get("body_error"):
            keys.append(f"{first['status']}, body cut ({first['body_error']['kind']})")
        elif first["body_truncated"]:
            keys.append(f"{first['status']}, body capped at {first['body_bytes']} B")
        else:
            keys.append(f"{first['status']}")
    return f"{scheme}: {_counted(keys)}"


def outcome(label: str, run: HostileRun, served: dict[str, Served], probes: str) -> str:
    if run.document is None:
        return "no report"
    parts = []
    if label.startswith("autodiscover"):
        failures = [run.autodiscover(m)["failure"] for m in ("root_domain", "autodiscover_host")]
        parts.append(f"Autodiscover URLs: {_counted(failures)}")
    for service in served:
        if service in ("http", "https"):
            if not label.startswith("autodiscover"):
                parts.append(_web_outcome(run, service))
        else:
            item = run.mail(service)
            error = item["error"]
            parts.append(f"{service}: {error['kind'] if error else 'answered'}")
    if "tls" in probes.split(","):
        errors = [e["error"]["kind"] if e.get("error") else "scanned"
                  for e in run.of_kind("tls") if e["endpoint"].split(":")[0] in served]
        parts.append(f"TLS family: {_counted(errors)}")
    return ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--only", help="only the cases whose label contains this word")
    options = parser.parse_args()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| hostile case | hostile ports | exit | outcome | seconds | peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    # XXE and external DTDs point at a listener that records every connection.
    with HitRecorder(b"FETCHED-SECRET") as recorder:
        cases = [*CASES, *(_autodiscover_xml(label, payload) for label, payload in (
            ("autodiscover XXE (file and URL)", external_entities(recorder.url, "/etc/hostname")),
            ("autodiscover external DTD", external_dtd(recorder.url))))]
        for label, served, probes in cases:
            if options.only and options.only not in label:
                continue
            run = scan_served(served, probes=probes)
            seen = f", listener hits: {len(recorder.hits)}" if "XXE" in label or "DTD" in label else ""
            print(f"| {label} | {', '.join(served)} | {run.code} | {outcome(label, run, served, probes)}"
                  f"{seen} | {run.seconds:.1f} | {run.peak_rss_mib:.0f} |", flush=True)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
