"""A TLS-only scan imports only what it uses: checked in a fresh interpreter, not by timing.

Followed from the scan path through `evaluate()`: the checks are pure and import
evidence, model and knowledge only (tests/test_layering.py reads that from the
source), so judging TLS evidence pays for no HTTP client, DNS library, fleet
runner or renderer either.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import sys
import casaudit.api, casaudit.runs, casaudit.probes
from casaudit.probes import PROBE_FACTORIES, families
loaded = lambda name: name in sys.modules
print(families())
print(loaded("httpx"), loaded("dns.resolver"), loaded("jinja2"), loaded("casaudit.fleet"),
      loaded("casaudit.probes.autodiscover"), loaded("sslyze"))
"""


def test_the_scan_path_defers_families_renderers_and_the_fleet_runner() -> None:
    run = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    names, flags = run.stdout.splitlines()
    # every family is still listed for --probes, in evidence order
    assert names == "('http', 'tls', 'mail', 'ntlm', 'hostless', 'autodiscover')"
    # and none of these is imported before a scan asks for it
    assert flags == "False False False False False False"


EVALUATE = """
import sys
import casaudit.api
from casaudit.api import evaluate
from casaudit.catalog import load_checks
from casaudit.evidence import EvidenceSet, ProbeError
from casaudit.recommendations import judge
from tests.factories import tls_evidence
checks = load_checks()
evidence = EvidenceSet((
    tls_evidence(),
    tls_evidence(service="imaps", evidence_id="tls-002",
                 error=ProbeError("refused", "connection refused: nothing listens on this port")),
))
rows, findings = evaluate(evidence, checks, host="mail.example.test")
judge(rows, findings)
print(len(checks), sum(row.check.startswith("tls.") for row in rows))
watched = ("httpx", "httpcore", "dns", "jinja2", "casaudit.fleet", "casaudit.report", "sslyze",
           "casaudit.probes.http", "casaudit.probes.ntlm", "casaudit.probes.hostless",
           "casaudit.probes.autodiscover", "casaudit.probes.mail", "casaudit.probes.tls")
print(sorted(name for name in sys.modules if name.split(".")[0] in ("httpx", "httpcore", "dns", "jinja2",
      "sslyze") or name in watched or name.startswith(("casaudit.report.", "casaudit.fleet"))))
"""


def test_evaluating_tls_evidence_imports_no_network_library_fleet_or_renderer() -> None:
    # Given a fresh interpreter on the scan path, with the whole catalog loaded
    # When TLS evidence (one service scanned, one port closed) is judged through evaluate()
    run = subprocess.run([sys.executable, "-c", EVALUATE], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True, cwd=ROOT)
    counts, imported = run.stdout.splitlines()
    # Then every check ran, and each TLS check judged both services
    checks, tls_rows = map(int, counts.split())
    assert checks >= 30 and tls_rows >= 2 * 15
    # and none of httpx, dnspython, sslyze, jinja2, the fleet runner, the renderers or the
    # network probes was imported to do it
    assert imported == "[]"
