"""The targets file: precedence of settings, and one-line errors with exit 2 for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from casaudit.errors import UsageError
from casaudit.targets import Settings, parse_targets
from tests.conftest import run_cli

GOOD = '''
[defaults]
timeout = 4
concurrency = 3
rate = 5
ports = { https = 8443 }
tags = { customer = "acme" }
resolve = ["mail.a.test:127.0.0.2"]

[[targets]]
host = "Mail.A.test."
tags = { site = "paris" }

[[targets]]
host = "mail.b.test"
domain = "b.test"
timeout = 2.5
deadline = 30
ports = { http = 8080 }
resolve = ["mail.b.test:127.0.0.3"]
tags = { customer = "globex" }
'''


def test_defaults_command_line_and_target_keys_layer_in_that_order() -> None:
    # Given defaults in the file and a --concurrency and --port on the command line
    command_line = Settings(concurrency=6, ports={"https": 9443})
    first, second = parse_targets(GOOD, command_line=command_line)
    assert first.target.host == "mail.a.test" and first.target.domain == "a.test"
    assert first.options.timeout == 4 and first.options.concurrency == 6 and first.options.rate == 5
    assert first.target.ports["https"] == 9443 and first.target.ports["http"] == 80
    assert first.options.deadline == 600  # built-in default with a targets file
    assert first.tags == {"customer": "acme", "site": "paris"}
    assert dict(first.options.pins) == {"mail.a.test": "127.0.0.2"}
    # the target's own keys win over everything
    assert second.options.timeout == 2.5 and second.options.deadline == 30
    assert second.target.ports["http"] == 8080 and second.target.ports["https"] == 9443
    assert second.tags == {"customer": "globex"}
    assert dict(second.options.pins) == {"mail.a.test": "127.0.0.2", "mail.b.test": "127.0.0.3"}


def test_probes_cert_expiry_and_email_layer_like_the_other_settings() -> None:
    # Given [defaults] with probes and a mailbox, a target with its own, and --probes on the command line
    text = """
[defaults]
probes = ["http"]
cert_expiry_days = 10
email = "ops@corp.test"

[[targets]]
host = "mail.a.test"

[[targets]]
host = "mail.b.test"
probes = ["TLS", "mail", "tls"]
cert_expiry_days = 0
email = "Someone@B-Mail.Test"

[[targets]]
host = "mail.c.test"
domain = "c.test"
email = "x@elsewhere.test"
"""
    first, second, third = parse_targets(text, command_line=Settings(probes=("autodiscover",)))
    # the command line overrides [defaults]; the mailbox's domain is the default mail domain
    assert first.options.probes == ("autodiscover",) and first.options.cert_expiry_days == 10
    assert first.target.email == "ops@corp.test" and first.target.domain == "corp.test"
    # the target's own keys win; names are normalised as --probes and --email do
    assert second.options.probes == ("tls", "mail") and second.options.cert_expiry_days == 0
    assert second.target.email == "Someone@b-mail.test" and second.target.domain == "b-mail.test"
    # an explicit domain beats the mailbox's
    assert third.target.domain == "c.test" and third.target.email == "x@elsewhere.test"
    # nothing given anywhere: every family, 30 days, no mailbox
    (plain,) = parse_targets("[[targets]]\nhost = 'mail.d.test'\n")
    assert plain.options.probes == () and plain.options.cert_expiry_days == 30
    assert plain.target.email is None and plain.target.domain == "d.test"


@pytest.mark.parametrize(("text", "expected"), [
    ("[[targets]\nhost = 'x'", "not valid TOML"),
    ("[defaults]\ntimeout = 3\n", "targets: is required"),
    ("targets = []\n", "targets: expected one or more"),
    ("[[targets]]\ndomain = 'a.test'\n", "targets[0].host: is required"),
    ("[[targets]]\nhost = 'not a host!'\n", "targets[0].host"),
    ("[[targets]]\nhost = 'mail.a.test'\n[[targets]]\nhost = 'MAIL.A.TEST'\n", "already listed"),
    ("[[targets]]\nhost = 'mail.a.test'\nport = 443\n", "targets[0].port: unknown key"),
    ("[[targets]]\nhost = 'mail.a.test'\nports = { smtp = 25 }\n", "targets[0].ports.smtp: unknown key"),
    ("[[targets]]\nhost = 'mail.a.test'\nports = { https = 70000 }\n",
     "ports.https: must be from 1 to 65535"),
    ("[[targets]]\nhost = 'mail.a.test'\ntimeout = 'soon'\n", "targets[0].timeout: expected a number"),
    ("[defaults]\nconcurrency = 1.5\n[[targets]]\nhost = 'mail.a.test'\n", "defaults.concurrency"),
    ("[[targets]]\nhost = 'mail.a.test'\nresolve = ['mail.a.test']\n", "targets[0].resolve[0]"),
    ("[[targets]]\nhost = 'mail.a.test'\ndns_server = 'dns.example'\n", "targets[0].dns_server"),
    ("[[targets]]\nhost = 'mail.a.test'\ntags = { Customer = 1 }\n", "targets[0].tags.Customer"),
    ("[[targets]]\nhost = 'mail.a.test'\nca_file = 'missing.pem'\n", "targets[0].ca_file"),
    ("[scan]\n[[targets]]\nhost = 'mail.a.test'\n", "scan: unknown key"),
    ("[[targets]]\nhost = 'mail.a.test'\nprobes = ['smtp']\n", "targets[0].probes: unknown probe family"),
    ("[[targets]]\nhost = 'mail.a.test'\nprobes = 'tls'\n", "targets[0].probes: expected a list"),
    ("[[targets]]\nhost = 'mail.a.test'\nprobes = []\n", "targets[0].probes: expected a list"),
    ("[defaults]\ncert_expiry_days = -1\n[[targets]]\nhost = 'mail.a.test'\n",
     "defaults.cert_expiry_days: must be from 0 to 3650"),
    ("[[targets]]\nhost = 'mail.a.test'\ncert_expiry_days = 1.5\n",
     "targets[0].cert_expiry_days: expected an integer"),
    ("[[targets]]\nhost = 'mail.a.test'\nemail = 'nobody'\n", "targets[0].email: expects an address"),
    ("[defaults]\nemail = 3\n[[targets]]\nhost = 'mail.a.test'\n", "defaults.email: expected an address"),
])
def test_bad_targets_files_are_refused_naming_the_key(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_targets(text, source="t.toml", base_dir=tmp_path)
    assert str(raised.value).startswith("t.toml: ") and expected in str(raised.value)


def test_cli_bad_targets_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[targets]]\nhost = 'mail.a.test'\nports = { smtp = 25 }\n")
    cases = [
        ("scan", "--targets", str(bad), "--no-history"),
        ("scan", "--targets", str(tmp_path / "missing.toml"), "--no-history"),
        ("scan", "mail.a.test", "--targets", str(bad)),
        ("scan", "--no-history"),
        ("scan", "--targets", str(bad), "--diff-only", "--no-history"),
    ]
    for args in cases:
        run = run_cli(*args, timeout=30)
        assert run.code == 2, (args, run.stdout, run.stderr)
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("casaudit: error:"), (args, run.stderr)
        assert run.stdout == ""
