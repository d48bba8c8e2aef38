"""Give the new project its own secret and lock, drop the channels it was baked without, say
what's next.

Options are implemented here by deleting files and registry lines, so that
every template file stays valid Python as it stands.
"""

import json
import pathlib
import re
import secrets

ANSWERS = json.loads(
    r"""{
    "project_slug": {{ cookiecutter.project_slug | tojson }},
    "package_name": {{ cookiecutter.package_name | tojson }},
    "with_chat": {{ cookiecutter.with_chat | tojson }},
    "with_rooms": {{ cookiecutter.with_rooms | tojson }},
    "with_notifications": {{ cookiecutter.with_notifications | tojson }},
    "with_live_updates": {{ cookiecutter.with_live_updates | tojson }},
    "default_broker": {{ cookiecutter.default_broker | tojson }}
}"""
)
PLACEHOLDER = "change-me-to-a-random-secret-of-at-least-32-bytes"
DEVELOPMENT = "# ENVIRONMENT=development"

# `scripts/dev.py upgrade` writes uv.lock for the default bake: the project under this name.
LOCKED_AS = "realtime-app"
PACKAGE_HEADER = "\n[[package]]\n"

CHANNEL_REGISTRY = "src/{package}/channels/__init__.py"
API_REGISTRY = "src/{package}/api/__init__.py"
SETTINGS = "src/{package}/config.py"

# For each option: the files it owns, and the lines that register them.
FEATURES: dict[str, dict[str, list[str]]] = {
    "with_chat": {
        "files": [
            "src/{package}/channels/chat.py",
            "tests/test_chat.py",
            "tests/test_browser_chat.py",
        ],
        CHANNEL_REGISTRY: ["from .chat import ChatChannel", "    ChatChannel,"],
    },
    "with_rooms": {
        "files": [
            "src/{package}/channels/rooms.py",
            "src/{package}/api/rooms.py",
            "tests/test_rooms.py",
            "tests/test_browser_rooms.py",
        ],
        CHANNEL_REGISTRY: ["from .rooms import RoomChannel", "    RoomChannel,"],
        API_REGISTRY: ["from .rooms import router as rooms_router", "    rooms_router,"],
    },
    "with_notifications": {
        "files": [
            "src/{package}/channels/notifications.py",
            "src/{package}/api/notifications.py",
            "tests/test_notifications.py",
            "tests/test_browser_notifications.py",
        ],
        CHANNEL_REGISTRY: [
            "from .notifications import NotificationsChannel",
            "    NotificationsChannel,",
        ],
        SETTINGS: [
            "from .channels.notifications import NotificationSettings",
            "    NotificationSettings,",
        ],
        API_REGISTRY: [
            "from .notifications import router as notifications_router",
            "    notifications_router,",
        ],
    },
    "with_live_updates": {
        "files": [
            "src/{package}/channels/live_updates.py",
            "src/{package}/api/updates.py",
            "tests/test_live_updates.py",
            "tests/test_browser_live_updates.py",
        ],
        CHANNEL_REGISTRY: [
            "from .live_updates import LiveUpdatesChannel",
            "    LiveUpdatesChannel,",
        ],
        API_REGISTRY: ["from .updates import router as updates_router", "    updates_router,"],
    },
}


# Files that several options share: deleted when every one of them is off.
SHARED: dict[str, tuple[str, ...]] = {
    "src/{package}/messages.py": ("with_chat", "with_rooms"),  # a conversation's messages
}


def write_env(project: pathlib.Path) -> None:
    """`.env` is `.env.example` for development, with a fresh random secret; git ignores it."""
    example = (project / ".env.example").read_text(encoding="utf-8")
    if PLACEHOLDER not in example or DEVELOPMENT not in example:
        raise SystemExit("azu-ws: .env.example lost its JWT_SECRET or ENVIRONMENT line")
    secret = secrets.token_urlsafe(48)
    env = project / ".env"
    text = example.replace(PLACEHOLDER, secret).replace(DEVELOPMENT, DEVELOPMENT.lstrip("# "))
    env.write_text(text, encoding="utf-8")
    env.chmod(0o600)


def lock_for(project: pathlib.Path, slug: str) -> None:
    """Name this project in uv.lock as uv would: its normalised name, its entry in sorted place.

    No channel option changes the dependencies, so the one lock serves every bake.
    """
    name = re.sub(r"[-_.]+", "-", slug).lower()
    if name == LOCKED_AS:
        return
    lock = project / "uv.lock"
    header, *entries = lock.read_text(encoding="utf-8").split(PACKAGE_HEADER)
    ours = f'name = "{LOCKED_AS}"\n'
    if sum(entry.startswith(ours) for entry in entries) != 1:
        raise SystemExit(f"azu-ws: uv.lock has no single entry for {LOCKED_AS!r}")
    entries = [
        f'name = "{name}"\n' + entry.removeprefix(ours) if entry.startswith(ours) else entry
        for entry in entries
    ]
    entries.sort(key=lambda entry: entry.split('"', 2)[1])
    lock.write_text(PACKAGE_HEADER.join([header, *entries]), encoding="utf-8")


def drop_feature(project: pathlib.Path, feature: dict[str, list[str]], package: str) -> None:
    """Delete a feature's files and the exact lines that register it."""
    for name, lines in feature.items():
        if name == "files":
            for file in lines:
                (project / file.format(package=package)).unlink()
            continue
        registry = project / name.format(package=package)
        kept = registry.read_text(encoding="utf-8").splitlines(keepends=True)
        for line in lines:
            if line + "\n" not in kept:
                raise SystemExit(f"azu-ws: {registry.name} no longer has the line {line!r}")
            at = kept.index(line + "\n")
            del kept[at]
            # A line that stood alone between blank lines takes one of them along.
            if 0 < at < len(kept) and kept[at - 1] == kept[at] == "\n":
                del kept[at]
        registry.write_text("".join(kept), encoding="utf-8")


def main() -> None:
    project = pathlib.Path.cwd()
    slug, package = ANSWERS["project_slug"], ANSWERS["package_name"]
    write_env(project)
    lock_for(project, slug)
    for option, feature in FEATURES.items():
        if not ANSWERS[option]:
            drop_feature(project, feature, package)
    for file, options in SHARED.items():
        if not any(ANSWERS[option] for option in options):
            (project / file.format(package=package)).unlink()
    start_redis = (
        "\n    redis-server --daemonize yes     # .env points at redis://localhost:6379/0"
        if ANSWERS["default_broker"] == "redis"
        else ""
    )
    print(
        f"""
Created {slug}/ with its uv.lock and a random JWT_SECRET in {slug}/.env.

Next steps (uv: python3 -m pip install uv, if you have none):
    cd {slug}
    uv sync --locked                 # .venv, exactly as locked, with the dev tools{start_redis}
    uv run python -m {package} serve --reload   # then open http://127.0.0.1:8000/ for the demo
    uv run python -m {package} token alice      # a token for alice
    uv run pytest                    # the project's tests (README.md, "Tests")
"""
    )


if __name__ == "__main__":
    main()
