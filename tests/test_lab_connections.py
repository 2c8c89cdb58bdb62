"""The lab's connection log: every listener records each connection it accepts, with its time."""

from __future__ import annotations

import dataclasses
import socket
import time

import pytest

from casaudit.lab import Lab, LabInstance, load_posture
from casaudit.lab.connections import ConnectionLog, busiest_window

LEGACY = "exchange2007-legacy"
SERVICES = ("http", "https", "imap", "imaps", "pop3", "pop3s")


def _wait_for(lab: LabInstance, count: int, limit: float = 5.0) -> None:
    deadline = time.monotonic() + limit
    while len(lab.connections()) < count and time.monotonic() < deadline:
        time.sleep(0.02)


def _openssl_only(name: str):  # the legacy posture with every TLS listener on OpenSSL
    posture = load_posture(name)
    assert posture.tls is not None and posture.tls.tlslite is not None
    return dataclasses.replace(posture, tls=dataclasses.replace(posture.tls, tlslite=None))


@pytest.mark.parametrize("stack", ["tlslite-ng", "openssl"])
def test_every_listener_records_each_connection_it_accepts(stack: str) -> None:
    # Given a lab with HTTP, HTTPS, and POP3/IMAP4 both cleartext (STARTTLS) and implicit TLS,
    # its TLS listeners served by tlslite-ng or by OpenSSL
    posture = LEGACY if stack == "tlslite-ng" else _openssl_only(LEGACY)
    with Lab.start(posture) as lab:
        assert sorted(lab.ports) == sorted(SERVICES)
        before = time.monotonic()
        # When a client opens two connections to each listener, one after another
        for service in SERVICES:
            for _ in range(2):
                with socket.create_connection((lab.address, lab.ports[service]), timeout=5):
                    pass
        _wait_for(lab, 2 * len(SERVICES))
        after = time.monotonic()
        connections = lab.connections()
    # Then each is logged once, with its listener's service and port, on the monotonic clock
    assert sorted((c.service, c.port) for c in connections) == sorted(
        (service, lab.ports[service]) for service in SERVICES for _ in range(2))
    assert all(before <= c.at <= after for c in connections)
    assert [c.at for c in connections] == sorted(c.at for c in connections)


def test_a_refused_connection_is_not_counted() -> None:
    with Lab.start("exchange-se-hardened") as lab:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((lab.address, lab.closed_port), timeout=5)
        with socket.create_connection((lab.address, lab.ports["https"]), timeout=5):
            pass
        _wait_for(lab, 1)
        time.sleep(0.1)
        assert [c.service for c in lab.connections()] == ["https"]


def test_log_is_bounded_and_clears() -> None:
    log = ConnectionLog()
    log.MAX_ENTRIES = 3
    for _ in range(5):
        log.record("https", 443)
    assert len(log.entries()) == 3
    log.clear()
    assert log.entries() == []


@pytest.mark.parametrize(("times", "expected"), [
    ([], 0),
    ([5.0], 1),
    # ten a second, evenly spaced, for three seconds: 11 in a closed one-second window
    ([i / 10 for i in range(31)], 11),
    # the window slides: four within one second across a "bucket" edge
    ([0.0, 0.95, 1.05, 1.10, 1.90, 3.5], 4),
    ([2.0, 1.0, 1.0, 0.0], 3),  # order does not matter; ties count
])
def test_busiest_window_slides(times: list[float], expected: int) -> None:
    assert busiest_window(times) == expected
