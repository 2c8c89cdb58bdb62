"""sslyze's connections wait for the host's pacer: the hook, its keying and how it stops."""

from __future__ import annotations

import gc
import threading
import time

import pytest
from sslyze import ServerNetworkConfiguration, ServerNetworkLocation, TlsVersionEnum
from sslyze.connection_helpers import tls_connection
from sslyze.connection_helpers.tls_connection import SslConnection
from sslyze.errors import ConnectionToServerFailed

from casaudit.lab import LabInstance
from casaudit.probes import tls_pacing
from casaudit.probes.pacing import Pacer


def _location(lab: LabInstance) -> ServerNetworkLocation:
    return ServerNetworkLocation(lab.host, lab.ports["https"], ip_address=lab.address)


def _quiet(settle: float = 0.2) -> float:
    """Now, once the lab has accepted what earlier tests left in its backlog."""
    time.sleep(settle)
    return time.monotonic()


def _accepted_after(lab: LabInstance, since: float, settle: float = 0.2) -> int:
    time.sleep(settle)
    return sum(1 for c in lab.connections() if c.at >= since)


def test_an_unregistered_location_connects_unpaced(hardened_lab: LabInstance) -> None:
    # Given the hook installed by some scan, and sslyze used for another server
    tls_pacing.register([], Pacer())
    since = _quiet()
    # When sslyze opens a socket there, it is sslyze's own connection, at once
    tls_connection._open_socket(_location(hardened_lab), 5).close()
    assert _accepted_after(hardened_lab, since) == 1


def test_each_location_waits_for_its_own_pacer_even_when_equal_to_another(
    hardened_lab: LabInstance,
) -> None:
    # Given two scans in one process whose requests name the same server, address and port
    # (a fleet's two hosts of one domain both scan autodiscover.<domain>)
    mine, theirs = _location(hardened_lab), _location(hardened_lab)
    assert mine == theirs and mine is not theirs
    my_pacer, their_pacer = Pacer(rate=5), Pacer()
    tls_pacing.register([mine], my_pacer)
    tls_pacing.register([theirs], their_pacer)
    # When sslyze opens three connections for mine
    started = time.monotonic()
    for _ in range(3):
        tls_connection._open_socket(mine, 5).close()
    # Then they waited for my pacer (5 a second) and theirs saw none
    assert time.monotonic() - started >= 2 / 5 - 0.02
    assert (my_pacer.requests, their_pacer.requests) == (3, 0)


def test_past_the_deadline_sslyze_reports_a_connection_failure_without_retrying(
    hardened_lab: LabInstance,
) -> None:
    # Given a host's scan that was cancelled
    cancel = threading.Event()
    pacer = Pacer(cancel=cancel)
    location = _location(hardened_lab)
    tls_pacing.register([location], pacer)
    cancel.set()
    connection = SslConnection(
        server_location=location,
        network_configuration=ServerNetworkConfiguration(
            tls_server_name_indication=hardened_lab.host, network_max_retries=3),
        tls_version=TlsVersionEnum.TLS_1_2,
        should_ignore_client_auth=True,
    )
    since = _quiet()
    # When sslyze connects, it fails at once as a connection error, and nothing was opened
    with pytest.raises(ConnectionToServerFailed, match="Connection to the server failed") as caught:
        connection.connect()
    assert time.monotonic() - since < 0.5  # no retry, no back-off sleep
    assert isinstance(caught.value.__context__, tls_pacing.PacingStopped)
    assert isinstance(caught.value.__context__, OSError)
    assert not isinstance(caught.value.__context__, TimeoutError | ConnectionError)
    assert _accepted_after(hardened_lab, since) == 0
    connection.close()


def test_a_registration_lives_as_long_as_its_location() -> None:
    location = ServerNetworkLocation("mail.example.test", 443, ip_address="127.0.0.1")
    gc.collect()
    before = tls_pacing.registered()
    tls_pacing.register([location], Pacer())
    assert tls_pacing.registered() == before + 1
    del location
    gc.collect()
    assert tls_pacing.registered() == before
