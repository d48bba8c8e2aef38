"""The runtime is publishable: `azu-ws`, a wheel of azu_ws alone, installs from its own metadata
into a clean venv with no test tool, and a default bake switched to it, as
`azu_ws/__init__.py` says, passes mypy (and, in tests/test_runtime_suite.py, every
runtime suite) without its copy.

Every install here is locked: the clean venv's at the bake's pins, holding
nothing else; the switched bake's lock moves no version.
"""

import json
import re
import shutil
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

from scripts.dev import RUNTIME_INIT, RUNTIME_PROJECT, build_wheel

from .conftest import ROOT, cookiecutter, python_in, run_in, uv
from .test_locks import locked_versions

TEMPLATE = ROOT / "{{cookiecutter.project_slug}}"
# The test tools that a production install must not carry.
TEST_TOOLS = ["pytest", "playwright"]
# Imports every module of azu_ws but its test kit; prints what a user would check.
PROBE = """
import importlib, importlib.util, json, pkgutil
from importlib import metadata
import azu_ws
modules = [m.name for m in pkgutil.iter_modules(azu_ws.__path__) if m.name != "testing"]
for name in modules:
    importlib.import_module(f"azu_ws.{name}")
print(json.dumps({
    "version": azu_ws.__version__,
    "distribution": metadata.version("azu-ws"),
    "file": azu_ws.__file__,
    "modules": len(modules),
    "installed": [n for n in %r if importlib.util.find_spec(n) is not None],
}))
"""


def project_of(pyproject: Path) -> dict[str, Any]:
    table: dict[str, Any] = tomllib.loads(pyproject.read_text())
    return table


def requirements(lines: list[str]) -> dict[str, str]:
    """Each requirement by its name, normalised: the same bound reads the same."""
    return {Requirement(line).name: str(Requirement(line)) for line in lines}


def declared_version() -> str:
    """The runtime's `__version__`, as its source declares it."""
    declared = re.search(r'^__version__ = "([^"]+)"', RUNTIME_INIT.read_text(), re.M)
    assert declared
    return declared[1]


def test_the_wheel_requires_what_a_bake_requires_at_the_same_bounds() -> None:
    runtime = project_of(RUNTIME_PROJECT / "pyproject.toml")["project"]
    bake = project_of(TEMPLATE / "pyproject.toml")
    assert requirements(runtime["dependencies"]) == requirements(bake["project"]["dependencies"])
    # The test kit's extras: the bake's dev tools and Playwright, at the bake's bounds.
    groups = requirements([line for group in bake["dependency-groups"].values() for line in group])
    for extra in runtime["optional-dependencies"].values():
        for name, requirement in requirements(extra).items():
            assert groups[name] == requirement


def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel `python3 scripts/dev.py wheel` builds, with this venv's hatchling."""
    built = build_wheel(tmp_path_factory.mktemp("dist"), python=Path(sys.executable))
    assert built.is_file()
    return built


def bake_without_the_runtime(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A default bake with the runtime suites and without its copy of the runtime; beside
    it, `pins.txt`: its uv.lock, every group, as constraints."""
    output = tmp_path_factory.mktemp("reference")
    result = cookiecutter(output)
    assert result.returncode == 0, result.stderr
    project = output / "realtime-app"
    shutil.rmtree(project / "src" / "azu_ws")
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "tests" / "runtime", project / "tests" / "runtime", ignore=ignore)
    export = ("export", "--frozen", "--all-groups", "--no-emit-project", "--no-hashes")
    uv(project, *export, "--quiet", "-o", str(output / "pins.txt"))
    return project


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_wheel(tmp_path_factory)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bake_without_the_runtime(tmp_path_factory)


def fresh_venv(project: Path, path: Path, *requirement: str) -> Path:
    """A venv at `path` with only `requirement` and what they need, at the bake's pins;
    its Python."""
    python = path / "bin" / "python"
    uv(project, "venv", "--quiet", "--python", sys.executable, str(path))
    install(project, python, *requirement)
    return python


def install(project: Path, python: Path, *requirement: str) -> None:
    """Install into `python`'s venv at the bake's pins, and check it holds nothing else."""
    pins = project.parent / "pins.txt"
    uv(project, "pip", "install", "--quiet", "--python", str(python), "-c", str(pins), *requirement)
    locked = set(re.findall(r"^([a-z0-9][a-z0-9._-]*==\S+)", pins.read_text(), re.M))
    frozen = uv(project, "pip", "freeze", "--python", str(python)).stdout.splitlines()
    unlocked = [line for line in frozen if line not in locked and not line.startswith("azu-ws ")]
    assert unlocked == []


def probe(project: Path, python: Path) -> dict[str, Any]:
    """What the venv's azu_ws is, as the bake's tests would import it."""
    found: dict[str, Any] = json.loads(python_in(project, "-c", PROBE % TEST_TOOLS, python=python))
    return found


def test_the_wheel_alone_imports_whole_and_its_test_kit_comes_only_with_testing(
    wheel: Path, reference: Path, tmp_path: Path
) -> None:
    python = fresh_venv(reference, tmp_path / "venv", str(wheel))
    plain = probe(reference, python)
    assert plain["version"] == plain["distribution"] == declared_version()
    assert plain["file"].startswith(str(tmp_path / "venv"))
    assert plain["modules"] > 40
    assert plain["installed"] == []  # a production install: neither pytest nor Playwright

    install(reference, python, f"{wheel}[testing]")
    python_in(reference, "-c", "import azu_ws.testing.fixtures", python=python)
    assert probe(reference, python)["installed"] == ["pytest"]


def switch_to_the_library(project: Path, wheel: Path, version: str) -> None:
    """What `src/azu_ws/__init__.py` tells an app to do, the folder being gone already; the
    wheel comes from its path, as an unpublished one would."""
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    steps = [
        ("dependencies = [\n", f'dependencies = [\n    "azu-ws=={version}",\n'),
        (', "src/azu_ws"]', "]"),
        ("dev = [\n", 'dev = [\n    "azu-ws[testing]",\n'),
        ("browser = [", 'browser = ["azu-ws[browser]", '),
        ('known_first_party = ["azu_ws"]\n', ""),
    ]
    for before, after in steps:
        assert text.count(before) == 1, before
        text = text.replace(before, after)
    pyproject.write_text(f'{text}\n[tool.uv.sources]\nazu-ws = {{ path = "{wheel}" }}\n')


def switched_bake(wheel: Path, reference: Path, into: Path) -> Path:
    """A copy of `reference` switched to `wheel` and synced from its lock; its Python."""
    project = Path(shutil.copytree(reference, into / reference.name))
    switch_to_the_library(project, wheel, declared_version())
    uv(project, "lock")
    # azu-ws added to the lock, and not one version moved.
    assert locked_versions(project / "uv.lock") == locked_versions(reference / "uv.lock")
    uv(project, "sync", "--locked", "--all-groups")
    python = project / ".venv" / "bin" / "python"
    assert probe(project, python)["file"].startswith(str(project / ".venv"))
    return python


def test_a_bake_switched_to_the_wheel_passes_mypy_on_its_types(
    wheel: Path, reference: Path, tmp_path: Path
) -> None:
    python = switched_bake(wheel, reference, tmp_path)
    # mypy reads the installed runtime's types: the wheel says it has them (py.typed).
    project = tmp_path / reference.name
    typed = run_in(project, "mypy", "--strict", "--no-incremental", python=python)
    assert typed.returncode == 0, typed.stdout[-5000:]
