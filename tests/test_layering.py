"""STYLE.md's shape, read from the source: checks import evidence, model and knowledge only.

A check that imported a probe or the planner would pull httpx, dnspython or the
scan's URL invention into pure judging; evidence that imported a probe would do
the same to everything that reads it. Read statically (AST), so a lazy import
inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: What a check may import from casaudit: evidence, the judging model, and knowledge
#: (pure data and functions about Exchange, HTTP answers, names and parsed bytes).
CHECK_MAY_IMPORT = (
    "casaudit.evidence",
    "casaudit.model",
    "casaudit.names",
    "casaudit.exchange",
    "casaudit.exchange_cves",
    "casaudit.currency",
    "casaudit.identify",
    "casaudit.web_checks",
    "casaudit.parse",
    "casaudit.autodiscover_judge",
    "casaudit.windows_server",
)
#: Third-party libraries of the network side: never in a check or in evidence.
NETWORK_LIBRARIES = ("httpx", "httpcore", "dns", "sslyze", "nassl", "imaplib2")


def imported_modules(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


@pytest.mark.parametrize("path", sorted((ROOT / "checks").glob("*.py")), ids=lambda p: p.name)
def test_a_check_imports_evidence_model_and_knowledge_only(path: Path) -> None:
    for name in imported_modules(path):
        assert not _within(name, NETWORK_LIBRARIES), f"{path.name} imports {name}"
        if name.startswith("casaudit"):
            assert _within(name, CHECK_MAY_IMPORT), f"{path.name} imports {name}"


@pytest.mark.parametrize(
    "module", [name for name in CHECK_MAY_IMPORT
               if name not in ("casaudit.evidence", "casaudit.parse", "casaudit.model")])
def test_knowledge_a_check_imports_stays_off_the_network_side(module: str) -> None:
    path = ROOT / (module.replace(".", "/") + ".py")
    if not path.exists():
        pytest.skip(f"{module} does not exist")
    for name in imported_modules(path):
        assert not _within(name, NETWORK_LIBRARIES), f"{module} imports {name}"
        if name.startswith("casaudit"):
            assert _within(name, CHECK_MAY_IMPORT), f"{module} imports {name}"


@pytest.mark.parametrize(
    "path", sorted((ROOT / "casaudit" / "evidence").glob("*.py")), ids=lambda p: p.name)
def test_evidence_imports_only_evidence_and_parsers(path: Path) -> None:
    for name in imported_modules(path):
        if name.startswith("casaudit"):
            assert _within(name, ("casaudit.evidence", "casaudit.parse")), f"{path.name} imports {name}"
        assert not _within(name, NETWORK_LIBRARIES), f"{path.name} imports {name}"


def test_every_evidence_type_has_one_home() -> None:
    # Given every module outside casaudit/evidence/ (the old evidence_*.py paths are re-exports)
    # Then none of them defines a class whose name ends in Evidence
    homes = {}
    for path in (ROOT / "casaudit").rglob("*.py"):
        top = path.relative_to(ROOT / "casaudit").parts[0]
        if top == "evidence" or top.startswith("evidence_"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef) and node.name.endswith("Evidence"):
                homes[node.name] = path.relative_to(ROOT)
    assert homes == {}
