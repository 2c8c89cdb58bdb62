"""The targets file of `casaudit scan --targets FILE`: many hosts, validated key by key.

A TOML document with an optional ``[defaults]`` table and one ``[[targets]]``
table per host::

    [defaults]
    timeout = 10            # seconds per network step
    concurrency = 4         # connections at once to one host
    rate = 5                # requests per second to one host (0: no limit)
    deadline = 300          # seconds one host's whole scan may take
    ca_file = "internal-ca.pem"   # relative to this file
    dns_server = "192.0.2.53"
    ports = { https = 443 }
    tags = { customer = "acme" }
    probes = ["tls", "http"]      # probe families to run (default: all)
    cert_expiry_days = 30         # report certificates expiring within this many days

    [[targets]]
    host = "mail.acme.example"
    email = "someone@acme.example"        # the mailbox Autodiscover is asked about
    domain = "acme.example"               # default: the email's domain, else host without its first label
    ports = { http = 8080 }
    resolve = ["mail.acme.example:192.0.2.10"]
    tags = { site = "paris" }

Precedence, weakest first: built-in defaults, ``[defaults]``, options given on
the command line, the target's own keys (``ports``, ``resolve`` and ``tags``
are merged key by key in that order). A bad file is one error naming the file
and the dotted key; nothing is scanned.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from casaudit.api import ScanOptions, check_ca_file
from casaudit.errors import UsageError
from casaudit.names import default_domain, mail_domain_problem
from casaudit.plan import DEFAULT_PORTS, Target, normalise_host, parse_email
from casaudit.probes import families
from casaudit.resolve import parse_dns_server, parse_pin

MAX_TARGETS = 100_000
_SETTINGS = {
    "timeout", "concurrency", "rate", "deadline", "ca_file", "dns_server", "ports", "resolve", "tags",
    "probes", "cert_expiry_days", "email",
}
_TARGET_KEYS = _SETTINGS | {"host", "domain"}
_TAG_KEY_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_-.")


@dataclass(frozen=True)
class Settings:
    """Per-host scan settings as given somewhere (file defaults, command line, target).

    None (or empty) means "not given here"; `over` layers one set on another.
    """

    timeout: float | None = None
    concurrency: int | None = None
    rate: float | None = None
    deadline: float | None = None
    ca_file: Path | None = None
    dns_server: tuple[str, int] | None = None
    ports: Mapping[str, int] = field(default_factory=dict)
    pins: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    #: Probe families to run; None: not given here (an empty tuple would mean every family).
    probes: tuple[str, ...] | None = None
    cert_expiry_days: int | None = None
    #: The mailbox address Autodiscover is asked about, as `parse_email` returns it.
    email: str | None = None
    #: The domain of `email`: the target's default mail domain follows it.
    email_domain: str | None = None

    def over(self, base: Settings) -> Settings:
        """These settings on top of `base`: given values win, mappings merge."""
        return Settings(
            timeout=self.timeout if self.timeout is not None else base.timeout,
            concurrency=self.concurrency if self.concurrency is not None else base.concurrency,
            rate=self.rate if self.rate is not None else base.rate,
            deadline=self.deadline if self.deadline is not None else base.deadline,
            ca_file=self.ca_file if self.ca_file is not None else base.ca_file,
            dns_server=self.dns_server if self.dns_server is not None else base.dns_server,
            ports={**base.ports, **self.ports},
            pins={**base.pins, **self.pins},
            tags={**base.tags, **self.tags},
            probes=self.probes if self.probes is not None else base.probes,
            cert_expiry_days=(
                self.cert_expiry_days if self.cert_expiry_days is not None else base.cert_expiry_days),
            email=self.email if self.email is not None else base.email,
            email_domain=self.email_domain if self.email is not None else base.email_domain,
        )


#: What a target gets when nobody says otherwise.
BUILT_IN = Settings(timeout=10.0, concurrency=8, rate=None, deadline=600.0, ports=dict(DEFAULT_PORTS),
                    cert_expiry_days=30)


@dataclass(frozen=True)
class ScanTarget:
    """One host of a targets file, ready for `casaudit.api.audit`."""

    target: Target
    options: ScanOptions
    tags: Mapping[str, str]


def load_targets(path: Path, command_line: Settings | None = None) -> list[ScanTarget]:
    """Read and validate a targets file; UsageError (one line) on any problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--targets {str(path)!r}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise UsageError(f"--targets {str(path)!r}: not UTF-8 text") from None
    return parse_targets(text, source=str(path), base_dir=path.parent, command_line=command_line)


def parse_targets(
    text: str,
    source: str = "<targets>",
    base_dir: Path | None = None,
    command_line: Settings | None = None,
) -> list[ScanTarget]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{source}: not valid TOML: {exc}") from None
    return _Reader(source, base_dir or Path.cwd()).read(data, command_line or Settings())


class _Reader:
    def __init__(self, source: str, base_dir: Path) -> None:
        self.source = source
        self.base_dir = base_dir
        self._ca_checked: set[Path] = set()

    def error(self, key: str, problem: str) -> UsageError:
        return UsageError(f"{self.source}: {key}: {problem}")

    def read(self, data: dict[str, Any], command_line: Settings) -> list[ScanTarget]:
        for key in data:
            if key not in ("defaults", "targets"):
                raise self.error(key, "unknown key (allowed: defaults, targets)")
        defaults = self.settings(self.table(data.get("defaults", {}), "defaults", _SETTINGS), "defaults")
        base = command_line.over(defaults.over(BUILT_IN))
        entries = data.get("targets")
        if entries is None:
            raise self.error("targets", "is required: add at least one [[targets]] table with a host")
        if not isinstance(entries, list) or not entries:
            raise self.error("targets", "expected one or more [[targets]] tables")
        if len(entries) > MAX_TARGETS:
            raise self.error("targets", f"more than {MAX_TARGETS} targets")
        seen: dict[str, str] = {}
        result = []
        for index, entry in enumerate(entries):
            key = f"targets[{index}]"
            entry = self.table(entry, key, _TARGET_KEYS)
            if "host" not in entry:
                raise self.error(f"{key}.host", "is required")
            host = self.host(entry["host"], f"{key}.host")
            if host in seen:
                raise self.error(f"{key}.host", f"{host!r} is already listed as {seen[host]}")
            seen[host] = key
            settings = self.settings(entry, key).over(base)
            # As with `scan HOST --email`: the address's domain is the default mail domain.
            given = (self.host(entry["domain"], f"{key}.domain") if "domain" in entry
                     else settings.email_domain)
            problem = mail_domain_problem(host, given)
            if problem:
                raise self.error(f"{key}.domain", f"{problem} (domain = \"example.com\")")
            domain = given or default_domain(host)
            if settings.ca_file is not None and settings.ca_file not in self._ca_checked:
                try:
                    check_ca_file(settings.ca_file)
                except UsageError as exc:
                    raise self.error(f"{key}.ca_file", str(exc).removeprefix("--ca-file ")) from None
                self._ca_checked.add(settings.ca_file)
            result.append(ScanTarget(
                target=Target(host=host, domain=domain, ports=dict(settings.ports), email=settings.email),
                options=to_options(settings),
                tags=dict(settings.tags),
            ))
        return result

    # -- typed values ------------------------------------------------------------------

    def table(self, value: Any, key: str, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(key, f"expected a table, got {_type(value)}")
        for name in value:
            if name not in allowed:
                raise self.error(f"{key}.{name}", f"unknown key (allowed: {', '.join(sorted(allowed))})")
        return value

    def host(self, value: Any, key: str) -> str:
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {_type(value)}")
        try:
            return normalise_host(value, "host", port_syntax="ports = {{ {service} = {port} }}")
        except UsageError as exc:
            raise self.error(key, str(exc)) from None

    def number(self, value: Any, key: str, low: float, high: float, *, integer: bool = False) -> float:
        allowed = isinstance(value, int) or (not integer and isinstance(value, float))
        if isinstance(value, bool) or not allowed:
            raise self.error(key, f"expected {'an integer' if integer else 'a number'}, got {_type(value)}")
        number = float(value)
        if not low <= number <= high:
            raise self.error(key, f"must be from {low:g} to {high:g}, got {value}")
        return number

    def settings(self, data: Mapping[str, Any], key: str) -> Settings:
        def at(name: str) -> str:
            return f"{key}.{name}"

        settings = Settings()
        if "timeout" in data:
            settings = replace(settings, timeout=float(self.number(data["timeout"], at("timeout"), 0.1, 300)))
        if "concurrency" in data:
            number = self.number(data["concurrency"], at("concurrency"), 1, 64, integer=True)
            settings = replace(settings, concurrency=int(number))
        if "rate" in data:
            settings = replace(settings, rate=float(self.number(data["rate"], at("rate"), 0, 10_000)))
        if "deadline" in data:
            seconds = self.number(data["deadline"], at("deadline"), 1, 86_400)
            settings = replace(settings, deadline=float(seconds))
        if "ca_file" in data:
            value = data["ca_file"]
            if not isinstance(value, str) or not value:
                raise self.error(at("ca_file"), f"expected a file path, got {_type(value)}")
            path = Path(value).expanduser()
            settings = replace(settings, ca_file=path if path.is_absolute() else self.base_dir / path)
        if "dns_server" in data:
            value = data["dns_server"]
            if not isinstance(value, str):
                raise self.error(at("dns_server"), f"expected \"ADDR[:PORT]\", got {_type(value)}")
            try:
                settings = replace(settings, dns_server=parse_dns_server(value))
            except UsageError as exc:
                raise self.error(at("dns_server"), str(exc)) from None
        if "ports" in data:
            ports = self.table(data["ports"], at("ports"), set(DEFAULT_PORTS))
            settings = replace(settings, ports={
                service: int(self.number(number, at(f"ports.{service}"), 1, 65535, integer=True))
                for service, number in ports.items()
            })
        if "resolve" in data:
            value = data["resolve"]
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                raise self.error(at("resolve"), "expected a list of \"NAME:ADDR\" strings")
            pins: dict[str, str] = {}
            for index, item in enumerate(value):
                try:
                    name, addr = parse_pin(item)
                except UsageError as exc:
                    raise self.error(f"{at('resolve')}[{index}]", str(exc)) from None
                pins[name] = addr
            settings = replace(settings, pins=pins)
        if "tags" in data:
            tags = data["tags"]
            if not isinstance(tags, dict):
                raise self.error(
                    at("tags"), f"expected a table such as {{ customer = \"acme\" }}, got {_type(tags)}")
            for name, value in tags.items():
                if not name or not set(name) <= _TAG_KEY_CHARS or not isinstance(value, str):
                    raise self.error(
                        at(f"tags.{name}"),
                        "tag names are lower-case letters, digits, '_', '-', '.'; values are strings",
                    )
            settings = replace(settings, tags=dict(tags))
        if "probes" in data:
            settings = replace(settings, probes=self.probes(data["probes"], at("probes")))
        if "cert_expiry_days" in data:
            days = self.number(data["cert_expiry_days"], at("cert_expiry_days"), 0, 3650, integer=True)
            settings = replace(settings, cert_expiry_days=int(days))
        if "email" in data:
            value = data["email"]
            if not isinstance(value, str):
                raise self.error(
                    at("email"), f"expected an address like user@example.com, got {_type(value)}")
            try:
                address, domain = parse_email(value)
            except UsageError as exc:
                raise self.error(at("email"), str(exc).removeprefix("--email ")) from None
            settings = replace(settings, email=address, email_domain=domain)
        return settings

    def probes(self, value: Any, key: str) -> tuple[str, ...]:
        known = families()
        if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
            raise self.error(
                key, f"expected a list of probe families ({', '.join(known)}), got {_type(value)}")
        chosen = tuple(dict.fromkeys(item.strip().lower() for item in value))
        unknown = [name for name in chosen if name not in known]
        if unknown:
            raise self.error(key, f"unknown probe family {unknown[0]!r} (known: {', '.join(known)})")
        return chosen


def to_options(settings: Settings) -> ScanOptions:
    resolved = settings.over(BUILT_IN)
    assert resolved.timeout is not None and resolved.concurrency is not None
    assert resolved.cert_expiry_days is not None
    return ScanOptions(
        pins=dict(resolved.pins),
        dns_server=resolved.dns_server,
        ca_file=resolved.ca_file,
        timeout=resolved.timeout,
        concurrency=resolved.concurrency,
        rate=resolved.rate or None,
        deadline=resolved.deadline,
        cert_expiry_days=resolved.cert_expiry_days,
        probes=resolved.probes or (),
    )


def _type(value: Any) -> str:
    return {dict: "a table", list: "an array", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number"}.get(type(value), type(value).__name__)
