"""scan --targets FILE --shard I/N: N jobs scan disjoint, stable parts of one targets file."""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jsonschema
import pytest

from casaudit.history import open_store
from casaudit.report import document as doc_io
from casaudit.shard import Shard, parse_shard
from casaudit.targets import parse_targets
from tests.conftest import run_cli
from tests.fleet_support import silent_entry, target_entry, write_targets

FLEET_SCHEMA = doc_io.schema(doc_io.FLEET_SCHEMA_FILE)
SILENT = ("mail4.silent.test", "mail5.silent.test", "mail7.silent.test")


def _documented_shard(host: str, count: int) -> int:
    """The rule as docs/scheduled-scans.md states it, written out independently."""
    return int(hashlib.sha256(host.encode("utf-8")).hexdigest(), 16) % count + 1


def test_the_shards_partition_any_targets_file_by_the_documented_hash():
    # Given a file of 300 hosts, in upper case for some (the file normalises names)
    text = "".join(f'[[targets]]\nhost = "{"MAIL" if n % 2 else "mail"}{n}.example.test"\n'
                   for n in range(300))
    targets = parse_targets(text)
    for count in (1, 2, 7, 1000):
        # When each of the N shards selects its hosts
        shards = [Shard(index, count).select(targets) for index in range(1, count + 1)]
        # Then every host is in exactly one shard, the one sha256(host) mod N names, in file order
        chosen = [t.target.host for shard in shards for t in shard]
        assert sorted(chosen) == sorted(t.target.host for t in targets)
        for index, shard in enumerate(shards, start=1):
            assert all(_documented_shard(t.target.host, count) == index for t in shard)
            assert shard == [t for t in targets if t in shard]
    # and the split is not lopsided (a real hash, not a prefix)
    assert all(60 <= len(Shard(i, 3).select(targets)) <= 140 for i in (1, 2, 3))
    # and a shard does not depend on the machine or the Python (fixed values of sha256)
    assert [_documented_shard(h, 1000) for h in ("mail.contoso.test", "mail.contoso-legacy.test")] == [
        789, 319]


@pytest.mark.parametrize(("text", "environ", "expected"), [
    ("1/1", {}, Shard(1, 1)),
    ("3/8", {}, Shard(3, 8)),
    (" 1000/1000 ", {}, Shard(1000, 1000)),
    ("job/8", {"JOB_COMPLETION_INDEX": "0"}, Shard(1, 8)),
    ("job/8", {"JOB_COMPLETION_INDEX": "7"}, Shard(8, 8)),
])
def test_shard_values(text, environ, expected):
    assert parse_shard(text, environ) == expected


def test_sharded_runs_scan_only_their_hosts_and_merge_into_one_history(
    legacy_lab, hardened_lab, tmp_path, history_db
):
    # (one SQLite file, or one PostgreSQL database the three create their tables in at once)
    # Given a targets file whose hosts fall, by the hash, into three shards of 3:
    # the not-answering hosts in shard 1, the hardened lab in 2, the legacy lab in 3
    layout = {legacy_lab.host: 3, hardened_lab.host: 2, **{host: 1 for host in SILENT}}
    assert all(_documented_shard(host, 3) == index for host, index in layout.items())
    targets = write_targets(
        tmp_path / "targets.toml", target_entry(legacy_lab), *(silent_entry(host) for host in SILENT),
        target_entry(hardened_lab), defaults="timeout = 10\n")
    file_order = [legacy_lab.host, *SILENT, hardened_lab.host]
    db = history_db

    def shard_run(index: int):
        out = tmp_path / f"shard{index}.json"
        return run_cli("scan", "--targets", str(targets), "--shard", f"{index}/3", "--db", db,
                       "--json", str(out), "--html", str(tmp_path / f"html{index}"), timeout=120)

    # When the three shards run at the same time, as a CI matrix would run them
    with ThreadPoolExecutor(3) as pool:
        runs = dict(zip((1, 2, 3), pool.map(shard_run, (1, 2, 3)), strict=True))
    # Then each scanned exactly its own hosts and says which shard it is
    for index, run in runs.items():
        assert run.code in (0, 1, 3), run.stderr
        document = json.loads((tmp_path / f"shard{index}.json").read_text())
        jsonschema.validate(document, FLEET_SCHEMA)
        assert document["options"]["shard"] == {"index": index, "count": 3}
        assert [e["host"] for e in document["results"]] == [h for h in file_order if layout[h] == index]
        assert f"hosts (shard {index}/3 of the targets file)" in run.stdout
        assert f"shard {index} of 3" in (tmp_path / f"html{index}" / "index.html").read_text()
    # and the exit code covers only the shard's hosts: the hosts that did not answer make
    # shard 1 exit 3, the legacy lab's findings shard 3 exit 1, the hardened lab alone exits 0
    assert (runs[1].code, runs[2].code, runs[3].code) == (3, 0, 1), [r.stderr for r in runs.values()]
    # and the one history holds every host of the file exactly once
    with open_store(db, read_only=True) as history:
        recorded = sorted(row.host for row in history.scans(limit=100))
    assert recorded == sorted(layout)


def test_an_empty_shard_says_so_and_exits_0_with_an_empty_report(tmp_path):
    # Given a file with one host, which is in shard 2 of 2 (mail4: sha256 mod 2 = 1)
    targets = write_targets(tmp_path / "targets.toml", silent_entry("mail4.silent.test"))
    # When shard 1 of 2 runs, as a Kubernetes Indexed Job's pod with index 0
    run = run_cli("scan", "--targets", str(targets), "--shard", "job/2", "--db", str(tmp_path / "h.db"),
                  "--json", "-", env={"JOB_COMPLETION_INDEX": "0"})
    # Then nothing is scanned, one line says why, and its (empty) report says which shard it was
    assert run.code == 0, run.stderr
    lines = run.stderr.splitlines()
    assert lines[0] == f"casaudit: shard 1/2 holds none of the 1 host of {targets}: nothing to scan"
    # (the only other line a fleet run may print: an old build table, on old checkouts)
    assert all("build table" in line for line in lines[1:]), lines
    document = run.json()
    jsonschema.validate(document, FLEET_SCHEMA)
    assert document["results"] == []
    assert document["options"]["shard"] == {"index": 1, "count": 2}


@pytest.mark.parametrize(("args", "env", "message"), [
    (("scan", "mail.example.test", "--shard", "1/2"), {},
     "--shard is for --targets (many hosts); a single HOST is one scan"),
    (("--shard", "0/4"), {}, "--shard '0/4': I must be 1 to 4 (I is 1-based: for a 0-based index use job/4)"),
    (("--shard", "5/4"), {}, "--shard '5/4': I must be 1 to 4"),
    (("--shard", "1/1001"), {}, "--shard '1/1001': N must be 1 to 1000"),
    (("--shard", "1/0"), {}, "--shard '1/0': N must be 1 to 1000"),
    (("--shard", "half"), {}, "--shard 'half': give I/N (1 <= I <= N <= 1000, I 1-based) "
                              "or job/N (I from $JOB_COMPLETION_INDEX, 0-based)"),
    (("--shard", "job/4"), {"JOB_COMPLETION_INDEX": "4"},
     "--shard job/4: $JOB_COMPLETION_INDEX is '4', not an index 0 to 3"),
    (("--shard", "job/4"), {"JOB_COMPLETION_INDEX": "²"},
     "--shard job/4: $JOB_COMPLETION_INDEX is '²', not an index 0 to 3"),
])
def test_bad_shards_are_one_line_exit_2_before_any_traffic(tmp_path, args, env, message):
    # (the file names a host that would need DNS: a refusal must come before any scan)
    targets = tmp_path / "targets.toml"
    targets.write_text('[[targets]]\nhost = "mail.example.test"\ndns_server = "127.0.0.1:9"\n')
    argv = args if args[0] == "scan" else ("scan", "--targets", str(targets), *args)
    run = run_cli(*argv, "--db", str(tmp_path / "h.db"), env=env)
    assert run.code == 2
    assert run.stderr == f"casaudit: error: {message}\n"
    assert run.stdout == ""
    assert not Path(tmp_path / "h.db").exists()


def test_job_shard_without_the_variable_is_refused(tmp_path):
    targets = write_targets(tmp_path / "targets.toml", silent_entry())
    assert "JOB_COMPLETION_INDEX" not in os.environ
    run = run_cli("scan", "--targets", str(targets), "--shard", "job/3", "--no-history")
    assert run.code == 2
    assert run.stderr == ("casaudit: error: --shard job/3: $JOB_COMPLETION_INDEX is not set (it is set "
                          "in a Kubernetes Indexed Job; elsewhere give I/N)\n")
