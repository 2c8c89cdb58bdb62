"""Moved to `casaudit.evidence.autodiscover` (every evidence type has one home: `casaudit.evidence`).

Kept for one release so that code importing the old path still works; import
from `casaudit.evidence` instead.
"""

from casaudit.evidence.autodiscover import *  # noqa: F403
from casaudit.evidence.autodiscover import __all__  # noqa: F401
