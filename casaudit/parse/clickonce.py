"""Read the build from ECP's export tool manifest (a ClickOnce ``.application`` file), bounded.

Exchange 2013 and later serve the eDiscovery export tool's deployment manifest
anonymously at ``/ecp/Current/exporttool/microsoft.exchange.ediscovery.exporttool.application``;
its top-level ``assemblyIdentity`` carries the full 4-part build (EXCHANGE-FACTS 3.1,
method 3, and 13). Reverse proxies that strip ``X-OWA-Version`` rarely block this
static file, so it is the carrier of the exact build that survives header stripping.

The body is hostile input: parsed only with defusedxml (no DTD, no entities, no
external references), only up to `MAX_MANIFEST_BYTES`, and what is kept is cut
to `MAX_ATTRIBUTE_CHARS`. A body that cannot be read yields a manifest whose
``problem`` says why, never an exception.
"""

from __future__ import annotations

from casaudit.evidence.http import DeploymentManifest
from casaudit.parse.untrusted_xml import XmlRefusal, parse_untrusted

MAX_MANIFEST_BYTES = 64 * 1024
MAX_ATTRIBUTE_CHARS = 128
#: The ClickOnce assembly namespaces (asm.v1 for the root and its identity; v2 is the default).
_ASSEMBLY_NAMESPACES = ("urn:schemas-microsoft-com:asm.v1", "urn:schemas-microsoft-com:asm.v2")


def read_manifest(body: bytes, truncated: bool = False) -> DeploymentManifest:
    """The top-level assemblyIdentity's name and version; never raises on hostile input."""
    root = parse_untrusted(body, truncated, MAX_MANIFEST_BYTES)
    if isinstance(root, XmlRefusal):
        return DeploymentManifest(problem={
            "too_large": f"body larger than {MAX_MANIFEST_BYTES} bytes: not parsed",
            "refused": f"refused by defusedxml: {root.detail}",
        }.get(root.kind, f"not well-formed XML: {_cut(root.detail)}"))
    if _local(root.tag) != "assembly" or _namespace(root.tag) not in _ASSEMBLY_NAMESPACES:
        return DeploymentManifest(problem=f"not a deployment manifest (root <{_cut(root.tag)}>)")
    identity = next(
        (child for child in root
         if _local(child.tag) == "assemblyIdentity" and _namespace(child.tag) in _ASSEMBLY_NAMESPACES),
        None,
    )
    if identity is None:
        return DeploymentManifest(problem="no top-level assemblyIdentity")
    name, version = identity.get("name"), identity.get("version")
    return DeploymentManifest(
        name=_cut(name) if name is not None else None,
        version=_cut(version) if version is not None else None,
        problem=None if version is not None else "assemblyIdentity has no version",
    )


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _namespace(tag: str) -> str | None:
    return tag[1:].partition("}")[0] if tag.startswith("{") else None


def _cut(text: str) -> str:
    return text[:MAX_ATTRIBUTE_CHARS]
