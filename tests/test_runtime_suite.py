"""The runtime's own suites (`tests/runtime/`), run once against the runtime, not once per bake.

They run inside a default bake, for its locked dependencies and lint settings,
on their own test app (`tests/runtime/testapp/`), not the bake's; each runs
twice, with batched writes (in force under the locked uvicorn) on the bake's
copy of the runtime, and with every frame one ASGI send on the wheel `azu-ws`
installed in a bake switched to it (tests/test_wheel.py): both ways to the
wire, and both ways to ship the runtime, are held to every test.
"""

import os
import shutil
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, cookiecutter, run_in
from .test_wheel import bake_without_the_runtime, built_wheel, switched_bake

RUNTIME_TESTS = ROOT / "tests" / "runtime"
SUITES = sorted(path.name for path in RUNTIME_TESTS.glob("test_*.py"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A default bake with the runtime's suites copied into its `tests/runtime/`."""
    output = tmp_path_factory.mktemp("reference")
    result = cookiecutter(output)
    assert result.returncode == 0, result.stderr
    (project,) = output.iterdir()
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(RUNTIME_TESTS, project / "tests" / "runtime", ignore=ignore)
    return project


@pytest.fixture(scope="module")
def on_the_wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A default bake without its copy of the runtime, on the wheel instead: it and its Python."""
    reference = bake_without_the_runtime(tmp_path_factory)
    into = tmp_path_factory.mktemp("on-the-wheel")
    python = switched_bake(built_wheel(tmp_path_factory), reference, into)
    return into / reference.name, python


@pytest.mark.parametrize("batched", ["true", "false"], ids=["batched", "asgi-on-the-wheel"])
@pytest.mark.parametrize("suite", SUITES)
def test_a_runtime_suite_passes(
    request: pytest.FixtureRequest, suite: str, batched: str, tmp_path: Path
) -> None:
    if batched == "true":
        project: Path = request.getfixturevalue("reference")
        python = Path(sys.executable)
    else:
        project, python = request.getfixturevalue("on_the_wheel")
    artifacts = str(ROOT / "artifacts" / "runtime")
    outcome = run_in(
        project,
        *("pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={tmp_path / 'pytest'}"),
        f"tests/runtime/{suite}",
        timeout=540,
        python=python,
        BROWSER_ARTIFACTS=artifacts,
        WS_BATCHED_WRITES=batched,
    )
    assert outcome.returncode == 0, outcome.stdout[-5000:] + outcome.stderr[-2000:]
    # A test may skip only for a missing service, and under CI the suites fail instead.
    if os.environ.get("CI") == "true":
        assert " skipped" not in outcome.stdout, outcome.stdout[-2000:]


@pytest.mark.parametrize(
    "gate",
    [
        ("ruff", "check", "--no-cache", "tests/runtime"),
        ("ruff", "format", "--check", "--no-cache", "tests/runtime"),
        ("mypy", "--strict", "--no-incremental"),
    ],
    ids=["ruff", "ruff-format", "mypy"],
)
def test_the_runtime_suites_are_lint_and_type_clean(reference: Path, gate: tuple[str, ...]) -> None:
    outcome = run_in(reference, *gate)
    assert outcome.returncode == 0, outcome.stdout[-5000:] + outcome.stderr[-2000:]
