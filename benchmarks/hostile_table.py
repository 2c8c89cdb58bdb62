"""Print the hostile-server table: case, outcome, time taken, peak memory of the scan.

Each case serves one hostile behaviour on the HTTP (or HTTPS) port of a hardened
lab host on 127.0.0.1 and scans that host through the real CLI in a child
process (tests/hostile_scan.py); os.wait4 gives the child's own peak RSS.

    .venv/bin/python benchmarks/hostile_table.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.hostile_scan import scan_hostile  # noqa: E402

CASES = [
    ("silent", "http"), ("slowloris", "http"), ("slowloris", "https"), ("stop_midway", "http"),
    ("endless_body", "http"), ("huge_body", "http"), ("many_headers", "http"),
    ("long_header", "http"), ("redirect_loop", "http"), ("redirect_offsite", "http"),
    ("redirect_private_address", "http"), ("escape_strings", "http"),
    ("tls_garbage", "https"), ("tls_reset", "https"),
]


def outcome(run) -> str:  # type: ignore[no-untyped-def]
    items = run.evidence(run.scheme)
    kinds: dict[str, int] = {}
    for item in items:
        first = item["exchanges"][0]
        if first["error"]:
            key = f"error {first['error']['kind']}"
        elif item["redirect_stopped"]:
            key = "redirect not followed"
        elif first.get("body_error"):
            key = f"{first['status']}, body cut ({first['body_error']['kind']})"
        elif first["body_truncated"]:
            key = f"{first['status']}, body capped at {first['body_bytes']} B"
        else:
            key = f"{first['status']}"
        kinds[key] = kinds.get(key, 0) + 1
    return "; ".join(f"{key} x{count}" for key, count in sorted(kinds.items()))


def main() -> None:
    print("| hostile case | port | exit | outcome on that port's URLs | seconds | peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    for behaviour, scheme in CASES:
        run = scan_hostile(behaviour, scheme)
        print(f"| {behaviour} | {scheme} | {run.code} | {outcome(run)} | {run.seconds:.1f} | "
              f"{run.peak_rss_mib:.0f} |", flush=True)


if __name__ == "__main__":
    main()
