"""The template's entry points: serve the default project, run every test, move the locks.

    python3 scripts/dev.py serve     # bake the default project, serve it on 127.0.0.1:8000
    python3 scripts/dev.py test      # every test of the template (extra args go to pytest)
    python3 scripts/dev.py upgrade   # move every lock to the newest versions, then test
    python3 scripts/dev.py lock      # re-lock after editing a dependency, versions kept
    python3 scripts/dev.py bench     # the benchmark against bare Starlette (bench/run.py)
    python3 scripts/dev.py wheel     # the runtime, azu_ws, as the wheel `azu-ws`, into dist/

Everything installs from a lock, into `.venv/` (uv first, with pip, then the
rest with uv). `serve` needs only uv and cookiecutter there, and gives the
bake its own `.venv` from the bake's `uv.lock`, runtime dependencies only.
`test` makes `.venv` exactly `requirements-dev.txt`: the template's tools and
the default bake's locked dependencies, which every bake in the tests reuses.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
UV = VENV / "bin" / "uv"
TEMPLATE = ROOT / "{{cookiecutter.project_slug}}"
# The default bake's lock: copied into every bake (hooks/post_gen_project.py renames it).
BAKE_LOCK = TEMPLATE / "uv.lock"
# The same project at its declared lower bounds (tests/test_locks.py installs it).
FLOORS_LOCK = ROOT / "tests" / "floors" / "uv.lock"
DEV_IN, DEV_LOCK = ROOT / "requirements-dev.in", ROOT / "requirements-dev.txt"
SERVE_IN, SERVE_LOCK = ROOT / "requirements-serve.in", ROOT / "requirements-serve.txt"
DOCKERFILE = TEMPLATE / "Dockerfile"
WORKFLOW = TEMPLATE / ".github" / "workflows" / "ci.yml"
# Front-end tools the template's tests check the bakes with (tests/test_frontend_contract.py).
NODE_LOCK_DIR = ROOT / "tests" / "node"
NODE_PREFIX = VENV / "node"
DEFAULT_SLUG, DEFAULT_PACKAGE = "realtime-app", "realtime_app"
# The runtime as the library `azu-ws`: its pyproject.toml builds the bakes' src/azu_ws.
RUNTIME_PROJECT = ROOT / "runtime"
RUNTIME_INIT = TEMPLATE / "src" / "azu_ws" / "__init__.py"
DIST = ROOT / "dist"
# Files of a bake that are the user's state, not the template's: never compared, never replaced.
LOCAL_STATE = {".env", ".venv", "data", "artifacts", "__pycache__", ".hypothesis"}
LOCAL_STATE |= {".pytest_cache", ".mypy_cache", ".ruff_cache"}
# uv must use the Python that runs this script, never download one.
UV_ENVIRONMENT = {"UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"}

if sys.version_info < (3, 11):  # noqa: UP036 - say so plainly on an older Python
    sys.exit(f"azu-ws needs Python 3.11 or newer; this is {sys.version.split()[0]}")


def run(*command: str | Path, cwd: Path | None = None, quiet: bool = False) -> str:
    """Run a command, failing loudly; its standard output when `quiet`."""
    env = {**os.environ, **UV_ENVIRONMENT}
    env.pop("VIRTUAL_ENV", None)  # an activated venv is not the one any command here means
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        check=False,
        text=True,
        stdout=subprocess.PIPE if quiet else None,
        stderr=subprocess.PIPE if quiet else None,
    )
    if result.returncode != 0:
        if quiet:
            sys.stderr.write(result.stdout + result.stderr)
        sys.exit(f"azu-ws: {' '.join(map(str, command))} failed ({result.returncode})")
    return result.stdout if quiet else ""


def digest(*paths: Path) -> str:
    return hashlib.sha256(b"".join(path.read_bytes() for path in paths)).hexdigest()


def stamp_of(name: str) -> Path:
    return VENV / f".azu-ws-{name}"


def up_to_date(name: str, *inputs: Path) -> bool:
    """Whether the install called `name` last succeeded from these very `inputs`."""
    stamp = stamp_of(name)
    return stamp.exists() and stamp.read_text() == digest(*inputs)


def mark_installed(name: str, *inputs: Path) -> None:
    stamp_of(name).write_text(digest(*inputs))


def locked_uv() -> str:
    """uv's entry in requirements-dev.txt, with its hashes: the one thing pip installs."""
    match = re.search(r"^uv==\S+(?: \\\n(?:    .*\\\n)*    .*)?$", DEV_LOCK.read_text(), re.M)
    if match is None:
        sys.exit(f"azu-ws: {DEV_LOCK.name} has no uv entry")
    return match[0] + "\n"


def ensure_uv() -> None:
    """.venv with the locked uv in it, made with the running Python and pip."""
    if not PYTHON.exists():
        print("Setting up .venv ...", flush=True)
        run(sys.executable, "-m", "venv", VENV)
    if up_to_date("uv", DEV_LOCK) and UV.exists():
        return
    with tempfile.TemporaryDirectory() as scratch:
        requirement = Path(scratch) / "uv.txt"
        requirement.write_text(locked_uv())
        pip = (PYTHON, "-m", "pip", "install", "--quiet", "--disable-pip-version-check")
        run(*pip, "--require-hashes", "--no-deps", "-r", requirement)
    mark_installed("uv", DEV_LOCK)


def ensure_serve_tools() -> None:
    """uv and cookiecutter: what baking and serving need, and nothing else."""
    ensure_uv()
    if not up_to_date("serve", SERVE_LOCK):
        run(UV, "pip", "install", "--quiet", "--python", PYTHON, "-r", SERVE_LOCK)
        mark_installed("serve", SERVE_LOCK)


def ensure_python_tools() -> None:
    """.venv made exactly requirements-dev.txt."""
    ensure_uv()
    if not up_to_date("test", DEV_LOCK):
        print("Installing the template's tools from requirements-dev.txt ...", flush=True)
        run(UV, "pip", "sync", "--quiet", "--python", PYTHON, DEV_LOCK)
        mark_installed("test", DEV_LOCK)


def ensure_test_tools() -> None:
    """.venv made exactly requirements-dev.txt, and the npm tools from their lock."""
    ensure_python_tools()
    ensure_node_tools()


def ensure_node_tools() -> None:
    """npm packages for the tests, into .venv/node by their lock; without npm, say so."""
    npm = shutil.which("npm")
    if npm is None:
        print("npm not found: the front-end contract tests will skip (CI=true: fail)", flush=True)
        return
    files = (NODE_LOCK_DIR / "package.json", NODE_LOCK_DIR / "package-lock.json")
    if up_to_date("node", *files):
        return
    NODE_PREFIX.mkdir(parents=True, exist_ok=True)
    for file in files:
        shutil.copyfile(file, NODE_PREFIX / file.name)
    run(npm, "ci", "--silent", "--no-audit", "--no-fund", cwd=NODE_PREFIX)
    mark_installed("node", *files)


def bake(output: Path) -> Path:
    """Bake the default project into `output`, quietly; return its directory."""
    run(PYTHON, "-m", "cookiecutter", "--no-input", "--output-dir", output, ROOT, quiet=True)
    return output / DEFAULT_SLUG


def template_files(project: Path) -> dict[str, str]:
    """Each file of a bake that came from the template, by relative path: its sha256."""
    files = {}
    for path in sorted(project.rglob("*")):
        relative = path.relative_to(project)
        if path.is_file() and not set(relative.parts) & LOCAL_STATE:
            files[relative.as_posix()] = digest(path)
    return files


def refresh(project: Path, manifest: Path) -> list[str]:
    """Bring `project` up to date with the template unless the user edited it.

    A bake that is still as it was baked (the manifest says so) takes the
    template's files afresh; its .env, .venv and data stay. An edited one is
    left alone: the paths that differ are returned, for `serve` to say.
    """
    baked: dict[str, str] = json.loads(manifest.read_text()) if manifest.exists() else {}
    if project.exists():
        now = template_files(project)
        edited = sorted(
            name for name in baked.keys() | now.keys() if baked.get(name) != now.get(name)
        )
        if edited:
            return edited
    with tempfile.TemporaryDirectory() as scratch:
        fresh = bake(Path(scratch))
        if project.exists():
            (fresh / ".env").unlink()  # keep the project's secret and settings
            for name in baked:
                (project / name).unlink(missing_ok=True)
        shutil.copytree(fresh, project, dirs_exist_ok=True)
    manifest.write_text(json.dumps(template_files(project), indent=1))
    return []


def serve(host: str, port: int, output: Path) -> None:
    """Bake the default project (keeping an edited one) and serve it with --reload."""
    ensure_serve_tools()
    output.mkdir(parents=True, exist_ok=True)
    project = output / DEFAULT_SLUG
    edited = refresh(project, output / f".{DEFAULT_SLUG}.baked.json")
    print(f"Installing {project.name}'s runtime dependencies from its uv.lock ...", flush=True)
    # --inexact: dev tools the user added with `uv sync` stay.
    run(UV, "sync", "--locked", "--no-dev", "--inexact", "--quiet", cwd=project)
    python = project / ".venv" / "bin" / "python"
    token = run(python, "-m", DEFAULT_PACKAGE, "token", "alice", cwd=project, quiet=True).strip()
    uv = shutil.which("uv") or UV
    kept = ""
    if edited:
        kept = (
            f"\nYour edits are kept ({', '.join(edited[:5])}{', ...' if len(edited) > 5 else ''}):"
            f"\nthis is the bake as you left it. For a fresh one, move {project} away,"
            "\nor bake beside it: python3 scripts/dev.py serve --output DIR\n"
        )
    print(
        f"""{kept}
Serving {project} on http://{host}:{port}
Edit src/{DEFAULT_PACKAGE}/channels/chat.py there: the server reloads.

The demo page, with every channel: http://{host}:{port}/

A token for alice, valid one hour:
    {token}
Chat from a terminal:
    {python} -m websockets 'ws://{host}:{port}/ws/chat?token={token}'
    then type {{"type": "message", "content": "hello"}}

Work on the project (its README says more):
    cd {project}
    {uv} sync --locked       # add the dev tools: ruff, mypy, pytest
    {uv} run pytest
    {uv} run python -m {DEFAULT_PACKAGE} token bob    # another token
""",
        flush=True,
    )
    command = [str(python), "-m", DEFAULT_PACKAGE, "serve", "--reload"]
    command += ["--host", host, "--port", str(port)]
    os.chdir(project)
    os.execv(command[0], command)  # noqa: S606 - the server takes over this process


def lock(upgrade: bool) -> None:
    """Write every lock from what the template declares; with `upgrade`, at the newest versions.

    The bake's uv.lock first, then the same project at its floors, then the
    template's tools compiled together with the bake's pins (one .venv holds
    both), then the serve subset of those, then the npm tools.
    """
    ensure_serve_tools()
    newest = ["--upgrade"] if upgrade else []
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        project = bake(scratch / "bake")
        run(UV, "lock", "--quiet", *newest, cwd=project)
        shutil.copyfile(project / "uv.lock", BAKE_LOCK)

        floors = scratch / "floors"
        shutil.copytree(project, floors)
        if FLOORS_LOCK.exists():
            shutil.copyfile(FLOORS_LOCK, floors / "uv.lock")
        run(UV, "lock", "--quiet", "--resolution", "lowest-direct", *newest, cwd=floors)
        FLOORS_LOCK.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(floors / "uv.lock", FLOORS_LOCK)

        # Stable names inside the scratch folder: they appear in the locks' comments.
        export = ("export", "--frozen", "--all-groups", "--no-emit-project", "--no-hashes")
        run(UV, *export, "--quiet", "-o", scratch / "bake.lock.txt", cwd=project)
        compile_lock(scratch, DEV_IN, DEV_LOCK, [DEV_IN.name, "bake.lock.txt"], newest)
        compile_lock(scratch, SERVE_IN, SERVE_LOCK, [SERVE_IN.name, "-c", DEV_LOCK.name], [])

    npm = shutil.which("npm")
    if npm:
        update = "update" if upgrade else "install"
        quiet = ("--silent", "--no-audit", "--no-fund")
        run(npm, update, "--package-lock-only", *quiet, cwd=NODE_LOCK_DIR)
    else:
        print("npm not found: tests/node/package-lock.json left as it was", flush=True)
    pin_uv()


def compile_lock(
    scratch: Path, source: Path, lock_file: Path, inputs: list[str], extra: list[str]
) -> None:
    """`uv pip compile` `inputs` into `lock_file`: every platform, Python 3.11 up, hashed."""
    for path in (source, DEV_LOCK, lock_file):
        if path.exists():
            shutil.copyfile(path, scratch / path.name)
    run(
        UV,
        "pip",
        "compile",
        "--quiet",
        "--universal",
        "--python-version",
        "3.11",
        "--generate-hashes",
        "--custom-compile-command",
        "python3 scripts/dev.py lock",
        *extra,
        *inputs,
        "-o",
        lock_file.name,
        cwd=scratch,
    )
    shutil.copyfile(scratch / lock_file.name, lock_file)


def pin_uv() -> None:
    """The image and the bake's CI install the uv that the template locks."""
    version = locked_uv().split("==", 1)[1].split()[0]
    text = DOCKERFILE.read_text()
    DOCKERFILE.write_text(re.sub(r"\buv==[\w.]+", f"uv=={version}", text))
    text = WORKFLOW.read_text()  # setup-uv's `version:`, the workflow's only one
    WORKFLOW.write_text(re.sub(r'(?m)^(\s+version: )"[\w.]+"$', rf'\g<1>"{version}"', text))


def build_wheel(output: Path, python: Path = PYTHON) -> Path:
    """The runtime's wheel, built into `output` by the hatchling beside `python`; its path.

    No build environment is made: nothing is downloaded, and the backend is the
    locked one (requirements-dev.txt).
    """
    uv = python.parent / "uv"
    build = ("build", "--wheel", "--no-build-isolation", "--python", python)
    run(uv, *build, "--out-dir", output, RUNTIME_PROJECT, quiet=True)
    version = re.search(r'^__version__ = "([^"]+)"', RUNTIME_INIT.read_text(), re.M)
    if version is None:
        sys.exit(f"azu-ws: {RUNTIME_INIT} names no __version__")
    return output / f"azu_ws-{version[1]}-py3-none-any.whl"


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
    commands.add_parser("upgrade", help="move every lock to the newest versions, then test")
    commands.add_parser("lock", help="re-lock after editing a dependency, versions kept")
    commands.add_parser("bench", help="benchmark the app against bare Starlette", add_help=False)
    commands.add_parser("wheel", help="build the runtime, azu_ws, as the wheel azu-ws into dist/")
    args, rest = parser.parse_known_args()
    if args.command in ("serve", "upgrade", "lock", "wheel") and rest:
        parser.error(f"unknown arguments: {' '.join(rest)}")
    if args.command == "serve":
        serve(args.host, args.port, args.output.resolve())
    elif args.command == "wheel":
        ensure_python_tools()
        print(build_wheel(DIST))
    elif args.command in ("upgrade", "lock"):
        lock(upgrade=args.command == "upgrade")
        if args.command == "upgrade":
            print("Locks moved (git diff shows what). Running every test on them ...", flush=True)
            ensure_test_tools()
            sys.exit(test([]))
    else:
        ensure_test_tools()
        sys.exit(bench(rest) if args.command == "bench" else test(rest))


if __name__ == "__main__":
    main()
