"""The line between the app a team owns and the runtime it runs on (`src/azu_ws/`)."""

import ast
import filecmp
import re
from pathlib import Path

import pytest

from .conftest import LONG_NAME, ROOT, Bake, package_of

TEMPLATE_RUNTIME = ROOT / "{{cookiecutter.project_slug}}" / "src" / "azu_ws"
RUNTIME = "azu_ws"


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


def public_surface() -> set[str]:
    tree = ast.parse((TEMPLATE_RUNTIME / "__init__.py").read_text(encoding="utf-8"))
    (names,) = [
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "__all__"
    ]
    return set(names)


@pytest.mark.parametrize(
    "answers",
    [
        {},
        {"with_rooms": "no", "with_notifications": "no", "with_live_updates": "no"},
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


def test_the_app_imports_the_runtime_by_its_public_names_only(bake: Bake) -> None:
    project = bake()
    public = public_surface()
    app = project / "src" / package_of(project)
    for path in app.rglob("*.py"):
        for _, module, names in imports_of(path):
            if module.split(".")[0] != RUNTIME:
                continue
            where = path.relative_to(project)
            assert module == RUNTIME, f"{where} reaches into the runtime: {module}"
            assert set(names) <= public, f"{where} imports {set(names) - public}"


def test_no_channel_of_the_app_reaches_into_its_socket(bake: Bake) -> None:
    # A channel speaks through its verbs (push, join, has_joined, close...), never
    # through the runtime's connection object.
    project = bake()
    app = project / "src" / package_of(project)
    for path in app.rglob("*.py"):
        assert ".connection" not in path.read_text(encoding="utf-8"), path.relative_to(project)


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
