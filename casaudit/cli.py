"""The casaudit command line: parse -> audit() -> render -> exit code.

Exit codes: 0 no finding at or above --fail-on; 1 at least one; 2 bad usage or a
scan that could not run. Every error the user can cause is one line on stderr.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

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
    host: Annotated[str, typer.Argument(help="The Client Access host to audit, e.g. mail.example.com.")],
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
    cert_expiry_days: Annotated[int, typer.Option(
        min=0, max=3650, metavar="DAYS",
        help="Report certificates that expire within DAYS days (tls.cert_expiring).")] = 30,
    probes: Annotated[str | None, typer.Option(
        metavar="FAMILY[,FAMILY...]",
        help="Run only these probe families (tls, http, ...; default: all). The report then "
             "judges only what they observe: every other recommendation stays not assessed.")] = None,
) -> None:
    """Audit one Client Access host and report what it exposes."""
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
    selected = _parse_probes(probes) if probes is not None else ()
    options = ScanOptions(
        pins=pins,
        dns_server=parse_dns_server(dns_server) if dns_server else None,
        ca_file=ca_file,
        timeout=timeout,
        concurrency=concurrency,
        cert_expiry_days=cert_expiry_days,
        probes=selected,
    )
    with _progress() as observer:
        result = audit(target, options, observer)
    document = result.to_dict()
    _write_outputs(document, json_out, html_out)
    failing = [f for f in result.findings if f.severity.rank >= Severity(fail_on.value).rank]
    raise typer.Exit(EXIT_FINDINGS if failing else EXIT_OK)


def _parse_probes(text: str) -> tuple[str, ...]:
    from casaudit.probes import families

    known = families()
    chosen = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    unknown = [name for name in chosen if name not in known]
    if not chosen or unknown:
        raise UsageError(
            f"--probes expects a comma-separated list of {', '.join(known)}; got {text!r}")
    return chosen


def _write_outputs(document: dict[str, Any], json_out: str | None, html_out: Path | None) -> None:
    from casaudit.report import document as doc_io
    from casaudit.report import html, terminal

    if json_out == "-":
        sys.stdout.write(doc_io.dumps(document))
    else:
        terminal.summary(document, sys.stdout)
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
