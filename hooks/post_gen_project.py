"""Give the new project its own secret, then say what to do next."""

import json
import pathlib
import secrets

ANSWERS = json.loads(
    r"""{
    "project_slug": {{ cookiecutter.project_slug | tojson }},
    "package_name": {{ cookiecutter.package_name | tojson }}
}"""
)
PLACEHOLDER = "change-me-to-a-random-secret-of-at-least-32-bytes"


def write_env(project: pathlib.Path) -> None:
    """`.env` is `.env.example` with a fresh random secret (48 bytes); git ignores it."""
    example = (project / ".env.example").read_text(encoding="utf-8")
    if PLACEHOLDER not in example:
        raise SystemExit("ERROR: .env.example lost its JWT_SECRET placeholder")
    secret = secrets.token_urlsafe(48)
    env = project / ".env"
    env.write_text(example.replace(PLACEHOLDER, secret), encoding="utf-8")
    env.chmod(0o600)


def main() -> None:
    project = pathlib.Path.cwd()
    write_env(project)
    slug, package = ANSWERS["project_slug"], ANSWERS["package_name"]
    print(
        f"""
Created {slug}/ with a random JWT_SECRET in {slug}/.env.

Next steps:
    cd {slug}
    python3 -m venv .venv && . .venv/bin/activate
    pip install -e ".[dev]"          # or: uv sync --extra dev
    uvicorn {package}.main:app --reload
    python -m {package}.auth alice   # a token for ws://127.0.0.1:8000/ws/chat
    pytest                           # the project's tests
"""
    )


if __name__ == "__main__":
    main()
