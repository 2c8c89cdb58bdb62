"""The check catalog: one small module per check, each with `CHECK` and `evaluate`.

A module here defines `CHECK: CheckMeta` and `evaluate(evidence) -> list[Outcome]`,
a pure function: no I/O, no clock, no globals. casaudit.catalog discovers them.
"""
