"""The check catalog: one small module per check, each with `CHECK` and `evaluate`.

A module here defines `CHECK: CheckMeta` and `evaluate(evidence) -> list[Outcome]`,
a pure function: no I/O, no clock, no globals. casaudit.catalog discovers them.

A check imports evidence (`casaudit.evidence`), the model (`casaudit.model`) and
knowledge (`casaudit.exchange`, `identify`, `exchange_cves`, `web_checks`, `names`,
`autodiscover_judge`, `parse`) only: never a probe, the planner or httpx, so
loading the catalog costs no network library (tests/test_layering.py and
tests/test_import_cost.py hold this). Check ids are pinned in
tests/test_recommendations_and_engine.py.
"""
