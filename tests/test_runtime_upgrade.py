"""Taking a newer runtime, as the bake's README says: an app baked from an earlier template,
with today's `src/azu_ws/` copied over its own and what docs/UPGRADING.md asks done, passes
its gates."""

import re
import shutil
import subprocess
import tarfile
from io import BytesIO
from pathlib import Path

from .conftest import ROOT, cookiecutter, pass_the_gates, run_in
from .test_runtime_line import TEMPLATE_RUNTIME

UPGRADING = TEMPLATE_RUNTIME.parents[1] / "docs" / "UPGRADING.md"

# The template as of the first app on the runtime's present public surface:
# its app and tests must run on every runtime that does not say otherwise.
BASELINE = "261e062e5e67a18f740f4d567265c695901fa19b"


def template_at(commit: str, into: Path) -> Path:
    """The template as it was at `commit`, from this checkout's history."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert archive.returncode == 0, f"git archive {commit}: {archive.stderr.decode()}"
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into


def declared_error_codes() -> dict[str, str]:
    """0.5.0 (docs/UPGRADING.md): each channel's `error_codes`, by the `path` line it goes
    under, read from the page so that what it says is what is done here."""
    block = UPGRADING.read_text().split("## 0.5.0", 1)[1].split("```python\n", 1)[1]
    declarations = {}
    # One class a paragraph, however many blank lines (ruff formats the page's code) apart.
    for declaration in re.split(r"\n\s*\n", block.split("```", 1)[0].strip()):
        _, path, *codes = declaration.strip("\n").splitlines()
        declarations[path + "\n"] = "\n".join(codes) + "\n"
    return declarations


def declare_error_codes(channels: Path) -> None:
    declarations = declared_error_codes()
    for module in channels.glob("*.py"):
        text = module.read_text()
        for path, codes in declarations.items():
            if path in text and "error_codes" not in text:
                text = text.replace(path, path + codes, 1)
                # Among the names imported from azu_ws, in order: before ErrorMessage.
                if (listed := "    ErrorMessage,\n") in text:
                    text = text.replace(listed, "    ErrorCodes,\n" + listed, 1)
                else:
                    text = text.replace(" ErrorMessage,", " ErrorCodes, ErrorMessage,", 1)
        module.write_text(text)
    assert len(declarations) == 3


def test_an_app_baked_earlier_passes_its_gates_on_todays_runtime(tmp_path: Path) -> None:
    old_template = template_at(BASELINE, tmp_path / "template")
    output = tmp_path / "bake"
    baked = run_in(
        tmp_path, "cookiecutter", "--no-input", "-o", str(output), str(old_template), timeout=120
    )
    assert baked.returncode == 0, baked.stderr
    (project,) = output.iterdir()
    shutil.rmtree(project / "src" / "azu_ws")
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(TEMPLATE_RUNTIME, project / "src" / "azu_ws", ignore=ignore)
    # 0.2.0 (docs/UPGRADING.md): the notifications channel, as baked, from the newer bake.
    newer = TEMPLATE_RUNTIME.parent / "{{cookiecutter.package_name}}" / "channels"
    package = next(path for path in (project / "src").iterdir() if path.name != "azu_ws")
    shutil.copyfile(newer / "notifications.py", package / "channels" / "notifications.py")
    declare_error_codes(package / "channels")
    # 0.5.0: the tests take the moved modules' names, and the newer bake's browser tests.
    for test in (project / "tests").glob("*.py"):
        test.write_text(with_moved_modules(test.read_text()))
    newer_bake = tmp_path / "newer"
    assert cookiecutter(newer_bake).returncode == 0
    for test in (project / "tests").glob("test_browser_*.py"):
        test.unlink()
    for test in newer_bake.glob("*/tests/test_browser_*.py"):
        shutil.copyfile(test, project / "tests" / test.name)
    pass_the_gates(project, tmp_path, "upgrade")


def moved_modules() -> dict[str, str]:
    """0.5.0 (docs/UPGRADING.md): each module that moved whole, by its old name, from the
    page's table (rows that split a module name what goes where, and are not applied)."""
    table = UPGRADING.read_text().split("**Modules that moved**", 1)[1].split("\n\n", 2)[1]
    rows = re.findall(r"^\s*\| `([\w.]+)` \| `([\w.]+)` \|$", table, re.M)
    return dict(rows)


def with_moved_modules(source: str) -> str:
    for before, now in moved_modules().items():
        source = re.sub(rf"\bfrom {re.escape(before)} import", f"from {now} import", source)
    return source


def test_the_page_names_the_moved_modules_as_they_are_now() -> None:
    moved = moved_modules()
    assert moved["azu_ws.redis_store"] == "azu_ws.redis.store"
    for now in moved.values():
        assert (TEMPLATE_RUNTIME.parent / (now.replace(".", "/") + ".py")).exists(), now
