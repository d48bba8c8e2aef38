"""The template's two entry points: bake and serve the default project, or run every test.

    python3 scripts/dev.py serve     # bake the default project, serve it on 127.0.0.1:8000
    python3 scripts/dev.py test      # every test of the template (extra args go to pytest)
    python3 scripts/dev.py bench     # the benchmark against bare Starlette (bench/run.py)

Both set up `.venv/` first, once: the template's tools and the generated
project's dependencies, read from its own pyproject.toml, so every bake in the
tests reuses them instead of installing its own.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".azu-ws-installed"
TEMPLATE_PYPROJECT = ROOT / "{{cookiecutter.project_slug}}" / "pyproject.toml"
REQUIREMENTS = ROOT / "requirements-dev.txt"
# Front-end tools the template's tests check the bakes with (tests/test_frontend_contract.py).
NODE_PREFIX = VENV / "node"
NODE_PACKAGES = ("@asyncapi/specs@6.11.1", "typescript@5.9.3")
DEFAULT_SLUG, DEFAULT_PACKAGE = "realtime-app", "realtime_app"

if sys.version_info < (3, 11):  # noqa: UP036 - say so plainly on an older Python
    sys.exit(f"azu-ws needs Python 3.11 or newer; this is {sys.version.split()[0]}")


def run(*command: str | Path, **kwargs: object) -> None:
    subprocess.run([str(part) for part in command], check=True, **kwargs)  # type: ignore[call-overload]


def ensure_venv() -> None:
    """Create .venv and install what the template and its bakes need, when those change."""
    wanted = hashlib.sha256(
        REQUIREMENTS.read_bytes()
        + TEMPLATE_PYPROJECT.read_bytes()
        + " ".join(NODE_PACKAGES).encode()
    ).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted and PYTHON.exists():
        return
    print("Setting up .venv (once) ...", flush=True)
    if not PYTHON.exists():
        run(sys.executable, "-m", "venv", VENV)
    pip = (PYTHON, "-m", "pip", "install", "--quiet", "--disable-pip-version-check")
    run(*pip, "-r", REQUIREMENTS)
    with tempfile.TemporaryDirectory() as scratch:
        # The generated project's own declaration of its dependencies is the
        # one source of truth: bake it, install it with its dev extra, and
        # remove the project itself so no bake is shadowed by it.
        project = bake(Path(scratch))
        run(*pip, f"{project}[dev]")
        run(PYTHON, "-m", "pip", "uninstall", "--quiet", "--yes", DEFAULT_SLUG)
    ensure_node_tools()
    STAMP.write_text(wanted)


def ensure_node_tools() -> None:
    """npm packages for the tests, into .venv/node; without npm, say so (those tests skip)."""
    npm = shutil.which("npm")
    if npm is None:
        print("npm not found: the front-end contract tests will skip (CI=true: fail)", flush=True)
        return
    run(
        npm,
        "install",
        "--silent",
        "--no-audit",
        "--no-fund",
        "--prefix",
        NODE_PREFIX,
        *NODE_PACKAGES,
    )


def bake(output: Path) -> Path:
    """Bake the default project into `output`; return its directory."""
    run(PYTHON, "-m", "cookiecutter", "--no-input", "--output-dir", output, ROOT)
    return output / DEFAULT_SLUG


def serve(host: str, port: int, output: Path) -> None:
    """Bake afresh into `output` and serve it with --reload on embedded defaults."""
    project = output / DEFAULT_SLUG
    if project.exists():
        shutil.rmtree(project)
    output.mkdir(parents=True, exist_ok=True)
    bake(output)
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    token = subprocess.run(
        [PYTHON, "-m", f"{DEFAULT_PACKAGE}.auth", "alice"],
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    print(
        f"""
Serving {project} on http://{host}:{port} (edit src/{DEFAULT_PACKAGE}/channels/chat.py:
the server reloads). Rerunning this command bakes the project afresh.

The demo page, with every channel: http://{host}:{port}/

A token for alice, valid one hour (mint more: cd {project} && PYTHONPATH=src \\
    {PYTHON} -m {DEFAULT_PACKAGE}.auth bob):
    {token}
Chat from a terminal:
    {PYTHON} -m websockets 'ws://{host}:{port}/ws/chat?token={token}'
    then type {{"type": "message", "content": "hello"}}
""",
        flush=True,
    )
    command = [str(PYTHON), "-m", DEFAULT_PACKAGE, "serve", "--reload"]
    command += ["--host", host, "--port", str(port)]
    os.chdir(project)
    os.execve(command[0], command, env)  # noqa: S606 - the server takes over this process


def test(pytest_args: list[str]) -> int:
    """Run every test of the template; pytest's exit code is ours."""
    return subprocess.run([PYTHON, "-m", "pytest", *pytest_args], cwd=ROOT, check=False).returncode


def bench(bench_args: list[str]) -> int:
    """Run the benchmark by hand (never in the tests): bench/run.py says what it measures."""
    command = [str(PYTHON), str(ROOT / "bench" / "run.py"), *bench_args]
    return subprocess.run(command, cwd=ROOT, check=False).returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="bake the default project and serve it")
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=8000)
    serve_parser.add_argument("--output", type=Path, default=ROOT / ".bake")
    commands.add_parser("test", help="run every test of the template", add_help=False)
    commands.add_parser("bench", help="benchmark the app against bare Starlette", add_help=False)
    args, rest = parser.parse_known_args()
    ensure_venv()
    if args.command == "serve":
        if rest:
            parser.error(f"unknown arguments: {' '.join(rest)}")
        serve(args.host, args.port, args.output.resolve())
    elif args.command == "bench":
        sys.exit(bench(rest))
    else:
        sys.exit(test(rest))


if __name__ == "__main__":
    main()
