"""The line between the app a team owns and the runtime it runs on (`src/azu_ws/`)."""

import ast
import filecmp
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import LONG_NAME, ROOT, Bake, package_of

TEMPLATE_RUNTIME = ROOT / "{{cookiecutter.project_slug}}" / "src" / "azu_ws"
RUNTIME = "azu_ws"
# A comment that silences mypy, in code or in a page's example (prose may name one).
SILENCER = re.compile(r"#\s*type:\s*ignore")
CHAT_ONLY = {"with_rooms": "no", "with_notifications": "no", "with_live_updates": "no"}


def runtime_files(runtime: Path) -> list[str]:
    return sorted(
        str(path.relative_to(runtime))
        for path in runtime.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    )


def imports_of(path: Path) -> list[tuple[int, str, list[str]]]:
    """Each import of a module: (level, module, names), `import x` as (0, "x", [])."""
    found: list[tuple[int, str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or "", [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((0, alias.name, []) for alias in node.names)
    return found


def declared_names(module: Path) -> set[str]:
    """The names a module's `__all__` declares."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    (names,) = [
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "__all__"
    ]
    return set(names)


def public_modules(runtime: Path) -> dict[str, set[str]]:
    """The modules an app and its tests may import from, each with the names it declares:
    the runtime, its test kit, and the kit's browser driver (apart: it needs Playwright)."""
    return {
        RUNTIME: declared_names(runtime / "__init__.py"),
        f"{RUNTIME}.testing": declared_names(runtime / "testing" / "__init__.py"),
        f"{RUNTIME}.testing.browser": declared_names(runtime / "testing" / "browser.py"),
    }


# The team's code in the fullest bake and in the leanest.
DEFAULT_AND_CHAT_ONLY = pytest.mark.parametrize(
    "answers", [{}, CHAT_ONLY], ids=["default", "chat-only"]
)


def runtime_imports(path: Path) -> Iterator[tuple[int, str, str]]:
    """Each name `path` imports from the runtime, as (line, module, name); a module
    imported whole has the name ""."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module:
            for alias in node.names:
                yield node.lineno, node.module, alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, ""


def app_and_its_tests(project: Path) -> list[Path]:
    """What the team owns: the app's package and its tests (not the runtime's suites)."""
    app = project / "src" / package_of(project)
    tests = [path for path in (project / "tests").rglob("*.py") if "runtime" not in path.parts]
    return sorted([*app.rglob("*.py"), *tests])


@pytest.mark.parametrize(
    "answers",
    [
        {},
        CHAT_ONLY,
        {"default_broker": "redis", "with_chat": "no", **LONG_NAME},
    ],
)
def test_the_runtime_is_copied_into_every_bake_byte_for_byte(
    bake: Bake, answers: dict[str, str]
) -> None:
    project = bake(**answers)
    baked = project / "src" / RUNTIME
    expected = runtime_files(TEMPLATE_RUNTIME)
    assert runtime_files(baked) == expected
    _, mismatched, errors = filecmp.cmpfiles(TEMPLATE_RUNTIME, baked, expected, shallow=False)
    assert (mismatched, errors) == ([], [])
    # Its pages too (docs/ARCHITECTURE.md, docs/UPGRADING.md), whatever the options.
    pages = TEMPLATE_RUNTIME.parents[1] / "docs"
    _, mismatched, errors = filecmp.cmpfiles(
        pages, project / "docs", ["ARCHITECTURE.md", "UPGRADING.md"], shallow=False
    )
    assert (mismatched, errors) == ([], [])


def test_the_runtime_has_no_template_syntax_and_a_version() -> None:
    for name in runtime_files(TEMPLATE_RUNTIME):
        text = (TEMPLATE_RUNTIME / name).read_text(encoding="utf-8")
        assert "cookiecutter" not in text, name
        assert "{%" not in text, name
    init = (TEMPLATE_RUNTIME / "__init__.py").read_text(encoding="utf-8")
    assert re.search(r'^__version__ = "\d+\.\d+\.\d+"$', init, re.MULTILINE)


def test_the_runtime_imports_nothing_from_the_app(bake: Bake) -> None:
    project = bake(**LONG_NAME)
    app = package_of(project)
    runtime = project / "src" / RUNTIME
    for path in runtime.rglob("*.py"):
        # How many levels a relative import may climb and still be in the runtime.
        depth = len(path.relative_to(runtime).parts)
        for level, module, _ in imports_of(path):
            where = path.relative_to(runtime)
            assert level <= depth, f"{where} reaches out of the runtime: {'.' * level}{module}"
            assert level or module.split(".")[0] != app, f"{where} imports {module}"


@DEFAULT_AND_CHAT_ONLY
def test_the_app_and_its_tests_import_the_runtime_by_its_public_names_only(
    bake: Bake, answers: dict[str, str]
) -> None:
    project = bake(**answers)
    public = public_modules(project / "src" / RUNTIME)
    private: list[str] = []
    for path in app_and_its_tests(project):
        where = str(path.relative_to(project))
        for line, module, name in runtime_imports(path):
            if module.split(".")[0] != RUNTIME:
                continue
            if module not in public:
                private.append(f"{where}:{line} imports {name or module} from {module}")
            elif name and name not in public[module]:
                private.append(f"{where}:{line} imports {name}, not in {module}.__all__")
    assert private == [], "reaches past the runtime's public names:\n" + "\n".join(private)


@DEFAULT_AND_CHAT_ONLY
def test_nothing_outside_the_runtime_silences_the_type_checker(
    bake: Bake, answers: dict[str, str]
) -> None:
    project = bake(**answers)
    runtime = project / "src" / RUNTIME
    silenced = [
        f"{path.relative_to(project)}:{number}: {text.strip()}"
        for path in sorted(project.rglob("*"))
        if path.is_file() and runtime not in path.parents and path.suffix in (".py", ".pyi", ".md")
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if SILENCER.search(text)
    ]
    assert silenced == [], "the runtime's public API should type these:\n" + "\n".join(silenced)


def test_no_channel_of_the_app_reaches_into_its_socket(bake: Bake) -> None:
    # A channel speaks through its verbs (push, join, has_joined, close...), never
    # through the runtime's connection object.
    project = bake()
    app = project / "src" / package_of(project)
    for path in app.rglob("*.py"):
        assert ".connection" not in path.read_text(encoding="utf-8"), path.relative_to(project)


RUNTIME_SUITES = ROOT / "tests" / "runtime"


def test_the_runtime_suites_run_on_their_own_test_app_not_the_reference_app() -> None:
    # They are copied into a bake and run there: what they test must be the runtime,
    # on their test app (tests/runtime/testapp/), never a bake's app or its tests' conftest.
    for path in sorted(RUNTIME_SUITES.rglob("*.py")):
        where = path.relative_to(RUNTIME_SUITES)
        text = path.read_text(encoding="utf-8")
        assert "realtime_app" not in text, f"{where} names the reference app"
        assert "cookiecutter" not in text, f"{where} names the template's package"
        # How many levels a relative import may climb and stay in tests/runtime.
        depth = len(where.parts)
        for level, module, _ in imports_of(path):
            assert level <= depth, f"{where} imports from outside the suites: {'.' * level}{module}"
            outside = module.startswith("tests.") and not module.startswith("tests.runtime")
            assert level or not outside, f"{where} imports {module}"


# The reference channels a chat-only bake goes without, as an app spells them: their ids,
# paths, path parameter, classes, HTTP routes and scopes (`rooms` in any case: Rooms, ROOMS).
OTHER_CHANNELS = re.compile(
    r"(?i:\brooms\b)|room_id|RoomChannel|live_updates|LiveUpdates|[Ll]ive updates|\bupdates\b"
    r"|NotificationsChannel|/ws/notifications|/api/notifications|notifications:send"
    r"|updates:publish|rooms:publish"
)
# The words themselves. The runtime's notifier (a per-user store-and-forward inbox that any
# channel may use: notifications.py, redis_store.py, backends.py, and their names in
# __init__.py, hub.py...) is named for what it does, so `notification` is the runtime's
# own word and `room` the usual one for a group of sockets, everywhere but the demo page:
# that page builds itself from the app's channels, and knows no word of any.
WORDS = re.compile(r"(?i)\bnotifications?\b|\brooms?\b")
DEMO_PAGE = ("demo.py", "static/")


def test_a_chat_only_runtime_names_no_other_reference_channel(bake: Bake) -> None:
    project = bake(with_rooms="no", with_notifications="no", with_live_updates="no")
    runtime = project / "src" / RUNTIME
    found = []
    for name in runtime_files(runtime):
        forbidden = [OTHER_CHANNELS]
        if name.startswith(DEMO_PAGE):
            forbidden.append(WORDS)
        text = (runtime / name).read_text(encoding="utf-8")
        for number, line in enumerate(text.splitlines(), 1):
            found += [f"{name}:{number}: {line.strip()}" for p in forbidden if p.search(line)]
    assert found == []
