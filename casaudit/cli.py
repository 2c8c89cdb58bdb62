"""The casaudit command line: parse -> audit() -> render -> exit code.

Exit codes, first that holds wins (docs/verdicts.md): 2 bad usage or a scan that
could not run; 130 interrupted; 3 a host not assessed (or only partly, with
--fail-on-unassessed); 1 a finding at or above --fail-on; 0 otherwise. Every
error the user can cause is one line on stderr.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer

from casaudit import __version__
from casaudit.errors import CasauditError, UsageError
from casaudit.model import Severity

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_UNASSESSED = 0, 1, 2, 3

# Typer raises click's UsageError, from click or from the copy typer vendors in
# recent releases; its public BadParameter derives from it either way.
_ClickUsageError: type[Exception] = next(
    cls for cls in typer.BadParameter.__mro__ if cls.__name__ == "UsageError"
)

# "\b" keeps click from re-wrapping the paragraph that follows: one exit code a line.
_SCAN_EXIT_CODES = (
    "Exit codes (the first that holds wins):\n\n\b\n"
    "  2    bad usage, or a scan that could not start\n"
    "  130  interrupted (what finished is still written)\n"
    "  3    a host not assessed (nothing answered, or it is not Exchange;\n"
    "       with --targets also a host that could not be scanned; with\n"
    "       --fail-on-unassessed also a host only partially assessed),\n"
    "       whatever its findings\n"
    "  1    a finding at or above --fail-on (not accepted by --baseline;\n"
    "       with --diff-only, new)\n"
    "  0    otherwise"
)

app = typer.Typer(
    name="casaudit",
    epilog=_SCAN_EXIT_CODES.replace("Exit codes", "Exit codes of scan", 1)
    + "\n\nOther commands exit 0, or 2 on bad usage; diff also 1 (see: casaudit diff --help).",
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


class _Command(typer.core.TyperCommand):
    """Arguments listed by name alone in --help: recent typer appends the value's type to
    it (`HOST <str>`), which reads as markup rather than as a value to give."""

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append((record[0].split(" <", 1)[0], record[1]))
            else:
                options.append(record)
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


lab_app = typer.Typer(help="The built-in lab of emulated Client Access servers on loopback.",
                      no_args_is_help=True, rich_markup_mode=None)
app.add_typer(lab_app, name="lab")


class EvidenceMode(StrEnum):
    cited = "cited"
    all = "all"
    none = "none"


_EVIDENCE_HELP = ("Which evidence the HTML/PDF report prints in its appendix: cited (what a finding "
                  "cites, each item once), all (everything recorded, with every URL in the inventory) "
                  "or none. The JSON document always holds everything.")


class FailOn(StrEnum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"
    info = "info"


_SEVERITIES = ", ".join(level.value for level in FailOn)


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
    cls=_Command,
    epilog=(
        "Examples:\n\n"
        "  casaudit scan mail.example.com --html report.html\n\n"
        "  casaudit scan mail.example.com --resolve mail.example.com:192.0.2.10 --json -   "
        "(before DNS points at the new server)\n\n"
        "  casaudit scan mail.example.com --fail-on medium   (a pre-go-live gate)\n\n"
        + _SCAN_EXIT_CODES
    )
)
def scan(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Argument(
        metavar="HOST",
        help="The Client Access host to audit, e.g. mail.example.com (a name or IP address, "
             "not a URL; ports with --port). Not with --targets.")] = None,
    domain: Annotated[str | None, typer.Option(
        metavar="DOMAIN",
        help="The mail domain (for Autodiscover names). Default: HOST without its first label. "
             "Not with --targets: set `domain` per target.")] = None,
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
        "--html", metavar="PATH|-", help="Write the HTML report (one self-contained file).")] = None,
    pdf_out: Annotated[Path | None, typer.Option(
        "--pdf", metavar="PATH", help="Write the report as PDF (needs Chromium); with --targets a "
        "directory: one PDF per host.")] = None,
    sarif_out: Annotated[Path | None, typer.Option(
        "--sarif", metavar="PATH|-", help="Write the findings as SARIF 2.1.0 (code scanning); with "
        "--targets one run per host.")] = None,
    junit_out: Annotated[Path | None, typer.Option(
        "--junit", metavar="PATH|-", help="Write JUnit XML: one test case per check and endpoint (with "
        "--targets, every host's suites in one file).")] = None,
    csv_out: Annotated[Path | None, typer.Option(
        "--csv", metavar="PATH|-", help="Write the findings as CSV for spreadsheets (with --targets, "
        "every host's rows; the host column tells them apart).")] = None,
    fail_on: Annotated[FailOn, typer.Option(
        metavar="SEVERITY", help="Exit 1 when a finding is at or above this severity: "
                                 f"{_SEVERITIES}.")] = FailOn.high,
    fail_on_unassessed: Annotated[bool, typer.Option(
        "--fail-on-unassessed",
        help="Exit 3 also when a host was only partially assessed (some check rows that "
             "apply got no usable answer), not only when nothing answered: for CI gates "
             "that must have looked at everything.")] = False,
    timeout: Annotated[float, typer.Option(
        min=0.1, max=300, metavar="SECONDS", help="Seconds allowed for each network step.")] = 10.0,
    concurrency: Annotated[int, typer.Option(
        min=1, max=64, metavar="N", help="Probes run at once against the host.")] = 8,
    email: Annotated[str | None, typer.Option(
        metavar="ADDRESS",
        help="The mailbox address Autodiscover is asked about; its domain is the default "
             "--domain. Default: the made-up casaudit-probe@<domain>. Not with --targets: set "
             "`email` per target.")] = None,
    authenticated: Annotated[bool, typer.Option(
        "--authenticated",
        help="Also send this mailbox's password to Autodiscover and check the URLs it "
             "advertises. Needs --email; the password comes from the CASAUDIT_PASSWORD "
             "environment variable or a hidden prompt, never from the command line. It is "
             "sent only over HTTPS to the target's own names whose certificate verified, "
             "once per method, and is never logged or stored. Single-host scans only.")] = False,
    cert_expiry_days: Annotated[int, typer.Option(
        min=0, max=3650, metavar="DAYS",
        help="Report certificates that expire within DAYS days (tls.cert_expiring).")] = 30,
    probes: Annotated[str | None, typer.Option(
        metavar="FAMILY[,FAMILY...]",
        help="Run only these probe families (tls, http, ...; default: all). The report then "
             "judges only what they observe: every other recommendation stays not assessed.")] = None,
    targets: Annotated[Path | None, typer.Option(
        "--targets", metavar="FILE", help="Scan every host of this TOML targets file "
        "(see docs/scheduled-scans.md) instead of HOST; --html and --pdf are then directories.")] = None,
    parallel: Annotated[int, typer.Option(
        min=1, max=1024, metavar="N", help="With --targets only: hosts scanned at once.")] = 16,
    workers: Annotated[int, typer.Option(
        min=1, max=256, metavar="N", help="With --targets only: processes sharing the --parallel hosts, "
        "so that "
        "the scan's CPU work can use N cores (e.g. one per core when the machine has cores to "
        "spare; each process adds memory).")] = 1,
    shard: Annotated[str | None, typer.Option(
        metavar="I/N", help="With --targets only: scan only shard I of N (1-based) of the file's hosts, "
        "chosen by a hash of the host name, stable across machines: N jobs each give one I and "
        "together scan every host once. job/N takes I from $JOB_COMPLETION_INDEX (0-based, "
        "Kubernetes Indexed Jobs).")] = None,
    rate: Annotated[float | None, typer.Option(
        min=0, max=10000, metavar="RPS",
        help="Requests per second to each host (default: no limit).")] = None,
    deadline: Annotated[float | None, typer.Option(
        min=1, max=86400, metavar="SECONDS", help="Total time one host's scan may take; past it the "
        "host is an error entry (default: none for HOST, 600 with --targets).")] = None,
    db: Annotated[str | None, typer.Option(
        "--db", metavar="PATH|URL", help="The scan history: an SQLite file (default: "
        "$XDG_DATA_HOME/casaudit/history.sqlite3) or a postgresql://USER@HOST/DB URL, a history "
        "several machines share (needs casaudit[distributed]).")] = None,
    no_history: Annotated[bool, typer.Option(
        "--no-history", help="Do not record this scan in the history.")] = False,
    diff_only: Annotated[bool, typer.Option(
        "--diff-only", help="Print and exit on only the findings new since the host's previous "
        "scan in the history (nightly jobs that alert on regressions).")] = False,
    baseline: Annotated[Path | None, typer.Option(
        "--baseline", metavar="FILE", help="Accepted findings (TOML, with justification and expiry): "
        "still reported, marked accepted, not counted for the exit code.")] = None,
    evidence: Annotated[EvidenceMode, typer.Option(
        metavar="cited|all|none", help=_EVIDENCE_HELP)] = EvidenceMode.cited,
    broker: Annotated[str | None, typer.Option(
        metavar="URL", help="With --targets only: enqueue one task per host on this Redis broker "
        "(redis://HOST:6379/0) for `casaudit worker`s, wait for them to record every host in the "
        "--db history (required), and write the same outputs and exit code as a local run. The "
        "broker sees host names and options, never a password (see docs/distributed.md).")] = None,
    detach: Annotated[bool, typer.Option(
        "--detach", help="With --broker: enqueue, print the run id and exit 0; collect later "
        "with `casaudit run-status RUN` and `casaudit report --run RUN`.")] = False,
) -> None:
    """Audit one Client Access host (or every host of a --targets file) and report what it exposes."""
    from casaudit.runs import (
        Scheduled,
        after_scan,
        baseline_warnings,
        diff_only_summary,
        exit_code,
        open_history,
    )

    if (host is None) == (targets is None):
        raise UsageError("give either HOST or --targets FILE")
    outputs = Outputs(json=json_out, html=html_out, pdf=pdf_out, sarif=sarif_out, junit=junit_out,
                      csv=csv_out, evidence=evidence.value)
    if broker is not None and authenticated:
        raise UsageError("--authenticated cannot be used with --broker: the broker would carry the password")
    if targets is not None:
        _refuse_single_host_options(domain, email, authenticated)
        if broker is not None:
            _refuse_local_run_options(ctx, db, no_history, detach, outputs)
        elif detach:
            raise UsageError("--detach is for --broker: a local scan has nothing to detach from")
        _scan_targets(ctx, targets, parallel, resolve, dns_server, ca_file, port, timeout,
                      concurrency, rate, deadline, outputs, fail_on, db, no_history,
                      diff_only, baseline, workers, fail_on_unassessed, probes, cert_expiry_days, shard,
                      broker, detach)
    for name in ("parallel", "workers", "shard", "broker", "detach"):
        if _given(ctx, name):
            raise UsageError(f"--{name} is for --targets (many hosts); a single HOST is one scan")
    assert host is not None
    from casaudit.api import ScanOptions, audit, check_ca_file
    from casaudit.names import default_domain, mail_domain_problem
    from casaudit.plan import (
        DEFAULT_PORTS,
        Target,
        normalise_host,
        parse_email,
        parse_port_override,
    )
    from casaudit.resolve import parse_dns_server, parse_pin

    target_host = normalise_host(host)
    ports = dict(DEFAULT_PORTS)
    for text in port or []:
        service, number = parse_port_override(text)
        ports[service] = number
    pins = dict(parse_pin(text) for text in resolve or [])
    if ca_file is not None:
        check_ca_file(ca_file)  # before any traffic, in the same words as a targets file's ca_file
    address, email_domain = parse_email(email) if email is not None else (None, None)
    given_domain = normalise_host(domain, "--domain") if domain else email_domain
    problem = mail_domain_problem(target_host, given_domain)
    if problem:
        raise UsageError(f"{problem} (--domain example.com)")
    mail_domain = given_domain or default_domain(target_host)
    target = Target(host=target_host, domain=mail_domain, ports=ports, email=address)
    credentials = _credentials(address) if authenticated else None
    selected = _parse_probes(probes) if probes is not None else ()
    options = ScanOptions(
        pins=pins,
        dns_server=parse_dns_server(dns_server) if dns_server else None,
        ca_file=ca_file,
        timeout=timeout,
        concurrency=concurrency,
        credentials=credentials,
        cert_expiry_days=cert_expiry_days,
        probes=selected,
        rate=rate or None,
        deadline=deadline,
    )
    outputs.preflight()
    loaded_baseline = _load_baseline(baseline)
    with open_history(db, not no_history, diff_only) as history:
        with _progress() as observer:
            result = audit(target, options, observer)
        # Once the host was scanned (a scan that could not run has its one line, nothing else),
        # before the reports, so that the last lines are the scan's own.
        _warn_if_table_stale(result.started_at)
        scheduled = Scheduled(history, loaded_baseline, diff_only, Severity(fail_on.value),
                              fail_on_unassessed)
        checked = after_scan(result, {}, scheduled)
    _write_outputs(checked.document, outputs,
                   summary=(lambda doc, out: diff_only_summary(checked, out)) if diff_only else True)
    if loaded_baseline is not None:
        assessed = checked.document["summary"]["status"] != "not_assessed"
        for line in baseline_warnings(loaded_baseline, checked.lapsed, checked.matched, assessed):
            sys.stderr.write(line + "\n")
    unassessed = scheduled.unassessed(checked.document["summary"]["status"])
    if checked.document["summary"]["status"] == "not_assessed":
        from casaudit.report.terminal import safe

        sys.stderr.write(f"casaudit: {safe(target_host)} not assessed: "
                         f"{safe(checked.document['summary']['status_reason'], 300)}\n")
    raise typer.Exit(exit_code(checked.counted(diff_only), Severity(fail_on.value), int(unassessed)))


def _warn_if_table_stale(started_at: str) -> None:
    """One stderr line when the Exchange build table is too old to know the latest updates."""
    from datetime import date

    from casaudit.currency import stale_table_sentence

    sentence = stale_table_sentence(date.fromisoformat(started_at[:10]))
    if sentence:
        sys.stderr.write(f"casaudit: {sentence}\n")


def _given(ctx: typer.Context, name: str) -> bool:
    """Was this option on the command line (not its default)?"""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def _refuse_local_run_options(ctx: typer.Context, db: str | None, no_history: bool, detach: bool,
                              outputs: Outputs) -> None:
    """Options of a local run that mean nothing with --broker: refused, never dropped."""
    for name in ("parallel", "workers"):
        if _given(ctx, name):
            raise UsageError(f"--{name} is not used with --broker: hosts in flight are the workers' "
                             "own (casaudit worker --parallel N)")
    if no_history or db is None:
        raise UsageError("--broker needs --db PATH|URL: the history the workers record in and this "
                         "command collects from (a postgresql:// URL when they run elsewhere)")
    given = [name for name, value in (("--json", outputs.json), ("--html", outputs.html),
                                      ("--pdf", outputs.pdf), ("--sarif", outputs.sarif),
                                      ("--junit", outputs.junit), ("--csv", outputs.csv)) if value]
    if detach and given:
        raise UsageError(f"--detach writes no report ({', '.join(given)}): write them later with "
                         "casaudit report --run RUN")


def _refuse_single_host_options(domain: str | None, email: str | None, authenticated: bool) -> None:
    """Options that name one organisation or one mailbox make no sense for a whole targets file."""
    if domain is not None or email is not None:
        option = "--domain" if domain is not None else "--email"
        raise UsageError(f"{option} is for a single HOST; with --targets set `domain` or `email` "
                         "per target in the file")
    if authenticated:
        # One password sent to many hosts is not something to do by accident.
        raise UsageError("--authenticated is for single-host scans (scan HOST --email ADDRESS), "
                         "not --targets")


def _parse_probes(text: str) -> tuple[str, ...]:
    from casaudit.probes import families

    known = families()
    chosen = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    unknown = [name for name in chosen if name not in known]
    if not chosen or unknown:
        raise UsageError(
            f"--probes expects a comma-separated list of {', '.join(known)}; got {text!r}")
    return chosen


def _credentials(address: str | None) -> Any:
    """The password from the environment or a hidden prompt; never from argv."""
    import os

    from casaudit.credentials import PASSWORD_ENV, Credentials

    if address is None:
        raise UsageError("--authenticated needs --email ADDRESS (the mailbox to log on as)")
    password = os.environ.get(PASSWORD_ENV)
    if password is None:
        if not sys.stdin.isatty():
            raise UsageError(
                f"--authenticated: set {PASSWORD_ENV} or run on a terminal to be asked for "
                "the password")
        password = typer.prompt(f"Password for {address}", hide_input=True, default="",
                                show_default=False)
    if not password:
        raise UsageError("--authenticated: the password is empty")
    return Credentials(address, password)


@dataclass(frozen=True)
class Outputs:
    """The files a scan or a re-render writes; any but `pdf` may be "-" for stdout (one at most)."""

    json: str | None = None
    html: Path | None = None
    pdf: Path | None = None
    sarif: Path | None = None
    junit: Path | None = None
    csv: Path | None = None
    #: What the HTML/PDF appendix prints (view.EVIDENCE_MODES).
    evidence: str = "cited"

    def any(self) -> bool:
        return any((self.json, self.html, self.pdf, self.sarif, self.junit, self.csv))

    def on_stdout(self) -> list[str]:
        """The options whose output goes to stdout ("-")."""
        named = (("--json", self.json), ("--html", self.html), ("--pdf", self.pdf),
                 ("--sarif", self.sarif), ("--junit", self.junit), ("--csv", self.csv))
        return [option for option, path in named if path is not None and str(path) == "-"]

    def preflight(self, fleet: bool = False) -> None:
        """Refuse before any traffic what would only fail at the end.

        With `fleet` (scan --targets) --html and --pdf are directories, and only --json
        may go to stdout.
        """
        from casaudit.paths import check_output_directory, check_output_file

        to_stdout = self.on_stdout()
        if "--pdf" in to_stdout:
            raise UsageError("--pdf cannot go to stdout (-): give a file")
        if len(to_stdout) > 1:
            raise UsageError(f"only one output can go to stdout (-), not {' and '.join(to_stdout)}")
        if fleet and to_stdout and to_stdout != ["--json"]:
            raise UsageError(f"{to_stdout[0]} -: with --targets only --json can go to stdout")
        if self.json is not None and self.json != "-":
            check_output_file("--json", Path(self.json))
        for option, path in (("--sarif", self.sarif), ("--junit", self.junit), ("--csv", self.csv)):
            if path is not None and str(path) != "-":
                check_output_file(option, path)
        for option, path in (("--html", self.html), ("--pdf", self.pdf)):
            if path is not None and str(path) != "-":
                (check_output_directory if fleet else check_output_file)(option, path)
        if self.pdf is not None:
            from casaudit.report.pdf import require_chromium

            require_chromium()


def _load_baseline(path: Path | None) -> Any:
    from casaudit.baseline import load_baseline

    return load_baseline(path) if path is not None else None


def _scan_targets(
    ctx: typer.Context, targets: Path, parallel: int, resolve: list[str] | None, dns_server: str | None,
    ca_file: Path | None, port: list[str] | None, timeout: float, concurrency: int, rate: float | None,
    deadline: float | None, outputs: Outputs, fail_on: FailOn,
    db: str | None, no_history: bool, diff_only: bool, baseline: Path | None, workers: int,
    fail_on_unassessed: bool, probes: str | None, cert_expiry_days: int, shard_text: str | None,
    broker: str | None = None, detach: bool = False,
) -> None:
    """`scan --targets FILE`: command-line options override the file's [defaults], not its targets."""
    import threading

    from casaudit.distributed import scan_by_workers
    from casaudit.plan import parse_port_override
    from casaudit.report.fleet_formats import FleetFormatPaths
    from casaudit.report.terminal import safe
    from casaudit.resolve import parse_dns_server, parse_pin
    from casaudit.runs import Scheduled, open_history, scan_targets
    from casaudit.shard import parse_shard
    from casaudit.targets import Settings, load_targets

    shard = parse_shard(shard_text, os.environ) if shard_text is not None else None

    command_line = Settings(
        timeout=timeout if _given(ctx, "timeout") else None,
        concurrency=concurrency if _given(ctx, "concurrency") else None,
        rate=rate,
        deadline=deadline,
        ca_file=ca_file,
        dns_server=parse_dns_server(dns_server) if dns_server else None,
        ports=dict(parse_port_override(text) for text in port or []),
        pins=dict(parse_pin(text) for text in resolve or []),
        probes=_parse_probes(probes) if probes is not None else None,
        cert_expiry_days=cert_expiry_days if _given(ctx, "cert_expiry_days") else None,
    )
    scan_list = load_targets(targets, command_line)
    if shard is not None:
        in_file = len(scan_list)
        scan_list = shard.select(scan_list)
        if not scan_list:
            # Not an error: with many shards and few hosts some shards are empty, and a
            # CI matrix job should not fail for it. Its outputs still say "0 hosts".
            hosts = f"{in_file} host{'s' if in_file != 1 else ''}"
            sys.stderr.write(f"casaudit: shard {shard} holds none of the {hosts} of "
                             f"{safe(str(targets))}: nothing to scan\n")
    outputs.preflight(fleet=True)
    loaded_baseline = _load_baseline(baseline)
    formats = FleetFormatPaths(sarif=outputs.sarif, junit=outputs.junit, csv=outputs.csv,
                               pdf_dir=outputs.pdf, evidence=outputs.evidence)
    from casaudit.probes.common import now

    started_at = now()
    if broker is not None:
        from casaudit.distributed import check_broker_url

        check_broker_url(broker)
    with open_history(db, not no_history, diff_only) as history:
        scheduled = Scheduled(history, loaded_baseline, diff_only, Severity(fail_on.value),
                              fail_on_unassessed)
        if broker is not None:
            code = scan_by_workers(scan_list, broker, scheduled, baseline, outputs.json, outputs.html,
                                   formats, shard, detach)
        else:
            code = scan_targets(scan_list, parallel, scheduled, outputs.json, outputs.html, workers,
                                formats, shard)
    # After a run that happened (a refused --db or targets file stays one line).
    _warn_if_table_stale(started_at)
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
    outputs: Outputs,
    *,
    summary: bool | Callable[[dict[str, Any], TextIO], None] = True,
) -> None:
    # Each renderer is imported only when its output is asked for (Jinja2 for HTML...).
    from casaudit.report import document as doc_io

    # With an output on stdout (-), stdout carries only it: the rest goes to stderr.
    to_stdout = bool(outputs.on_stdout())
    if outputs.json == "-":
        sys.stdout.write(doc_io.dumps(document))
    elif not to_stdout and callable(summary):
        summary(document, sys.stdout)
    elif not to_stdout and summary:
        from casaudit.report import terminal

        # A report that lists every finding: the summary may send the reader there.
        full_report = bool((outputs.json and not to_stdout) or outputs.html or outputs.pdf or outputs.csv)
        terminal.summary(document, sys.stdout, full_report=full_report)
    written: list[tuple[str, object]] = []
    if outputs.json and outputs.json != "-":
        _write(Path(outputs.json), doc_io.dumps(document), "--json")
        written.append(("JSON", outputs.json))
    if outputs.html or outputs.pdf:
        from casaudit.report import html

        page = html.render(document, outputs.evidence)
        if outputs.html:
            _write(outputs.html, page, "--html")
            written.append(("HTML", outputs.html))
        if outputs.pdf:
            from casaudit.report.pdf import write_pdf

            write_pdf(page, outputs.pdf)
            written.append(("PDF", outputs.pdf))
    if outputs.sarif:
        from casaudit.report import sarif

        _write(outputs.sarif, sarif.render(document), "--sarif")
        written.append(("SARIF", outputs.sarif))
    if outputs.junit:
        from casaudit.report import junit

        _write(outputs.junit, junit.render(document), "--junit")
        written.append(("JUnit", outputs.junit))
    if outputs.csv:
        from casaudit.report import findings_csv

        _write(outputs.csv, findings_csv.render(document), "--csv", encoding=findings_csv.ENCODING)
        written.append(("CSV", outputs.csv))
    stream = sys.stderr if to_stdout else sys.stdout
    for label, path in written:
        if str(path) != "-":
            stream.write(f"{label} report: {path}\n")


def _write(path: Path, text: str, option: str, encoding: str = "utf-8") -> None:
    if str(path) == "-":
        sys.stdout.flush()
        stream = getattr(sys.stdout, "buffer", None)
        if stream is None:
            sys.stdout.write(text)
        else:
            stream.write(text.encode(encoding))
            stream.flush()
        return
    try:
        path.write_text(text, encoding=encoding)
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
    """List the check catalog: id, severity, recommendations, title (after the build table's date)."""
    from casaudit.catalog import load_checks
    from casaudit.currency import vintage

    print(f"Exchange build table as of {vintage().as_of} (newest update listed: "
          f"{vintage().newest_release})")

    rows = [(c.meta.id, c.meta.severity.value, ",".join(c.meta.recommendations), c.meta.title)
            for c in load_checks()]
    widths = [max(len(r[i]) for r in rows + [("ID", "SEVERITY", "RECOMMENDATIONS", "")])
              for i in range(3)]
    header = ("ID", "SEVERITY", "RECOMMENDATIONS", "TITLE")
    for row in [header, *rows]:
        print("  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row)))


@app.command(
    cls=_Command,
    epilog=(
        "Examples:\n\n"
        "  casaudit report scan.json --html report.html --pdf report.pdf\n\n"
        "  casaudit report scan.json --sarif casaudit.sarif --junit casaudit.xml --csv findings.csv\n\n"
        "  casaudit scan mail.example.com --json - | casaudit report - --sarif -   "
        "(stdin to stdout)\n\n"
        "  casaudit report --run RUN --db postgresql://casaudit@db/casaudit --json fleet.json --html html   "
        "(a run `scan --broker --detach` submitted)"
    )
)
def report(
    scan_json: Annotated[Path | None, typer.Argument(
        metavar="SCAN.json",
        help="A casaudit.scan/1 document; - reads it from stdin. Not with --run.")] = None,
    html_out: Annotated[Path | None, typer.Option(
        "--html", metavar="PATH|-", help="Write the HTML report (one self-contained file).")] = None,
    pdf_out: Annotated[Path | None, typer.Option(
        "--pdf", metavar="PATH", help="Write the report as PDF (needs Chromium).")] = None,
    sarif_out: Annotated[Path | None, typer.Option(
        "--sarif", metavar="PATH|-", help="Write the findings as SARIF 2.1.0.")] = None,
    junit_out: Annotated[Path | None, typer.Option(
        "--junit", metavar="PATH|-", help="Write JUnit XML: one test case per check and endpoint.")] = None,
    csv_out: Annotated[Path | None, typer.Option(
        "--csv", metavar="PATH|-", help="Write the findings as CSV for spreadsheets.")] = None,
    evidence: Annotated[EvidenceMode, typer.Option(
        metavar="cited|all|none", help=_EVIDENCE_HELP)] = EvidenceMode.cited,
    run: Annotated[str | None, typer.Option(
        "--run", metavar="RUN", help="Instead of SCAN.json: the fleet outputs of a run submitted with "
        "`scan --broker`, from the --db history, as that scan writes them (--html and --pdf are then "
        "directories); hosts no worker recorded yet are error entries (exit 3).")] = None,
    db: Annotated[str | None, typer.Option(
        "--db", metavar="PATH|URL", help="With --run: " + _DB_HELP_SHORT)] = None,
    json_out: Annotated[str | None, typer.Option(
        "--json", metavar="PATH|-", help="With --run: write the casaudit.fleet/1 document.")] = None,
    fail_on: Annotated[FailOn, typer.Option(
        metavar="SEVERITY", help=f"With --run: exit 1 when a finding is at or above this severity: "
                                 f"{_SEVERITIES}.")] = FailOn.high,
    fail_on_unassessed: Annotated[bool, typer.Option(
        "--fail-on-unassessed", help="With --run: exit 3 also for a partially assessed host.")] = False,
    diff_only: Annotated[bool, typer.Option(
        "--diff-only", help="With --run: count only findings new since each host's previous scan.")] = False,
) -> None:
    """Render reports again from a saved scan (or a run workers recorded), with no network.

    One output may be - for stdout; the "... report: PATH" lines then go to stderr.
    """
    from casaudit.report import document as doc_io

    if run is not None:
        if scan_json is not None:
            raise UsageError("give either SCAN.json or --run RUN")
        _report_run(run, db, Outputs(json=json_out, html=html_out, pdf=pdf_out, sarif=sarif_out,
                                     junit=junit_out, csv=csv_out, evidence=evidence.value),
                    Severity(fail_on.value), fail_on_unassessed, diff_only)
    if scan_json is None:
        raise UsageError("give SCAN.json (a saved casaudit.scan/1 document) or --run RUN")
    for option, value in (("--db", db), ("--json", json_out)):
        if value is not None:
            raise UsageError(f"{option} is for --run (a run workers recorded)")
    outputs = Outputs(html=html_out, pdf=pdf_out, sarif=sarif_out, junit=junit_out, csv=csv_out,
                      evidence=evidence.value)
    if not outputs.any():
        raise UsageError("nothing to write: give at least one of --html, --pdf, --sarif, --junit, --csv")
    outputs.preflight()
    # Validated against the schema first: a damaged document is one line, not a traceback.
    document = doc_io.load_valid(scan_json)
    try:
        _write_outputs(document, outputs, summary=False)
    except Exception as exc:
        # The schema may let through what a renderer cannot read: still one line, not a traceback.
        if isinstance(exc, CasauditError) or not _cannot_render(exc):
            raise
        raise UsageError(f"{doc_io.display_name(scan_json)}: cannot render: "
                         f"{type(exc).__name__}: {exc}") from None


def _report_run(run_id: str, db: str | None, outputs: Outputs, fail_on: Severity,
                fail_on_unassessed: bool, diff_only: bool) -> None:
    from casaudit.distributed import collect_run
    from casaudit.history import default_path, open_store
    from casaudit.report.fleet_formats import FleetFormatPaths
    from casaudit.runs import Scheduled

    if not outputs.any() and outputs.json is None:
        raise UsageError("nothing to write: give at least one of --json, --html, --pdf, --sarif, --junit, "
                         "--csv (or see `casaudit run-status`)")
    outputs.preflight(fleet=True)
    formats = FleetFormatPaths(sarif=outputs.sarif, junit=outputs.junit, csv=outputs.csv,
                               pdf_dir=outputs.pdf, evidence=outputs.evidence)
    with open_store(db or default_path(), read_only=True) as history:
        scheduled = Scheduled(history, None, diff_only, fail_on, fail_on_unassessed)
        code = collect_run(run_id.strip(), scheduled, outputs.json, outputs.html, formats, wait=False)
    raise typer.Exit(code)


def _cannot_render(exc: Exception) -> bool:
    """Is this how a renderer fails on a document it cannot read (a missing key, a wrong type)?"""
    if isinstance(exc, (LookupError, TypeError, AttributeError, ValueError)):
        return True
    # jinja2 is loaded only when the HTML renderer ran; StrictUndefined raises this.
    jinja = sys.modules.get("jinja2.exceptions")
    return jinja is not None and isinstance(exc, jinja.UndefinedError)


_DB_HELP_SHORT = ("the history the workers recorded in: an SQLite file or a postgresql:// URL "
                  "(read only).")
_DB_HELP = ("The history `casaudit scan` records in: an SQLite file (default: "
            "$XDG_DATA_HOME/casaudit/history.sqlite3) or a postgresql:// URL; read only, never "
            "created here.")


@app.command(cls=_Command)
def history(
    host: Annotated[str | None, typer.Argument(metavar="HOST", help="Only this host's scans.")] = None,
    db: Annotated[str | None, typer.Option(
        "--db", metavar="PATH|URL", help=_DB_HELP)] = None,
    limit: Annotated[int, typer.Option(
        min=1, max=100000, metavar="N", help="Show at most this many scans, newest first.")] = 50,
    html_out: Annotated[Path | None, typer.Option(
        "--html", metavar="PATH",
        help="Instead of the list, write the findings trend (HOST's, or every host's) to one "
             "self-contained HTML page: findings by severity per night over each host's last 30 scans.",
    )] = None,
) -> None:
    """List past scans from the history: id, time, host, status, findings by severity."""
    from casaudit.history_commands import run_history, write_history_html
    from casaudit.plan import normalise_host

    if html_out is not None:
        write_history_html(db, normalise_host(host) if host else None, html_out, sys.stdout)
        return
    run_history(db, normalise_host(host) if host else None, limit, sys.stdout)


@app.command(
    cls=_Command,
    epilog="Examples:\n\n  casaudit diff   (each host: its latest scan against the one before)\n\n"
           "  casaudit diff 12 15   (scan ids from `casaudit history`)\n\n"
           "  casaudit diff old.json new.json\n\n"
           "Exit codes:\n\n\b\n"
           "  2    bad usage, or a scan id or file that cannot be read\n"
           "  1    a new finding, not accepted, at or above --fail-on\n"
           "  0    otherwise"
)
def diff(
    old: Annotated[str | None, typer.Argument(
        metavar="OLD", help="Scan id or casaudit.scan/1 JSON file.")] = None,
    new: Annotated[str | None, typer.Argument(
        metavar="NEW", help="Scan id or casaudit.scan/1 JSON file.")] = None,
    host: Annotated[str | None, typer.Option(
        metavar="HOST", help="Without OLD NEW: only this host (refused with OLD NEW).")] = None,
    db: Annotated[str | None, typer.Option(
        "--db", metavar="PATH|URL", help=_DB_HELP)] = None,
    fail_on: Annotated[FailOn, typer.Option(
        metavar="SEVERITY", help="Exit 1 when a new, not accepted finding is at or above this "
                                 f"severity: {_SEVERITIES}.")] = FailOn.high,
) -> None:
    """Show new, resolved and changed findings between two scans (default: the two latest of each host).

    OLD and NEW must be assessed scans of the same host.
    """
    from casaudit.history_commands import run_diff
    from casaudit.plan import normalise_host

    code = run_diff(db, old, new, normalise_host(host) if host else None,
                    Severity(fail_on.value), sys.stdout)
    raise typer.Exit(code)


@app.command(
    cls=_Command,
    epilog=(
        "Examples:\n\n"
        "  CASAUDIT_BROKER=redis://broker.internal:6379/0 CASAUDIT_DB=postgresql://casaudit@db/casaudit "
        "casaudit worker --parallel 16\n\n"
        "  casaudit scan --targets fleet.toml --broker redis://broker.internal:6379/0 "
        "--db postgresql://casaudit@db/casaudit --json fleet.json   (submits, waits, reports)\n\n"
        "Stops on SIGTERM or Ctrl-C after the hosts in flight are recorded (a second Ctrl-C stops "
        "at once; those hosts are delivered again). See docs/distributed.md."
    ),
)
def worker(
    broker: Annotated[str, typer.Option(
        metavar="URL", envvar="CASAUDIT_BROKER", show_envvar=True,
        help="The Redis broker `scan --broker` enqueues on (redis://HOST:6379/0).")],
    db: Annotated[str, typer.Option(
        "--db", metavar="PATH|URL", envvar="CASAUDIT_DB", show_envvar=True,
        help="The history every host is recorded in: a postgresql:// URL shared with the submitter "
             "(or an SQLite file when both run on this machine).")],
    parallel: Annotated[int, typer.Option(
        min=1, max=256, metavar="N", help="Hosts this worker scans at once.")] = 8,
    visibility_timeout: Annotated[float, typer.Option(
        min=30, max=7 * 86400, metavar="SECONDS",
        help="How long Redis waits for this worker to finish a task before handing it to another "
             "worker: it must exceed each host's --deadline by 30 s (a task whose deadline does not "
             "fit is recorded as an error entry). Give every worker the same value.")] = 3600,
    name: Annotated[str | None, typer.Option(
        metavar="NAME", help="This worker's name in Celery (default: casaudit@HOSTNAME.PID).")] = None,
) -> None:
    """Scan hosts that `casaudit scan --targets FILE --broker URL` enqueued, one task per host.

    Each host is scanned as a local fleet scan would scan it (its rate, deadline, baseline) and
    recorded once per run in the history, however often its task is delivered. Needs
    `pip install 'casaudit[distributed]'`.
    """
    from casaudit.distributed import check_broker_url, run_worker

    run_worker(check_broker_url(broker), db, parallel, visibility_timeout, name)


@app.command("run-status", cls=_Command)
def run_status(
    run: Annotated[str, typer.Argument(metavar="RUN", help="The run id `scan --broker` printed.")],
    db: Annotated[str | None, typer.Option("--db", metavar="PATH|URL", help=_DB_HELP)] = None,
) -> None:
    """How far a run submitted with `scan --broker` is: hosts recorded, errors, pending.

    Exit 0 when every host is recorded, 3 while some are pending.
    """
    from casaudit.distributed import run_state
    from casaudit.history import default_path, open_store
    from casaudit.report.terminal import safe

    with open_store(db or default_path(), read_only=True) as history:
        state = run_state(history, run.strip())
    # A host that answered nothing is stored as an error row of kind not_assessed.
    unanswered = sum(1 for host in state.hosts if host.error_kind == "not_assessed")
    errors = sum(1 for host in state.hosts if host.status == "error") - unanswered
    pending = [host.host for host in state.hosts if host.scan_id is None]
    sys.stdout.write(f"run {state.run_id} (submitted {state.created_at}): {len(state.hosts)} hosts, "
                     f"{state.recorded} recorded ({unanswered} not assessed, {errors} "
                     f"error{'' if errors == 1 else 's'}), {len(pending)} pending\n")
    if pending:
        shown = ", ".join(safe(host, 80) for host in pending[:10])
        more = f" and {len(pending) - 10} more" if len(pending) > 10 else ""
        sys.stdout.write(f"pending: {shown}{more}\n")
    raise typer.Exit(3 if pending else 0)


@lab_app.command("serve")
def lab_serve(
    posture: Annotated[str, typer.Option(
        metavar="NAME", help="Which posture to serve (see `casaudit lab list`).")],
) -> None:
    """Serve one lab posture on loopback in the foreground until Ctrl-C (or SIGTERM)."""
    import shlex
    import signal
    import threading

    from casaudit.lab import Lab, posture_names

    if posture not in posture_names():
        raise UsageError(f"unknown posture {posture!r}; choose one of {', '.join(posture_names())}")
    # SIGTERM (kill, systemd, a test harness) stops the lab as Ctrl-C does: its default
    # action would skip the cleanup and leave the temporary directory with the CA key.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with Lab.start(posture) as lab:
        # The whole announcement is inside the try: a signal that lands while the last line
        # is being flushed (the moment a supervisor sees it) still stops the lab cleanly.
        try:
            print(f"lab posture {posture}: {lab.posture.summary}")
            for service, number in sorted(lab.ports.items()):
                print(f"  {service:6} {lab.address}:{number}")
            print(f"  dns    {lab.dns_server}")
            print(f"  CA     {lab.ca_file}")
            print("audit it with:")
            print("  casaudit scan " + " ".join(shlex.quote(arg) for arg in lab.scan_args()))
            print("Ctrl-C (or SIGTERM) stops the lab.", flush=True)
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
    out: Annotated[Path, typer.Option(metavar="DIR", help="Where the reports go.")] = Path("casaudit-demo"),
) -> None:
    """Start the lab, scan every posture, and write HTML and JSON reports."""
    from casaudit.demo import run_demo

    run_demo(out, sys.stdout)


def main() -> None:
    try:
        # Named, not detected: `python -m casaudit` would otherwise tell users to run
        # "python -m casaudit scan --help", and a test runner its own name.
        code = app(standalone_mode=False, prog_name="casaudit")
    except _ClickUsageError as exc:
        from casaudit.usage_errors import is_bare_group, usage_message

        if is_bare_group(exc):
            # `casaudit` or `casaudit lab` alone: their help, as written (git and pip do the same).
            sys.stderr.write(exc.format_message().rstrip("\n") + "\n")  # type: ignore[attr-defined]
            sys.exit(EXIT_USAGE)
        _fatal(usage_message(exc))
    except CasauditError as exc:
        from casaudit.probes.pacing import HostDeadlineExceeded

        if isinstance(exc, HostDeadlineExceeded):
            # A single host past --deadline: not assessed (as with --targets), not a usage error.
            _fatal(f"{exc}: the host was not assessed; give it more time with --deadline",
                   EXIT_UNASSESSED)
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
