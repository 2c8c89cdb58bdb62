"""How the command line reads (issue #15, item 7): usage, errors and --help, through casaudit.cli.main."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer

from casaudit import cli


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def casaudit(capsys, monkeypatch):
    """Run `casaudit ARGS...` in this process, as the console script does (argv, main())."""

    def run(*args: str) -> Ran:
        monkeypatch.setattr(sys, "argv", ["casaudit", *args])
        with pytest.raises(SystemExit) as ended:
            cli.main()
        out, err = capsys.readouterr()
        code = ended.value.code
        return Ran(code if isinstance(code, int) else 0, out, err)

    return run


def _one_error_line(ran: Ran) -> str:
    assert ran.code == 2, ran
    lines = ran.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("casaudit: error: "), ran.stderr
    assert "Traceback" not in ran.stderr
    return lines[0].removeprefix("casaudit: error: ")


# --------------------------------------------------------------------------- bare groups


@pytest.mark.parametrize(("args", "usage"), [
    ((), "Usage: casaudit [OPTIONS] COMMAND [ARGS]..."),
    (("lab",), "Usage: casaudit lab [OPTIONS] COMMAND [ARGS]..."),
])
def test_a_group_without_command_prints_its_help_with_real_newlines(casaudit, args, usage):
    ran = casaudit(*args)
    assert ran.code == 2
    lines = ran.stderr.splitlines()
    assert lines[0] == usage
    assert "Commands:" in lines and "\\x0a" not in ran.stderr
    assert "casaudit: error" not in ran.stderr


# --------------------------------------------------------------------------- unknown options


def test_an_unknown_option_unlike_any_gets_no_suggestion(casaudit):
    assert _one_error_line(casaudit("scan", "--frobnicate")) == (
        "no such option: --frobnicate (see: casaudit scan --help)")


@pytest.mark.parametrize(("typo", "meant"), [("--timout", "--timeout"), ("--targe", "--targets")])
def test_a_mistyped_option_still_gets_the_one_it_resembles(casaudit, typo, meant):
    assert _one_error_line(casaudit("scan", "mail.example.test", typo, "3")) == (
        f"no such option: {typo}; did you mean {meant}? (see: casaudit scan --help)")


# --------------------------------------------------------------------------- bad values


@pytest.mark.parametrize("command", ["scan", "diff"])
def test_a_bad_choice_names_the_option_and_the_choices_without_library_wording(casaudit, command):
    args = ("scan", "mail.example.test") if command == "scan" else ("diff",)
    assert _one_error_line(casaudit(*args, "--fail-on", "severe")) == (
        "--fail-on: 'severe' is not one of critical, high, medium, low, info "
        f"(see: casaudit {command} --help)")


@pytest.mark.parametrize(("args", "problem"), [
    (("scan", "x.test", "--timeout", "0"), "--timeout: must be at least 0.1, got 0"),
    (("scan", "x.test", "--timeout", "301"), "--timeout: must be at most 300, got 301"),
    (("scan", "x.test", "--timeout", "soon"), "--timeout: expects a number, got 'soon'"),
    (("scan", "--targets", "t.toml", "--parallel", "1.5"), "--parallel: expects a whole number, got '1.5'"),
    (("history", "--limit", "0"), "--limit: must be at least 1, got 0"),
])
def test_a_number_out_of_range_or_unreadable_says_so_plainly(casaudit, args, problem):
    assert _one_error_line(casaudit(*args)) == f"{problem} (see: casaudit {args[0]} --help)"


# --------------------------------------------------------------------------- --help


def _every_command_path() -> list[tuple[str, ...]]:
    """Every command and group of the app, found by walking it: a new command is covered too."""
    paths: list[tuple[str, ...]] = [()]
    stack: list[tuple[tuple[str, ...], object]] = [((), typer.main.get_command(cli.app))]
    while stack:
        path, group = stack.pop()
        for name, command in getattr(group, "commands", {}).items():
            paths.append((*path, name))
            stack.append(((*path, name), command))
    return paths


def test_the_walk_finds_every_command():
    assert {" ".join(path) for path in _every_command_path()} >= {
        "", "scan", "report", "history", "diff", "checks", "demo", "lab", "lab serve", "lab list"}


@pytest.mark.parametrize("path", _every_command_path(), ids=lambda path: " ".join(path) or "casaudit")
def test_every_help_shows_readable_metavars_not_type_markup(casaudit, path):
    ran = casaudit(*path, "--help")
    assert ran.code == 0, ran.stderr
    for markup in ("<float", "<int", "<str", "<path", "<file", "range>"):
        assert markup not in ran.stdout, f"{markup!r} in `casaudit {' '.join(path)} --help`"


def test_scan_help_gives_units_and_ranges_in_words_a_user_types(casaudit):
    text = casaudit("scan", "--help").stdout
    for shown in ("--timeout SECONDS", "--concurrency N", "--parallel N", "--workers N",
                  "--rate RPS", "--cert-expiry-days DAYS", "--fail-on SEVERITY", "0.1<=x<=300"):
        assert shown in text


def test_root_help_lists_the_exit_codes_one_a_line(casaudit):
    lines = [line.strip() for line in casaudit("--help").stdout.splitlines()]
    for code in ("2", "130", "3", "1", "0"):
        assert any(line.startswith(f"{code} ") for line in lines), f"exit code {code} missing"
    assert any("diff" in line and "1" in line for line in lines if line.startswith("Other commands"))


def test_scan_help_lists_the_exit_codes_one_a_line(casaudit):
    lines = [line.strip() for line in casaudit("scan", "--help").stdout.splitlines()]
    start = lines.index("Exit codes (the first that holds wins):")
    codes = [line.split()[0] for line in lines[start + 1:] if line and line.split()[0].isdigit()]
    assert codes == ["2", "130", "3", "1", "0"]


def test_diff_help_lists_its_exit_codes(casaudit):
    lines = [line.strip() for line in casaudit("diff", "--help").stdout.splitlines()]
    start = lines.index("Exit codes:")
    codes = [line.split()[0] for line in lines[start + 1:] if line and line.split()[0].isdigit()]
    assert codes == ["2", "1", "0"]


# --------------------------------------------------------------------------- --ca-file


def _ca_cases(tmp_path: Path) -> list[tuple[str, str]]:
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    return [
        (str(tmp_path), "is a directory, not a PEM file"),
        ("/dev/null", "contains no PEM certificate"),
        (str(empty), "contains no PEM certificate"),
        (str(garbage), "contains no PEM certificate"),
        (str(tmp_path / "missing.pem"), "no such file"),
    ]


def test_ca_file_says_what_is_wrong_with_it(casaudit, tmp_path):
    for path, problem in _ca_cases(tmp_path):
        line = _one_error_line(casaudit("scan", "mail.example.test", "--ca-file", path, "--no-history"))
        assert line == f"--ca-file {path!r}: {problem}"


def test_a_targets_files_ca_file_says_the_same(casaudit, tmp_path):
    targets = tmp_path / "fleet.toml"
    for path, problem in _ca_cases(tmp_path):
        targets.write_text(f'[[targets]]\nhost = "mail.example.test"\nca_file = "{path}"\n')
        line = _one_error_line(casaudit("scan", "--targets", str(targets), "--no-history"))
        assert line == f"{targets}: targets[0].ca_file: {path!r}: {problem}"


# --------------------------------------------------------------------------- HOST


@pytest.mark.parametrize(("given", "advice"), [
    ("https://mail.example.com/", "a URL: give mail.example.com (ports with --port https=8443)"),
    ("https://mail.example.com:8443/owa", "a URL: give mail.example.com and the port with --port https=8443"),
    ("mail.example.com:443", "a host:port: give mail.example.com and the port with --port https=443"),
    ("mail.example.com:993", "a host:port: give mail.example.com and the port with --port imaps=993"),
    ("[::1]:443", "a host:port: give ::1 and the port with --port https=443"),
])
def test_a_url_or_host_port_for_host_says_how_to_give_it(casaudit, given, advice):
    assert _one_error_line(casaudit("scan", given)) == f"HOST {given!r} is a host name, not {advice}"


def test_a_targets_files_host_gets_the_advice_in_its_own_syntax(casaudit, tmp_path):
    targets = tmp_path / "fleet.toml"
    targets.write_text('[[targets]]\nhost = "mail.example.com:993"\n')
    assert _one_error_line(casaudit("scan", "--targets", str(targets))) == (
        f"{targets}: targets[0].host: host 'mail.example.com:993' is a host name, not a host:port: "
        "give mail.example.com and the port with ports = { imaps = 993 }")


@pytest.mark.parametrize("literal", ["::1", "[::1]", "127.0.0.1"])
def test_ip_literals_stay_valid_hosts(casaudit, tmp_path, literal):
    from casaudit.history import History

    with History(tmp_path / "h.db"):  # `history` reads a database, never creates one
        pass
    ran = casaudit("history", literal, "--db", str(tmp_path / "h.db"))
    assert ran.code == 0, ran.stderr


def test_something_that_is_no_host_at_all_keeps_the_plain_message(casaudit):
    assert _one_error_line(casaudit("scan", "mail example")) == (
        "HOST 'mail example' is not a valid host name or IP address")
