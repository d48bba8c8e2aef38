"""Every install is locked: a bake's uv.lock, the same project at its floors, the template's tools.

The bakes installed here get a `.venv` of their own from their lock, as a user
following the README would, and must pass their gates with it.
"""

import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.version import Version

from .conftest import LONG_NAME, ROOT, Bake, pass_the_gates, uv

TEMPLATE = ROOT / "{{cookiecutter.project_slug}}"
FLOORS_LOCK = ROOT / "tests" / "floors" / "uv.lock"


def locked_versions(lock_file: Path) -> dict[str, str]:
    """Package name -> version, for the registry packages of a uv.lock."""
    lock: dict[str, Any] = tomllib.loads(lock_file.read_text())
    return {
        package["name"]: package["version"]
        for package in lock["package"]
        if "registry" in package["source"]
    }


def declared(pyproject: Path) -> list[Requirement]:
    """Every requirement of a project: its dependencies and each dependency group's."""
    project: dict[str, Any] = tomllib.loads(pyproject.read_text())
    groups: dict[str, list[str]] = project["dependency-groups"]
    lines: list[str] = project["project"]["dependencies"]
    for group in groups.values():
        lines = lines + group
    return [Requirement(line) for line in lines]


def test_a_bake_under_another_name_gets_the_lock_uv_would_write_for_it(bake: Bake) -> None:
    project = bake(**LONG_NAME)
    lock = project / "uv.lock"
    baked = lock.read_text()
    assert 'name = "acme-live-notifications-service"' in baked
    assert "realtime-app" not in baked
    # uv writes the same file again, byte for byte: nothing to resolve, nothing reordered.
    uv(project, "lock", "--offline")
    assert lock.read_text() == baked


def test_the_default_bake_installed_by_its_readme_passes_its_gates_with_no_warning(
    bake: Bake, tmp_path: Path
) -> None:
    project = bake()
    readme = (project / "README.md").read_text()
    tests_section = readme.split("\n## Tests\n", 1)[1]
    (install,) = re.findall(r"^(uv sync [^#\n]*?)\s*#", tests_section, re.M)
    assert "--locked" in install
    installed = uv(project, *install.split()[1:])
    assert "warning" not in (installed.stdout + installed.stderr).lower()
    python = project / ".venv" / "bin" / "python"
    outcome = pass_the_gates(project, tmp_path, "installed from its lock", python=python)
    assert "warning" not in outcome.stdout.lower(), outcome.stdout[-3000:]


def test_the_floors_lock_holds_each_declared_lower_bound_exactly() -> None:
    locked = locked_versions(FLOORS_LOCK)
    for requirement in declared(TEMPLATE / "pyproject.toml"):
        (floor,) = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        assert Version(locked[requirement.name]) == Version(floor), requirement


def test_the_default_bake_at_its_floors_passes_its_gates_with_no_warning(
    bake: Bake, tmp_path: Path
) -> None:
    project = bake()
    shutil.copyfile(FLOORS_LOCK, project / "uv.lock")
    uv(project, "sync", "--locked", "--all-groups", "--resolution", "lowest-direct")
    python = project / ".venv" / "bin" / "python"
    outcome = pass_the_gates(project, tmp_path, "at its floors", python=python)
    assert "warning" not in outcome.stdout.lower(), outcome.stdout[-3000:]


def test_this_venv_holds_exactly_the_versions_the_bakes_lock(bake: Bake) -> None:
    # Every bake in these tests runs on this venv: it must be what a bake's lock installs.
    project = bake()
    export = uv(project, "export", "--frozen", "--all-groups", "--no-emit-project", "--no-hashes")
    pins = [line for line in export.stdout.splitlines() if line and not line.startswith(("#", " "))]
    assert len(pins) > 30
    for pin in pins:
        requirement, _, marker = pin.partition(";")
        name, version = requirement.strip().split("==")
        if marker and not Marker(marker).evaluate():
            continue
        assert metadata.version(name) == version, f"{name}: run python3 scripts/dev.py test"


def pins_of(requirements: str) -> dict[str, str]:
    """Package name -> version, from a compiled requirements file."""
    text = (ROOT / requirements).read_text()
    return dict(re.findall(r"^([a-z0-9][a-z0-9._-]*)==(\S+)", text, re.M))


def test_the_template_tools_lock_has_the_bakes_pins_and_a_hash_for_each() -> None:
    bakes = locked_versions(TEMPLATE / "uv.lock")
    tools = pins_of("requirements-dev.txt")
    assert {name: tools.get(name) for name in bakes} == bakes
    entries = re.split(r"\n(?=[a-z])", (ROOT / "requirements-dev.txt").read_text())
    unhashed = [entry.split()[0] for entry in entries if "==" in entry and "--hash" not in entry]
    assert unhashed == []


def test_the_serve_lock_agrees_with_the_tools_lock_and_holds_no_test_tool() -> None:
    serve, tools = pins_of("requirements-serve.txt"), pins_of("requirements-dev.txt")
    assert {"cookiecutter", "uv"} <= serve.keys()
    assert {name: tools.get(name) for name in serve} == serve
    assert not {"pytest", "mypy", "playwright", "ruff"} & serve.keys()


def deptry(project: Path) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "deptry"), "--no-ansi", "."]
    return subprocess.run(command, cwd=project, capture_output=True, text=True, check=False)


def test_every_third_party_import_of_a_bake_is_a_declared_dependency(bake: Bake) -> None:
    project = bake()
    result = deptry(project)
    assert result.returncode == 0, result.stdout + result.stderr
    # It would say so: starlette comes with fastapi, but the code imports it itself.
    pyproject = project / "pyproject.toml"
    pyproject.write_text(re.sub(r'\n *"starlette>=[^"]*",', "", pyproject.read_text()))
    result = deptry(project)
    assert result.returncode != 0
    assert "'starlette' imported but it is a transitive dependency" in result.stdout + result.stderr
