"""Which cipher suites a server accepts per protocol version, found by elimination.

sslyze's cipher-suite scan commands try every suite they know, one handshake
each: about 400 handshakes per service, almost all refused. The tls.* checks
need the accepted suites only, so casaudit asks differently, with sslyze's own
connection code and suite list: offer every suite of a version at once; the
server picks one; offer the rest again; repeat until the server refuses. That
is one handshake per accepted suite plus one per group, whatever the server's
preference order, and a version the server does not speak costs one handshake.
No scheme that attributes each handshake to one suite can do with fewer.

Suites are split between nassl's legacy and modern OpenSSL exactly as sslyze
does. The groups (every version, both OpenSSL builds) of a service are
enumerated concurrently on the caller's pool, each group one handshake after
another: splitting a group into slices enumerated side by side would shorten
that chain but cost one more refused handshake per slice, and a fleet scan is
bound by handshakes (the server's CPU and ours), not by one host's latency.
When a handshake ends in a way elimination cannot attribute to a suite (sslyze
refusing the server's weak DH group, an unknown suite name), the group falls
back to sslyze's own one-suite-per-handshake test for what remains.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from functools import cache

from nassl.legacy_ssl_client import LegacySslClient
from nassl.ssl_client import ClientCertificateRequested, OpenSslVerifyEnum, OpenSslVersionEnum, SslClient
from sslyze import TlsVersionEnum
from sslyze.errors import ServerRejectedTlsHandshake, TlsHandshakeTimedOut
from sslyze.plugins.openssl_cipher_suites._test_cipher_suite import (
    CipherSuiteAcceptedByServer,
    connect_with_cipher_suite,
)
from sslyze.plugins.openssl_cipher_suites.cipher_suites import CipherSuite, CipherSuitesRepository
from sslyze.server_connectivity import ServerConnectivityInfo


@dataclass(frozen=True)
class Enumeration:
    """The accepted suites of one version; `handshakes` counts the connections made."""

    version: TlsVersionEnum
    accepted: tuple[CipherSuite, ...]
    handshakes: int
    fell_back: bool = False


@cache
def _legacy_tls12_names() -> frozenset[str]:
    client = LegacySslClient(ssl_version=OpenSslVersionEnum.TLSV1_2, ssl_verify=OpenSslVerifyEnum.NONE)
    client.set_cipher_list("ALL:COMPLEMENTOFALL")
    return frozenset(client.get_cipher_list())


def groups(version: TlsVersionEnum) -> list[tuple[bool, list[CipherSuite]]]:
    """(use legacy OpenSSL, suites) as sslyze's per-suite test would pick for each suite."""
    return [(legacy, list(suites)) for legacy, suites in _groups(version)]


@cache
def _groups(version: TlsVersionEnum) -> tuple[tuple[bool, tuple[CipherSuite, ...]], ...]:
    suites = sorted(CipherSuitesRepository.get_all_cipher_suites(version), key=lambda s: s.name)
    if version is TlsVersionEnum.TLS_1_3:
        return ((False, tuple(suites)),)
    if version is not TlsVersionEnum.TLS_1_2:
        return ((True, tuple(suites)),)
    legacy = _legacy_tls12_names()
    return (
        (True, tuple(s for s in suites if s.openssl_name in legacy)),
        (False, tuple(s for s in suites if s.openssl_name not in legacy)),
    )


class _CannotAttribute(Exception):
    """A handshake outcome elimination cannot pin on one suite."""


def _pick(info: ServerConnectivityInfo, version: TlsVersionEnum, legacy: bool,
          offered: Iterable[CipherSuite]) -> str | None:
    """The OpenSSL name of the suite the server chose from `offered`, None if it refused all."""
    names = ":".join(suite.openssl_name for suite in offered)
    connection = info.get_preconfigured_tls_connection(
        override_tls_version=version, should_use_legacy_openssl=legacy)
    client = connection.ssl_client
    if version is TlsVersionEnum.TLS_1_3 and isinstance(client, SslClient):
        client.set_ciphersuites(names)
    else:
        client.set_cipher_list(names)
    try:
        connection.connect()
        return str(client.get_current_cipher_name())
    except (ServerRejectedTlsHandshake, TlsHandshakeTimedOut):
        return None
    except ClientCertificateRequested:
        name = client.get_current_cipher_name()
        if not name:
            raise _CannotAttribute("client certificate requested before the suite was known") from None
        return str(name)
    except Exception as exc:  # noqa: BLE001 - e.g. sslyze refusing a weak DH group
        raise _CannotAttribute(f"{type(exc).__name__}: {exc}") from None
    finally:
        connection.close()


def _eliminate(info: ServerConnectivityInfo, version: TlsVersionEnum, legacy: bool,
               suites: list[CipherSuite]) -> tuple[list[CipherSuite], int, bool]:
    remaining = {suite.openssl_name: suite for suite in suites}
    accepted: list[CipherSuite] = []
    handshakes = 0
    while remaining:
        handshakes += 1
        try:
            name = _pick(info, version, legacy, remaining.values())
        except _CannotAttribute:
            name = "?"
        if name is None:
            return accepted, handshakes, False
        if name not in remaining:
            # Fall back to sslyze's exact per-suite test for whatever is left.
            for suite in remaining.values():
                handshakes += 1
                result = connect_with_cipher_suite(info, version, suite)
                if isinstance(result, CipherSuiteAcceptedByServer):
                    accepted.append(suite)
            return accepted, handshakes, True
        accepted.append(remaining.pop(name))
    return accepted, handshakes, False


def enumerate_version(
    info: ServerConnectivityInfo, version: TlsVersionEnum, pool: Executor
) -> Callable[[], Enumeration]:
    """Start enumerating `version` on `pool`; call the result to wait for the Enumeration."""
    futures: list[Future[tuple[list[CipherSuite], int, bool]]] = [
        pool.submit(_eliminate, info, version, legacy, suites)
        for legacy, suites in groups(version) if suites
    ]

    def wait() -> Enumeration:
        accepted: list[CipherSuite] = []
        handshakes = 0
        fell_back = False
        for future in futures:
            found, count, fallback = future.result()
            accepted += found
            handshakes += count
            fell_back = fell_back or fallback
        unique = {suite.name: suite for suite in accepted}
        return Enumeration(version, tuple(sorted(unique.values(), key=lambda s: s.name)),
                           handshakes, fell_back)

    return wait
