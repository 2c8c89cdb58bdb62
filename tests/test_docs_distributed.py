"""docs/distributed.md works as written: its recipes are shown verbatim and hold up.

The page shows docs/recipes/casaudit-worker.service and kubernetes-workers.yaml
character for character; these tests verify the unit with `systemd-analyze verify`,
read the Kubernetes manifests (kinds, the Indexed Job's shards, the grace period
against the per-host deadline, the variables each command expands), and check that
every casaudit subcommand and option the page and its recipes use is one the CLI's
`--help` lists. The worker side of #18 (`casaudit worker`, `scan --broker/--detach`,
`run-status`, `report --run`) is being built alongside: the checks of those pieces
are expected failures until it lands, kept apart from the checks that hold today.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from typer.testing import CliRunner

from casaudit.cli import app
from casaudit.shard import JOB_INDEX_VARIABLE, parse_shard
from casaudit.targets import BUILT_IN
from tests.conftest import ROOT
from tests.system_packages import ensure_debian_packages
from tests.test_docs_recipes import (
    INSTALLED_CASAUDIT,
    PAGE_RECIPES,
    README,
    RECIPES,
    _casaudit_invocations,
    _casaudit_under_test,
    _markdown_tokens,
    _option_values,
    _parse_with_the_cli,
    _unit,
)
from tests.test_docs_recipes import PAGE as SCHEDULED_PAGE

PAGE = ROOT / "docs" / "distributed.md"
WORKER_UNIT = "casaudit-worker.service"
KUBERNETES = "kubernetes-workers.yaml"
DISTRIBUTED_RECIPES = (WORKER_UNIT, KUBERNETES)



def _fences(path: Path) -> list[tuple[str, str]]:
    return [(token.info.strip(), token.content) for token in _markdown_tokens(path) if token.type == "fence"]


def _manifests() -> list[dict[str, Any]]:
    return list(yaml.safe_load_all((RECIPES / KUBERNETES).read_text(encoding="utf-8")))


def _manifest(kind: str) -> dict[str, Any]:
    (found,) = [document for document in _manifests() if document["kind"] == kind]
    return found


def _pod_spec(document: dict[str, Any]) -> dict[str, Any]:
    if document["kind"] == "CronJob":
        return document["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return document["spec"]["template"]["spec"]


def _containers() -> list[dict[str, Any]]:
    return [container for document in _manifests() for container in _pod_spec(document)["containers"]]


def _documented_command_lines() -> list[list[str]]:
    """Every casaudit command line of the page and its recipes, as argv after `casaudit`."""
    lines = []
    for info, content in _fences(PAGE):
        if info == "sh":
            lines.extend(_casaudit_invocations(content))
    lines.extend(_casaudit_invocations(_unit(WORKER_UNIT)["Service"]["ExecStart"]))
    lines.extend(container["command"][1:] for container in _containers())
    return lines


def _uses() -> list[Any]:
    """(subcommand, option) for every option of every documented command line, and
    (subcommand, None) for the subcommand itself."""
    uses: set[tuple[str, str | None]] = set()
    for subcommand, *rest in _documented_command_lines():
        uses.add((subcommand, None))
        uses.update((subcommand, word) for word in rest if word.startswith("--"))
    return [pytest.param(subcommand, option, id=f"{subcommand} {option or ''}".strip())
            for subcommand, option in sorted(uses, key=lambda use: (use[0], use[1] or ""))]


def _command_lines() -> list[Any]:
    return [pytest.param(argv, id=" ".join(argv))
            for argv in _documented_command_lines()]


def _help_options(subcommand: str) -> set[str]:
    """The options `casaudit SUBCOMMAND --help` lists (its Options: section), via the CLI's app."""
    run = CliRunner().invoke(app, [subcommand, "--help"])
    assert run.exit_code == 0, f"casaudit {subcommand} --help: {run.output.strip()[-300:]}"
    section = run.output.split("\nOptions:\n", 1)[1].split("\n\n", 1)[0]
    return set(re.findall(r"^ {2}(?:-\w, )?(--[a-z][a-z0-9-]*)", section, flags=re.MULTILINE))


# -- the page, its recipes and its links ---------------------------------------------------

def test_the_page_shows_its_recipe_files_verbatim_and_every_recipe_file_has_a_page():
    fences = _fences(PAGE)
    recipes = {name: (RECIPES / name).read_text(encoding="utf-8") for name in DISTRIBUTED_RECIPES}
    shown = [content for _, content in fences]
    for name, text in recipes.items():
        assert text in shown, f"docs/distributed.md does not show docs/recipes/{name} verbatim"
    # every unit or manifest block of the page is a recipe file (none can drift)
    for info, content in fences:
        if info in {"ini", "yaml"}:
            assert content in recipes.values(), f"a ```{info} block is not a file of docs/recipes/"
    # and no recipe file is shown by neither page
    assert {path.name for path in RECIPES.iterdir()} == set(PAGE_RECIPES) | set(DISTRIBUTED_RECIPES)


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower-case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    tokens = _markdown_tokens(path)
    return {_slug(tokens[i + 1].content) for i, token in enumerate(tokens) if token.type == "heading_open"}


def test_the_page_is_linked_from_the_readme_and_its_links_lead_somewhere():
    assert "](docs/distributed.md)" in README.read_text(encoding="utf-8")
    assert "](distributed.md)" in SCHEDULED_PAGE.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)\s]+)\)", PAGE.read_text(encoding="utf-8"))
    assert links
    for link in links:
        target, _, anchor = link.partition("#")
        path = (PAGE.parent / target).resolve() if target else PAGE
        assert path.exists(), f"docs/distributed.md links to {link}, which does not exist"
        if anchor:
            assert anchor in _anchors(path), f"docs/distributed.md links to {link}: no such heading"


def test_the_page_installs_the_distributed_extra_from_the_repository_not_from_the_index():
    # casaudit is not on PyPI: `pip install 'casaudit[distributed]'` alone would fail
    installs = [shlex.split(line) for info, content in _fences(PAGE) if info == "sh"
                for line in content.splitlines() if re.search(r"\bpip install\b", line)]
    assert installs
    for words in installs:
        (wanted,) = [word for word in words[words.index("install") + 1:] if not word.startswith("-")]
        requirement = Requirement(wanted)
        assert requirement.name == "casaudit" and requirement.extras == {"distributed"}
        assert requirement.url and requirement.url.startswith("git+https://"), wanted


# -- the worker's systemd unit -------------------------------------------------------------

def test_worker_unit_keeps_its_urls_off_the_command_line_and_outlasts_the_deadline_on_stop():
    service = _unit(WORKER_UNIT)["Service"]
    # a throw-away account; the broker and history URLs (with passwords) from a file, not argv
    assert service["DynamicUser"] == "yes" and "User" not in service
    assert service["EnvironmentFile"] == "/etc/casaudit/worker.env"
    assert service["ExecStart"].split()[0] == INSTALLED_CASAUDIT
    (argv,) = _casaudit_invocations(service["ExecStart"])
    assert argv[0] == "worker"
    assert not {"--broker", "--db"} & set(argv)
    assert not re.search(r"redis://|postgresql://", service["ExecStart"])
    # SIGTERM is the warm shutdown; systemd waits longer than one host's deadline for it
    assert service["KillSignal"] == "SIGTERM"
    assert int(service["TimeoutStopSec"]) > BUILT_IN.deadline
    assert service["Restart"] == "on-failure"
    for hardening in ("NoNewPrivileges", "ProtectHome", "PrivateTmp"):
        assert service[hardening] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert _unit(WORKER_UNIT)["Install"]["WantedBy"] == "multi-user.target"


def test_worker_unit_passes_systemd_analyze_verify(tmp_path):
    systemd_analyze = ensure_debian_packages("systemd-analyze", "systemd")
    # verify checks that ExecStart's binary exists: point it at this environment's casaudit
    unit = tmp_path / WORKER_UNIT
    text = (RECIPES / WORKER_UNIT).read_text(encoding="utf-8")
    unit.write_text(text.replace(INSTALLED_CASAUDIT, _casaudit_under_test()), encoding="utf-8")
    done = subprocess.run([systemd_analyze, "verify", str(unit)],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    complaints = [line for line in (done.stdout + done.stderr).splitlines()
                  if "casaudit" in line or str(tmp_path) in line]
    assert done.returncode == 0 and not complaints, done.stdout + done.stderr


# -- the Kubernetes manifests --------------------------------------------------------------

def test_kubernetes_recipe_is_a_worker_deployment_a_nightly_submitter_and_an_indexed_job():
    assert [document["kind"] for document in _manifests()] == ["Deployment", "CronJob", "Job"]
    for document in _manifests():
        assert document["apiVersion"] in {"apps/v1", "batch/v1"} and document["metadata"]["name"]

    workers = _manifest("Deployment")
    assert workers["spec"]["replicas"] == 2
    pod = _pod_spec(workers)
    # Kubernetes sends SIGTERM, then SIGKILL after the grace period: longer than one host's deadline
    assert pod["terminationGracePeriodSeconds"] > BUILT_IN.deadline
    (worker,) = pod["containers"]
    assert worker["command"] == ["casaudit", "worker", "--parallel", "16"]
    assert worker["resources"]["requests"]["cpu"] == "1"
    secrets = {variable["name"]: variable["valueFrom"]["secretKeyRef"] for variable in worker["env"]}
    assert secrets == {"CASAUDIT_BROKER": {"name": "casaudit", "key": "broker"},
                       "CASAUDIT_DB": {"name": "casaudit", "key": "db"}}

    submitter = _manifest("CronJob")
    assert submitter["spec"]["schedule"]
    (submit,) = _pod_spec(submitter)["containers"]
    assert submit["command"][:2] == ["casaudit", "scan"] and "--detach" in submit["command"]
    # a retried submission would enqueue the fleet again, as a second run
    assert submitter["spec"]["jobTemplate"]["spec"]["backoffLimit"] == 0
    assert _pod_spec(submitter)["restartPolicy"] == "Never"
    # its targets file comes from the ConfigMap mounted where the command reads it
    (targets,) = _option_values(submit["command"], "--targets")
    (mount,) = submit["volumeMounts"]
    assert targets.startswith(mount["mountPath"] + "/")
    volumes = {volume["name"]: volume for volume in _pod_spec(submitter)["volumes"]}
    assert volumes[mount["name"]]["configMap"]["name"]


def test_every_container_runs_casaudit_and_expands_only_variables_it_has():
    for container in _containers():
        assert container["command"][0] == "casaudit", container["name"]
        # Kubernetes leaves an undefined $(NAME) as it is: the URL would be the literal text
        defined = {variable["name"] for variable in container.get("env", [])}
        used = set(re.findall(r"\$\((\w+)\)", " ".join(container["command"])))
        assert used <= defined, f"{container['name']} expands {used - defined}, not in its env"


def test_the_indexed_job_runs_one_pod_per_shard_and_each_shard_once():
    job = _manifest("Job")
    (scan,) = _pod_spec(job)["containers"]
    (shard,) = _option_values(scan["command"], "--shard")
    match = re.fullmatch(r"job/(\d+)", shard)
    assert match, shard
    count = int(match.group(1))
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == count == job["spec"]["parallelism"]
    # the pods' JOB_COMPLETION_INDEX 0..completions-1 name every shard 1..N exactly once
    shards = [parse_shard(shard, {JOB_INDEX_VARIABLE: str(index)})
              for index in range(job["spec"]["completions"])]
    assert sorted(found.index for found in shards) == list(range(1, count + 1))
    # exit 1 and 3 are results: that shard fails without a rescan (needs restartPolicy Never)
    (rule,) = job["spec"]["podFailurePolicy"]["rules"]
    assert rule["action"] == "FailIndex" and sorted(rule["onExitCodes"]["values"]) == [1, 3]
    assert "backoffLimitPerIndex" in job["spec"]
    assert _pod_spec(job)["restartPolicy"] == "Never"
    assert "--db" in scan["command"]


# -- every command the page and its recipes give is one the CLI has ------------------------

@pytest.mark.parametrize(("subcommand", "option"), _uses())
def test_each_subcommand_and_option_the_docs_use_is_in_its_help(subcommand, option):
    options = _help_options(subcommand)
    if option is not None:
        assert option in options, f"casaudit {subcommand} --help lists no {option}"


@pytest.mark.parametrize("argv", _command_lines())
def test_each_documented_command_line_parses_as_written(argv, monkeypatch):
    # The worker's --broker and --db come from the environment, as the unit's EnvironmentFile
    # and the Deployment's Secret give them.
    monkeypatch.setenv("CASAUDIT_BROKER", "redis://broker.example.test:6379/0")
    monkeypatch.setenv("CASAUDIT_DB", "postgresql://casaudit@db.example.test/casaudit")
    _parse_with_the_cli(argv)
