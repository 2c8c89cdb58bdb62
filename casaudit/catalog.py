"""Discovers the checks in the top-level `checks` package.

This is the only module that imports `checks` (the wheel claims that import
name), so moving the catalog is a one-line change.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache

import checks as _checks_package
from casaudit.evidence.base import EvidenceSet
from casaudit.model import CheckMeta, Outcome
from casaudit.recommendations import RECOMMENDATION_IDS


@dataclass(frozen=True)
class Check:
    meta: CheckMeta
    evaluate: Callable[[EvidenceSet], Iterable[Outcome]]


@cache
def load_checks() -> tuple[Check, ...]:
    """Every check, sorted by id. A malformed check module is a programming error."""
    found: dict[str, Check] = {}
    for module_info in pkgutil.iter_modules(_checks_package.__path__):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{_checks_package.__name__}.{module_info.name}")
        meta = getattr(module, "CHECK", None)
        evaluate = getattr(module, "evaluate", None)
        if not isinstance(meta, CheckMeta) or not callable(evaluate):
            raise RuntimeError(f"check module {module.__name__} lacks CHECK or evaluate()")
        unknown = set(meta.recommendations) - set(RECOMMENDATION_IDS)
        if unknown:
            raise RuntimeError(f"check {meta.id} cites unknown recommendations {sorted(unknown)}")
        if meta.id in found:
            raise RuntimeError(f"two check modules share the id {meta.id}")
        found[meta.id] = Check(meta, evaluate)
    return tuple(found[key] for key in sorted(found))
