"""Which Exchange product and build a server is, from what the probes already recorded.

Pure: no I/O beyond reading casaudit's own package data (the build and
lifecycle tables in ``casaudit/data/``, refreshed by
``scripts/refresh_exchange_tables.py``), no clock. Checks and the report call
:func:`identify` on the scan's evidence.

Where a build shows (EXCHANGE-FACTS section 3), strongest first:

* ``X-OWA-Version`` response header: the full 4-part build (major.minor.build.revision),
  on OWA, ``/owa/service.svc``, EWS and (since the July 2021 updates) Autodiscover;
* the ECP export tool's ClickOnce manifest (``assemblyIdentity version``): the full
  build too, and served where a proxy strips the header (section 13);
* versioned OWA resource paths in a page: ``/owa/<8.1.375.2>/`` (2007, 2010: 4 parts),
  ``/owa/auth/<15.1.2507>/`` (2013 and later: 3 parts, so the cumulative update
  is known but not the security update installed on it), ``/ecp/<build>/``;
* ``MS-Server-ActiveSync``: a full build (``14.00.0536.000``) or only
  major.minor (``15.1``), which names the product at most;
* ``Server``, ``X-AspNet-Version``, ``X-Powered-By``: weak hints, recorded and
  never used to name an Exchange product.

The build judged is exact (4 parts: the security update is known) or CU-level
only (3 parts: "CU known, SU level unknown"); `Identification.exact` says which,
and a 3-part build is never filled in with a guessed revision. When carriers
disagree, a 4-part build wins over a 3-part one and the others are recorded.

A build absent from the table is reported as unknown, never rounded to a
neighbour. Product boundaries are the documented ones: 8.x = 2007,
14.x = 2010, 15.0 = 2013, 15.1 = 2016, 15.2 = 2019, and 15.2 from build 2562 =
Exchange Server Subscription Edition (SE).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from importlib import resources

from casaudit.evidence.base import EvidenceSet
from casaudit.evidence.http import DeploymentManifest, HttpEvidence, HttpExchange
from casaudit.evidence.mail import MailEvidence
from casaudit.exchange import BASELINE_ROLE, baseline_for, exchange_markers, exchange_signals

EX2003 = "Exchange Server 2003"
EX2007 = "Exchange Server 2007"
EX2010 = "Exchange Server 2010"
EX2013 = "Exchange Server 2013"
EX2016 = "Exchange Server 2016"
EX2019 = "Exchange Server 2019"
EXSE = "Exchange Server SE"
SE_FIRST_BUILD = 2562
#: How a CU-level build reads everywhere: the SU on top of the CU is not visible.
CU_ONLY = "CU known, SU level unknown"
MANIFEST_SOURCE = "ECP export tool manifest assemblyIdentity version"

MAX_SIGHTINGS = 50
_NUMBER = r"[0-9]{1,5}"
_BUILD_TEXT = re.compile(rf"^\s*({_NUMBER}(?:\.{_NUMBER}){{1,3}})\s*$")
_PATH_BUILDS = (
    ("OWA path /owa/auth/<build>/", re.compile(rf"/owa/auth/({_NUMBER}(?:\.{_NUMBER}){{2,3}})/", re.I)),
    ("OWA path /owa/<build>/", re.compile(rf"/owa/({_NUMBER}(?:\.{_NUMBER}){{2,3}})/", re.I)),
    ("ECP path /ecp/<build>/", re.compile(rf"/ecp/({_NUMBER}(?:\.{_NUMBER}){{2,3}})/", re.I)),
)
_WEAK_HEADERS = {"server": "Server", "x-aspnet-version": "X-AspNet-Version", "x-powered-by": "X-Powered-By"}


# --------------------------------------------------------------------------- builds


@dataclass(frozen=True, order=True)
class Build:
    """An Exchange build of three (CU only) or four (CU and security update) numbers."""

    parts: tuple[int, ...]

    @classmethod
    def parse(cls, text: str) -> Build | None:
        """``15.1.2507.16``, ``15.1.2507`` or ``14.00.0536.000``; anything else is None."""
        match = _BUILD_TEXT.match(text)
        if not match:
            return None
        parts = tuple(int(p) for p in match.group(1).split("."))
        return cls(parts) if len(parts) in (3, 4) else None

    @property
    def exact(self) -> bool:
        """True when the revision (the security update level) is known."""
        return len(self.parts) == 4

    @property
    def short(self) -> tuple[int, int, int]:
        return (self.parts[0], self.parts[1], self.parts[2])

    def __str__(self) -> str:
        return ".".join(str(p) for p in self.parts)


def product_of(major: int, minor: int, build: int | None = None) -> str | None:
    """The product a version number belongs to, or None when casaudit's tables lack it."""
    if major == 6 and minor == 5:
        return EX2003
    if major == 8:
        return EX2007
    if major == 14:
        return EX2010
    if major == 15:
        if minor == 0:
            return EX2013
        if minor == 1:
            return EX2016
        if minor == 2:
            if build is None:
                return None  # 2019 and SE share 15.2
            return EXSE if build >= SE_FIRST_BUILD else EX2019
    return None


@dataclass(frozen=True)
class BuildRow:
    product: str
    version_name: str
    build: Build
    release_date: str


@dataclass(frozen=True)
class Lifecycle:
    product: str
    mainstream_end: date | None
    #: None: no fixed end date (Exchange SE follows the Modern Lifecycle Policy).
    extended_end: date | None


@dataclass(frozen=True)
class Tables:
    rows: tuple[BuildRow, ...]
    lifecycle: tuple[Lifecycle, ...]
    by_build: dict[tuple[int, ...], BuildRow] = field(init=False, repr=False, compare=False)
    by_short: dict[tuple[int, int, int], tuple[BuildRow, ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        by_short: dict[tuple[int, int, int], list[BuildRow]] = {}
        for row in self.rows:
            by_short.setdefault(row.build.short, []).append(row)
        object.__setattr__(self, "by_build", {row.build.parts: row for row in self.rows})
        object.__setattr__(
            self, "by_short",
            {key: tuple(sorted(rows, key=lambda r: r.build)) for key, rows in by_short.items()},
        )

    @property
    def newest_release(self) -> str:
        return max(row.release_date for row in self.rows)

    def support(self, product: str) -> Lifecycle | None:
        return next((item for item in self.lifecycle if item.product == product), None)


def parse_tables(builds_csv: str, lifecycle_csv: str) -> Tables:
    rows = []
    for record in csv.DictReader(io.StringIO(builds_csv)):
        build = Build.parse(record["build"])
        if build is None or not build.exact:
            raise ValueError(f"exchange-builds.csv: bad build {record['build']!r}")
        rows.append(BuildRow(record["product"], record["version_name"], build, record["release_date"]))
    lifecycle = [
        Lifecycle(
            record["product"],
            date.fromisoformat(record["mainstream_end"]) if record["mainstream_end"] else None,
            date.fromisoformat(record["extended_end"]) if record["extended_end"] else None,
        )
        for record in csv.DictReader(io.StringIO(lifecycle_csv))
    ]
    return Tables(tuple(rows), tuple(lifecycle))


@cache
def tables() -> Tables:
    """The tables shipped in casaudit/data (read once per process)."""
    data = resources.files("casaudit") / "data"
    return parse_tables(
        (data / "exchange-builds.csv").read_text(encoding="utf-8"),
        (data / "exchange-lifecycle.csv").read_text(encoding="utf-8"),
    )


@dataclass(frozen=True)
class BuildInfo:
    """What casaudit's tables say about one build."""

    build: Build
    product: str | None
    #: e.g. "SP1 RU8", "CU23 Nov22SU"; for a 3-part build the CU's own name; None if unknown.
    update: str | None
    #: The table row(s) matching: one for an exact build, every SU of the CU for a 3-part one.
    rows: tuple[BuildRow, ...]
    #: One sentence on how sure this is (3-part builds, builds not in the table).
    note: str

    @property
    def known(self) -> bool:
        return bool(self.rows)

    @property
    def label(self) -> str:
        """``Exchange Server 2007 SP1 RU8 (8.1.375.2)``, or an honest "unknown"."""
        product = self.product or "an unknown Exchange product"
        if self.update is None:
            return f"{product}, build {self.build} (not in casaudit's build table)"
        if self.build.exact or len(self.rows) == 1:
            return f"{product} {self.update} ({self.build})"
        return f"{product} {self.update} ({self.build}; {CU_ONLY})"


def describe(build: Build, table: Tables | None = None) -> BuildInfo:
    table = table or tables()
    product = product_of(build.parts[0], build.parts[1], build.parts[2])
    if build.exact:
        row = table.by_build.get(build.parts)
        if row is not None:
            return BuildInfo(build, row.product, row.version_name, (row,), "the full build is known")
        same_cu = table.by_short.get(build.short, ())
        note = (
            f"build {build} is not in casaudit's build table (newest entry {table.newest_release})"
            + (f"; its CU is {same_cu[0].version_name}" if same_cu else "")
        )
        return BuildInfo(build, product, None, (), note)
    rows = table.by_short.get(build.short, ())
    if not rows:
        return BuildInfo(
            build, product, None, (),
            f"build {build} is not in casaudit's build table (newest entry {table.newest_release})",
        )
    base = rows[0]
    if len(rows) == 1:
        note = f"only three parts are visible; the table has one build for them ({base.build})"
    else:
        note = (
            f"only three parts are visible: the update is {base.version_name}, but which of its "
            f"{len(rows)} builds ({rows[0].build} to {rows[-1].build}) is installed is not visible"
        )
    return BuildInfo(build, base.product, base.version_name, rows, note)


# --------------------------------------------------------------------------- sightings


@dataclass(frozen=True)
class Sighting:
    """One place a version showed: header or page, and where."""

    #: "X-OWA-Version header", "OWA path /owa/<build>/", "MS-Server-ActiveSync header", ...
    source: str
    #: The text as seen (bounded; untrusted).
    value: str
    evidence_id: str
    #: The URL whose response carried it.
    url: str
    build: Build | None = None
    #: For values naming only major.minor (MS-Server-ActiveSync: 8.1): the product, if unambiguous.
    product: str | None = None
    #: The operator can stop serving it (a header a proxy strips, a file a proxy blocks);
    #: builds in OWA resource paths are in every logon page and cannot be configured away.
    removable: bool = True

    @property
    def origin(self) -> str:
        return origin_of(self.url)


#: Sightings a finding's text lists (the JSON's `identification[]` has them all).
_WHERE_SHOWN = 2


def origin_of(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def sightings_in(item: HttpEvidence) -> tuple[list[Sighting], list[Sighting]]:
    """(version sightings, weak hints) in one HTTP evidence item's exchanges."""
    found: list[Sighting] = []
    hints: list[Sighting] = []
    for exchange in item.exchanges:
        if exchange.status is None:
            continue
        found += _header_sightings(item.id, exchange)
        found += _body_sightings(item.id, exchange)
        if exchange.manifest is not None:
            found += _manifest_sightings(item.id, exchange.url, exchange.manifest)
        for name, shown in _WEAK_HEADERS.items():
            for value in exchange.header_values(name)[:2]:
                hints.append(Sighting(f"{shown} header", value[:200], item.id, exchange.url))
    return found, hints


def _header_sightings(evidence_id: str, exchange: HttpExchange) -> list[Sighting]:
    found = []
    for value in exchange.header_values("x-owa-version")[:2]:
        build = Build.parse(value)
        if build is not None:
            found.append(Sighting("X-OWA-Version header", value[:64], evidence_id, exchange.url, build))
    for value in exchange.header_values("ms-server-activesync")[:2]:
        build = Build.parse(value)
        if build is not None:
            found.append(Sighting(
                "MS-Server-ActiveSync header", value[:64], evidence_id, exchange.url, build
            ))
            continue
        match = re.match(rf"^\s*({_NUMBER})\.({_NUMBER})\s*$", value)
        if match:
            product = product_of(int(match.group(1)), int(match.group(2)))
            found.append(Sighting(
                "MS-Server-ActiveSync header", value[:64], evidence_id, exchange.url, None, product
            ))
    return found


def _body_sightings(evidence_id: str, exchange: HttpExchange) -> list[Sighting]:
    found: list[Sighting] = []
    seen: set[str] = set()
    for source, pattern in _PATH_BUILDS:
        for match in pattern.finditer(exchange.body_excerpt):
            text = match.group(1)
            build = Build.parse(text)
            if build is None or product_of(*build.parts[:3]) is None or text in seen:
                continue
            seen.add(text)
            found.append(Sighting(
                source, match.group(0)[:80], evidence_id, exchange.url, build, removable=False
            ))
    return found


def _manifest_sightings(evidence_id: str, url: str, manifest: DeploymentManifest) -> list[Sighting]:
    """The export tool manifest's build, when it looks like a 4-part Exchange 2013+ build.

    Anything else (a 3-part or 15.x-less version, a catch-all's XML) is not a sighting.
    """
    build = Build.parse(manifest.version or "")
    if build is None or not build.exact or build.parts[0] != 15 or product_of(*build.parts[:3]) is None:
        return []
    return [Sighting(MANIFEST_SOURCE, (manifest.version or "")[:64], evidence_id, url, build)]


# --------------------------------------------------------------------------- identification


@dataclass(frozen=True)
class Identification:
    """What the evidence says about one audited host's Exchange product and build."""

    host: str
    #: The origin (scheme://host:port) a per-host check row names: where the build was seen,
    #: else the first origin that answered, else the first probed.
    endpoint: str
    #: Day of the scan, from the evidence timestamps (never the clock).
    scan_date: date | None
    #: True when at least one HTTP request got an answer.
    answered: bool
    sightings: tuple[Sighting, ...]
    hints: tuple[Sighting, ...]
    #: The build judged: the lowest exact (4-part) build seen, else the lowest cumulative
    #: update seen (the weakest server behind a balancer). None if no build was disclosed.
    build: BuildInfo | None
    #: Other builds seen (servers or carriers that disagree), as text.
    other_builds: tuple[str, ...]
    evidence_ids: tuple[str, ...]

    @property
    def product(self) -> str | None:
        """The product from the build, else from an unambiguous major.minor sighting."""
        if self.build is not None and self.build.product:
            return self.build.product
        products = {s.product for s in self.sightings if s.product}
        return products.pop() if len(products) == 1 else None

    @property
    def disclosed(self) -> bool:
        return bool(self.sightings)

    @property
    def exact(self) -> bool:
        """True when the full build (with its security update level) is known.

        False with a CU-level build ("CU known, SU level unknown") and with no build:
        whatever depends on the SU level must then say it is not assessed.
        """
        return self.build is not None and self.build.build.exact

    @property
    def precision(self) -> str | None:
        """``exact``, ``cu_only`` (3 parts seen) or None (no build seen)."""
        if self.build is None:
            return None
        return "exact" if self.exact else "cu_only"

    @property
    def build_sources(self) -> tuple[Sighting, ...]:
        """The sightings that name the judged build (its exact form or its CU)."""
        if self.build is None:
            return ()
        chosen = self.build.build
        return tuple(s for s in self.sightings if s.build is not None and (
            s.build == chosen or (not s.build.exact and s.build.short == chosen.short)))

    def where(self, origin: str | None = None) -> str:
        """``X-OWA-Version header '8.1.375.2' at /owa; ...`` (bounded: the JSON has every sighting).

        URLs lose their query, and their origin too when every one shown shares it (a
        finding names its origin already)."""
        shown = [s for s in self.sightings if origin is None or s.origin == origin]
        listed = shown[:_WHERE_SHOWN]
        same_origin = len({s.origin for s in listed}) == 1

        def place(sighting: Sighting) -> str:
            url = sighting.url.split("?", 1)[0]
            return url[len(sighting.origin):] or "/" if same_origin else url

        text = "; ".join(f"{s.source} {s.value!r} at {place(s)}" for s in listed)
        return text + (f"; and {len(shown) - len(listed)} more" if len(shown) > len(listed) else "")


def identify(
    evidence: EvidenceSet | Iterable[object], table: Tables | None = None
) -> tuple[Identification, ...]:
    """One Identification per audited host, in evidence order."""
    table = table or tables()
    groups: dict[str, list[HttpEvidence]] = {}
    for item in evidence:
        if isinstance(item, HttpEvidence):
            groups.setdefault(item.host, []).append(item)
    return tuple(_identify_host(host, items, table) for host, items in groups.items())


def _identify_host(host: str, items: list[HttpEvidence], table: Tables) -> Identification:
    sightings: list[Sighting] = []
    hints: list[Sighting] = []
    for item in items:
        found, weak = sightings_in(item)
        sightings += found
        hints += weak
    sightings = sightings[:MAX_SIGHTINGS]
    builds = [s.build for s in sightings if s.build is not None]
    chosen = _judged_build(builds)
    others = tuple(dict.fromkeys(
        str(b) for b in builds
        if chosen is not None and b != chosen and not (b.short == chosen.short and not b.exact)
    ))
    answered = [i for i in items if any(x.status is not None for x in i.exchanges)]
    if sightings:
        preferred = [s for s in sightings if s.url.startswith("https://")] or sightings
        endpoint = preferred[0].origin
    elif answered:
        endpoint = origin_of((next((i for i in answered if i.scheme == "https"), answered[0])).endpoint)
    else:
        endpoint = origin_of(items[0].endpoint)
    return Identification(
        host=host,
        endpoint=endpoint,
        scan_date=_scan_date(items),
        answered=bool(answered),
        sightings=tuple(sightings),
        hints=tuple(dict.fromkeys(hints))[:10],
        build=describe(chosen, table) if chosen is not None else None,
        other_builds=others,
        evidence_ids=tuple(dict.fromkeys(s.evidence_id for s in sightings)),
    )


def identification_record(
    ident: Identification, verdict: ExchangeVerdict | None = None
) -> dict[str, object]:
    """One host's identification as the scan document's ``identification[]`` entry.

    Every fact names its source: the sightings carry the URL and evidence id that showed them,
    the verdict (when given) the evidence ids it rests on.
    """
    info = ident.build
    judged: dict[str, object] = {} if verdict is None else {
        "verdict": verdict.verdict, "reason": verdict.reason, "evidence": list(verdict.evidence),
    }
    return {
        "host": ident.host,
        **judged,
        "endpoint": ident.endpoint,
        "product": ident.product,
        "build": str(info.build) if info is not None else None,
        "exact": ident.exact,
        "precision": ident.precision,
        "label": info.label if info is not None else None,
        "note": info.note if info is not None else None,
        "other_builds": list(ident.other_builds),
        "sightings": [
            {
                "source": s.source, "value": s.value, "url": s.url, "evidence": s.evidence_id,
                "build": str(s.build) if s.build is not None else None,
                "removable": s.removable,
            }
            for s in ident.sightings
        ],
    }


def _judged_build(builds: list[Build]) -> Build | None:
    """The lowest exact build seen, else the lowest CU: a 4-part carrier beats a 3-part one."""
    exact = sorted(b for b in builds if b.exact)
    if exact:
        return exact[0]
    return min(builds, key=lambda b: b.short) if builds else None


def _scan_date(items: list[HttpEvidence]) -> date | None:
    days = []
    for item in items:
        try:
            days.append(datetime.fromisoformat(item.started_at.replace("Z", "+00:00")).date())
        except ValueError:
            continue
    return min(days) if days else None


# --------------------------------------------------------------------------- is it Exchange


def exchange_seen(evidence: EvidenceSet, host: str) -> tuple[bool | None, str]:
    """Did an Exchange Client Access service answer on `host`, and how do we know.

    True: an answer carries an Exchange-specific marker (X-OWA-Version, X-FEServer,
    an OWA page or logon path, MS-Server-ActiveSync...) or a POP3/IMAP4 greeting
    names Microsoft Exchange. False: observably not: every Client Access URL
    answered as absent (404, a nonexistent path's answer, a refused port) and no
    marker showed anywhere. None: cannot tell, because nothing answered over HTTP,
    a URL gave no usable answer (timeout, reset, a 5xx), or something answers at a
    Client Access URL without any Exchange marker (stripped headers?). For the
    build checks: Exchange seen but no build is "hidden", never "not there".
    """
    items = [i for i in evidence.of(HttpEvidence) if i.host == host]
    for item in items:
        for exchange in item.exchanges:
            if exchange.status is None:
                continue
            strong, _weak = exchange_markers(exchange)
            if strong:
                return True, f"{strong[0]} at {exchange.url}"
    for mail in evidence.of(MailEvidence):
        if mail.host == host and mail.banner and mail.banner.product.startswith("Microsoft Exchange"):
            return True, (f"the {mail.protocol.upper()} greeting on port {mail.port} names "
                          f"{mail.banner.product}")
    unusable: list[str] = []
    present: list[str] = []
    answered = False
    for item in items:
        if item.role == BASELINE_ROLE:
            continue  # not a Client Access URL: it only tells the others' answers apart
        last = item.exchanges[-1]
        if last.error is not None and last.error.kind == "refused":
            continue  # a closed port: nothing served there
        if last.error is not None or last.status is None:
            unusable.append(f"{item.endpoint}: {last.error.detail if last.error else 'no answer'}")
            continue
        if last.status >= 500:
            # A 503 says nothing about what is behind it (and a baseline answering alike
            # would otherwise make it read as "absent").
            unusable.append(f"{item.endpoint} answered {last.status}")
            continue
        answered = True
        if exchange_signals(item, baseline_for(evidence, item)).found:
            present.append(item.endpoint)
    if not answered and not unusable:
        return None, "no HTTP answer: every port refused the connection"
    if not answered:
        return None, f"no HTTP answer: {'; '.join(unusable[:2])}"
    if unusable:
        more = f" and {len(unusable) - 2} more" if len(unusable) > 2 else ""
        return None, f"{len(unusable)} URL(s) gave no usable answer ({'; '.join(unusable[:2])}{more})"
    if present:
        return None, (f"{present[0]} answers unlike a nonexistent path but shows no Exchange "
                      "marker")
    return False, "every Client Access URL answered as absent, with no Exchange marker"


#: What a host is, as the scan document's `identification[].verdict` says it.
EXCHANGE, NOT_EXCHANGE, EXCHANGE_ONLINE, UNKNOWN = "exchange", "not_exchange", "exchange_online", "unknown"
#: The reason every Exchange-specific row of a host that is not Exchange carries.
NO_EXCHANGE_HERE = "no Exchange Client Access service on this host"
#: Exchange Online names its back ends in this header (EXCHANGE-FACTS section 3.3):
#: ``X-CalculatedBETarget: by2pr03mb027.namprd03.prod.outlook.com``.
_ONLINE_BACKEND_HEADER = "x-calculatedbetarget"
_ONLINE_BACKEND_SUFFIX = ".prod.outlook.com"


@dataclass(frozen=True)
class ExchangeVerdict:
    """Is the host Exchange Client Access, Exchange Online, not Exchange, or unknown; and why."""

    verdict: str
    #: One line: the marker that proves it, or why nothing does.
    reason: str
    evidence: tuple[str, ...]


def exchange_verdict(evidence: EvidenceSet, host: str) -> ExchangeVerdict:
    """The host's verdict from the answers the probes already recorded (nothing new is sent).

    `not_exchange` only where `exchange_seen` says Exchange is observably absent (every
    Client Access URL answered as absent, no marker anywhere); a host that could not be
    told apart (nothing answered, timeouts, 5xx, an unexplained answer) is `unknown`.
    """
    items = [i for i in evidence.of(HttpEvidence) if i.host == host]
    online = _online_marker(items)
    if online is not None:
        evidence_id, how = online
        return ExchangeVerdict(EXCHANGE_ONLINE, f"Microsoft 365 marker: {how}", (evidence_id,))
    seen, how = exchange_seen(evidence, host)
    if seen:
        return ExchangeVerdict(EXCHANGE, f"Exchange Client Access answered: {how}",
                               _marker_evidence(evidence, host))
    if seen is False:
        answered = tuple(i.id for i in items if any(x.status is not None for x in i.exchanges))
        return ExchangeVerdict(NOT_EXCHANGE, f"{NO_EXCHANGE_HERE}: {how}", answered)
    return ExchangeVerdict(UNKNOWN, f"could not tell whether Exchange Client Access is here: {how}", ())


def _online_marker(items: list[HttpEvidence]) -> tuple[str, str] | None:
    for item in items:
        for exchange in item.exchanges:
            for value in exchange.header_values(_ONLINE_BACKEND_HEADER):
                if value.strip().lower().endswith(_ONLINE_BACKEND_SUFFIX):
                    return item.id, f"X-CalculatedBETarget: {value[:80]} at {exchange.url}"
    return None


def _marker_evidence(evidence: EvidenceSet, host: str) -> tuple[str, ...]:
    """The evidence ids whose answers carry an Exchange marker (HTTP or a mail greeting)."""
    ids = [
        item.id for item in evidence.of(HttpEvidence) if item.host == host
        and any(x.status is not None and exchange_markers(x)[0] for x in item.exchanges)
    ]
    ids += [
        mail.id for mail in evidence.of(MailEvidence) if mail.host == host
        and mail.banner and mail.banner.product.startswith("Microsoft Exchange")
    ]
    return tuple(dict.fromkeys(ids))


# --------------------------------------------------------------------------- support


@dataclass(frozen=True)
class SupportStatus:
    product: str
    #: True past the extended support end; False within support or with no end date.
    ended: bool
    extended_end: date | None


def support_status(product: str, on: date, table: Tables | None = None) -> SupportStatus | None:
    """The product's support on a day, or None when the lifecycle table does not list it."""
    entry = (table or tables()).support(product)
    if entry is None:
        return None
    ended = entry.extended_end is not None and on > entry.extended_end
    return SupportStatus(product, ended, entry.extended_end)
