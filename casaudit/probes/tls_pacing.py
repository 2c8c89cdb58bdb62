"""``--rate`` and ``--deadline`` for sslyze's connections: one hook where sslyze opens its sockets.

sslyze opens the socket of every connection it makes (connectivity test,
certificate info, ROBOT's 21 handshakes, ...), and of every handshake of
casaudit's suite enumeration (`casaudit.probes.tls_suites`, which uses sslyze's
connection code), in one function:
``sslyze.connection_helpers.tls_connection._open_socket(server_location, timeout)``.
`register` ties a scan request's `ServerNetworkLocation` to the host's `Pacer`;
the hook, installed on the first registration and never removed, calls
``pacer.pace()`` before opening a socket to a registered location and passes
every other call straight through, so sslyze used on its own is untouched and
an unpaced scan pays one dictionary look-up per connection.

Registrations are keyed by the location object itself. Not by (address, port):
in a fleet scan (``--parallel``, threads of one process) two hosts of one
domain both scan autodiscover.<domain>, and two target names can share an
address, yet each scan must wait for its own host's pacer and deadline. Not by
thread either: sslyze runs its jobs on worker threads of its own. Each
`ServerScanRequest` keeps the location it was built with, and sslyze hands that
same object to every connection of the request (`ServerConnectivityInfo`,
`SslConnection`), as does the suite enumeration. A registration lives as long as
its location object: when a host's scan stops early, the sslyze threads still
running meet its stopped pacer and fail at once instead of connecting unpaced.
With ``--workers``, each process has its own registry and installs its own hook.

Past the deadline or on cancel the pacer raises `ScanStopped`; inside sslyze
that would escape as an unknown error, so the hook raises `PacingStopped`, an
``OSError`` that is neither a timeout (sslyze would retry) nor a
``ConnectionError``: sslyze reports the attempt as "Connection to the server
failed", the scan commands still queued fail the same way at once, and the TLS
probe then stops the scan as `casaudit.probes.pacing` says (it checks the pacer
between sslyze's results).
"""

from __future__ import annotations

import socket
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from sslyze import ServerNetworkLocation
from sslyze.connection_helpers import tls_connection

from casaudit.probes.pacing import Pacer, ScanStopped

_OpenSocket = Callable[[ServerNetworkLocation, int], socket.socket]

#: Re-entrant: a garbage collection inside a locked block may run `forget` on this thread.
_lock = threading.RLock()
#: id(location) -> (a weak reference to that location, its host's pacer).
_registry: dict[int, tuple[weakref.ref[Any], Pacer]] = {}
#: sslyze's own `_open_socket`, once the hook is installed.
_original: _OpenSocket | None = None


class PacingStopped(OSError):
    """A connection not opened because its host's scan stopped (deadline passed or cancelled)."""


def register(locations: Iterable[ServerNetworkLocation], pacer: Pacer) -> None:
    """Pace every connection sslyze opens to these locations with `pacer`, for as long as they live."""
    _install()
    for location in locations:
        key = id(location)

        def forget(reference: weakref.ref[Any], key: int = key) -> None:
            with _lock:
                entry = _registry.get(key)
                if entry is not None and entry[0] is reference:
                    del _registry[key]

        with _lock:
            _registry[key] = (weakref.ref(location, forget), pacer)


def registered() -> int:
    """How many locations are paced now (tests)."""
    with _lock:
        return len(_registry)


def _paced_open_socket(server_location: ServerNetworkLocation, network_timeout: int) -> socket.socket:
    entry = _registry.get(id(server_location))
    if entry is not None and entry[0]() is server_location:
        try:
            entry[1].pace()
        except ScanStopped as exc:
            raise PacingStopped(str(exc)) from exc
    assert _original is not None
    return _original(server_location, network_timeout)


def _install() -> None:
    global _original
    with _lock:
        if _original is None:
            _original = tls_connection._open_socket
            tls_connection._open_socket = _paced_open_socket  # type: ignore[assignment]


__all__ = ["PacingStopped", "register", "registered"]
