"""SARIF, JUnit, CSV and PDF for `scan --targets`: one part per host as it finishes, one file at the end.

Memory stays bounded by the hosts in flight, as for the fleet JSON: each
host's part (its SARIF run, its JUnit suites, its CSV rows) is rendered from
its scan document when the host finishes and spooled to an anonymous
temporary file; only the part's position (and the JUnit counts) stay in
memory. `write` assembles each file in targets-file order, also after Ctrl-C:
a host with no part (unresolvable, past its deadline, interrupted) gets the
format's error entry from its fleet result. PDFs are one per host, written as
the host finishes, beside (and named like) the per-host HTML reports.
"""

from __future__ import annotations

import json
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol
from xml.sax.saxutils import quoteattr

from casaudit.errors import UsageError
from casaudit.report import findings_csv, junit, sarif


class FinishedHost(Protocol):
    """What the formats read of a fleet host without a document (casaudit.fleet.HostResult)."""

    @property
    def host(self) -> str: ...

    @property
    def started_at(self) -> str: ...

    @property
    def finished_at(self) -> str: ...

    @property
    def error(self) -> Any: ...


class PartSpool:
    """Text parts keyed by host index, in one anonymous temporary file, read back one at a time."""

    def __init__(self) -> None:
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="casaudit-parts-")
        self._spans: dict[int, tuple[int, int]] = {}

    def add(self, index: int, text: str) -> None:
        data = text.encode("utf-8")
        start = self._file.seek(0, 2)
        self._file.write(data)
        self._spans[index] = (start, len(data))

    def get(self, index: int) -> str | None:
        span = self._spans.get(index)
        if span is None:
            return None
        self._file.seek(span[0])
        return self._file.read(span[1]).decode("utf-8")

    def close(self) -> None:
        self._file.close()


@dataclass(frozen=True)
class FleetFormatPaths:
    """Where `scan --targets` writes its SARIF, JUnit and CSV files and its PDF directory."""

    sarif: Path | None = None
    junit: Path | None = None
    csv: Path | None = None
    pdf_dir: Path | None = None
    #: What each host's HTML and PDF report prints in its evidence appendix (--evidence).
    evidence: str = "cited"

    def any(self) -> bool:
        return any((self.sarif, self.junit, self.csv, self.pdf_dir))


class FleetFormats:
    """Renders each finished host's parts; `write` makes the files (see the module docstring)."""

    def __init__(self, paths: FleetFormatPaths) -> None:
        self.paths = paths
        self._sarif = PartSpool() if paths.sarif else None
        self._junit = PartSpool() if paths.junit else None
        self._csv = PartSpool() if paths.csv else None
        #: Each host's JUnit counts, summed into <testsuites> at the end.
        self._junit_counts: dict[int, dict[str, int]] = {}
        if paths.pdf_dir is not None:
            _make_directory(paths.pdf_dir, "--pdf")

    def add(self, index: int, scan: dict[str, Any]) -> None:
        """One finished host's scan document: spool its parts, print its PDF."""
        if self._sarif is not None:
            self._sarif.add(index, _nested(sarif.build(scan)["runs"][0]))
        if self._junit is not None:
            suites = junit.host_suites(scan)
            self._junit_counts[index] = junit.totals(suites)
            self._junit.add(index, _suites_text(suites))
        if self._csv is not None:
            self._csv.add(index, findings_csv.rows(scan))
        if self.paths.pdf_dir is not None:
            from casaudit.report import html
            from casaudit.report.fleet import file_name
            from casaudit.report.pdf import write_pdf

            name = file_name(scan["targets"][0]["host"]).removesuffix(".html") + ".pdf"
            write_pdf(html.render(scan, self.paths.evidence), self.paths.pdf_dir / name)

    def write(self, hosts: Sequence[FinishedHost]) -> list[tuple[str, Path]]:
        """Every file, hosts in targets-file order; returns (label, path) of what was written."""
        written: list[tuple[str, Path]] = []
        if self.paths.sarif and self._sarif is not None:
            _write_text(self.paths.sarif, "--sarif", "utf-8", self._sarif_text(hosts))
            written.append(("SARIF report", self.paths.sarif))
        if self.paths.junit and self._junit is not None:
            _write_text(self.paths.junit, "--junit", "utf-8", self._junit_text(hosts))
            written.append(("JUnit report", self.paths.junit))
        if self.paths.csv and self._csv is not None:
            spool = self._csv
            chunks = (spool.get(index) or "" for index in range(len(hosts)))
            _write_text(self.paths.csv, "--csv", findings_csv.ENCODING,
                        _chain([findings_csv.header()], chunks))
            written.append(("CSV report", self.paths.csv))
        if self.paths.pdf_dir is not None:
            written.append(("PDF reports", self.paths.pdf_dir))
        return written

    def close(self) -> None:
        for spool in (self._sarif, self._junit, self._csv):
            if spool is not None:
                spool.close()

    def _sarif_text(self, hosts: Sequence[FinishedHost]) -> Iterator[str]:
        assert self._sarif is not None
        yield (f'{{\n  "$schema": {json.dumps(sarif.SARIF_SCHEMA)},\n'
               f'  "version": {json.dumps(sarif.SARIF_VERSION)},\n  "runs": [')
        for index, host in enumerate(hosts):
            part = self._sarif.get(index)
            if part is None:
                kind, detail = _error(host)
                part = _nested(sarif.error_run(host.host, kind, detail, host.started_at, host.finished_at))
            yield ("," if index else "") + "\n" + part
        yield "\n  ]\n}\n" if hosts else "]\n}\n"

    def _junit_text(self, hosts: Sequence[FinishedHost]) -> Iterator[str]:
        assert self._junit is not None
        errored = {index: junit.error_suite(host.host, *_error(host), host.started_at)
                   for index, host in enumerate(hosts) if self._junit.get(index) is None}
        counts = [self._junit_counts.get(index) or junit.totals([errored[index]])
                  for index in range(len(hosts))]
        totals = {key: sum(count[key] for count in counts) for key in junit.COUNTS}
        attributes = " ".join(f"{key}={quoteattr(str(value))}" for key, value in totals.items())
        yield ("<?xml version='1.0' encoding='utf-8'?>\n"
               f"<testsuites name={quoteattr(f'casaudit {len(hosts)} hosts')} {attributes}>\n")
        for index in range(len(hosts)):
            yield self._junit.get(index) or _suites_text([errored[index]])
        yield "</testsuites>\n"


def _error(host: FinishedHost) -> tuple[str, str]:
    """A host without a document: its error, or (for a host whose scan was dropped) a plain one."""
    if host.error is None:
        return "error", "no scan document"
    return str(host.error.kind), str(host.error.detail)


def _nested(run: dict[str, Any]) -> str:
    """A SARIF run as it reads inside `runs` (indented two levels)."""
    return "    " + json.dumps(run, indent=2, ensure_ascii=False).replace("\n", "\n    ")


def _suites_text(suites: list[ET.Element]) -> str:
    text = ""
    for suite in suites:
        ET.indent(suite, level=1)
        text += "  " + ET.tostring(suite, encoding="unicode").rstrip() + "\n"
    return text


def _chain(*parts: Any) -> Iterator[str]:
    for part in parts:
        yield from part


def _write_text(path: Path, option: str, encoding: str, chunks: Iterator[str]) -> None:
    try:
        with open(path, "w", encoding=encoding, newline="") as out:
            for chunk in chunks:
                out.write(chunk)
    except OSError as exc:
        raise UsageError(f"{option} {str(path)!r}: cannot write ({exc.strerror or exc})") from None


def _make_directory(directory: Path, option: str) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{option} {str(directory)!r}: cannot write ({exc.strerror or exc})") from None
