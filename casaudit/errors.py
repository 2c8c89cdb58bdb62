"""casaudit's own exceptions.

    CasauditError            anything the CLI reports in one line
    ├── UsageError           bad input from the user (exit 2)
    └── TargetError          the scan cannot start: unresolvable host, unreadable CA file (exit 2)

Network failures during probing are not exceptions to the caller: probes turn
them into `ProbeError` evidence (see casaudit.probes.errors).
"""


class CasauditError(Exception):
    """An error the CLI prints in one line, with an optional tip."""

    def __init__(self, message: str, tip: str | None = None) -> None:
        super().__init__(message)
        self.tip = tip


class UsageError(CasauditError):
    pass


class TargetError(CasauditError):
    pass
