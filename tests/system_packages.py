"""Real server software for interop tests, installed from Debian's packages on demand.

CI runs as root on a machine that may lack nginx, dovecot or chromium: the
fixtures that need them call `ensure_debian_packages`, so `make test` alone sets
up everything. Without root and without the software, the test is skipped with
the reason; with root, a failed install fails the test.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

import pytest

_LOCK = Path("/tmp/casaudit-apt.lock")
_APT_ENV = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}


def find_binary(name: str) -> str | None:
    for directory in ("/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        candidate = Path(directory) / name
        if candidate.exists():
            return str(candidate)
    return shutil.which(name)


def ensure_debian_packages(binary: str, *packages: str) -> str:
    """The path of `binary`, installing `packages` with apt-get when it is missing."""
    found = find_binary(binary)
    if found:
        return found
    if os.geteuid() != 0:
        pytest.skip(f"{binary} is not installed and installing {' '.join(packages)} needs root")
    with _LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = find_binary(binary)
        if found:
            return found
        steps = (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
        )
        for step in steps:
            done = subprocess.run(step, env=_APT_ENV, capture_output=True, text=True, timeout=1200)
            if done.returncode != 0:
                pytest.fail(f"{' '.join(step)} failed: {done.stderr.strip()[-800:]}")
    found = find_binary(binary)
    if not found:
        pytest.fail(f"installed {' '.join(packages)} but {binary} is still missing")
    return found
