"""A bake's team workflow files, checked offline: CI, Dependabot, pre-commit, .editorconfig.

The GitHub files are validated against the schemas check-jsonschema ships
and audited with zizmor; the pre-commit hooks run for real in a baked git
repository, through the bake's own uv.lock.
"""

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import ROOT, Bake, lint

WORKFLOW, DEPENDABOT = ".github/workflows/ci.yml", ".github/dependabot.yml"
# The default bake, and the smallest: one channel.
VARIANTS = {
    "default": {},
    "chat-only": {"with_rooms": "no", "with_notifications": "no", "with_live_updates": "no"},
}
# Files whose indentation is two spaces (.editorconfig); the rest use four.
TWO_SPACES = {".yml", ".yaml", ".json", ".js", ".ts", ".css", ".html"}


@pytest.fixture(params=list(VARIANTS))
def project(request: pytest.FixtureRequest, bake: Bake) -> Path:
    return bake(**VARIANTS[request.param])


def steps_of(project: Path) -> list[dict[str, Any]]:
    workflow: dict[str, Any] = yaml.safe_load((project / WORKFLOW).read_text())
    (job,) = workflow["jobs"].values()
    steps: list[dict[str, Any]] = job["steps"]
    return steps


def runs_of(project: Path) -> list[str]:
    """The shell scripts of the workflow's `run` steps, in order."""
    return [step["run"] for step in steps_of(project) if "run" in step]


def zizmor(project: Path) -> subprocess.CompletedProcess[str]:
    """zizmor on the whole bake: its workflow, dependabot.yml and pre-commit config."""
    return lint(project, "zizmor", "--offline", "--no-progress", "--color", "never", ".")


def pre_commit(project: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """pre-commit in `project`, made a git repository, with this venv's uv on PATH: the
    hooks install nothing from the network, and uv builds the bake's .venv from its lock."""
    if not (project / ".git").exists():
        subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run(["git", "add", "-A"], cwd=project, check=True)
    return lint(
        project,
        "pre-commit",
        *arguments,
        "--color",
        "never",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        PRE_COMMIT_HOME=str(project.parent / "pre-commit-home"),
        UV_PYTHON_DOWNLOADS="never",
        UV_NO_PROGRESS="1",
    )


def test_the_workflow_and_dependabot_config_pass_their_schemas(project: Path) -> None:
    for path, schema in ((WORKFLOW, "github-workflows"), (DEPENDABOT, "dependabot")):
        result = lint(project, "check-jsonschema", "--builtin-schema", f"vendor.{schema}", path)
        assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing_in_the_workflow_dependabot_or_hooks(project: Path) -> None:
    result = zizmor(project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout
    for audited in (WORKFLOW, DEPENDABOT, ".pre-commit-config.yaml"):
        assert f"completed ./{audited}" in result.stderr, result.stderr


def test_zizmor_catches_an_unpinned_action_and_missing_cooldown(bake: Bake) -> None:
    # Proof that the audit above can fail, and on what it is there for.
    project = bake()
    workflow = project / WORKFLOW
    workflow.write_text(re.sub(r"setup-uv@\w+", "setup-uv@main", workflow.read_text()))
    dependabot = project / DEPENDABOT
    dependabot.write_text(re.sub(r"\n *cooldown:\n.*", "", dependabot.read_text()))
    result = zizmor(project)
    assert result.returncode != 0
    assert "unpinned-uses" in result.stdout
    assert "dependabot-cooldown" in result.stdout


def test_every_action_is_pinned_by_commit_with_read_only_permissions(project: Path) -> None:
    workflow: dict[str, Any] = yaml.safe_load((project / WORKFLOW).read_text())
    assert workflow["permissions"] == {"contents": "read"}
    uses = re.findall(r"uses: (\S+)(.*)", (project / WORKFLOW).read_text())
    assert {action.split("@")[0] for action, _ in uses} == {
        "actions/checkout",
        "astral-sh/setup-uv",
    }
    for action, comment in uses:
        assert re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", action), action
        assert re.fullmatch(r" # v\d+(\.\d+)*", comment), (action, comment)
    (checkout,) = [step for step in steps_of(project) if "checkout" in step.get("uses", "")]
    assert checkout["with"]["persist-credentials"] is False


def test_the_workflow_runs_the_readme_test_commands_and_no_others(project: Path) -> None:
    readme = (project / "README.md").read_text()
    block = readme.split("\n## Tests\n", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [
        command.strip()
        for line in block.splitlines()
        for command in line.split("#", 1)[0].split("&&")
    ]
    assert len(commands) == 5  # uv sync, pytest, ruff check, ruff format, mypy
    one_liners = [run.strip() for run in runs_of(project) if "\n" not in run.strip()]
    assert sorted(one_liners) == sorted(commands)


def test_ci_installs_the_uv_the_template_locks_and_runs_with_ci_true(project: Path) -> None:
    workflow: dict[str, Any] = yaml.safe_load((project / WORKFLOW).read_text())
    assert workflow["env"]["CI"] == "true"  # a missing redis-server or Chromium fails
    (setup_uv,) = [step for step in steps_of(project) if "setup-uv" in step.get("uses", "")]
    (locked,) = re.findall(r"^uv==(\S+)", (ROOT / "requirements-dev.txt").read_text(), re.M)
    assert setup_uv["with"]["version"] == locked
    installs = " ".join(runs_of(project))
    assert "apt-get install -y -qq --no-install-recommends redis-server" in installs
    assert "playwright install --with-deps chromium" in installs
    assert "CHROMIUM=" in installs  # the override azu_ws.testing.browser reads


def test_dependabot_watches_the_lock_the_images_and_the_actions(project: Path) -> None:
    config: dict[str, Any] = yaml.safe_load((project / DEPENDABOT).read_text())
    ecosystems = {update["package-ecosystem"]: update for update in config["updates"]}
    assert ecosystems.keys() == {"uv", "docker", "docker-compose", "github-actions"}
    assert all(update["directory"] == "/" for update in ecosystems.values())
    for watched in ("uv.lock", "Dockerfile", "compose.yaml", WORKFLOW):
        assert (project / watched).is_file(), watched


def test_the_pre_commit_config_is_valid(project: Path) -> None:
    result = pre_commit(project, "validate-config", ".pre-commit-config.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_pre_commit_hooks_pass_on_a_fresh_bake(project: Path) -> None:
    result = pre_commit(project, "run", "--all-files")
    assert result.returncode == 0, result.stdout + result.stderr
    passed = re.findall(r"^(.+?)\.{3,}Passed$", result.stdout, re.M)
    assert passed == ["ruff check", "ruff format", "mypy --strict"]
    # Each ran the version uv.lock pins, from the bake's own .venv.
    lock: dict[str, Any] = tomllib.loads((project / "uv.lock").read_text())
    locked = {package["name"]: package["version"] for package in lock["package"]}
    for tool in ("ruff", "mypy"):
        (installed,) = (project / ".venv").glob(f"lib/python*/site-packages/{tool}-*.dist-info")
        assert installed.name == f"{tool}-{locked[tool]}.dist-info"


def test_the_pre_commit_hooks_refuse_a_lint_error_bad_format_and_a_type_error(
    bake: Bake,
) -> None:
    project = bake()
    bad = project / "src" / "realtime_app" / "bad.py"
    bad.write_text("import os\ndef half( x:int )->str:\n    return x // 2\n")
    result = pre_commit(project, "run", "--all-files")
    assert result.returncode != 0
    failed = re.findall(r"^(.+?)\.{3,}Failed$", result.stdout, re.M)
    assert failed == ["ruff check", "ruff format", "mypy --strict"], result.stdout
    assert "F401" in result.stdout
    assert re.search(r"bad\.py:\d+: error: Incompatible return value", result.stdout)


def test_every_text_file_of_a_bake_keeps_its_editorconfig(project: Path) -> None:
    assert "max_line_length = 100" in (project / ".editorconfig").read_text()
    for path in project.rglob("*"):
        if not path.is_file() or {".git", ".venv"} & set(path.parts) or path.stat().st_size == 0:
            continue
        text, name = path.read_text(encoding="utf-8"), str(path.relative_to(project))
        assert text.endswith("\n"), name
        assert "\r" not in text, name
        lines = text.splitlines()
        if path.suffix != ".md":
            assert all(line == line.rstrip() for line in lines), name
        assert not any(line.startswith("\t") for line in lines), name
        # A doc comment's ` * ` lines sit one space in from their `/**`.
        code = [line for line in lines if not line.lstrip().startswith("*")]
        if path.suffix in TWO_SPACES:
            assert all((len(line) - len(line.lstrip(" "))) % 2 == 0 for line in code), name
