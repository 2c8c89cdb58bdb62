"""`casaudit lab serve` stops and cleans up on SIGTERM as on Ctrl-C (issue #15, item 10)."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

#: Seconds the lab gets to start and print its addresses, then to stop after the signal.
START_S, STOP_S = 60, 20


def _serve_until_ca_line(posture: str) -> tuple[subprocess.Popen[bytes], Path, str]:
    """Start `lab serve` and read its output up to the CA line (bounded by START_S)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "casaudit", "lab", "serve", "--posture", posture],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    seen = b""
    deadline = time.monotonic() + START_S
    # Raw reads on the descriptor: a buffered readline could hold the line select waits for.
    while time.monotonic() < deadline and selector.select(timeout=max(0.0, deadline - time.monotonic())):
        chunk = os.read(process.stdout.fileno(), 4096)
        if not chunk:
            break
        seen += chunk
        for line in seen.decode(errors="replace").splitlines():
            if line.strip().startswith("CA ") and "stops the lab" in seen.decode(errors="replace"):
                return process, Path(line.split(None, 1)[1].strip()), seen.decode(errors="replace")
    process.kill()
    process.wait(timeout=STOP_S)
    pytest.fail(f"lab serve printed no CA line: {seen!r}")


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_lab_serve_removes_its_temporary_directory_when_stopped(stop):
    process, ca_file, printed = _serve_until_ca_line("exchange2007-legacy")
    workdir = ca_file.parent
    try:
        assert ca_file.is_file() and workdir.name.startswith("casaudit-lab-")
        process.send_signal(stop)
        rest, err_bytes = process.communicate(timeout=STOP_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=STOP_S)
    out, err = printed + rest.decode(errors="replace"), err_bytes.decode(errors="replace")
    assert process.returncode == 0, err
    assert "lab stopped" in out and "Traceback" not in err
    assert not workdir.exists(), f"{workdir} (with the lab CA's private key) is left behind"
