"""`new-channel` refuses what it cannot do cleanly and registers what it writes in order.

The template's own tests run it in a fresh project and then that project's
whole suite, the new channel's tests included.
"""

from pathlib import Path

import pytest
from azu_ws.scaffold import ScaffoldError, document, new_channel, register

# The channel each test writes: a name no README suggests.
SAMPLE = "scaffold_sample"
# The app the generator writes into: a project laid out as a generated one is.
PACKAGE = "sample_app"

REGISTRY = '''"""Every channel."""

from typing import Any

from azu_ws import Channel

from .chat import ChatChannel
from .rooms import RoomChannel

CHANNELS: list[type[Channel[Any, Any]]] = [
    ChatChannel,
    RoomChannel,
]
'''


@pytest.mark.parametrize("name", ["alpha", "lobby", "zebra"])
def test_the_import_goes_where_it_sorts_and_the_class_ends_the_list(name: str) -> None:
    prefix = name.capitalize()
    source = register(REGISTRY, name, prefix)
    lines = source.splitlines()
    imports = [line for line in lines if line.startswith("from .") and ".." not in line]
    assert f"from .{name} import {prefix}Channel" in imports
    assert imports == sorted(imports)
    assert source.endswith(f"    RoomChannel,\n    {prefix}Channel,\n]\n")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project laid out as a generated one, for the generator to write into."""
    root = tmp_path / "project"
    channels = root / "src" / PACKAGE / "channels"
    channels.mkdir(parents=True)
    (channels.parent / "__init__.py").write_text('"""An app."""\n')
    (channels / "__init__.py").write_text(REGISTRY)
    (root / "tests").mkdir()
    return root


@pytest.mark.parametrize(
    "name",
    [
        "Scores",
        "1st",
        "with-dash",
        "x" * 33,
        "core",
        "channels",
        "import",
        "class",
        "all",
        "control",
    ],
)
def test_a_name_that_is_no_module_or_would_shadow_one_is_refused(project: Path, name: str) -> None:
    with pytest.raises(ScaffoldError, match="is not a channel name"):
        new_channel(name, project, PACKAGE)
    assert not list((project / "tests").iterdir())


def test_it_writes_nothing_over_an_existing_channel_or_outside_a_project(
    project: Path, tmp_path: Path
) -> None:
    written = new_channel(SAMPLE, project, PACKAGE)
    assert [path.name for path in written] == [f"{SAMPLE}.py", "__init__.py", f"test_{SAMPLE}.py"]
    assert not (project / "docs").exists()  # a project without the page gets none
    registry = written[1].read_text()
    with pytest.raises(ScaffoldError, match="exists already"):
        new_channel(SAMPLE, project, PACKAGE)
    assert written[1].read_text() == registry  # registered once
    with pytest.raises(ScaffoldError, match="from the project's root"):
        new_channel("other", tmp_path / "nowhere", PACKAGE)


def test_the_message_tables_get_the_new_messages_once_with_each_channel_named() -> None:
    tables = (
        "| `ping` | | all |\n| `auth` | `token` | all |\n\n"
        "| `pong` | `timestamp` |\n| `error` | `code` |\n"
    )
    once = document(tables, "scores")
    assert "| `post` | `text` (1 to 1000 characters) | scores |\n| `auth` |" in once
    posted = "| `posted` | `user` (from the token), `text`, `timestamp`, `offset`, `epoch` |"
    assert posted + "\n| `error` |" in once
    twice = document(once, "bets")
    assert "| `post` | `text` (1 to 1000 characters) | scores, bets |" in twice
    assert twice.count("`posted`") == 1
    assert document("# A page of its own\n", "scores") == "# A page of its own\n"


def test_a_path_another_channel_serves_already_is_refused(project: Path) -> None:
    channels = project / "src" / PACKAGE / "channels"
    (channels / "custom.py").write_text(f'class Custom:\n    path = "/ws/{SAMPLE}"\n')
    with pytest.raises(ScaffoldError, match=f"already serves /ws/{SAMPLE}"):
        new_channel(SAMPLE, project, PACKAGE)
    assert not (channels / f"{SAMPLE}.py").exists()


def test_a_registry_laid_out_by_hand_is_refused_before_anything_is_written(
    project: Path,
) -> None:
    registry = project / "src" / PACKAGE / "channels" / "__init__.py"
    registry.write_text(REGISTRY.replace("    RoomChannel,\n]", "    RoomChannel]"))
    with pytest.raises(ScaffoldError, match="add the channel to it by hand"):
        new_channel(SAMPLE, project, PACKAGE)
    assert not list((project / "tests").iterdir())
    assert not (registry.parent / f"{SAMPLE}.py").exists()
