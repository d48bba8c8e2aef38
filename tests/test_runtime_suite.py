"""The runtime's own suites (`tests/runtime/`), run once against the runtime, not once per bake.

They run inside a default bake, for its locked dependencies and lint settings,
on their own test app (`tests/runtime/testapp/`), not the bake's; each runs
twice, with batched writes (in force under the locked uvicorn) and with every
frame one ASGI send, so that both ways to the wire are held to every test.
"""

import os
import shutil
from pathlib import Path

import pytest

from .conftest import ROOT, cookiecutter, run_in

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


@pytest.mark.parametrize("batched", ["true", "false"], ids=["batched", "asgi"])
@pytest.mark.parametrize("suite", SUITES)
def test_a_runtime_suite_passes(reference: Path, suite: str, batched: str, tmp_path: Path) -> None:
    artifacts = str(ROOT / "artifacts" / "runtime")
    outcome = run_in(
        reference,
        *("pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={tmp_path / 'pytest'}"),
        f"tests/runtime/{suite}",
        timeout=540,
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
