"""Moved to `casaudit.evidence.tls` (every evidence type has one home: `casaudit.evidence`).

Kept for one release so that code importing the old path still works; import
from `casaudit.evidence` instead.
"""

from casaudit.evidence.tls import *  # noqa: F403
from casaudit.evidence.tls import __all__  # noqa: F401
