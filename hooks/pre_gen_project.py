"""Refuse names that would bake a broken project, before anything is written.

Answers arrive as data (JSON inside a raw string), never as code.
"""

import json
import keyword
import re
import sys
from typing import Any

ANSWERS = json.loads(
    r"""{
    "project_name": {{ cookiecutter.project_name | tojson }},
    "project_slug": {{ cookiecutter.project_slug | tojson }},
    "package_name": {{ cookiecutter.package_name | tojson }},
    "description": {{ cookiecutter.description | tojson }},
    "author_name": {{ cookiecutter.author_name | tojson }},
    "channels": [
        {{ cookiecutter.with_chat | tojson }},
        {{ cookiecutter.with_rooms | tojson }},
        {{ cookiecutter.with_notifications | tojson }},
        {{ cookiecutter.with_live_updates | tojson }}
    ],
    "default_broker": {{ cookiecutter.default_broker | tojson }}
}"""
)

# Import names the generated project uses or installs: a package named like
# one of them would shadow it.
TAKEN = {
    "anyio",
    "auth",
    "cookiecutter",
    "cryptography",
    "dotenv",
    "fastapi",
    "h11",
    "httptools",
    "httpx",
    "httpx2",
    "jose",
    "mypy",
    "pydantic",
    "pydantic_core",
    "pydantic_settings",
    "pytest",
    "pytest_timeout",
    "python_jose",
    "redis",
    "ruff",
    "starlette",
    "tests",
    "uvicorn",
    "uvloop",
    "watchfiles",
    "websockets",
    "wsproto",
}
SLUG = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
PACKAGE = re.compile(r"^[a-z_][a-z0-9_]*$")
# cookiecutter checks a choice given on the command line, but not one read
# from a replay file.
BROKERS = ("memory", "redis")
# These land inside quoted strings of pyproject.toml and Python files.
UNQUOTABLE = re.compile(r'["\\\n\r]')


def problem(answers: dict[str, Any]) -> str | None:
    slug, package = answers["project_slug"], answers["package_name"]
    if not SLUG.match(slug):
        return (
            f"project_slug {slug!r} must be lower case: a letter, then letters, digits, "
            "and single '-' or '_' between them"
        )
    if not PACKAGE.match(package) or not package.isidentifier():
        return f"package_name {package!r} must be a lower-case Python identifier"
    if keyword.iskeyword(package) or keyword.issoftkeyword(package):
        return f"package_name {package!r} is a Python keyword"
    for field, name in (("project_slug", slug.replace("-", "_")), ("package_name", package)):
        if name in sys.stdlib_module_names:
            return f"{field} {name!r} is a standard-library module; pick another name"
        if name in TAKEN:
            return f"{field} {name!r} is the name of a dependency; pick another name"
    for field in ("project_name", "description", "author_name"):
        if UNQUOTABLE.search(answers[field]):
            return f"{field} may not contain double quotes, backslashes or line breaks"
    if not any(answers["channels"]):
        return "choose at least one channel (with_chat, with_rooms, with_notifications, ...)"
    if answers["default_broker"] not in BROKERS:
        return f"default_broker {answers['default_broker']!r} must be one of {', '.join(BROKERS)}"
    return None


if __name__ == "__main__":
    message = problem(ANSWERS)
    if message:
        print(f"azu-ws: {message}", file=sys.stderr)
        sys.exit(1)
