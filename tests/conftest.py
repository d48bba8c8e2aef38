"""Baking the template, and running tools inside a bake, for the template's tests."""

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

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
    project: Path, *command: str, timeout: float = 300, **settings: str
) -> subprocess.CompletedProcess[str]:
    """Run a tool of this venv inside a baked project, with `settings` added to its
    environment; the result carries its output."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env.update(settings)
    return subprocess.run(
        [sys.executable, "-m", *command],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def package_of(project: Path) -> str:
    (package,) = (project / "src").iterdir()
    return package.name


def python_in(project: Path, *arguments: str, timeout: float = 60) -> str:
    """This venv's Python on the bake's source (`-m package ...`, `-c ...`), run in the
    project as a user of it would; its output. It must succeed."""
    result = subprocess.run(
        [sys.executable, *arguments],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(project / "src")},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout
