"""Authenticated Autodiscover: credentials only over verified HTTPS to the target's names.

The lab records every Authorization header it receives, so these tests prove
where the password went, not just where casaudit meant to send it.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import pickle
import sqlite3
import subprocess
import sys
import zlib
from contextlib import closing
from pathlib import Path

import pytest

from casaudit.api import ScanOptions, audit
from casaudit.credentials import Credentials
from casaudit.demo import lab_target
from casaudit.lab import Lab, Posture
from casaudit.model import AuditResult
from tests import autodiscover_postures as postures
from tests.conftest import run_cli

TOKEN = base64.b64encode(f"{postures.USER}:{postures.PASSWORD}".encode()).decode()


def scan(posture: Posture) -> tuple[AuditResult, list]:
    with Lab.start(posture) as lab:
        target, options = lab_target(lab)
        target = dataclasses.replace(target, email=postures.USER)
        options = dataclasses.replace(
            options, credentials=Credentials(postures.USER, postures.PASSWORD))
        return audit(target, options), lab.requests()


def credentialed(requests: list) -> list:
    # The NTLM probe's anonymous NEGOTIATE (Type-1) carries no credential; anything else does.
    return [r for r in requests
            if r.authorization and not r.authorization.startswith("NTLM TlRMTVNTUAAB")]


def test_credentials_go_once_per_working_method_over_verified_https_only():
    result, requests = scan(postures.authenticated())
    sent = credentialed(requests)
    # root domain, HTTP redirect (to mail.), SRV (to mail.): one each. autodiscover.auth.test
    # has a certificate for other names: nothing is sent there.
    assert sorted((r.scheme, r.host) for r in sent) == [
        ("https", "auth.test"), ("https", "mail.auth.test"), ("https", "mail.auth.test")]
    assert all(r.authorization == f"Basic {TOKEN}" and r.method == "POST" for r in sent)
    attempts = {e.method: e.authenticated for e in result.evidence if e.kind == "autodiscover"}
    assert attempts["autodiscover_host"].sent is False
    assert attempts["json_v2"] is None
    assert [attempts[m].sent for m in ("root_domain", "http_redirect", "srv")] == [True] * 3


def test_advertised_urls_are_judged():
    result, _ = scan(postures.authenticated())
    rows = {row.endpoint.split(":")[0] + "://" + row.endpoint.split("/")[2].split(":")[0]
            + row.endpoint[row.endpoint.index("/", 8):]: row.status.value
            for row in result.checks if row.check == "autodiscover.insecure_advertised_url"}
    assert rows == {
        "https://mail.auth.test/EWS/Exchange.asmx": "pass",
        "http://mail.auth.test/OAB/0f1e/": "fail",
        "https://outlook.elsewhere.test/rpc/rpcproxy.dll": "not_assessed",
        "https://autodiscover.auth.test/owa/": "fail",  # certificate for other names
    }
    root = next(e for e in result.evidence if getattr(e, "method", "") == "root_domain")
    listed = {a.url for a in root.authenticated.advertised if a.in_scope and a.scheme == "https"}
    assert any(url.endswith("/EWS/Exchange.asmx") for url in listed)


def test_lures_to_plain_http_and_other_domains_get_no_credentials():
    result, requests = scan(postures.lure())
    sent = credentialed(requests)
    # The only credentialed request is the root domain's, over HTTPS; its 302 to plain HTTP
    # is recorded and not followed.
    assert [(r.scheme, r.host) for r in sent] == [("https", postures.LURE)]
    assert not [r for r in credentialed(requests) if r.scheme == "http"]
    assert not [r for r in requests if r.host == postures.OUTSIDER]
    root = next(e for e in result.evidence if getattr(e, "method", "") == "root_domain")
    assert root.authenticated.exchange.status == 302
    assert root.authenticated.exchange.header_values("location")[0].startswith("http://")
    offsite = {row.evidence[0]: row.status.value for row in result.checks
               if row.check == "autodiscover.redirect_offsite"}
    assert offsite["ad-002"] == "fail" and offsite["ad-004"] == "fail"


def test_without_credentials_the_check_emits_no_row():
    """Nothing is probed for it without --authenticated: no row rather than a row about nothing."""
    with Lab.start("exchange-se-hardened") as hardened_lab:
        target, options = lab_target(hardened_lab)
        result = audit(target, options)
    assert not [r for r in result.checks if r.check == "autodiscover.insecure_advertised_url"]


def test_credentials_never_show_themselves():
    credentials = Credentials(postures.USER, postures.PASSWORD)
    options = ScanOptions(credentials=credentials)
    for text in (repr(credentials), str(credentials), repr(options), str(options.public())):
        assert postures.PASSWORD not in text and TOKEN not in text
    with pytest.raises(TypeError):
        pickle.dumps(credentials)
    assert options.public()["authenticated"] is True


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "casaudit", *args], capture_output=True, text=True, timeout=120,
        stdin=subprocess.DEVNULL, env={**os.environ, **env},
    )


def _history_texts(db: Path) -> dict[str, str]:
    """Every byte of the history database, readable: the raw files (main, -wal, -shm), and
    each row's values with the zlib-compressed documents inflated (raw bytes would hide them).
    """
    texts = {path.name: path.read_bytes().decode("latin-1")
             for path in sorted(db.parent.glob(db.name + "*")) if path.is_file()}
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as connection:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for number, row in enumerate(connection.execute(f'SELECT * FROM "{table}"')):
                values = [zlib.decompress(v).decode("utf-8") if isinstance(v, bytes) else str(v)
                          for v in row]
                texts[f"{table} row {number}"] = "\x00".join(values)
    return texts


def test_no_artefact_of_an_authenticated_scan_holds_the_password(tmp_path: Path, validate_scan):
    json_path, html_path = tmp_path / "scan.json", tmp_path / "scan.html"
    db = tmp_path / "history" / "history.sqlite3"
    with Lab.start(postures.authenticated()) as lab:
        done = _cli(["scan", *lab.scan_args(), "--email", postures.USER, "--authenticated",
                     "--json", str(json_path), "--html", str(html_path), "--db", str(db)],
                    {"CASAUDIT_PASSWORD": postures.PASSWORD})
        assert credentialed(lab.requests()), "the scan did authenticate"
    assert done.returncode == 1, done.stderr  # the http:// OAB URL is a high finding
    import json

    document = validate_scan(json.loads(json_path.read_text()))
    assert document["options"]["authenticated"] is True
    assert any(f["check"] == "autodiscover.insecure_advertised_url" for f in document["findings"])
    history = _history_texts(db)
    # The history holds the scan in full (so the grep below is not of an empty file).
    assert any("[credentials withheld from the report]" in text for name, text in history.items()
               if name.startswith("scans row"))
    artefacts = {"json": json_path.read_text(), "html": html_path.read_text(),
                 "stdout": done.stdout, "stderr": done.stderr, **history}
    for name, text in artefacts.items():
        for secret in (postures.PASSWORD, TOKEN, base64.b64encode(postures.PASSWORD.encode()).decode()):
            assert secret not in text, f"the password leaked into {name}"
    assert "[credentials withheld from the report]" in artefacts["json"]
    assert set(tmp_path.iterdir()) == {json_path, html_path, db.parent}


def test_authenticated_needs_email_and_a_password_source():
    no_email = run_cli("scan", "mail.example.test", "--authenticated")
    assert no_email.code == 2 and "--email" in no_email.stderr
    assert len(no_email.stderr.strip().splitlines()) == 1
    env = {k: v for k, v in os.environ.items() if k != "CASAUDIT_PASSWORD"}
    done = subprocess.run(
        [sys.executable, "-m", "casaudit", "scan", "mail.example.test", "--email", "a@example.test",
         "--authenticated"], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        env=env)
    assert done.returncode == 2 and "CASAUDIT_PASSWORD" in done.stderr
    assert "Traceback" not in done.stderr
    bad = run_cli("scan", "mail.example.test", "--email", "not-an-address")
    assert bad.code == 2 and "--email" in bad.stderr
