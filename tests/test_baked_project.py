"""Inside each bake, the project's own gates pass: ruff, ruff format, mypy --strict, pytest."""

import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from .conftest import (
    LONG_NAME,
    Bake,
    cookiecutter,
    package_of,
    pass_the_gates,
    python_in,
    run_in,
    uv,
)

CHANNEL_OPTIONS = ("with_chat", "with_rooms", "with_notifications", "with_live_updates")
# All on (with the default and a long name), each channel off once, each alone,
# and the Redis broker answer, whose .env names a Redis that is not running.
VARIANTS: dict[str, dict[str, str]] = {
    "default": {},
    "long-name": LONG_NAME,
    "redis-broker": {"default_broker": "redis"},
    **{f"without-{option[5:]}": {option: "false"} for option in CHANNEL_OPTIONS},
    **{
        f"only-{option[5:]}": {other: "false" for other in CHANNEL_OPTIONS if other != option}
        for option in CHANNEL_OPTIONS
    },
}
FULL = ["default", "long-name"]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_the_bake_passes_its_own_gates(variant: str, tmp_path: Path) -> None:
    """ruff, ruff format, mypy --strict and the bake's own tests, as its README says."""
    result = cookiecutter(tmp_path, **VARIANTS[variant])
    assert result.returncode == 0, result.stderr
    (project,) = tmp_path.iterdir()
    outcome = pass_the_gates(project, tmp_path, variant)
    assert " passed" in outcome.stdout
    # Only the Redis tests may skip, and only on a machine without redis-server.
    if shutil.which("redis-server") or os.environ.get("CI") == "true":
        assert " skipped" not in outcome.stdout, outcome.stdout[-2000:]


@pytest.fixture(params=FULL)
def full_project(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A bake with every channel."""
    output = tmp_path / "bake"
    result = cookiecutter(output, **VARIANTS[request.param])
    assert result.returncode == 0, result.stderr
    (project,) = output.iterdir()
    return project


def test_it_builds_a_wheel_with_its_package(full_project: Path, tmp_path: Path) -> None:
    project = full_project
    result = run_in(
        project,
        "pip",
        "wheel",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        str(tmp_path),
        ".",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    package = package_of(project)
    assert f"{package}/channels/chat.py" in names
    # The runtime ships beside the app, with the demo page and the JavaScript
    # client (GET / serves them).
    assert "azu_ws/__init__.py" in names
    for static in (
        "index.html",
        "demo.js",
        "schema-forms.js",
        "azu-ws.js",
        "azu-ws.d.ts",
        "style.css",
    ):
        assert f"azu_ws/static/{static}" in names


def test_uv_sync_installs_the_command_line_under_the_projects_name(bake: Bake) -> None:
    project = bake(**LONG_NAME)
    uv(project, "sync", "--locked", "--no-dev")  # the runtime dependencies: enough to run it
    command = project / ".venv" / "bin" / "acme-live-notifications-service"

    def run(*arguments: str) -> str:
        result = subprocess.run(
            [str(command), *arguments],
            cwd=project,  # where its .env is
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    usage = run("--help")
    assert usage.startswith("usage: acme-live-notifications-service ")  # the name it was called by
    assert all(name in usage for name in ("serve", "new-channel", "types", "token"))
    assert "--ttl TTL" in run("token", "--help")
    assert run("token", "alice").count(".") == 2  # a JWT, signed with the .env's secret


def test_mypy_passes_in_a_bake_without_the_browser_group(bake: Bake) -> None:
    # `uv sync --locked` installs the dev tools but not Playwright (the `browser`
    # group): the type check must pass there too, as pyproject.toml promises.
    project = bake()
    uv(project, "sync", "--locked")
    mypy = project / ".venv" / "bin" / "mypy"
    result = subprocess.run(
        [str(mypy)], cwd=project, capture_output=True, text=True, timeout=300, check=False
    )
    installed = {path.name for path in (project / ".venv" / "lib").glob("*/site-packages/*")}
    assert "playwright" not in installed
    assert result.returncode == 0, result.stdout[-3000:]


def test_a_copy_of_the_chat_channel_registered_as_lobby_passes_its_tests(
    full_project: Path, tmp_path: Path
) -> None:
    # What a user does first: copy the example channel, rename it, register it.
    copy = tmp_path / full_project.name
    shutil.copytree(full_project, copy)
    channels = copy / "src" / package_of(copy) / "channels"
    lobby = (channels / "chat.py").read_text().replace("ChatChannel", "LobbyChannel")
    lobby = lobby.replace('"/ws/chat"', '"/ws/lobby"').replace('ROOM = "chat"', 'ROOM = "lobby"')
    (channels / "lobby.py").write_text(lobby)
    registry = (channels / "__init__.py").read_text()
    registry = registry.replace("from .chat import ChatChannel", IMPORTS)
    registry = registry.replace("    ChatChannel,\n", "    ChatChannel,\n    LobbyChannel,\n")
    (channels / "__init__.py").write_text(registry)
    tests = copy / "tests"
    chat_tests = (tests / "test_chat.py").read_text()
    (tests / "test_lobby.py").write_text(
        chat_tests.replace('PATH = "/ws/chat"', 'PATH = "/ws/lobby"')
    )
    basetemp = f"--basetemp={tmp_path / 'pytest'}"
    result = run_in(copy, "pytest", "-q", "-p", "no:cacheprovider", basetemp, "tests/test_lobby.py")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert f"{chat_tests.count(chr(10) + 'def test_')} passed" in result.stdout, result.stdout


IMPORTS = "from .chat import ChatChannel\nfrom .lobby import LobbyChannel"


def test_channels_made_by_new_channel_pass_the_bakes_gates(bake: Bake, tmp_path: Path) -> None:
    """`python -m <package> new-channel NAME`, then ruff, mypy and the whole suite of the bake."""
    project = bake(**VARIANTS["long-name"])
    package = package_of(project)
    # The README's own example, one name that sorts first among the imports, one long
    # enough to need wrapping: the bake's tests (its scaffold tests too) pass after each.
    readme = (project / "README.md").read_text()
    (example,) = set(re.findall(r"new-channel ([a-z][a-z0-9_]*)\b", readme))
    for name in (example, "aardvark", "zz_live_scoreboard_of_the_league"):
        made = python_in(project, "-m", package, "new-channel", name)
        assert f"wrote tests/test_{name}.py" in made
    pass_the_gates(project, tmp_path, "after new-channel")
    tests = run_in(project, "pytest", "-q", "-p", "no:cacheprovider", "tests/test_aardvark.py")
    assert "3 passed" in tests.stdout, tests.stdout[-2000:]
