"""Click's usage errors in casaudit's words: one line, naming the option, no library jargon.

Typer parses the command line with click (or the copy of click it vendors in
recent releases, where values are checked by pydantic). Their messages leak
their machinery ("Value error, ...", "Input should be greater than or equal
to") and click suggests options whose only likeness is the leading "--". The
exceptions are recognised by class name and read with getattr, so that either
flavour of click works.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from enum import Enum
from typing import Any

#: How alike an unknown option and a real one must be (difflib ratio, without the dashes).
SUGGESTION_CUTOFF = 0.6


def usage_message(exc: Exception) -> str:
    """The text after "casaudit: error: " for a click usage error, with the --help hint."""
    kind = type(exc).__name__
    if kind == "NoSuchOption":
        message = _no_such_option(exc)
    elif kind != "MissingParameter" and _is_subclass_named(exc, "BadParameter"):
        message = _bad_parameter(exc)
    else:
        message = exc.format_message()  # type: ignore[attr-defined]
    context = getattr(exc, "ctx", None)
    hint = f" (see: {context.command_path} --help)" if context is not None else ""
    return message + hint


def is_bare_group(exc: Exception) -> bool:
    """A command group run without a command: click raises its help as the "error"."""
    return type(exc).__name__ == "NoArgsIsHelpError"


def _is_subclass_named(exc: Exception, name: str) -> bool:
    return any(cls.__name__ == name for cls in type(exc).__mro__)


def _no_such_option(exc: Any) -> str:
    option = str(getattr(exc, "option_name", "") or "")
    known = _option_names(getattr(exc, "ctx", None)) or list(getattr(exc, "possibilities", None) or ())
    close = close_options(option, known)
    suggestion = f"; did you mean {' or '.join(close)}?" if close else ""
    return f"no such option: {option}{suggestion}"


def close_options(option: str, known: Iterable[str]) -> list[str]:
    """The options that look like a mistyped `option`: compared without their dashes, which
    every long option shares and which made click suggest --probes for --frobnicate."""
    by_bare = {name.lstrip("-"): name for name in known if name.startswith("--")}
    matches = difflib.get_close_matches(option.lstrip("-"), list(by_bare), n=3, cutoff=SUGGESTION_CUTOFF)
    return [by_bare[match] for match in matches]


def _option_names(context: Any) -> list[str]:
    command = getattr(context, "command", None)
    names: list[str] = []
    for param in getattr(command, "params", ()):
        if getattr(param, "param_type_name", "") == "option":
            names += [*getattr(param, "opts", ()), *getattr(param, "secondary_opts", ())]
    return names


def _bad_parameter(exc: Any) -> str:
    name = _parameter_name(exc)
    problem = _validation_problem(exc)
    if problem is None:
        problem = str(getattr(exc, "message", exc)).removeprefix("Value error, ")
    return f"{name}: {problem}" if name else problem


def _parameter_name(exc: Any) -> str:
    hint = getattr(exc, "param_hint", None)
    param = getattr(exc, "param", None)
    if hint is None and param is not None:
        opts = [opt for opt in getattr(param, "opts", ()) if opt.startswith("-")]
        hint = opts or (getattr(param, "metavar", None) or getattr(param, "name", None) or "").upper()
    if isinstance(hint, Sequence) and not isinstance(hint, str):
        hint = " / ".join(str(item) for item in hint)
    return str(hint or "").strip("'\"")


def _validation_problem(exc: Any) -> str | None:
    """What pydantic found wrong with the value (typer's vendored click), in plain words."""
    choices = _choices(getattr(exc, "param", None))
    cause = exc.__cause__
    errors = cause.errors() if cause is not None and hasattr(cause, "errors") else []
    if not errors:
        return None
    error = errors[0]
    given, limits = str(error.get("input", "")), error.get("ctx") or {}
    kind = error.get("type", "")
    if choices:
        return f"{given!r} is not one of {', '.join(choices)}"
    if kind in ("greater_than_equal", "greater_than"):
        return f"must be at least {_number(limits.get('ge', limits.get('gt')))}, got {given}"
    if kind in ("less_than_equal", "less_than"):
        return f"must be at most {_number(limits.get('le', limits.get('lt')))}, got {given}"
    if kind in ("int_parsing", "int_from_float"):
        return f"expects a whole number, got {given!r}"
    if kind == "float_parsing":
        return f"expects a number, got {given!r}"
    return None


def _choices(param: Any) -> list[str]:
    descriptor = getattr(param, "type_descriptor", None)
    found = getattr(descriptor, "choices", None) if descriptor is not None else None
    if found is None:
        found = getattr(getattr(param, "type", None), "choices", None)
    return [str(c.value) if isinstance(c, Enum) else str(c) for c in found or ()]



def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)
