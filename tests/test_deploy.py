"""Deployment files of a bake, checked offline, and what the `default_broker` answer changes.

No Docker engine here: compose.yaml is validated against the compose
specification's schema and the Dockerfile with hadolint, both from
requirements-dev.txt.
"""

import fnmatch
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import LONG_NAME, ROOT, Bake, lint, package_of, uv

# (default_broker, with_notifications): every shape compose.yaml takes.
SHAPES = list(itertools.product(("memory", "redis"), ("yes", "no")))


def check_compose(project: Path) -> subprocess.CompletedProcess[str]:
    schema = ("--builtin-schema", "vendor.compose-spec")
    return lint(project, "check-jsonschema", *schema, "compose.yaml")


def check_dockerfile(project: Path) -> subprocess.CompletedProcess[str]:
    return lint(project, "hadolint", "--no-color", "Dockerfile")


@pytest.mark.parametrize(("broker", "notifications"), SHAPES)
def test_compose_and_dockerfile_pass_their_linters(
    bake: Bake, broker: str, notifications: str
) -> None:
    project = bake(default_broker=broker, with_notifications=notifications)
    for result in (check_compose(project), check_dockerfile(project)):
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_linters_catch_a_broken_compose_file_and_a_root_user(bake: Bake) -> None:
    # Proof that the checks above can fail, and on what they are there for.
    project = bake()
    compose = project / "compose.yaml"
    compose.write_text(compose.read_text().replace("build: .", "build: [.]"))
    dockerfile = project / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "USER root\n")
    assert check_compose(project).returncode != 0
    result = check_dockerfile(project)
    assert result.returncode != 0
    assert "DL3002" in result.stdout  # last USER should not be root


@pytest.mark.parametrize(
    ("broker", "broker_url", "database_url"),
    [
        ("memory", "memory://", "sqlite:///data/app.db"),
        ("redis", "redis://localhost:6379/0", "redis://localhost:6379/0"),
    ],
)
def test_the_broker_answer_sets_the_urls_of_env_and_env_example(
    bake: Bake, broker: str, broker_url: str, database_url: str
) -> None:
    project = bake(default_broker=broker)
    for name in (".env", ".env.example"):
        assert setting(project / name, "BROKER_URL") == broker_url, name
        assert setting(project / name, "DATABASE_URL") == database_url, name


@pytest.mark.parametrize(
    ("broker", "broker_url", "database_url"),
    [
        ("memory", "memory://", "sqlite:///data/app.db"),
        ("redis", "redis://redis:6379/0", "redis://redis:6379/0"),
    ],
)
def test_compose_runs_the_app_in_production_on_the_chosen_broker(
    bake: Bake, broker: str, broker_url: str, database_url: str
) -> None:
    environment = services(bake(default_broker=broker))["app"]["environment"]
    assert environment == {
        "ENVIRONMENT": "production",
        # Compose refuses to start without a secret: none is ever written down.
        "JWT_SECRET": "${JWT_SECRET:?set JWT_SECRET}",
        "BROKER_URL": broker_url,
        "DATABASE_URL": database_url,
    }


def test_compose_starts_redis_and_waits_for_it_only_with_the_redis_broker(bake: Bake) -> None:
    memory, redis = services(bake()), services(bake(default_broker="redis"))
    assert set(memory) == {"app"}
    assert "depends_on" not in memory["app"]
    assert set(redis) == {"app", "redis"}
    assert re.fullmatch(r"redis:\d+\.\d+\.\d+-alpine", redis["redis"]["image"])
    assert redis["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert redis["app"]["depends_on"] == {"redis": {"condition": "service_healthy"}}


@pytest.mark.parametrize("broker", ["memory", "redis"])
def test_without_notifications_compose_has_no_database_and_no_volume(
    bake: Bake, broker: str
) -> None:
    compose = load_compose(bake(default_broker=broker, with_notifications="no"))
    assert "DATABASE_URL" not in compose["services"]["app"]["environment"]
    assert "volumes" not in compose
    assert all("volumes" not in service for service in compose["services"].values())


def test_the_sqlite_store_is_on_a_volume_the_app_user_owns(bake: Bake) -> None:
    project = bake()
    compose = load_compose(project)
    assert compose["services"]["app"]["volumes"] == ["data:/app/data"]
    assert set(compose["volumes"]) == {"data"}
    # sqlite:///data/app.db is relative to the working directory.
    assert last(project, "WORKDIR") == "/app"
    user = last(project, "USER")
    assert user.split(":")[0] not in ("root", "0")
    assert any(f"chown {user} data" in run for run in instructions(project, "RUN"))


def test_redis_keeps_stored_notifications_on_a_volume(bake: Bake) -> None:
    compose = load_compose(bake(default_broker="redis"))
    redis = compose["services"]["redis"]
    assert "--appendonly" in redis["command"]
    assert redis["volumes"] == ["redis-data:/data"]
    assert set(compose["volumes"]) == {"redis-data"}


def test_the_image_serves_the_baked_package_in_production(bake: Bake) -> None:
    project = bake(**LONG_NAME)
    serve = ["serve", "--host", "0.0.0.0", "--port", "8000"]  # noqa: S104 - in a container
    assert json.loads(last(project, "CMD")) == ["python", "-m", package_of(project), *serve]
    assert last(project, "FROM") == "python:3.12.12-slim"
    assert last(project, "EXPOSE") == "8000"
    assert "ENVIRONMENT=production" in last(project, "ENV").split()
    healthcheck = last(project, "HEALTHCHECK")
    assert "urllib.request" in healthcheck
    assert "http://127.0.0.1:8000/healthz" in healthcheck


def test_every_image_is_pinned_to_a_version_and_uv_to_the_one_the_template_locks(
    bake: Bake,
) -> None:
    project = bake(default_broker="redis")
    images = [line.split()[0] for line in instructions(project, "FROM")]
    images += [service["image"] for service in services(project).values() if "image" in service]
    unpinned = [i for i in images if not re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+[\w.-]*", i)]
    assert len(images) == 3  # build stage, image, redis
    assert unpinned == []
    (pin,) = re.findall(r"\buv==(\S+)", (project / "Dockerfile").read_text())
    (locked,) = re.findall(r"^uv==(\S+)", (ROOT / "requirements-dev.txt").read_text(), re.M)
    assert pin == locked


def test_the_build_stage_installs_the_locked_dependencies_before_the_sources(
    bake: Bake, tmp_path: Path
) -> None:
    """The build stage's COPY, ENV and `uv sync` steps, replayed in order in a scratch
    folder: the first install sees nothing but pyproject.toml and uv.lock."""
    project = bake()
    workdir, venv = tmp_path / "app", tmp_path / "venv"
    workdir.mkdir()
    env: dict[str, str] = {}
    build_stage = ("\n" + dockerfile(project)).split("\nFROM ")[1]
    for line in build_stage.splitlines()[1:]:
        keyword, _, arguments = line.partition(" ")
        if keyword == "ENV":
            for pair in arguments.split():
                name, value = pair.split("=", 1)
                env[name] = value
        elif keyword == "COPY":
            *sources, _ = arguments.split()
            for source in sources:
                copy = shutil.copytree if (project / source).is_dir() else shutil.copyfile
                copy(project / source, workdir / source.rstrip("/"))
        elif keyword == "RUN" and arguments.startswith("uv sync"):
            present = sorted(path.name for path in workdir.iterdir())
            env["UV_PROJECT_ENVIRONMENT"] = str(venv)
            uv(workdir, *arguments.split()[1:], **env)
            if "--no-install-project" in arguments:
                assert present == ["pyproject.toml", "uv.lock"]
    installed = subprocess.run(
        [venv / "bin" / "python", "-c", f"import {package_of(project)} as p; print(p.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        env={key: value for key, value in os.environ.items() if key != "PYTHONPATH"},
    )
    assert "/site-packages/" in installed.stdout  # the package itself, not an editable link


def test_the_build_context_holds_the_package_but_no_secret_or_local_state(bake: Bake) -> None:
    project = bake()
    package = package_of(project)
    for local in (".venv/bin/python", "data/app.db", f"src/{package}/__pycache__/app.pyc"):
        (project / local).parent.mkdir(parents=True, exist_ok=True)
        (project / local).write_text("")
    context = build_context(project)
    assert {"pyproject.toml", "uv.lock", "README.md", f"src/{package}/main.py"} <= context
    assert ".env" not in context
    leaked = [name for name in context if name.startswith((".venv/", "data/", "tests/"))]
    assert leaked == []
    assert not any("__pycache__" in name for name in context)


def test_a_replayed_unknown_broker_fails_with_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    # On the command line cookiecutter itself refuses a choice it does not
    # list; a replay file reaches the hook unchecked.
    answers = {
        "project_name": "Realtime App",
        "project_slug": "realtime-app",
        "package_name": "realtime_app",
        "description": "A real-time app.",
        "author_name": "Your Name",
        "with_chat": True,
        "with_rooms": True,
        "with_notifications": True,
        "with_live_updates": True,
        "default_broker": "kafka",
    }
    replay, output = tmp_path / "answers.json", tmp_path / "out"
    replay.write_text(json.dumps({"cookiecutter": answers}))
    output.mkdir()
    command = [sys.executable, "-m", "cookiecutter", "--replay-file", str(replay)]
    result = subprocess.run(
        [*command, "-o", str(output), str(ROOT)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("azu-ws: ")]
    assert errors == ["azu-ws: default_broker 'kafka' must be one of memory, redis"], result.stderr
    assert list(output.iterdir()) == []


def setting(env_file: Path, name: str) -> str:
    (line,) = [line for line in env_file.read_text().splitlines() if line.startswith(f"{name}=")]
    return line.removeprefix(f"{name}=")


def load_compose(project: Path) -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load((project / "compose.yaml").read_text())
    return compose


def services(project: Path) -> dict[str, Any]:
    found: dict[str, Any] = load_compose(project)["services"]
    return found


def dockerfile(project: Path) -> str:
    """The Dockerfile's instructions, one a line: continuations joined, comments dropped."""
    text = (project / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return "\n".join(line for line in lines if line and not line.startswith("#"))


def instructions(project: Path, keyword: str) -> list[str]:
    """The arguments of each `keyword` instruction of the Dockerfile."""
    lines = [line.split(maxsplit=1) for line in dockerfile(project).splitlines()]
    return [" ".join(rest[0].split()) for word, *rest in lines if word == keyword]


def last(project: Path, keyword: str) -> str:
    return instructions(project, keyword)[-1]


def build_context(project: Path) -> set[str]:
    """The files `docker build` sends, by .dockerignore: the last pattern that matches wins.

    Docker's rules, as far as this template's patterns need them: a pattern
    that matches a directory matches everything under it.
    """
    lines = (project / ".dockerignore").read_text().splitlines()
    patterns = [line for line in lines if line and not line.startswith("#")]
    context = set()
    for path in project.rglob("*"):
        if not path.is_file():
            continue
        name = path.relative_to(project).as_posix()
        parts = name.split("/")
        prefixes = ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]
        ignored = False
        for pattern in patterns:
            if any(fnmatch.fnmatchcase(prefix, pattern.removeprefix("!")) for prefix in prefixes):
                ignored = not pattern.startswith("!")
        if not ignored:
            context.add(name)
    return context
