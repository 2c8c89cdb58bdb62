"""The docs work as written: the scheduled-scan recipes run, and the README's option table is one table.

docs/scheduled-scans.md shows the files of docs/recipes/ verbatim; these tests run
or verify those files: the cron job in cron's bare environment against the lab,
the systemd units with `systemd-analyze verify`, the GitHub Actions workflow's
YAML, its install line and its scan step (with GitHub's shell, against the lab).
Only the places a recipe names on a real machine (/opt/casaudit, /etc/casaudit,
/var/lib/casaudit) are moved into a temporary directory.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer.main
import yaml
from markdown_it import MarkdownIt
from packaging.requirements import Requirement

from casaudit.cli import app
from tests.conftest import ROOT, run_cli, validate_scan_document
from tests.fleet_support import silent_entry, target_entry, write_targets
from tests.system_packages import ensure_debian_packages

RECIPES = ROOT / "docs" / "recipes"
PAGE = ROOT / "docs" / "scheduled-scans.md"
# The recipes this page shows; docs/distributed.md shows the others (tests/test_docs_distributed.py)
PAGE_RECIPES = ("crontab", "casaudit.service", "casaudit.timer", "github-actions.yml")
README = ROOT / "README.md"

# Where the recipes expect casaudit and its files on a real machine
INSTALLED_CASAUDIT = "/opt/casaudit/bin/casaudit"
CONFIG_DIR = "/etc/casaudit"
STATE_DIR = "/var/lib/casaudit"

_SHELL_OPERATORS = {"||", "&&", ";", "|", "&"}


def _casaudit_under_test() -> str:
    """The casaudit executable of the environment running the tests (a venv's bin/)."""
    beside_python = Path(sys.executable).parent / "casaudit"
    found = str(beside_python) if beside_python.is_file() else shutil.which("casaudit")
    assert found, "no casaudit executable next to the test interpreter or on PATH"
    return found


def _localised(text: str, install: str, config: Path, state: Path) -> str:
    return (text.replace(INSTALLED_CASAUDIT, install)
            .replace(CONFIG_DIR, str(config))
            .replace(STATE_DIR, str(state)))


def _markdown_tokens(path: Path) -> list[Any]:
    return MarkdownIt("commonmark").enable("table").parse(path.read_text(encoding="utf-8"))


def _casaudit_invocations(script: str) -> list[list[str]]:
    """Every casaudit command line in a shell script, as argv after `casaudit`."""
    invocations = []
    for line in script.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if not words or Path(words[0]).name != "casaudit":
            continue
        argv = []
        for word in words[1:]:
            if word in _SHELL_OPERATORS or re.match(r"^\d?>", word):
                break
            argv.append(word)
        invocations.append(argv)
    return invocations


def _parse_with_the_cli(argv: list[str]) -> dict[str, Any]:
    """Parse `casaudit ARGV` with the CLI's own parser, running nothing: unknown options,
    missing values and bad choices raise as they would for a user."""
    group = typer.main.get_command(app)
    name, *rest = argv
    command = group.commands[name]  # type: ignore[attr-defined]
    with command.make_context(name, list(rest)) as context:
        return dict(context.params)


def _option_values(argv: list[str], option: str) -> list[str]:
    return [argv[i + 1] for i, word in enumerate(argv[:-1]) if word == option]


# -- the page and its recipe files ------------------------------------------------------

def test_the_page_shows_every_recipe_file_verbatim_and_no_other_recipe():
    # Given the fenced blocks of docs/scheduled-scans.md
    fences = [(token.info.strip(), token.content) for token in _markdown_tokens(PAGE)
              if token.type == "fence"]
    recipes = {name: (RECIPES / name).read_text(encoding="utf-8") for name in PAGE_RECIPES}
    # Then each recipe file is one of them, character for character
    shown = [content for _, content in fences]
    for name, text in recipes.items():
        assert text in shown, f"docs/scheduled-scans.md does not show docs/recipes/{name} verbatim"
    # and every cron, unit or workflow block of the page is a recipe file (none can drift)
    for info, content in fences:
        if info in {"cron", "ini", "yaml"}:
            assert content in recipes.values(), f"a ```{info} block is not a file of docs/recipes/"


# -- item 14: GitHub Actions -----------------------------------------------------------

def _workflow() -> dict[Any, Any]:
    return yaml.safe_load((RECIPES / "github-actions.yml").read_text(encoding="utf-8"))


def _steps() -> list[dict[str, Any]]:
    return [step for job in _workflow()["jobs"].values() for step in job["steps"]]


def _scan_step() -> dict[str, Any]:
    (step,) = [step for step in _steps() if "casaudit scan" in step.get("run", "")]
    return step


def test_workflow_has_what_github_needs():
    workflow = _workflow()
    # (YAML 1.1 reads the key `on` as true)
    triggers = workflow.get("on", workflow.get(True))
    assert isinstance(triggers, dict) and "schedule" in triggers
    assert all(isinstance(entry["cron"], str) for entry in triggers["schedule"])
    assert workflow["jobs"]
    for job in workflow["jobs"].values():
        assert job["runs-on"]
        assert job["steps"]
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), step
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w./-]+@v\d+", step["uses"]), step["uses"]


def test_workflow_installs_casaudit_from_its_repository_not_from_the_index():
    # casaudit is not on PyPI: a bare `pip install casaudit` fails on a runner
    variables = _workflow().get("env", {})
    installs = [shlex.split(step["run"]) for step in _steps()
                if re.search(r"\bpip install\b", step.get("run", ""))]
    assert installs, "no step installs casaudit"
    for words in installs:
        wanted = [re.sub(r"\$\{?(\w+)\}?", lambda m: variables[m.group(1)], word)
                  for word in words[2:] if not word.startswith("-")]
        assert wanted
        for requirement in map(Requirement, wanted):
            assert requirement.name == "casaudit"
            assert requirement.url and requirement.url.startswith("git+https://"), str(requirement)
    assert "not on PyPI" in PAGE.read_text(encoding="utf-8")


def test_workflow_commands_use_options_the_cli_has_and_keep_what_they_write():
    # Given the casaudit command of the scan step
    (argv,) = _casaudit_invocations(_scan_step()["run"])
    # Then the CLI's parser accepts it as written
    _parse_with_the_cli(argv)
    # and the cache carries the --db file, the artifact keeps the --json and --html outputs
    (database,) = _option_values(argv, "--db")
    caches = [step["with"]["path"] for step in _steps() if step.get("uses", "").startswith("actions/cache")]
    assert caches and set(caches) == {database}
    (upload,) = [step for step in _steps() if step.get("uses", "").startswith("actions/upload-artifact")]
    kept = {line.strip().rstrip("/") for line in upload["with"]["path"].splitlines() if line.strip()}
    assert set(_option_values(argv, "--json") + _option_values(argv, "--html")) <= kept


def _run_scan_step(checkout: Path) -> subprocess.CompletedProcess[str]:
    """The scan step's script as a runner runs it: `bash --noprofile --norc -eo pipefail`."""
    script = checkout.parent / f"{checkout.name}-step.sh"
    script.write_text(_scan_step()["run"], encoding="utf-8")
    path = f"{Path(_casaudit_under_test()).parent}:/usr/bin:/bin"
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        capture_output=True, text=True, cwd=checkout, timeout=240, stdin=subprocess.DEVNULL,
        env={"PATH": path, **{k: str(v) for k, v in _workflow().get("env", {}).items()}},
    )


def test_workflow_scan_step_fails_on_new_findings_and_on_hosts_not_assessed(legacy_lab, tmp_path):
    # Given a checkout whose fleet is the legacy lab (critical findings), and no history yet
    checkout = tmp_path / "repo"
    (checkout / "casaudit").mkdir(parents=True)
    (checkout / "casaudit" / "accepted.toml").write_text("", encoding="utf-8")
    fleet = checkout / "casaudit" / "fleet.toml"
    write_targets(fleet, target_entry(legacy_lab))

    # When the step runs: every finding is new -> exit 1, the job fails and says why
    first = _run_scan_step(checkout)
    assert first.returncode == 1, first.stderr
    assert "::error::casaudit: new high or critical findings" in first.stdout
    validate_scan_document(json.loads((checkout / "fleet.json").read_text()), "fleet.json")
    assert (checkout / "html" / "index.html").is_file()

    # When it runs again with the history restored: nothing new -> exit 0, the job passes
    second = _run_scan_step(checkout)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "::error::" not in second.stdout

    # When a host of the fleet answers nothing: exit 3 (it wins over findings, docs/verdicts.md),
    # and the job fails rather than tolerating it
    write_targets(fleet, target_entry(legacy_lab), silent_entry())
    third = _run_scan_step(checkout)
    assert third.returncode == 3, third.stdout + third.stderr
    assert "::error::casaudit: a host could not be assessed" in third.stdout


# -- item 15: cron ---------------------------------------------------------------------

def _cron_job() -> tuple[dict[str, str], str, str]:
    """(the crontab's variables, the job's user, the job's command) of docs/recipes/crontab."""
    variables: dict[str, str] = {}
    jobs = []
    for line in (RECIPES / "crontab").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if assignment := re.fullmatch(r"([A-Z_]+)=(.*)", line):
            variables[assignment.group(1)] = assignment.group(2)
        else:
            jobs.append(line)
    (job,) = jobs
    *schedule, user, command = job.split(None, 6)
    assert len(schedule) == 5, job
    return variables, user, command


def test_cron_job_is_for_cron_d_and_calls_casaudit_by_its_absolute_path():
    variables, user, command = _cron_job()
    # /etc/cron.d lines name their user; cron turns a bare % into a newline
    assert user == "casaudit"
    assert "%" not in command
    (argv,) = _casaudit_invocations(command)
    assert command.split()[0] == INSTALLED_CASAUDIT
    _parse_with_the_cli(argv)
    # cron's environment has no XDG_DATA_HOME (and a different HOME per user): name the database
    assert _option_values(argv, "--db") == [f"{STATE_DIR}/history.sqlite3"]
    assert variables["SHELL"] == "/bin/sh"
    # the directory it writes to is the account's home, made when the page creates the account
    page = PAGE.read_text(encoding="utf-8")
    assert f"--create-home --home-dir {STATE_DIR}" in page and f"{STATE_DIR} {user}" in page


def test_cron_job_runs_in_cron_s_bare_environment_and_speaks_only_when_something_is_new(
    legacy_lab, tmp_path
):
    # Given the job's command, with the install, config and state places moved to tmp_path
    # (the state directory exists: it is the casaudit account's home)
    variables, _, command = _cron_job()
    config, state = tmp_path / "etc", tmp_path / "state"
    config.mkdir()
    state.mkdir()
    write_targets(config / "fleet.toml", target_entry(legacy_lab))
    (config / "accepted.toml").write_text("", encoding="utf-8")
    local = _localised(command, _casaudit_under_test(), config, state)

    def run_job() -> subprocess.CompletedProcess[str]:
        # as cron does: an empty environment plus the crontab's variables, the line given to SHELL
        assigned = [f"{name}={value}" for name, value in variables.items()]
        return subprocess.run(["env", "-i", *assigned, variables["SHELL"], "-c", local],
                              capture_output=True, text=True, cwd=tmp_path, timeout=240,
                              stdin=subprocess.DEVNULL)

    # When cron runs it the first time: the findings are new, so it prints (cron mails that)
    first = run_job()
    assert first.returncode == 0, first.stderr
    assert legacy_lab.host in first.stdout and "not found" not in first.stdout, first.stdout
    assert first.stdout == (state / "last.txt").read_text(encoding="utf-8")
    validate_scan_document(json.loads((state / "last.json").read_text()), "last.json")
    assert (state / "html" / "index.html").is_file()
    assert (state / "history.sqlite3").is_file()

    # When it runs the next night with nothing new: silence, so no mail
    second = run_job()
    assert second.returncode == 0
    assert (second.stdout, second.stderr) == ("", "")


# -- item 15: systemd ------------------------------------------------------------------

def _unit(name: str) -> dict[str, dict[str, str]]:
    """A unit file's sections and keys, with backslash-continued lines joined."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    text = (RECIPES / name).read_text(encoding="utf-8").replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if section := re.fullmatch(r"\[(\w+)\]", line):
            current = sections.setdefault(section.group(1), {})
        else:
            key, value = line.split("=", 1)
            current[key] = value
    return sections


def test_service_runs_as_a_dynamic_user_writing_only_to_its_state_directory():
    service = _unit("casaudit.service")["Service"]
    # no account to create: systemd makes one per run, and StateDirectory= its writable place
    assert service["DynamicUser"] == "yes"
    assert "User" not in service
    assert service["StateDirectory"] == "casaudit"
    assert service["ProtectSystem"] == "strict"
    (argv,) = _casaudit_invocations(service["ExecStart"])
    assert service["ExecStart"].split()[0] == INSTALLED_CASAUDIT
    _parse_with_the_cli(argv)
    # ProtectSystem=strict leaves only the state directory writable: every output goes there
    written = [value for option in ("--db", "--json", "--html") for value in _option_values(argv, option)]
    assert written and all(value.startswith(f"{STATE_DIR}/") for value in written), written
    assert _unit("casaudit.timer")["Timer"]["OnCalendar"]


def test_service_and_timer_pass_systemd_analyze_verify(tmp_path):
    systemd_analyze = ensure_debian_packages("systemd-analyze", "systemd")
    # verify checks that ExecStart's binary exists: point it at this environment's casaudit
    for name in ("casaudit.service", "casaudit.timer"):
        text = (RECIPES / name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(text.replace(INSTALLED_CASAUDIT, _casaudit_under_test()),
                                     encoding="utf-8")
    done = subprocess.run([systemd_analyze, "verify", str(tmp_path / "casaudit.service"),
                           str(tmp_path / "casaudit.timer")],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    complaints = [line for line in (done.stdout + done.stderr).splitlines()
                  if "casaudit" in line or str(tmp_path) in line]
    assert done.returncode == 0 and not complaints, done.stdout + done.stderr


# -- item 16: the README's option table ------------------------------------------------

def _scan_options() -> set[str]:
    """The options `casaudit scan --help` lists (its Options: section)."""
    run = run_cli("scan", "--help")
    assert run.code == 0, run.stderr
    section = run.stdout.split("\nOptions:\n", 1)[1].split("\n\n", 1)[0]
    options = set(re.findall(r"^  (--[a-z][a-z0-9-]*)", section, flags=re.MULTILINE))
    return options - {"--help"}


def _tables(tokens: list[Any]) -> list[list[list[str]]]:
    """Each table of a parsed Markdown document: its rows, each a list of cell texts."""
    tables: list[list[list[str]]] = []
    row: list[str] = []
    for index, token in enumerate(tokens):
        if token.type == "table_open":
            tables.append([])
        elif token.type == "tr_open":
            row = []
        elif token.type in ("th_open", "td_open"):
            row.append(tokens[index + 1].content)
        elif token.type == "tr_close":
            tables[-1].append(row)
    return tables


def _options_in(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text))


def test_readme_option_table_has_a_row_for_every_scan_option_and_only_real_ones():
    tokens = _markdown_tokens(README)
    (table,) = [table for table in _tables(tokens) if table[0][0] == "option"]
    documented = set().union(*(_options_in(row[0]) for row in table[1:]))
    options = _scan_options()
    # every option of `casaudit scan` is a row of the table (not text after it)
    assert options - documented == set()
    assert documented - options == set()
    # and no would-be row sits in a paragraph, where it renders as plain text
    paragraphs = [tokens[i + 1].content for i, token in enumerate(tokens) if token.type == "paragraph_open"]
    stray = [line for text in paragraphs for line in text.splitlines() if line.lstrip().startswith("|")]
    assert stray == []
