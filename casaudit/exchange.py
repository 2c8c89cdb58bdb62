"""What casaudit knows about Exchange Client Access URLs, as data.

Each URL carries the recommendation that asks for it to be on SSL, so a check
that finds it in the clear can cite the URL's own recommendation as well as
its generic one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClientAccessUrl:
    path: str
    role: str
    label: str
    #: The recommendation of the guide that governs this URL's transport.
    transport_recommendation: str
    #: The method a real client of this service sends; "not found" must mean not found.
    method: str = "GET"


CLIENT_ACCESS_URLS: tuple[ClientAccessUrl, ...] = (
    ClientAccessUrl("/owa", "owa", "Outlook Web Access", "CAS-04"),
    ClientAccessUrl(
        "/Microsoft-Server-ActiveSync", "activesync", "Exchange ActiveSync", "CAS-01", "OPTIONS"
    ),
    ClientAccessUrl("/rpc/rpcproxy.dll", "outlook_anywhere", "Outlook Anywhere", "CAS-08"),
    ClientAccessUrl("/EWS/Exchange.asmx", "ews", "Exchange Web Services", "CAS-12"),
    ClientAccessUrl(
        "/autodiscover/autodiscover.xml", "autodiscover", "Autodiscover", "CAS-11"
    ),
)

ROLE_BY_NAME = {url.role: url for url in CLIENT_ACCESS_URLS}
