"""A host given as an IP address has no mail domain to find Autodiscover from: it is asked for,
in one line, before any traffic (a scan of `::1` used to end in a traceback)."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli


@pytest.mark.parametrize("address", ["::1", "[::1]", "127.0.0.1"])
def test_an_ip_address_as_host_needs_the_mail_domain(address, tmp_path):
    ran = run_cli("scan", address, "--no-history", "--dns-server", "127.0.0.1:9")
    assert ran.code == 2
    assert ran.stderr.count("\n") == 1 and "Traceback" not in ran.stderr
    assert "is an IP address, so it has no mail domain" in ran.stderr
    assert "--domain example.com" in ran.stderr


def test_a_mail_domain_given_as_an_ip_address_is_refused():
    ran = run_cli("scan", "mail.example.test", "--domain", "127.0.0.1", "--no-history")
    assert ran.code == 2 and "the mail domain '127.0.0.1' is an IP address" in ran.stderr


def test_a_targets_files_ip_host_needs_its_domain_key(tmp_path):
    targets = tmp_path / "fleet.toml"
    targets.write_text('[[targets]]\nhost = "::1"\n', encoding="utf-8")
    ran = run_cli("scan", "--targets", str(targets), "--no-history")
    assert ran.code == 2 and "targets[0].domain: '::1' is an IP address" in ran.stderr
    assert 'domain = "example.com"' in ran.stderr
