"""Baking: what lands on disk, for the default answers, custom ones, and bad ones."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import LONG_NAME, Bake, cookiecutter

UNRENDERED = re.compile(r"\{\{ ?cookiecutter\.|\{%")


# The default, and the other answers that change what a file says rather than drop it.
@pytest.mark.parametrize(
    "answers",
    [{}, {"default_broker": "redis"}, {"default_broker": "redis", "with_notifications": "no"}],
)
def test_a_bake_has_no_unrendered_template_syntax(bake: Bake, answers: dict[str, str]) -> None:
    project = bake(**answers)
    leftovers = [
        str(path.relative_to(project))
        for path in project.rglob("*")
        if path.is_file() and UNRENDERED.search(path.read_text(errors="replace") + str(path))
    ]
    assert leftovers == []


def test_default_bake_is_named_from_the_project_name(bake: Bake) -> None:
    project = bake()
    assert project.name == "realtime-app"
    assert (project / "src" / "realtime_app" / "channels" / "chat.py").is_file()
    assert 'name = "realtime-app"' in (project / "pyproject.toml").read_text()


def test_custom_names_are_derived_and_used(bake: Bake) -> None:
    project = bake(**LONG_NAME)
    assert project.name == "acme-live-notifications-service"
    package = project / "src" / "acme_live_notifications_service"
    assert (package / "main.py").is_file()
    assert "Zoë O'Brien" in (project / "pyproject.toml").read_text()


def test_each_bake_gets_its_own_random_secret_and_git_ignores_it(bake: Bake) -> None:
    first, second = bake(), bake()
    secrets = [secret_of(project / ".env") for project in (first, second)]
    assert secrets[0] != secrets[1]
    assert all(len(secret.encode()) >= 32 for secret in secrets)
    assert secret_of(first / ".env.example") == "change-me-to-a-random-secret-of-at-least-32-bytes"
    assert ".env" in (first / ".gitignore").read_text().splitlines()


def secret_of(env_file: Path) -> str:
    (line,) = [line for line in env_file.read_text().splitlines() if line.startswith("JWT_SECRET=")]
    return line.removeprefix("JWT_SECRET=")


@pytest.mark.parametrize(
    ("answers", "complaint"),
    [
        ({"package_name": "fastapi"}, "package_name 'fastapi' is the name of a dependency"),
        ({"project_name": "FastAPI"}, "project_slug 'fastapi' is the name of a dependency"),
        ({"package_name": "json"}, "package_name 'json' is a standard-library module"),
        ({"package_name": "class"}, "package_name 'class' is a Python keyword"),
        ({"package_name": "Chat"}, "package_name 'Chat' must be a lower-case Python identifier"),
        ({"package_name": "my-chat"}, "package_name 'my-chat' must be a lower-case Python"),
        ({"project_slug": "My Chat"}, "project_slug 'My Chat' must be lower case"),
        ({"project_slug": "9lives"}, "project_slug '9lives' must be lower case"),
        ({"project_name": 'The "Best" Chat', "project_slug": "best"}, "may not contain double"),
        (
            {
                "with_chat": "no",
                "with_rooms": "no",
                "with_notifications": "no",
                "with_live_updates": "no",
            },
            "choose at least one channel",
        ),
    ],
)
def test_bad_names_fail_with_one_line_and_leave_nothing(
    tmp_path: Path, answers: dict[str, str], complaint: str
) -> None:
    result = cookiecutter(tmp_path, **answers)
    assert result.returncode != 0
    # cookiecutter adds its own traceback; the hook's line is the one that explains.
    errors = [line for line in result.stderr.splitlines() if line.startswith("azu-ws: ")]
    assert len(errors) == 1, result.stderr
    assert complaint in errors[0]
    assert list(tmp_path.iterdir()) == []


def test_hooks_take_answers_as_data_not_code(bake: Bake) -> None:
    # A name that would be code if pasted into Python unquoted is only data.
    project = bake(description="'''); import os; os._exit(3) #", author_name="O'Hara")
    assert "os._exit(3)" in (project / "pyproject.toml").read_text()


def test_cookiecutter_prompts_are_few_and_human_readable() -> None:
    import json

    from .conftest import ROOT

    spec = json.loads((ROOT / "cookiecutter.json").read_text())
    prompts = spec["__prompts__"]
    questions = [key for key in spec if not key.startswith("_")]
    assert len(questions) <= 10
    assert set(questions) == set(prompts)
    assert all(prompt.endswith(("?", ")")) for prompt in prompts.values())


def test_cookiecutter_is_runnable_as_a_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0


@pytest.mark.parametrize(
    ("option", "files", "registered", "section"),
    [
        ("with_chat", ["channels/chat.py"], "ChatChannel", "### Chat"),
        ("with_rooms", ["channels/rooms.py", "api/rooms.py"], "RoomChannel", "### Rooms"),
        (
            "with_notifications",
            ["channels/notifications.py", "api/notifications.py"],
            "NotificationsChannel",
            "### Notifications",
        ),
        (
            "with_live_updates",
            ["channels/live_updates.py", "api/updates.py"],
            "LiveUpdatesChannel",
            "### Live updates",
        ),
    ],
)
def test_a_channel_left_out_leaves_no_file_registration_test_or_docs_section(
    bake: Bake, option: str, files: list[str], registered: str, section: str
) -> None:
    full, without = bake(), bake(**{option: "false"})
    for project, present in ((full, True), (without, False)):
        package = project / "src" / "realtime_app"
        assert all((package / file).exists() is present for file in files)
        test_file = project / "tests" / f"test_{files[0].split('/')[1]}"
        assert test_file.exists() is present
        assert (registered in (package / "channels" / "__init__.py").read_text()) is present
        assert (section in docs_of(project)) is present


# Pages on the runtime, shipped with it and the same in every bake, like src/azu_ws/.
RUNTIME_PAGES = {"ARCHITECTURE.md", "UPGRADING.md"}


def doc_files(project: Path) -> list[Path]:
    """What a bake says about its app: its README, its docs/ and its .env.example."""
    pages = sorted(
        path for path in (project / "docs").glob("*.md") if path.name not in RUNTIME_PAGES
    )
    return [project / "README.md", *pages, project / ".env.example"]


def docs_of(project: Path) -> str:
    return "".join(path.read_text(encoding="utf-8") for path in doc_files(project))


# Strings that belong to one channel alone: none may be left in the docs of a bake without it.
MARKERS = {
    "with_chat": ["/ws/chat", "class ChatChannel", "`connected`"],
    "with_rooms": ["/ws/rooms", "user_joined", "rooms:publish", "frame_too_large"],
    "with_notifications": ["/ws/notifications", "NOTIFICATION_", "notifications:send", "`ack`"],
    "with_live_updates": [
        "/ws/live_updates",
        "not_subscribed",
        "updates:publish",
        "`update`",
    ],
}


@pytest.mark.parametrize("option", list(MARKERS))
def test_the_docs_of_a_bake_mention_only_the_channels_it_has(bake: Bake, option: str) -> None:
    others = {other: "false" for other in MARKERS if other != option}
    alone = bake(**others)
    docs = docs_of(alone)
    for channel, markers in MARKERS.items():
        for marker in markers:
            assert (marker in docs) is (channel == option), (channel, marker)


# What each option owns in the app, its tests and its docs, by name (any case).
OWNED = {
    "with_chat": ["chatchannel", "/ws/chat"],
    "with_rooms": ["roomchannel", "/ws/rooms", "rooms:publish", "user_joined", "room_id"],
    "with_notifications": ["notification"],
    "with_live_updates": ["live_update", "updatepublisher", "updates:publish", "/api/updates"],
}


@pytest.mark.parametrize("option", list(OWNED))
def test_a_bake_without_an_option_has_none_of_its_code_tests_or_docs(
    bake: Bake, option: str
) -> None:
    project = bake(**{option: "false"})
    files = [
        *(project / "src" / "realtime_app").rglob("*.py"),
        *(project / "tests").rglob("*.py"),
        *doc_files(project),
    ]
    for path in files:
        text = path.read_text(encoding="utf-8").lower()
        found = [name for name in OWNED[option] if name in text]
        assert found == [], f"{path.relative_to(project)} names {found}"


def test_a_bake_without_chat_and_rooms_has_no_conversation_messages(bake: Bake) -> None:
    project = bake(with_chat="false", with_rooms="false")
    assert not (project / "src" / "realtime_app" / "messages.py").exists()
