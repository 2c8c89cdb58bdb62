"""The casaudit command line: parse -> audit() -> render -> exit code.

Exit codes: 0 no finding at or above --fail-on; 1 at least one; 2 bad usage or a
scan that could not run. Every error the user can cause is one line on stderr.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer

from casaudit import __version__
from casaudit.errors import CasauditError, UsageError
from casaudit.model import Severity

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2

# Typer raises click's UsageError, from click or from the copy typer vendors in
# recent releases; its public BadParameter derives from it either way.
_ClickUsageError: type[Exception] = next(
    cls for cls in typer.BadParameter.__mro__ if cls.__name__ == "UsageError"
)

app = typer.Typer(
    name="casaudit",
    help=(
        "Audit Microsoft Exchange Client Access endpoints from the outside: TLS, HTTP "
        "authentication, POP3/IMAP4, Autodiscover and version, mapped to Microsoft's "
        "recommendations (CAS-01 to CAS-17).\n\n"
        "Start with `casaudit demo` to see a report of the built-in lab."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
lab_app = typer.Typer(help="The built-in lab of emulated Client Access servers on loopback.",
                      no_args_is_help=True, rich_markup_mode=None)
app.add_typer(lab_app, name="lab")


class FailOn(StrEnum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"
    info = "info"


def _version(value: bool) -> None:
    if value:
        print(f"casaudit {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    pass


@app.command(
    epilog=(
        "Examples:\n\n"
        "  casaudit scan mail.example.com --html report.html\n\n"
        "  casaudit scan mail.example.com --resolve mail.example.com:192.0.2.10 --json -   "
        "(before DNS points at the new server)\n\n"
        "  casaudit scan mail.example.com --fail-on medium   (a pre-go-live gate)"
    )
)
def scan(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Argument(
        help="The Client Access host to audit, e.g. mail.example.com. Not with --targets.")] = None,
    domain: Annotated[str | None, typer.Option(
        help="The mail domain (for Autodiscover names). Default: HOST without its first label.")] = None,
    resolve: Annotated[list[str] | None, typer.Option(
        "--resolve", metavar="NAME:ADDR",
        help="Connect to ADDR for NAME on every port, still using NAME for SNI, Host and "
             "certificate matching (like curl --resolve). Repeatable.")] = None,
    dns_server: Annotated[str | None, typer.Option(
        metavar="ADDR[:PORT]", help="Send the scan's DNS queries to this server instead of the "
                                    "system resolver.")] = None,
    ca_file: Annotated[Path | None, typer.Option(
        metavar="PEM", help="Extra CA certificates to trust (an internal CA).")] = None,
    port: Annotated[list[str] | None, typer.Option(
        "--port", metavar="SERVICE=PORT",
        help="Override a service's port; SERVICE is http, https, pop3, pop3s, imap or imaps "
             "(defaults 80, 443, 110, 995, 143, 993). Repeatable.")] = None,
    json_out: Annotated[str | None, typer.Option(
        "--json", metavar="PATH|-", help="Write the casaudit.scan/1 JSON document; - for stdout.")] = None,
    html_out: Annotated[Path | None, typer.Option(
        "--html", metavar="PATH", help="Write the HTML report.")] = None,
    fail_on: Annotated[FailOn, typer.Option(
        help="Exit 1 when a finding is at or above this severity.")] = FailOn.high,
    timeout: Annotated[float, typer.Option(
        min=0.1, max=300, help="Seconds allowed for each network step.")] = 10.0,
    concurrency: Annotated[int, typer.Option(
        min=1, max=64, help="Probes run at once against the host.")] = 8,
    targets: Annotated[Path | None, typer.Option(
        "--targets", metavar="FILE", help="Scan every host of this TOML targets file "
        "(see docs/scheduled-scans.md) instead of HOST; --html is then a directory.")] = None,
    parallel: Annotated[int, typer.Option(
        min=1, max=1024, help="With --targets: hosts scanned at once.")] = 16,
    rate: Annotated[float | None, typer.Option(
        min=0, max=10000, metavar="RPS",
        help="Requests per second to each host (default: no limit).")] = None,
    deadline: Annotated[float | None, typer.Option(
        min=1, max=86400, metavar="SECONDS", help="Total time one host's scan may take; past it the "
        "host is an error entry (default: none for HOST, 600 with --targets).")] = None,
    db: Annotated[Path | None, typer.Option(
        "--db", metavar="PATH", help="The scan history database "
        "(default: $XDG_DATA_HOME/casaudit/history.sqlite3).")] = None,
    no_history: Annotated[bool, typer.Option(
        "--no-history", help="Do not record this scan in the history.")] = False,
    diff_only: Annotated[bool, typer.Option(
        "--diff-only", help="Print and exit on only the findings new since the host's previous "
        "scan in the history (nightly jobs that alert on regressions).")] = False,
    baseline: Annotated[Path | None, typer.Option(
        "--baseline", metavar="FILE", help="Accepted findings (TOML, with justification and expiry): "
        "still reported, marked accepted, not counted for the exit code.")] = None,
) -> None:
    """Audit one Client Access host (or every host of a --targets file) and report what it exposes."""
    from casaudit.runs import Scheduled, after_scan, diff_only_summary, exit_code, open_history

    if (host is None) == (targets is None):
        raise UsageError("give either HOST or --targets FILE")
    if targets is not None:
        _scan_targets(ctx, targets, parallel, resolve, dns_server, ca_file, port, timeout,
                      concurrency, rate, deadline, json_out, html_out, fail_on, db, no_history,
                      diff_only, baseline)
    assert host is not None
    from casaudit.api import ScanOptions, audit
    from casaudit.plan import (
        DEFAULT_PORTS,
        Target,
        default_domain,
        normalise_host,
        parse_port_override,
    )
    from casaudit.resolve import parse_dns_server, parse_pin

    target_host = normalise_host(host)
    ports = dict(DEFAULT_PORTS)
    for text in port or []:
        service, number = parse_port_override(text)
        ports[service] = number
    pins = dict(parse_pin(text) for text in resolve or [])
    if ca_file is not None and not ca_file.is_file():
        raise UsageError(f"--ca-file {str(ca_file)!r}: no such file")
    target = Target(
        host=target_host,
        domain=normalise_host(domain, "--domain") if domain else default_domain(target_host),
        ports=ports,
    )
    options = ScanOptions(
        pins=pins,
        dns_server=parse_dns_server(dns_server) if dns_server else None,
        ca_file=ca_file,
        timeout=timeout,
        concurrency=concurrency,
        rate=rate or None,
        deadline=deadline,
    )
    loaded_baseline = _load_baseline(baseline)
    with open_history(db, not no_history, diff_only) as history:
        with _progress() as observer:
            result = audit(target, options, observer)
        scheduled = Scheduled(history, loaded_baseline, diff_only, Severity(fail_on.value))
        checked = after_scan(result, {}, scheduled)
    _write_outputs(checked.document, json_out, html_out,
                   summary=(lambda doc, out: diff_only_summary(checked, out)) if diff_only else None)
    for line in checked.expired:
        sys.stderr.write(f"casaudit: baseline: {line}\n")
    raise typer.Exit(exit_code(checked.counted(diff_only), Severity(fail_on.value)))


def _load_baseline(path: Path | None) -> Any:
    from casaudit.baseline import load_baseline

    return load_baseline(path) if path is not None else None


def _scan_targets(
    ctx: typer.Context, targets: Path, parallel: int, resolve: list[str] | None, dns_server: str | None,
    ca_file: Path | None, port: list[str] | None, timeout: float, concurrency: int, rate: float | None,
    deadline: float | None, json_out: str | None, html_out: Path | None, fail_on: FailOn,
    db: Path | None, no_history: bool, diff_only: bool, baseline: Path | None,
) -> None:
    """`scan --targets FILE`: command-line options override the file's [defaults], not its targets."""
    import threading

    from casaudit.plan import parse_port_override
    from casaudit.resolve import parse_dns_server, parse_pin
    from casaudit.runs import Scheduled, open_history, scan_targets
    from casaudit.targets import Settings, load_targets

    def given(name: str) -> bool:
        source = ctx.get_parameter_source(name)
        return source is not None and source.name == "COMMANDLINE"

    command_line = Settings(
        timeout=timeout if given("timeout") else None,
        concurrency=concurrency if given("concurrency") else None,
        rate=rate,
        deadline=deadline,
        ca_file=ca_file,
        dns_server=parse_dns_server(dns_server) if dns_server else None,
        ports=dict(parse_port_override(text) for text in port or []),
        pins=dict(parse_pin(text) for text in resolve or []),
    )
    scan_list = load_targets(targets, command_line)
    loaded_baseline = _load_baseline(baseline)
    with open_history(db, not no_history, diff_only) as history:
        scheduled = Scheduled(history, loaded_baseline, diff_only, Severity(fail_on.value))
        code = scan_targets(scan_list, parallel, scheduled, json_out, html_out)
    if code == 130:
        sys.stderr.write("casaudit: interrupted: wrote the hosts that finished\n")
    if threading.active_count() > 1:
        # A host stopped at its deadline or by Ctrl-C may still wait on a socket for up
        # to --timeout; everything is written, flushed and committed: do not wait for it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    raise typer.Exit(code)


def _write_outputs(
    document: dict[str, Any],
    json_out: str | None,
    html_out: Path | None,
    summary: Callable[[dict[str, Any], TextIO], None] | None = None,
) -> None:
    from casaudit.report import document as doc_io
    from casaudit.report import html, terminal

    if json_out == "-":
        sys.stdout.write(doc_io.dumps(document))
    else:
        (summary or terminal.summary)(document, sys.stdout)
    if json_out and json_out != "-":
        _write(Path(json_out), doc_io.dumps(document), "--json")
    if html_out:
        _write(html_out, html.render(document), "--html")
    stream = sys.stderr if json_out == "-" else sys.stdout
    for label, path in (("JSON", json_out), ("HTML", html_out)):
        if path and str(path) != "-":
            stream.write(f"{label} report: {path}\n")


def _write(path: Path, text: str, option: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{option} {str(path)!r}: cannot write ({exc.strerror or exc})") from None


class _progress:
    """A rich progress bar on stderr when it is a terminal; silence otherwise."""

    def __enter__(self) -> Any:
        self._bar = None
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import Progress

            self._bar = Progress(console=Console(stderr=True), transient=True)
            self._bar.start()
        return self

    def planned(self, total: int) -> None:
        if self._bar is not None:
            self._task = self._bar.add_task("probing", total=total)

    def finished(self, evidence: Any) -> None:
        if self._bar is not None:
            self._bar.advance(self._task)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


@app.command("checks")
def list_checks() -> None:
    """List the check catalog: id, severity, recommendations, title."""
    from casaudit.catalog import load_checks

    rows = [(c.meta.id, c.meta.severity.value, ",".join(c.meta.recommendations), c.meta.title)
            for c in load_checks()]
    widths = [max(len(r[i]) for r in rows + [("ID", "SEVERITY", "RECOMMENDATIONS", "")])
              for i in range(3)]
    header = ("ID", "SEVERITY", "RECOMMENDATIONS", "TITLE")
    for row in [header, *rows]:
        print("  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row)))


@app.command()
def report(
    scan_json: Annotated[Path, typer.Argument(metavar="SCAN.json", help="A casaudit.scan/1 document.")],
    html_out: Annotated[Path, typer.Option("--html", metavar="PATH", help="Write the HTML report.")],
) -> None:
    """Render a report again from a saved scan, with no network."""
    from casaudit.report import document as doc_io
    from casaudit.report import html

    document = doc_io.load(scan_json)
    _write(html_out, html.render(document), "--html")
    print(f"HTML report: {html_out}")


_DB_HELP = "The history database (default: $XDG_DATA_HOME/casaudit/history.sqlite3)."


@app.command()
def history(
    host: Annotated[str | None, typer.Argument(help="Only this host's scans.")] = None,
    db: Annotated[Path | None, typer.Option(
        "--db", metavar="PATH", help=_DB_HELP)] = None,
    limit: Annotated[int, typer.Option(
        min=1, max=100000, help="Show at most this many scans, newest first.")] = 50,
) -> None:
    """List past scans from the history: id, time, host, status, findings by severity."""
    from casaudit.history_commands import print_history
    from casaudit.plan import normalise_host
    from casaudit.runs import open_history

    with open_history(db, True, False) as store:
        assert store is not None
        print_history(store, normalise_host(host) if host else None, limit, sys.stdout)


@app.command(
    epilog="Examples:\n\n  casaudit diff   (each host: its latest scan against the one before)\n\n"
           "  casaudit diff 12 15   (scan ids from `casaudit history`)\n\n"
           "  casaudit diff old.json new.json"
)
def diff(
    old: Annotated[str | None, typer.Argument(help="Scan id or casaudit.scan/1 JSON file.")] = None,
    new: Annotated[str | None, typer.Argument(help="Scan id or casaudit.scan/1 JSON file.")] = None,
    host: Annotated[str | None, typer.Option(help="Without OLD NEW: only this host.")] = None,
    db: Annotated[Path | None, typer.Option(
        "--db", metavar="PATH", help=_DB_HELP)] = None,
    fail_on: Annotated[FailOn, typer.Option(
        help="Exit 1 when a new, not accepted finding is at or above this severity.")] = FailOn.high,
) -> None:
    """Show new, resolved and changed findings between two scans (default: the two latest of each host)."""
    from casaudit.history_commands import run_diff
    from casaudit.plan import normalise_host
    from casaudit.runs import open_history

    with open_history(db, True, False) as store:
        assert store is not None
        code = run_diff(store, old, new, normalise_host(host) if host else None,
                        Severity(fail_on.value), sys.stdout)
    raise typer.Exit(code)


@lab_app.command("serve")
def lab_serve(
    posture: Annotated[str, typer.Option(help="Which posture to serve (see `casaudit lab list`).")],
) -> None:
    """Serve one lab posture on loopback in the foreground until Ctrl-C."""
    import shlex
    import threading

    from casaudit.lab import Lab, posture_names

    if posture not in posture_names():
        raise UsageError(f"unknown posture {posture!r}; choose one of {', '.join(posture_names())}")
    with Lab.start(posture) as lab:
        print(f"lab posture {posture}: {lab.posture.summary}")
        for service, number in sorted(lab.ports.items()):
            print(f"  {service:6} {lab.address}:{number}")
        print(f"  dns    {lab.dns_server}")
        print(f"  CA     {lab.ca_file}")
        print("audit it with:")
        print("  casaudit scan " + " ".join(shlex.quote(arg) for arg in lab.scan_args()))
        print("Ctrl-C stops the lab.", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("lab stopped")


@lab_app.command("list")
def lab_list() -> None:
    """List the shipped postures."""
    from casaudit.lab import load_posture, posture_names

    for name in posture_names():
        print(f"{name:24} {load_posture(name).summary}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Where the reports go.")] = Path("casaudit-demo"),
) -> None:
    """Start the lab, scan every posture, and write HTML and JSON reports."""
    from casaudit.demo import run_demo

    run_demo(out, sys.stdout)


def main() -> None:
    try:
        code = app(standalone_mode=False)
    except _ClickUsageError as exc:
        context = getattr(exc, "ctx", None)
        hint = f" (see: {context.command_path} --help)" if context is not None else ""
        _fatal(exc.format_message() + hint)  # type: ignore[attr-defined]
    except CasauditError as exc:
        _fatal(str(exc) + (f"; {exc.tip}" if exc.tip else ""))
    except (typer.Abort, KeyboardInterrupt):
        _fatal("interrupted", 130)
    sys.exit(code if isinstance(code, int) else EXIT_OK)


def _fatal(message: str, code: int = EXIT_USAGE) -> None:
    from casaudit.report.terminal import safe

    sys.stderr.write(f"casaudit: error: {safe(message, 500)}\n")
    sys.exit(code)


if __name__ == "__main__":
    main()
