"""Autodiscover requests built and responses read: POX XML (2006 schemas) and JSON v2.

Every response is hostile input. XML is parsed only with defusedxml (no DTDs,
no entities, no external references) and only up to `MAX_XML_BYTES`; a body
that fails to parse yields a summary whose `parse_error` says why, never an
exception. What is extracted is bounded in count and length.

The shapes follow EXCHANGE-FACTS §5: the Outlook request schema (§5.1), the
success and error responses (§5.2), the MobileSync variant (§5.3) and the
JSON v2 answer (§5.5).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

from casaudit.parse.untrusted_xml import XmlRefusal, parse_untrusted

MAX_XML_BYTES = 256 * 1024
MAX_SETTINGS = 100
MAX_TEXT_CHARS = 2048

AUTODISCOVER_NS = "http://schemas.microsoft.com/exchange/autodiscover/"
OUTLOOK_REQUEST = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
OUTLOOK_RESPONSE = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
MOBILESYNC_REQUEST = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006"
MOBILESYNC_RESPONSE = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"

SCHEMAS = {
    "outlook": (OUTLOOK_REQUEST, OUTLOOK_RESPONSE),
    "mobilesync": (MOBILESYNC_REQUEST, MOBILESYNC_RESPONSE),
}


def pox_request(email: str, schema: str = "outlook") -> bytes:
    """The POX request body Outlook (or an ActiveSync client) POSTs (§5.1, §5.3)."""
    request_ns, response_ns = SCHEMAS[schema]
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<Autodiscover xmlns="{request_ns}">\n'
        "  <Request>\n"
        f"    <EMailAddress>{escape(email)}</EMailAddress>\n"
        f"    <AcceptableResponseSchema>{response_ns}</AcceptableResponseSchema>\n"
        "  </Request>\n"
        "</Autodiscover>\n"
    ).encode()


@dataclass(frozen=True)
class AdvertisedSetting:
    """One URL (or Outlook Anywhere host) a settings response tells clients to use.

    `protocol` is the Protocol Type (EXCH, EXPR, WEB, mapiHttp) or MobileSync;
    `setting` the element that carried it (EwsUrl, ASUrl, OABUrl, OWAUrl, Url...).
    EXPR's Server is turned into the Outlook Anywhere URL it implies
    (`https://<Server>/rpc/rpcproxy.dll`, or `http://` when its SSL is Off).
    """

    protocol: str
    setting: str
    url: str


@dataclass(frozen=True)
class PoxSummary:
    """What a POX body said, bounded; `parse_error` is set when it did not parse.

    `autodiscover` is True when the root is an `Autodiscover` element in one of
    Microsoft's Autodiscover namespaces: the mark of a real Autodiscover answer.
    """

    root: str | None = None
    namespace: str | None = None
    autodiscover: bool = False
    response_schema: str | None = None
    error_code: str | None = None
    message: str | None = None
    action: str | None = None
    redirect_url: str | None = None
    redirect_addr: str | None = None
    settings: tuple[AdvertisedSetting, ...] = ()
    parse_error: str | None = None


def looks_like_xml(body: bytes) -> bool:
    head = body[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith(b"<") and not head.startswith((b"<!doctype html", b"<html"))


def looks_like_html(content_type: str, body: bytes) -> bool:
    head = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return "html" in content_type.lower() or head.startswith((b"<!doctype html", b"<html"))


#: How a POX body can fail to be read: the start of `parse_error`, and the failure the
#: Autodiscover evidence names for it.
_TOO_LARGE = "body larger than"
_REFUSED = "refused by defusedxml"
_MALFORMED = "not well-formed XML"
_CUT = "body cut short"
UNREAD_FAILURES = {
    _TOO_LARGE: "xml_too_large",
    _REFUSED: "xml_forbidden",
    _MALFORMED: "xml_malformed",
    _CUT: "xml_cut_short",
}


def parse_pox(body: bytes, truncated: bool = False) -> PoxSummary:
    """Summarise a POX response body; never raises on hostile input."""
    root = parse_untrusted(body, truncated, MAX_XML_BYTES)
    if isinstance(root, XmlRefusal):
        return PoxSummary(parse_error={
            "too_large": f"{_TOO_LARGE} {MAX_XML_BYTES} bytes: not parsed",
            "refused": f"{_REFUSED}: {root.detail}",
        }.get(root.kind, f"{_MALFORMED}: {_cut(root.detail, 200)}"))
    namespace, name = _split(root.tag)
    summary = PoxSummary(
        root=name,
        namespace=namespace,
        autodiscover=name == "Autodiscover" and (namespace or "").startswith(AUTODISCOVER_NS),
    )
    if not summary.autodiscover:
        return summary
    response = _child(root, "Response")
    error = _find(root, "Error")
    account = _child(response, "Account")
    return PoxSummary(
        root=name,
        namespace=namespace,
        autodiscover=True,
        response_schema=_split(response.tag)[0] if response is not None else None,
        error_code=_text(_find(error, "ErrorCode")) if error is not None else None,
        message=_text(_find(error, "Message")) if error is not None else None,
        action=_text(_child(account, "Action")),
        redirect_url=_text(_child(account, "RedirectUrl")),
        redirect_addr=_text(_child(account, "RedirectAddr")),
        settings=_settings(response) if response is not None else (),
    )


def cut_short(detail: str) -> PoxSummary:
    """The summary of a body the server stopped sending half-way: nothing is parsed."""
    return PoxSummary(parse_error=f"{_CUT}: not parsed ({_cut(detail, 200)})")


def unread_failure(summary: PoxSummary) -> str | None:
    """`xml_forbidden`, `xml_malformed`, `xml_too_large` or `xml_cut_short`; None if it parsed."""
    if summary.parse_error is None:
        return None
    for start, failure in UNREAD_FAILURES.items():
        if summary.parse_error.startswith(start):
            return failure
    return "xml_malformed"


def _settings(response: Element) -> tuple[AdvertisedSetting, ...]:
    found: list[AdvertisedSetting] = []
    for protocol in _iter(response, "Protocol"):
        kind = protocol.get("Type") or _text(_child(protocol, "Type")) or "?"
        kind = _cut(kind, 40)
        if kind.upper() == "EXPR":
            host = _text(_child(protocol, "Server"))
            if host:
                ssl_off = (_text(_child(protocol, "SSL")) or "On").lower() == "off"
                scheme = "http" if ssl_off else "https"
                found.append(AdvertisedSetting("EXPR", "Server", f"{scheme}://{host}/rpc/rpcproxy.dll"))
        for element in protocol.iter():
            _, tag = _split(element.tag)
            value = _text(element)
            if element is protocol or tag == "Protocol" or not _is_url(value):
                continue
            found.append(AdvertisedSetting(kind, tag, value or ""))
    for entry in _iter(response, "Server"):
        url = _text(_child(entry, "Url"))
        kind = _text(_child(entry, "Type")) or "?"
        if _is_url(url):
            found.append(AdvertisedSetting(_cut(kind, 40), "Url", url or ""))
    unique = tuple(dict.fromkeys(found))
    return unique[:MAX_SETTINGS]


@dataclass(frozen=True)
class JsonV2Summary:
    """An Autodiscover v2 answer: `{"Protocol": ..., "Url": ...}` (§5.5)."""

    protocol: str | None = None
    url: str | None = None
    parse_error: str | None = None


def parse_json_v2(body: bytes, truncated: bool = False) -> JsonV2Summary:
    if truncated:
        return JsonV2Summary(parse_error="body too large: not parsed")
    try:
        data = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeError, RecursionError) as exc:
        return JsonV2Summary(parse_error=f"not JSON: {_cut(str(exc), 200)}")
    if not isinstance(data, dict):
        return JsonV2Summary(parse_error="not a JSON object")
    protocol, url = data.get("Protocol"), data.get("Url")
    return JsonV2Summary(
        protocol=_cut(protocol, 100) if isinstance(protocol, str) else None,
        url=_cut(url, MAX_TEXT_CHARS) if isinstance(url, str) else None,
    )


def _is_url(value: str | None) -> bool:
    return bool(value) and value.lower().startswith(("http://", "https://"))  # type: ignore[union-attr]


def _split(tag: object) -> tuple[str | None, str]:
    text = str(tag)
    if text.startswith("{"):
        namespace, _, name = text[1:].partition("}")
        return namespace, name
    return None, text


def _child(element: Element | None, name: str) -> Element | None:
    if element is None:
        return None
    for child in element:
        if _split(child.tag)[1] == name:
            return child
    return None


def _find(element: Element | None, name: str) -> Element | None:
    if element is None:
        return None
    for item in element.iter():
        if _split(item.tag)[1] == name:
            return item
    return None


def _iter(element: Element, name: str) -> list[Element]:
    return [item for item in element.iter() if _split(item.tag)[1] == name][:MAX_SETTINGS]


def _text(element: Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    return _cut(element.text.strip(), MAX_TEXT_CHARS)


def _cut(text: str, limit: int) -> str:
    return text[:limit]
