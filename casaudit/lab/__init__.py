"""The built-in lab: emulated Exchange Client Access endpoints on loopback.

Used by ``casaudit demo`` and by integration tests, it serves a *posture* (a
TOML file describing what a real server answers) over real sockets and real
TLS on 127.0.0.1, with its own CA and DNS server, so a scan of the lab runs
exactly the code a scan of a real server runs.
"""

from casaudit.lab.posture import Posture, load_posture, parse_posture, posture_names
from casaudit.lab.runtime import Lab, LabInstance

__all__ = ["Lab", "LabInstance", "Posture", "load_posture", "parse_posture", "posture_names"]
