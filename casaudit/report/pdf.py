"""PDF export: the HTML report printed by headless Chromium.

Why Chromium rather than WeasyPrint: the PDF is then exactly what the browser
test opens and checks (one engine, one set of CSS), Chromium prints modern CSS
(grid, @page margin boxes for the running header with target and date), and it
is one system package (Debian `chromium`) with no Python dependency. Why its
command line rather than Playwright: nothing to install in Python at run
time; Playwright stays a test tool.

The report has no script and a CSP that forbids every fetch; the flags below
also keep Chromium itself from phoning home, so printing opens no connection.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from casaudit.errors import UsageError

#: Searched in order on PATH; CASAUDIT_CHROMIUM names a binary explicitly.
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
TIMEOUT_SECONDS = 90.0
_INSTALL_TIP = "install Chromium (Debian/Ubuntu: apt-get install chromium) or set CASAUDIT_CHROMIUM"


def find_chromium() -> str | None:
    explicit = os.environ.get("CASAUDIT_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def require_chromium() -> str:
    """The Chromium binary, or a one-line error saying how to get one."""
    found = find_chromium()
    if not found:
        raise UsageError(f"--pdf needs headless Chromium, which was not found; {_INSTALL_TIP}")
    return found


def chromium_flags(profile: Path) -> list[str]:
    """Headless, no first-run, no background traffic, a throwaway profile."""
    return [
        "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-extensions", "--disable-default-apps", "--metrics-recording-only",
        "--mute-audio", f"--user-data-dir={profile}",
    ]


def write_pdf(html: str, out: Path, chromium: str | None = None) -> None:
    """Print `html` to `out` as PDF; a one-line UsageError on any failure."""
    binary = chromium or require_chromium()
    with tempfile.TemporaryDirectory(prefix="casaudit-pdf-") as scratch:
        work = Path(scratch)
        page, printed = work / "report.html", work / "report.pdf"
        page.write_text(html, encoding="utf-8")
        command = [binary, *chromium_flags(work / "profile"), "--no-pdf-header-footer",
                   f"--print-to-pdf={printed}", page.as_uri()]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS,
                                  stdin=subprocess.DEVNULL, cwd=work)
        except FileNotFoundError:
            raise UsageError(f"--pdf: cannot run {binary!r}; {_INSTALL_TIP}") from None
        except subprocess.TimeoutExpired:
            raise UsageError(f"--pdf: Chromium did not finish within {TIMEOUT_SECONDS:.0f} s") from None
        if not printed.is_file() or printed.read_bytes()[:5] != b"%PDF-":
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise UsageError(f"--pdf: Chromium exited {done.returncode} without a PDF ({last[:200]})")
        try:
            shutil.copyfile(printed, out)
        except OSError as exc:
            raise UsageError(f"--pdf {str(out)!r}: cannot write ({exc.strerror or exc})") from None
