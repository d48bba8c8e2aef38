"""Inside each bake, the project's own gates pass: ruff, ruff format, mypy --strict, pytest."""

import shutil
import zipfile
from pathlib import Path

import pytest

from .conftest import LONG_NAME, cookiecutter, package_of, run_in

CHANNEL_OPTIONS = ("with_chat", "with_rooms", "with_notifications", "with_live_updates")
# All on (with the default and a long name), each channel off once, each alone.
VARIANTS: dict[str, dict[str, str]] = {
    "default": {},
    "long-name": LONG_NAME,
    **{f"without-{option[5:]}": {option: "false"} for option in CHANNEL_OPTIONS},
    **{
        f"only-{option[5:]}": {other: "false" for other in CHANNEL_OPTIONS if other != option}
        for option in CHANNEL_OPTIONS
    },
}
FULL = ["default", "long-name"]


def baked(tmp_path_factory: pytest.TempPathFactory, variant: str) -> Path:
    output = tmp_path_factory.mktemp(f"bake-{variant}")
    result = cookiecutter(output, **VARIANTS[variant])
    assert result.returncode == 0, result.stderr
    (project,) = output.iterdir()
    return project


@pytest.fixture(scope="module", params=list(VARIANTS))
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bake of each option combination that is tested."""
    return baked(tmp_path_factory, request.param)


@pytest.fixture(scope="module", params=FULL)
def full_project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bake with every channel."""
    return baked(tmp_path_factory, request.param)


def test_ruff_finds_nothing(project: Path) -> None:
    result = run_in(project, "ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_changes_nothing(project: Path) -> None:
    result = run_in(project, "ruff", "format", "--check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean(project: Path) -> None:
    result = run_in(project, "mypy", "--strict", "--no-incremental")
    assert result.returncode == 0, result.stdout + result.stderr


def test_its_own_test_suite_passes(project: Path) -> None:
    result = run_in(project, "pytest", "-q", "-p", "no:cacheprovider")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
    assert " skipped" not in result.stdout, result.stdout[-2000:]


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
    assert f"{package_of(project)}/channels/chat.py" in names


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
    result = run_in(copy, "pytest", "-q", "-p", "no:cacheprovider", "tests/test_lobby.py")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert f"{chat_tests.count(chr(10) + 'def test_')} passed" in result.stdout, result.stdout


IMPORTS = "from .chat import ChatChannel\nfrom .lobby import LobbyChannel"
