"""Output paths checked before any traffic: a file can be written, a directory created.

Shared by every command that writes (scan, report, history --html), so that a bad path is the
same one line everywhere, and nothing is created or emptied by the check itself.
"""

from __future__ import annotations

import os
from pathlib import Path

from casaudit.errors import UsageError


def check_output_file(option: str, path: Path) -> None:
    """The file can be written, without creating or truncating it now."""
    if path.is_dir():
        raise UsageError(f"{option} {str(path)!r}: is a directory, not a file")
    parent = path.parent
    if not parent.is_dir():
        raise UsageError(f"{option} {str(path)!r}: no such directory {str(parent)!r}")
    if path.exists():
        try:
            with open(path, "a", encoding="utf-8"):
                pass
        except OSError as exc:
            raise UsageError(f"{option} {str(path)!r}: cannot write ({exc.strerror or exc})") from None
    elif not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {str(path)!r}: cannot write in {str(parent)!r}")


def check_output_directory(option: str, path: Path) -> None:
    """The directory exists and is writable, or its nearest existing parent lets it be created."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{option} {str(path)!r}: {str(existing)!r} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {str(path)!r}: cannot write in {str(existing)!r}")
