"""A tiny authoritative DNS server for the lab's names, over UDP on loopback.

It lets a scan that uses ``--dns-server`` (and the SRV step of Autodiscover)
run against the lab without touching the system resolver. It is
authoritative for the posture's domain only:

- A for every lab name is 127.0.0.1; AAAA is an empty NOERROR (the lab is
  IPv4-only), so clients fall back to A instead of giving up;
- SRV records are the posture's (``port = "https"`` becomes the lab's HTTPS port);
- other names inside the domain are NXDOMAIN, except the empty non-terminals
  above a record (``_tcp.<domain>``), which exist and have no data;
- names outside the domain are REFUSED: the lab is not a recursive resolver.

Parsing and answering are in :class:`Zone`, a pure function of the bytes
received, so the network part stays a few lines.
"""

from __future__ import annotations

import logging
import socketserver
import struct
import threading
from collections.abc import Mapping
from typing import cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from casaudit.lab.posture import Posture

LOOPBACK = "127.0.0.1"
TTL_SECONDS = 60
_HEADER = struct.Struct("!HHHHHH")

_log = logging.getLogger(__name__)


class Zone:
    """The answers for one posture, keyed by owner name and type."""

    def __init__(
        self, posture: Posture, address: str = LOOPBACK, ports: Mapping[str, int] | None = None
    ) -> None:
        self.origin = dns.name.from_text(posture.domain)
        texts: dict[tuple[str, dns.rdatatype.RdataType], list[str]] = {}
        for lab_name in posture.names:
            texts.setdefault((lab_name, dns.rdatatype.A), []).append(address)
        for srv in posture.srv:
            port = (ports or {}).get(srv.port_of, 0) if srv.port_of else srv.port
            rdata = f"{srv.priority} {srv.weight} {port} {srv.target}."
            texts.setdefault((srv.name, dns.rdatatype.SRV), []).append(rdata)
        self._records: dict[dns.name.Name, dict[dns.rdatatype.RdataType, dns.rrset.RRset]] = {}
        for (text, rdtype), rdatas in texts.items():
            owner = dns.name.from_text(text)
            self._records.setdefault(owner, {})[rdtype] = dns.rrset.from_text_list(
                owner, TTL_SECONDS, dns.rdataclass.IN, rdtype, rdatas
            )
        self._existing = set(self._records)
        for name in self._records:
            # Empty non-terminals between a record and the origin exist (RFC 8020).
            while name.is_subdomain(self.origin) and name != self.origin:
                name = name.parent()
                self._existing.add(name)
        self._soa = dns.rrset.from_text(
            self.origin,
            TTL_SECONDS,
            dns.rdataclass.IN,
            dns.rdatatype.SOA,
            f"ns.{posture.domain}. hostmaster.{posture.domain}. 1 3600 600 86400 {TTL_SECONDS}",
        )

    def answer(self, wire: bytes) -> bytes | None:
        """The reply to one datagram; None when it deserves no reply at all."""
        try:
            query = dns.message.from_wire(wire)
        except (dns.exception.DNSException, ValueError):
            return _format_error(wire)
        if query.flags & dns.flags.QR:
            return None  # a response, not a query: never answer (no reflection loops)
        return self.respond(query).to_wire()

    def respond(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        if query.opcode() != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
            return response
        if len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        question = query.question[0]
        name, rdtype = question.name, question.rdtype
        inside = name.is_subdomain(self.origin) or name in self._records
        if question.rdclass != dns.rdataclass.IN or not inside:
            response.set_rcode(dns.rcode.REFUSED)
            return response
        response.flags |= dns.flags.AA
        if name not in self._existing:
            response.set_rcode(dns.rcode.NXDOMAIN)
        by_type = self._records.get(name, {})
        if rdtype == dns.rdatatype.ANY:
            response.answer.extend(by_type.values())
        elif rdtype in by_type:
            response.answer.append(by_type[rdtype])
        if not response.answer and name.is_subdomain(self.origin):
            response.authority.append(self._soa)  # negative answers carry the SOA
        return response


def _format_error(wire: bytes) -> bytes | None:
    """FORMERR echoing the query id, or nothing if not even a header arrived."""
    if len(wire) < _HEADER.size:
        return None
    query_id, flags = _HEADER.unpack_from(wire)[:2]
    if flags & 0x8000:
        return None
    opcode_bits = flags & 0x7800
    return _HEADER.pack(query_id, 0x8000 | opcode_bits | dns.rcode.FORMERR, 0, 0, 0, 0)


class _DnsHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        reply = cast(_UdpServer, self.server).zone.answer(data)
        if reply is not None:
            sock.sendto(reply, self.client_address)


class _UdpServer(socketserver.UDPServer):
    def __init__(self, address: tuple[str, int], zone: Zone) -> None:
        super().__init__(address, _DnsHandler)
        self.zone = zone

    def handle_error(self, request: object, client_address: object) -> None:
        _log.debug("lab DNS query from %s failed", client_address, exc_info=True)


class DnsServer:
    """The UDP socket (bound at construction) and the thread answering it."""

    def __init__(
        self, posture: Posture, address: str = LOOPBACK, ports: Mapping[str, int] | None = None
    ) -> None:
        self._server = _UdpServer((address, 0), Zone(posture, address, ports))
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def serve(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"casaudit-lab-dns-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()
