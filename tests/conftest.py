"""Baking the template, and running tools inside a bake, for the template's tests."""

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The runtime's suites run inside a baked project (tests/test_runtime_suite.py), not here.
collect_ignore = ["runtime"]

# Custom answers that stretch the template: a long name makes every import
# line longer, which is where formatting breaks first.
LONG_NAME = {"project_name": "Acme Live Notifications Service", "author_name": "Zoë O'Brien"}

Bake = Callable[..., Path]


def cookiecutter(output: Path, **answers: str) -> subprocess.CompletedProcess[str]:
    """Run cookiecutter as a user would, without prompts."""
    extra = [f"{key}={value}" for key, value in answers.items()]
    command = [sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(output), str(ROOT)]
    return subprocess.run(
        [*command, *extra], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def bake(tmp_path_factory: pytest.TempPathFactory) -> Bake:
    """Bake with the given answers; return the project directory."""

    def bake(**answers: str) -> Path:
        output = tmp_path_factory.mktemp("bake")
        result = cookiecutter(output, **answers)
        assert result.returncode == 0, result.stderr
        (project,) = output.iterdir()
        return project

    return bake


def run_in(
    project: Path,
    *command: str,
    timeout: float = 300,
    python: Path = Path(sys.executable),
    **settings: str,
) -> subprocess.CompletedProcess[str]:
    """Run a tool (`python -m tool ...`) inside a baked project, with `settings` added to
    its environment; the result carries its output. `python` is this venv's unless given."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env.pop("VIRTUAL_ENV", None)
    env.update(settings)
    return subprocess.run(
        [str(python), "-m", *command],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def pass_the_gates(
    project: Path, tmp_path: Path, label: str, python: Path = Path(sys.executable)
) -> subprocess.CompletedProcess[str]:
    """ruff, ruff format, mypy --strict and pytest in `project`, each of which must pass,
    with `python`'s tools; pytest's result."""
    gates = {
        "ruff check": ("ruff", "check", "--no-cache", "."),
        "ruff format": ("ruff", "format", "--check", "--no-cache", "."),
        "mypy": ("mypy", "--strict", "--no-incremental"),
        # Its own basetemp: concurrent pytest runs prune each other's shared one.
        "pytest": ("pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={tmp_path / 'pytest'}"),
    }
    # The browser tests' screenshots, kept where CI can pick them up: artifacts/<label>/.
    artifacts = str(ROOT / "artifacts" / label.replace(" ", "-"))
    for gate, command in gates.items():
        outcome = run_in(project, *command, python=python, BROWSER_ARTIFACTS=artifacts)
        output = outcome.stdout[-5000:] + outcome.stderr[-2000:]
        assert outcome.returncode == 0, f"{label}: {gate} failed:\n{output}"
    return outcome


def uv(project: Path, *arguments: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """The locked uv of this venv, run in `project`; it must succeed."""
    env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    env.update({"UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1", **settings})
    command = [str(Path(sys.executable).parent / "uv"), *arguments]
    result = subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}{result.stderr}"
    return result


def lint(
    project: Path, tool: str, *arguments: str, **settings: str
) -> subprocess.CompletedProcess[str]:
    """Run a linter installed beside this Python in `project`, with `settings` added to its
    environment; a missing one fails: it is a dev requirement."""
    executable = Path(sys.executable).parent / tool
    assert executable.is_file(), f"{tool} is missing: python3 scripts/dev.py test installs it"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env.pop("VIRTUAL_ENV", None)
    env.update(settings)
    command = [str(executable), *arguments]
    return subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def package_of(project: Path) -> str:
    """The app's package: the one beside the runtime (`azu_ws`) in src/."""
    (package,) = [path for path in (project / "src").iterdir() if path.name != "azu_ws"]
    return package.name


def python_in(
    project: Path, *arguments: str, timeout: float = 60, python: Path = Path(sys.executable)
) -> str:
    """`python` (this venv's unless given) on the bake's source (`-m package ...`, `-c ...`),
    run in the project as a user of it would; its output. It must succeed."""
    result = subprocess.run(
        [str(python), *arguments],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(project / "src")},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout
