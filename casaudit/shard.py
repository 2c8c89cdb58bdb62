"""`scan --targets FILE --shard I/N`: a stable 1/N of a targets file's hosts, no broker needed.

N jobs (a CI matrix, a Kubernetes Indexed Job) each scan one shard of the
same file and record into the same history; together they scan every host
exactly once. A host is in shard I when ``sha256(host) mod N == I - 1``: the
host name (lower-case, as the targets file normalises it) decides, so a host
stays in its shard whatever else the file lists or in which order, on every
machine and Python version (never Python's salted ``hash()``).

``I/N`` is 1-based (1 <= I <= N), as GitLab's ``CI_NODE_INDEX/CI_NODE_TOTAL``.
``job/N`` takes I from ``JOB_COMPLETION_INDEX``, which a Kubernetes Indexed Job
sets 0-based: shard ``JOB_COMPLETION_INDEX + 1``. The literal word keeps the two
numberings apart: a number is always 1-based.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from casaudit.errors import UsageError

if TYPE_CHECKING:
    from casaudit.targets import ScanTarget

MAX_SHARDS = 1000
JOB_INDEX_VARIABLE = "JOB_COMPLETION_INDEX"
_SHAPE = re.compile(r"(?P<index>[0-9]{1,4}|job)/(?P<count>[0-9]{1,4})")


@dataclass(frozen=True)
class Shard:
    """Shard `index` (1-based) of `count`."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, host: str) -> bool:
        digest = hashlib.sha256(host.encode("utf-8")).hexdigest()
        return int(digest, 16) % self.count == self.index - 1

    def select(self, targets: Sequence[ScanTarget]) -> list[ScanTarget]:
        """This shard's targets, in the file's order."""
        return [target for target in targets if self.holds(target.target.host)]

    def to_dict(self) -> dict[str, int]:
        return {"index": self.index, "count": self.count}


def parse_shard(text: str, environ: Mapping[str, str]) -> Shard:
    """`--shard`'s value; UsageError (one line) when it is not I/N or job/N within bounds."""
    match = _SHAPE.fullmatch(text.strip())
    if match is None:
        raise UsageError(f"--shard {text!r}: give I/N (1 <= I <= N <= {MAX_SHARDS}, I 1-based) "
                         f"or job/N (I from ${JOB_INDEX_VARIABLE}, 0-based)")
    count = int(match["count"])
    if not 1 <= count <= MAX_SHARDS:
        raise UsageError(f"--shard {text!r}: N must be 1 to {MAX_SHARDS}")
    if match["index"] == "job":
        index = _job_index(environ, count) + 1
    else:
        index = int(match["index"])
        if not 1 <= index <= count:
            hint = f" (I is 1-based: for a 0-based index use job/{count})" if index == 0 else ""
            raise UsageError(f"--shard {text!r}: I must be 1 to {count}{hint}")
    return Shard(index, count)


def _job_index(environ: Mapping[str, str], count: int) -> int:
    value = environ.get(JOB_INDEX_VARIABLE)
    if value is None:
        raise UsageError(f"--shard job/{count}: ${JOB_INDEX_VARIABLE} is not set "
                         "(it is set in a Kubernetes Indexed Job; elsewhere give I/N)")
    if re.fullmatch(r"[0-9]{1,4}", value) is None or not 0 <= int(value) < count:
        raise UsageError(f"--shard job/{count}: ${JOB_INDEX_VARIABLE} is {value[:20]!r}, "
                         f"not an index 0 to {count - 1}")
    return int(value)
