"""Fleet scans through Celery workers over a real redis-server, recorded in a real PostgreSQL.

The lab hosts are rate-limited so that each scan lasts seconds: a worker killed
with SIGKILL has hosts in flight, which Redis hands to the other worker after the
visibility timeout. Every host must still be recorded exactly once, and the
submitter's outputs must match a local `scan --targets` of the same file.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from casaudit.history import open_store
from casaudit.lab import Lab
from tests.conftest import run_cli, validate_scan_document
from tests.fleet_support import silent_entry, target_entry, write_targets

pytest.importorskip("celery", reason="celery is not installed (pip install -e '.[test]')")

#: Short enough for a test to wait for a re-delivery, long enough for a rate-limited lab scan.
DEADLINE = 40
VISIBILITY_TIMEOUT = 75
WAIT_SECONDS = 300


@contextmanager
def worker(broker: str, db: str, log: Path, parallel: int = 4) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("w") as stream:
        process = subprocess.Popen(
            [sys.executable, "-m", "casaudit", "worker", "--broker", broker, "--db", db,
             "--parallel", str(parallel), "--visibility-timeout", str(VISIBILITY_TIMEOUT)],
            stdout=stream, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=DEADLINE + 30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _run_rows(db: str, run_id: str) -> list[tuple[str, int]]:
    """(host, rows recorded for it) of a run, and how often each was started."""
    with open_store(db, read_only=True) as history:
        return [tuple(row) for row in history._execute(
            "SELECT host, count(*) FROM scans WHERE run_id = ? GROUP BY host ORDER BY host", (run_id,))]


def _starts(db: str, run_id: str) -> dict[str, int]:
    with open_store(db, read_only=True) as history:
        return {host.host: host.attempts for host in history.run_hosts(run_id)}


def _findings(document: dict) -> dict[str, list[tuple[str, str, str, bool]]]:
    return {
        entry["host"]: sorted((f["check"], f["endpoint"], f["severity"], bool(f.get("accepted")))
                              for f in (entry["scan"] or {"findings": []})["findings"])
        for entry in document["results"]
    }


def _statuses(document: dict) -> dict[str, str]:
    return {entry["host"]: entry["status"] for entry in document["results"]}


def _in_flight(log: Path) -> set[str]:
    """Hosts this worker's log says it started and has not finished."""
    text = log.read_text(errors="replace")
    started = set(re.findall(r"casaudit worker: (\S+): started", text))
    finished = set(re.findall(r"casaudit worker: (\S+): (?!started)\S+ in run", text))
    return started - finished


@pytest.fixture(scope="module")
def more_labs() -> Iterator[list]:
    with Lab.start("exchange2016-direct") as direct, Lab.start("exchange2019-esu") as esu:
        yield [direct, esu]


def _fleet(tmp_path: Path, labs: list) -> Path:
    """16 hosts: each lab under its own name and a second one (rate-limited, so seconds long),
    and silent hosts whose every port refuses."""
    entries = []
    for lab in labs:
        entries.append(target_entry(lab, rate=4, tags={"kind": "lab"}))
        entries.append(target_entry(lab, host=f"second.{lab.domain}", rate=4, tags={"kind": "lab"}))
    entries += [silent_entry(f"mail{n}.silent.test") for n in range(16 - len(entries))]
    return write_targets(tmp_path / "fleet.toml", *entries, defaults=f"timeout = 5\ndeadline = {DEADLINE}\n")


def test_two_workers_one_killed_record_every_host_once_and_match_a_local_run(
        tmp_path, postgres, redis_server, legacy_lab, hardened_lab, more_labs):
    targets = _fleet(tmp_path, [legacy_lab, hardened_lab, *more_labs])
    baseline = tmp_path / "baseline.toml"
    baseline.write_text('[[accept]]\ncheck = "http.hsts_missing"\nendpoint = "*"\n'
                        'justification = "HSTS is set by the load balancer"\nexpires = 2099-01-01\n')
    local = run_cli("scan", "--targets", str(targets), "--baseline", str(baseline), "--no-history",
                    "--json", str(tmp_path / "local.json"), timeout=WAIT_SECONDS)
    assert local.code in (1, 3), local.stderr
    db, broker = postgres.new_database(), redis_server.new_url()

    with worker(broker, db, tmp_path / "a.log") as first, worker(broker, db, tmp_path / "b.log"):
        submitter = subprocess.Popen(
            [sys.executable, "-m", "casaudit", "scan", "--targets", str(targets), "--broker", broker,
             "--db", db, "--baseline", str(baseline), "--json", str(tmp_path / "remote.json")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        # Kill the first worker while it has lab hosts in flight.
        killed_with: set[str] = set()
        give_up = time.monotonic() + 120
        while time.monotonic() < give_up and not killed_with:
            in_flight = _in_flight(tmp_path / "a.log")
            if any(not host.endswith("silent.test") for host in in_flight):
                first.send_signal(signal.SIGKILL)
                first.wait(timeout=10)
                killed_with = in_flight
            time.sleep(0.2)
        assert killed_with, (tmp_path / "a.log").read_text()
        out, err = submitter.communicate(timeout=WAIT_SECONDS)

    # The submitter waited for every host, re-delivered ones included, and exits as the local run.
    assert submitter.returncode == local.code, err
    run_id = re.search(r"run ([0-9a-f-]{36})", err)[1]
    assert "redis://:***@" in err and redis_server.url().split("@")[0].split(":")[-1] not in err + out
    rows = _run_rows(db, run_id)
    assert len(rows) == 16 and all(count == 1 for _, count in rows), rows
    starts = _starts(db, run_id)
    assert all(starts[host] >= 2 for host in killed_with), (killed_with, starts)
    remote = validate_scan_document(json.loads((tmp_path / "remote.json").read_text()), "remote.json")
    mine = json.loads((tmp_path / "local.json").read_text())
    assert remote["options"]["run_id"] == run_id
    assert [e["host"] for e in remote["results"]] == [e["host"] for e in mine["results"]]
    assert _statuses(remote) == _statuses(mine)
    assert _findings(remote) == _findings(mine)
    # the baseline travelled with the tasks: accepted on the workers as locally
    assert any(accepted for findings in _findings(remote).values() for *_, accepted in findings)
    assert remote["summary"] == mine["summary"]


def test_detach_then_run_status_and_report_run(tmp_path, redis_server, hardened_lab):
    targets = write_targets(tmp_path / "t.toml", target_entry(hardened_lab),
                            silent_entry("mail.a.silent.test"),
                            defaults=f"timeout = 5\ndeadline = {DEADLINE}\n")
    db, broker = str(tmp_path / "history.db"), redis_server.new_url()
    submitted = run_cli("scan", "--targets", str(targets), "--broker", broker, "--db", db, "--detach")
    assert submitted.code == 0, submitted.stderr
    run_id = submitted.stdout.strip()
    assert re.fullmatch(r"[0-9a-f-]{36}", run_id)

    # What the broker carries: host names and options as JSON, never a password.
    import redis

    messages = redis.Redis.from_url(broker).lrange("casaudit", 0, -1)
    assert len(messages) == 2
    bodies = [json.loads(base64.b64decode(json.loads(m)["body"])) for m in messages]
    payloads = {body[0][0]["host"]: body[0][0] for body in bodies}
    assert set(payloads) == {hardened_lab.host, "mail.a.silent.test"}
    # the CA file travels once, in the history's run, not once per host through the broker
    digest = payloads[hardened_lab.host]["ca"]
    assert re.fullmatch(r"[0-9a-f]{64}", digest) and b"BEGIN CERTIFICATE" not in b"".join(messages)
    with open_store(db, read_only=True) as history:
        kept = history.run(run_id).options["attachments"][digest]
    assert kept == Path(hardened_lab.ca_file).read_text()
    assert all(json.loads(m)["content-type"] == "application/json" for m in messages)
    assert b"Pa55" not in b"".join(messages)

    pending = run_cli("run-status", run_id, "--db", db)
    assert pending.code == 3 and "2 hosts, 0 recorded" in pending.stdout and "2 pending" in pending.stdout
    early = run_cli("report", "--run", run_id, "--db", db, "--json", str(tmp_path / "early.json"))
    assert early.code == 3, early.stderr
    early_document = validate_scan_document(json.loads((tmp_path / "early.json").read_text()), "early.json")
    assert {e["error"]["kind"] for e in early_document["results"]} == {"pending"}

    with worker(broker, db, tmp_path / "w.log", parallel=2):
        for _ in range(WAIT_SECONDS):
            status = run_cli("run-status", run_id, "--db", db)
            if status.code == 0:
                break
            time.sleep(1)
    assert status.code == 0 and "2 recorded (1 not assessed, 0 errors), 0 pending" in status.stdout, status
    late = run_cli("report", "--run", run_id, "--db", db, "--json", str(tmp_path / "late.json"),
                   "--html", str(tmp_path / "html"))
    assert late.code == 3, late.stderr  # the silent host is not assessed, as in a local run
    document = validate_scan_document(json.loads((tmp_path / "late.json").read_text()), "late.json")
    assert document["options"]["run_id"] == run_id
    assert _statuses(document) == {hardened_lab.host: "partially_assessed",
                                   "mail.a.silent.test": "not_assessed"}
    assert (tmp_path / "html" / "index.html").is_file()
    # recorded once each, and `history` lists them like any scan
    assert [count for _, count in _run_rows(db, run_id)] == [1, 1]
    assert hardened_lab.host in run_cli("history", "--db", db).stdout


def test_a_host_started_too_often_is_an_error_entry_not_a_hole(tmp_path, redis_server):
    targets = write_targets(tmp_path / "t.toml", silent_entry("mail.crash.silent.test"))
    db, broker = str(tmp_path / "history.db"), redis_server.new_url()
    run_id = run_cli("scan", "--targets", str(targets), "--broker", broker, "--db", db,
                     "--detach").stdout.strip()
    # As if three workers had died scanning it (the killing itself: the test above).
    with open_store(db) as history:
        history._execute("UPDATE run_hosts SET attempts = 3 WHERE run_id = ?", (run_id,))
    with worker(broker, db, tmp_path / "w.log", parallel=1):
        for _ in range(60):
            if run_cli("run-status", run_id, "--db", db).code == 0:
                break
            time.sleep(1)
    report = run_cli("report", "--run", run_id, "--db", db, "--json", "-")
    assert report.code == 3
    entry = report.json()["results"][0]
    assert entry["status"] == "error" and entry["error"]["kind"] == "error"
    assert "started 3 times and no worker finished it" in entry["error"]["detail"]


@pytest.mark.parametrize(("args", "message"), [
    (("--broker", "{broker}", "--authenticated"), "--authenticated cannot be used with --broker"),
    (("--broker", "{broker}"), "--broker needs --db"),
    (("--broker", "{broker}", "--db", "{db}", "--parallel", "4"), "--parallel is not used with --broker"),
    (("--broker", "{broker}", "--db", "{db}", "--workers", "2"), "--workers is not used with --broker"),
    (("--broker", "{broker}", "--db", "{db}", "--detach", "--json", "x.json"), "--detach writes no report"),
    (("--detach",), "--detach is for --broker"),
    (("--broker", "amqp://127.0.0.1/", "--db", "{db}"), "give a Redis URL"),
    (("--broker", "redis://:hunter2@127.0.0.1:{closed}/0", "--db", "{db}"), "cannot connect"),
])
def test_broker_refusals_are_one_line_and_record_nothing(tmp_path, redis_server, args, message):
    from tests.scan_documents import closed_port

    targets = write_targets(tmp_path / "t.toml", silent_entry())
    db = tmp_path / "history.db"
    values = {"broker": redis_server.new_url(), "db": str(db), "closed": str(closed_port())}
    run = run_cli("scan", "--targets", str(targets), *(a.format(**values) for a in args), timeout=60)
    lines = [line for line in run.stderr.splitlines() if "build table" not in line]
    assert run.code == 2 and len(lines) == 1 and message in lines[0], run.stderr
    assert "hunter2" not in run.stderr and "Pa55" not in run.stderr
    if db.exists():
        with open_store(str(db), read_only=True) as history:
            assert history._execute("SELECT count(*) FROM runs").fetchone()[0] == 0


def test_unknown_runs_and_mixed_report_arguments_are_refused(tmp_path):
    db = tmp_path / "history.db"
    with open_store(str(db)):
        pass
    status = run_cli("run-status", "no-such-run", "--db", str(db))
    assert status.code == 2 and "no run 'no-such-run'" in status.stderr
    both = run_cli("report", str(tmp_path / "scan.json"), "--run", "x", "--db", str(db), "--json", "-")
    assert both.code == 2 and "either SCAN.json or --run" in both.stderr
    json_alone = run_cli("report", str(tmp_path / "scan.json"), "--json", "-")
    assert json_alone.code == 2 and "--json is for --run" in json_alone.stderr


def test_worker_refuses_a_bad_broker_or_history_in_one_line(tmp_path, redis_server):
    from tests.scan_documents import closed_port

    bad_scheme = run_cli("worker", "--broker", "amqp://x/", "--db", str(tmp_path / "h.db"))
    assert bad_scheme.code == 2 and "give a Redis URL" in bad_scheme.stderr
    refused = run_cli("worker", "--broker", f"redis://:hunter2@127.0.0.1:{closed_port()}/0",
                      "--db", str(tmp_path / "h.db"), timeout=60)
    assert refused.code == 2 and "cannot connect" in refused.stderr and "hunter2" not in refused.stderr
    no_db = run_cli("worker", "--broker", redis_server.new_url(), env={"CASAUDIT_DB": ""})
    assert no_db.code == 2 and "--db" in no_db.stderr
    assert "Traceback" not in bad_scheme.stderr + refused.stderr + no_db.stderr
    assert os.environ.get("CASAUDIT_DB") is None


def test_a_worker_with_another_history_drops_the_task_and_says_why(tmp_path, redis_server):
    targets = write_targets(tmp_path / "t.toml", silent_entry("mail.elsewhere.silent.test"))
    broker = redis_server.new_url()
    submitted = run_cli("scan", "--targets", str(targets), "--broker", broker,
                        "--db", str(tmp_path / "submitter.db"), "--detach")
    run_id = submitted.stdout.strip()
    log = tmp_path / "w.log"
    with worker(broker, str(tmp_path / "worker.db"), log, parallel=1):
        for _ in range(60):
            if "dropped" in log.read_text(errors="replace"):
                break
            time.sleep(1)
    text = log.read_text(errors="replace")
    assert f"run {run_id} is not in this worker's history" in text and "must share one --db" in text
    # nothing was scanned into the wrong history, and the run is still pending where it was submitted
    with open_store(str(tmp_path / "worker.db"), read_only=True) as history:
        assert history.scans() == []
    assert run_cli("run-status", run_id, "--db", str(tmp_path / "submitter.db")).code == 3


def test_sigterm_lets_a_worker_finish_and_record_its_hosts_in_flight(tmp_path, redis_server, hardened_lab):
    targets = write_targets(tmp_path / "t.toml", target_entry(hardened_lab, rate=4),
                            defaults=f"timeout = 5\ndeadline = {DEADLINE}\n")
    db, broker = str(tmp_path / "history.db"), redis_server.new_url()
    run_id = run_cli("scan", "--targets", str(targets), "--broker", broker, "--db", db,
                     "--detach").stdout.strip()
    log = tmp_path / "w.log"
    with worker(broker, db, log, parallel=1) as process:
        for _ in range(300):
            if _in_flight(log):
                break
            time.sleep(0.1)
        assert _in_flight(log) == {hardened_lab.host}, log.read_text()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=DEADLINE + 30) == 0
    # the host in flight was finished and recorded before the worker left
    assert _in_flight(log) == set() and "partially_assessed in run" in log.read_text()
    assert run_cli("run-status", run_id, "--db", db).code == 0


def test_ctrl_c_stops_the_submitter_waiting_not_the_run(tmp_path, redis_server):
    targets = write_targets(tmp_path / "t.toml", silent_entry())
    db = str(tmp_path / "history.db")
    submitter = subprocess.Popen(
        [sys.executable, "-m", "casaudit", "scan", "--targets", str(targets), "--broker",
         redis_server.new_url(), "--db", db, "--json", str(tmp_path / "fleet.json")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    # no worker runs: the submitter waits until it is interrupted
    with open_store(db, read_only=False) as history:
        for _ in range(100):
            if history._execute("SELECT count(*) FROM runs").fetchone()[0]:
                break
            time.sleep(0.1)
    time.sleep(1)
    submitter.send_signal(signal.SIGINT)
    out, err = submitter.communicate(timeout=60)
    assert submitter.returncode == 130, err
    run_id = re.search(r"run ([0-9a-f-]{36})", err)[1]
    assert f"the workers go on: casaudit report --run {run_id}" in err and "Traceback" not in err
    entry = json.loads((tmp_path / "fleet.json").read_text())["results"][0]
    assert entry["error"]["kind"] == "interrupted"
    assert run_cli("run-status", run_id, "--db", db).code == 3  # still queued for the workers


def test_a_hostile_task_is_an_error_entry_and_scans_nothing(tmp_path, redis_server):
    from casaudit.distributed import QUEUE, TASK_NAME, celery_app

    db, broker = str(tmp_path / "history.db"), redis_server.new_url()
    run_id = "00000000-0000-4000-8000-000000000001"
    with open_store(db) as history:
        history.create_run(run_id, [("mail.hostile.test", "hostile.test", {})], {})
    # Someone who can write to the broker asks for a port of a service casaudit does not scan
    payload = {"run_id": run_id, "host": "mail.hostile.test", "domain": "hostile.test", "email": None,
               "ports": {"ssh": 22}, "tags": {}, "ca": None, "baseline": None,
               "options": {"pins": {}, "dns_server": None, "timeout": 2, "concurrency": 1,
                           "cert_expiry_days": 30, "probes": [], "rate": None, "deadline": 30}}
    celery_app(broker).send_task(TASK_NAME, args=[payload], queue=QUEUE)
    with worker(broker, db, tmp_path / "w.log", parallel=1):
        for _ in range(60):
            if run_cli("run-status", run_id, "--db", db).code == 0:
                break
            time.sleep(1)
    entry = run_cli("report", "--run", run_id, "--db", db, "--json", "-").json()["results"][0]
    assert entry["status"] == "error" and entry["error"]["kind"] == "target"
    assert entry["error"]["detail"].startswith("the task cannot be read: ValueError: ports")


def test_without_the_distributed_extra_the_commands_say_what_to_install(tmp_path):
    # The base install has no Celery: simulated by making its import fail in the child.
    code = ("import sys; sys.modules['celery'] = None; sys.argv = ['casaudit'] + sys.argv[1:]; "
            "from casaudit.cli import main; main()")
    done = subprocess.run([sys.executable, "-c", code, "worker", "--broker", "redis://127.0.0.1:9/0",
                           "--db", str(tmp_path / "h.db")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().endswith("pip install 'casaudit[distributed]'"), done.stderr


def test_a_broker_run_prints_the_baseline_lines_a_local_run_prints(tmp_path, redis_server, legacy_lab):
    targets = write_targets(tmp_path / "t.toml", target_entry(legacy_lab), silent_entry(),
                            defaults=f"timeout = 5\ndeadline = {DEADLINE}\n")
    baseline = tmp_path / "baseline.toml"
    baseline.write_text(
        '[[accept]]\ncheck = "tls.*"\nendpoint = "*"\njustification = "replaced next month"\n'
        'expires = 2001-01-01\n\n'
        '[[accept]]\ncheck = "no.such_check"\njustification = "a typo"\nexpires = 2099-01-01\n')

    def baseline_lines(stderr: str) -> list[str]:
        return [line for line in stderr.splitlines() if line.startswith("casaudit: baseline:")]

    local = run_cli("scan", "--targets", str(targets), "--baseline", str(baseline), "--no-history")
    expected = baseline_lines(local.stderr)
    assert any("expired" in line for line in expected) and any("no.such_check" in line for line in expected)
    db, broker = str(tmp_path / "history.db"), redis_server.new_url()
    with worker(broker, db, tmp_path / "w.log", parallel=2):
        remote = run_cli("scan", "--targets", str(targets), "--baseline", str(baseline), "--broker", broker,
                         "--db", db, timeout=WAIT_SECONDS)
    assert remote.code == local.code, remote.stderr
    assert baseline_lines(remote.stderr) == expected
