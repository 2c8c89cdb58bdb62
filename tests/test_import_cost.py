"""A TLS-only scan imports only what it uses: checked in a fresh interpreter, not by timing."""

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
