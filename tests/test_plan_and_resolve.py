import re

import pytest

from casaudit.errors import UsageError
from casaudit.names import default_domain
from casaudit.plan import (
    Scope,
    Target,
    normalise_host,
    parse_port_override,
    plan_http,
)
from casaudit.resolve import Resolver, parse_dns_server, parse_pin


def test_domain_defaults_to_host_without_first_label():
    assert default_domain("mail.example.com") == "example.com"
    assert default_domain("example.com") == "example.com"
    assert default_domain("127.0.0.1") == "127.0.0.1"


@pytest.mark.parametrize("bad", ["", "bad_host!", "a..b", "-a.example", "x" * 64 + ".test"])
def test_bad_hosts_are_usage_errors(bad):
    with pytest.raises(UsageError):
        normalise_host(bad)


def test_port_overrides():
    assert parse_port_override("HTTPS=8443") == ("https", 8443)
    for bad in ("smtp=25", "https", "https=0", "https=70000", "https=x"):
        with pytest.raises(UsageError):
            parse_port_override(bad)


def test_pins_and_dns_server_parsing():
    assert parse_pin("Mail.Example.Test:127.0.0.1") == ("mail.example.test", "127.0.0.1")
    assert parse_pin("mail.example.test:[::1]") == ("mail.example.test", "::1")
    assert parse_pin("mail.example.test:::1") == ("mail.example.test", "::1")
    assert parse_dns_server("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert parse_dns_server("[::1]:53") == ("::1", 53)
    assert parse_dns_server("::1") == ("::1", 53)
    for bad in ("mail.example.test", "bad name!:1.2.3.4", "mail.example.test:not-an-ip"):
        with pytest.raises(UsageError):
            parse_pin(bad)
    with pytest.raises(UsageError):
        parse_dns_server("dns.example.test:53")


def test_pinned_names_resolve_without_any_dns():
    resolver = Resolver({"mail.example.test": "127.0.0.2"})
    assert resolver.resolve("MAIL.example.test.") == ("127.0.0.2",)
    assert resolver.how("mail.example.test") == "pinned with --resolve"


def test_plan_covers_every_url_on_both_schemes_with_overridden_ports():
    target = Target("mail.example.test", "example.test", {"http": 8080, "https": 8443})
    tasks = plan_http(target)
    assert {t.scheme for t in tasks} == {"http", "https"}
    assert "http://mail.example.test:8080/owa" in {t.url for t in tasks}
    assert "https://mail.example.test:8443/EWS/Exchange.asmx" in {t.url for t in tasks}
    # 12 Client Access URLs and one random baseline path per scheme.
    assert len({t.evidence_id for t in tasks}) == len(tasks) == 26


def test_plan_asks_each_service_with_its_own_request_and_a_random_baseline():
    target = Target("mail.example.test", "example.test")
    tasks = {t.path: t for t in plan_http(target) if t.scheme == "https"}
    assert tasks["/Microsoft-Server-ActiveSync"].method == "OPTIONS"
    rpc = tasks["/rpc/rpcproxy.dll"]
    assert rpc.method == "RPC_IN_DATA" and rpc.body == b""
    assert ("User-Agent", "MSRPC") in rpc.headers and ("Accept", "application/rpc") in rpc.headers
    assert ("Content-Length", "0") in rpc.headers
    autodiscover = tasks["/autodiscover/autodiscover.xml"]
    assert autodiscover.method == "POST"
    assert b"<EMailAddress>casaudit-probe@example.test</EMailAddress>" in autodiscover.body
    assert b"outlook/requestschema/2006" in autodiscover.body
    baselines = [t for t in plan_http(target) if t.role == "baseline"]
    assert [t.scheme for t in baselines] == ["http", "https"]
    assert baselines[0].path == baselines[1].path
    assert re.fullmatch(r"/casaudit-[0-9a-f]{16}/", baselines[0].path)
    # Random per scan, but the evidence ids stay put.
    again = [t for t in plan_http(target) if t.role == "baseline"]
    assert again[0].path != baselines[0].path
    assert [t.evidence_id for t in again] == [t.evidence_id for t in baselines]


def test_scope_is_the_target_names():
    scope = Scope.of(Target("mail.example.test", "example.test"))
    assert scope.allows("autodiscover.example.test") and scope.allows("EXAMPLE.test.")
    assert not scope.allows("evil.test") and not scope.allows("mail.example.test.evil.test")
