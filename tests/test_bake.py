"""Baking: what lands on disk, for the default answers, custom ones, and bad ones."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import LONG_NAME, Bake, cookiecutter

UNRENDERED = re.compile(r"\{\{ ?cookiecutter\.|\{%")


def test_default_bake_has_no_unrendered_template_syntax(bake: Bake) -> None:
    project = bake()
    leftovers = [
        str(path.relative_to(project))
        for path in project.rglob("*")
        if path.is_file() and UNRENDERED.search(path.read_text(errors="replace") + str(path))
    ]
    assert leftovers == []


def test_default_bake_is_named_from_the_project_name(bake: Bake) -> None:
    project = bake()
    assert project.name == "realtime-app"
    assert (project / "src" / "realtime_app" / "channels" / "chat.py").is_file()
    assert 'name = "realtime-app"' in (project / "pyproject.toml").read_text()


def test_custom_names_are_derived_and_used(bake: Bake) -> None:
    project = bake(**LONG_NAME)
    assert project.name == "acme-live-notifications-service"
    package = project / "src" / "acme_live_notifications_service"
    assert (package / "main.py").is_file()
    assert "Zoë O'Brien" in (project / "pyproject.toml").read_text()


def test_each_bake_gets_its_own_random_secret_and_git_ignores_it(bake: Bake) -> None:
    first, second = bake(), bake()
    secrets = [secret_of(project / ".env") for project in (first, second)]
    assert secrets[0] != secrets[1]
    assert all(len(secret.encode()) >= 32 for secret in secrets)
    assert secret_of(first / ".env.example") == "change-me-to-a-random-secret-of-at-least-32-bytes"
    assert ".env" in (first / ".gitignore").read_text().splitlines()


def secret_of(env_file: Path) -> str:
    (line,) = [line for line in env_file.read_text().splitlines() if line.startswith("JWT_SECRET=")]
    return line.removeprefix("JWT_SECRET=")


@pytest.mark.parametrize(
    ("answers", "complaint"),
    [
        ({"package_name": "fastapi"}, "package_name 'fastapi' is the name of a dependency"),
        ({"project_name": "FastAPI"}, "project_slug 'fastapi' is the name of a dependency"),
        ({"package_name": "json"}, "package_name 'json' is a standard-library module"),
        ({"package_name": "class"}, "package_name 'class' is a Python keyword"),
        ({"package_name": "Chat"}, "package_name 'Chat' must be a lower-case Python identifier"),
        ({"package_name": "my-chat"}, "package_name 'my-chat' must be a lower-case Python"),
        ({"project_slug": "My Chat"}, "project_slug 'My Chat' must be lower case"),
        ({"project_slug": "9lives"}, "project_slug '9lives' must be lower case"),
        ({"project_name": 'The "Best" Chat', "project_slug": "best"}, "may not contain double"),
    ],
)
def test_bad_names_fail_with_one_line_and_leave_nothing(
    tmp_path: Path, answers: dict[str, str], complaint: str
) -> None:
    result = cookiecutter(tmp_path, **answers)
    assert result.returncode != 0
    # cookiecutter adds its own traceback; the hook's line is the one that explains.
    errors = [line for line in result.stderr.splitlines() if line.startswith("azu-ws: ")]
    assert len(errors) == 1, result.stderr
    assert complaint in errors[0]
    assert list(tmp_path.iterdir()) == []


def test_hooks_take_answers_as_data_not_code(bake: Bake) -> None:
    # A name that would be code if pasted into Python unquoted is only data.
    project = bake(description="'''); import os; os._exit(3) #", author_name="O'Hara")
    assert "os._exit(3)" in (project / "pyproject.toml").read_text()


def test_cookiecutter_prompts_are_few_and_human_readable() -> None:
    import json

    from .conftest import ROOT

    spec = json.loads((ROOT / "cookiecutter.json").read_text())
    prompts = spec["__prompts__"]
    questions = [key for key in spec if not key.startswith("_")]
    assert len(questions) <= 6
    assert set(questions) <= set(prompts)


def test_cookiecutter_is_runnable_as_a_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
