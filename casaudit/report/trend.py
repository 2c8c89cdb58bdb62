"""Findings over time, from the history: the series and the geometry the HTML trend draws.

Everything here is a pure function of `ScanRow` lists (newest first, as
`HistoryStore.scans` returns them) except `load_trend`, which reads them. Only
assessed scans count: an error row (host down, not assessed) has no findings
to show, and drawing it as zero would read as "everything fixed".

- a night is the UTC date a scan started;
- fleet-wide, a night's bar is the sum over hosts of each host's latest
  assessed scan that night (a host scanned twice in a night counts once);
- per host, a sparkline of the total findings of its assessed scans.

The template only draws what `bar_chart` and `sparkline` computed: the page
carries no script.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from casaudit.report.view import SEVERITY_ORDER

if TYPE_CHECKING:
    from casaudit.history import HistoryStore, ScanRow

#: Scans per host read from the history, and nights the fleet chart shows.
SCANS_PER_HOST = 30
NIGHTS_SHOWN = 30


def night_of(started_at: str) -> str:
    """The UTC date a scan started: history times are ISO 8601 in UTC ("2026-11-27T06:01:02Z")."""
    return started_at[:10]


def _counts(row: ScanRow) -> dict[str, int]:
    return {severity: int(row.findings_by_severity.get(severity, 0)) for severity in SEVERITY_ORDER}


def latest_per_night(rows: Iterable[ScanRow]) -> dict[str, ScanRow]:
    """Night -> the latest assessed scan of that night (error rows are skipped)."""
    latest: dict[str, ScanRow] = {}
    for row in rows:
        if row.status != "assessed":
            continue
        night = night_of(row.started_at)
        kept = latest.get(night)
        if kept is None or (row.started_at, row.id) > (kept.started_at, kept.id):
            latest[night] = row
    return latest


@dataclass(frozen=True)
class Night:
    night: str
    counts: Mapping[str, int]
    hosts: int

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class FleetNights:
    """Sums host by host, so that 100,000 hosts never hold their rows at once."""

    _counts: dict[str, dict[str, int]] = field(default_factory=dict)
    _hosts: dict[str, int] = field(default_factory=dict)

    def add_host(self, rows: Iterable[ScanRow]) -> None:
        for night, row in latest_per_night(rows).items():
            counts = self._counts.setdefault(night, dict.fromkeys(SEVERITY_ORDER, 0))
            for severity, number in _counts(row).items():
                counts[severity] += number
            self._hosts[night] = self._hosts.get(night, 0) + 1

    def nights(self, limit: int = NIGHTS_SHOWN) -> list[Night]:
        """The latest `limit` nights, oldest first."""
        kept = sorted(self._counts)[-limit:] if limit > 0 else []
        return [Night(night, dict(self._counts[night]), self._hosts[night]) for night in kept]


def fleet_nights(hosts_rows: Iterable[Iterable[ScanRow]], limit: int = NIGHTS_SHOWN) -> list[Night]:
    """Per night, the sum over hosts of their latest assessed scan that night; oldest first."""
    nights = FleetNights()
    for rows in hosts_rows:
        nights.add_host(rows)
    return nights.nights(limit)


# --------------------------------------------------------------------------- drawing


@dataclass(frozen=True)
class Segment:
    severity: str
    y: float
    height: float


@dataclass(frozen=True)
class Bar:
    night: Night
    x: float
    width: float
    segments: tuple[Segment, ...]
    label: str  # what the bar's <title> says


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    plot_top: float
    plot_bottom: float
    plot_left: float
    bars: tuple[Bar, ...]
    ticks: tuple[tuple[float, int], ...]  # (y, value) of the value axis
    date_every: int  # label every n-th night under the axis
    description: str  # the chart in one sentence, for aria-label


_CHART_WIDTH, _CHART_HEIGHT = 760, 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 8, 10, 34


def _nice_top(value: int) -> int:
    """A round axis maximum at or above `value` (1, 2, 5 x 10^n)."""
    top = 1
    while True:
        for step in (1, 2, 5):
            if top * step >= value:
                return top * step
        top *= 10


def bar_chart(nights: Sequence[Night]) -> BarChart:
    """A stacked bar per night, severities bottom-up from critical, on a 0-based value axis."""
    top = _nice_top(max([night.total for night in nights] + [1]))
    plot_height = _CHART_HEIGHT - _TOP - _BOTTOM
    slot = (_CHART_WIDTH - _LEFT - _RIGHT) / max(len(nights), 1)
    bar_width = max(min(slot * 0.7, 40.0), 2.0)
    bars = []
    for number, night in enumerate(nights):
        y = float(_CHART_HEIGHT - _BOTTOM)
        segments = []
        for severity in SEVERITY_ORDER:
            height = night.counts.get(severity, 0) * plot_height / top
            if height:
                y -= height
                segments.append(Segment(severity, round(y, 1), round(height, 1)))
        counts = ", ".join(f"{night.counts.get(s, 0)} {s}" for s in SEVERITY_ORDER)
        label = f"{night.night}: {night.total} findings ({counts}) on {night.hosts} " \
                f"host{'s' if night.hosts != 1 else ''}"
        x = _LEFT + number * slot + (slot - bar_width) / 2
        bars.append(Bar(night, round(x, 1), round(bar_width, 1), tuple(segments), label))
    ticks = tuple((round(_CHART_HEIGHT - _BOTTOM - plot_height * part / 4, 1), top * part // 4)
                  for part in range(5) if top * part % 4 == 0)
    if nights:
        description = (f"Findings by severity per night, {len(nights)} nights from {nights[0].night} "
                       f"to {nights[-1].night}; last night {nights[-1].total} findings.")
    else:
        description = "No assessed scan in the history yet."
    return BarChart(_CHART_WIDTH, _CHART_HEIGHT, _TOP, _CHART_HEIGHT - _BOTTOM, _LEFT, tuple(bars), ticks,
                    max(1, -(-len(nights) // 8)), description)


@dataclass(frozen=True)
class Sparkline:
    points: str  # SVG polyline points
    last: tuple[float, float] | None  # the latest scan's dot
    totals: tuple[int, ...]  # total findings per assessed scan, oldest first
    worst: str | None  # the latest assessed scan's worst severity
    label: str


SPARK_WIDTH, SPARK_HEIGHT = 96, 20


def sparkline(rows: Sequence[ScanRow]) -> Sparkline:
    """Total findings of a host's assessed scans, oldest first, scaled into a small box."""
    assessed = sorted((row for row in rows if row.status == "assessed"), key=lambda r: (r.started_at, r.id))
    totals = tuple(sum(_counts(row).values()) for row in assessed)
    if not totals:
        return Sparkline("", None, (), None, "no assessed scan in the history")
    top = max(max(totals), 1)
    step = (SPARK_WIDTH - 4) / max(len(totals) - 1, 1)
    coords = [(round(2 + n * step, 1), round(SPARK_HEIGHT - 2 - total * (SPARK_HEIGHT - 4) / top, 1))
              for n, total in enumerate(totals)]
    if len(coords) == 1:  # one scan: a flat line, so it reads as a level and not a dot alone
        coords.insert(0, (2.0, coords[0][1]))
    label = (f"{len(totals)} scan{'s' if len(totals) != 1 else ''} from {night_of(assessed[0].started_at)}: "
             f"{totals[0]} to {totals[-1]} findings")
    return Sparkline(" ".join(f"{x},{y}" for x, y in coords), coords[-1], totals,
                     assessed[-1].worst_severity, label)


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Trend:
    chart: BarChart
    nights: tuple[Night, ...]
    sparklines: Mapping[str, Sparkline]


def load_trend(history: HistoryStore, hosts: Iterable[str], per_host: int = SCANS_PER_HOST,
               nights_shown: int = NIGHTS_SHOWN) -> Trend:
    """The last `per_host` scans of each host, read one host at a time (bounded memory)."""
    nights = FleetNights()
    lines: dict[str, Sparkline] = {}
    for host in dict.fromkeys(hosts):
        rows = history.scans(host, per_host)
        nights.add_host(rows)
        lines[host] = sparkline(rows)
    shown = nights.nights(nights_shown)
    return Trend(bar_chart(shown), tuple(shown), lines)
