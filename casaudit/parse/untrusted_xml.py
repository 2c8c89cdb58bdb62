"""Hostile XML parsed one way for every parser: defusedxml, no DTD, no entity, no external
reference, and nothing over the caller's size limit is even read.

A refusal is data (`XmlRefusal`), never an exception: each parser words it for its own result.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError

import defusedxml
from defusedxml.ElementTree import fromstring


@dataclass(frozen=True)
class XmlRefusal:
    #: too_large (over the limit or cut short while reading), refused (a DTD, an entity or an
    #: external reference: billion laughs, quadratic blowup, XXE) or malformed.
    kind: str
    #: The defusedxml exception's name, or the XML parser's message (unbounded: callers cut it).
    detail: str = ""


def parse_untrusted(body: bytes, truncated: bool, limit: int) -> Element | XmlRefusal:
    """The document's root element, or why it was not parsed."""
    if truncated or len(body) > limit:
        return XmlRefusal("too_large")
    try:
        return fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DefusedXmlException as exc:
        return XmlRefusal("refused", type(exc).__name__)
    except (ParseError, ValueError, UnicodeError) as exc:
        return XmlRefusal("malformed", str(exc))
