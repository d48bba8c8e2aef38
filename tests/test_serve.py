"""The README's first command, used as a newcomer would: serve, mint a token, chat, edit, reload."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from websockets.exceptions import WebSocketException
from websockets.sync.client import connect

from .conftest import ROOT, Bake, python_in

WAIT = 5.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serving(root: Path, log: Path, *options: str) -> Iterator[str]:
    """`python3 scripts/dev.py serve` of the checkout at `root`, on a free port, until the
    block ends; the chat's websocket URL."""
    port = free_port()
    command = [sys.executable, str(root / "scripts" / "dev.py"), "serve", "--port", str(port)]
    with log.open("ab") as output:
        # Its own process group: --reload runs the app in a child process.
        process = subprocess.Popen(
            [*command, *options], stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_for_health(f"http://127.0.0.1:{port}/healthz", process, log)
        yield f"ws://127.0.0.1:{port}/ws/chat"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """`scripts/dev.py serve` on a free port, baking into tmp_path; (ws url, project, log)."""
    log, output = tmp_path / "serve.log", tmp_path / "out"
    with serving(ROOT, log, "--output", str(output)) as url:
        yield url, output / "realtime-app", log


def wait_for_health(url: str, process: "subprocess.Popen[bytes]", log: Path) -> None:
    deadline = time.monotonic() + 120  # a first run may still be installing .venv
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"not serving after 120 s:\n{log.read_text()}")


def mint_token(project: Path, user: str) -> str:
    """The generated README's command, run in the project as a user would."""
    return python_in(project, "-m", "realtime_app", "token", user).strip()


def greeting(url: str, token: str) -> str:
    with connect(url, subprotocols=["bearer", token], open_timeout=WAIT) as ws:  # type: ignore[list-item]
        frame = json.loads(ws.recv(timeout=WAIT))
        assert frame["type"] == "connected"
        return str(frame["message"])


def test_serve_mint_chat_edit_and_see_the_reload(served: tuple[str, Path, Path]) -> None:
    url, project, log = served
    printed_token = re.search(r"token=([\w.-]+)'", log.read_text())
    assert printed_token, log.read_text()
    token = mint_token(project, "alice")
    with (
        connect(url, subprotocols=["bearer", token], open_timeout=WAIT) as alice,  # type: ignore[list-item]
        connect(f"{url}?token={printed_token[1]}", open_timeout=WAIT) as other,
    ):
        assert json.loads(alice.recv(timeout=WAIT))["type"] == "connected"
        assert json.loads(other.recv(timeout=WAIT))["type"] == "connected"
        alice.send(json.dumps({"type": "message", "content": "hello"}))
        frame = json.loads(other.recv(timeout=WAIT))
        assert (frame["type"], frame["content"], frame["user"]) == ("message", "hello", "alice")

    chat = project / "src" / "realtime_app" / "channels" / "chat.py"
    chat.write_text(chat.read_text().replace('"Connected to chat"', '"Welcome to the edited chat"'))
    deadline = time.monotonic() + 30
    seen = ""
    while time.monotonic() < deadline and seen != "Welcome to the edited chat":
        try:
            seen = greeting(url, token)
        except (OSError, WebSocketException):
            time.sleep(0.2)  # the server is restarting
    assert seen == "Welcome to the edited chat", log.read_text()


@pytest.fixture
def fresh_clone(tmp_path: Path) -> Path:
    """This checkout's files as a fresh clone has them: what git tracks, no .venv, no .bake."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    clone = tmp_path / "azu-ws"
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, clone / name)
    return clone


def site_packages(venv: Path) -> set[str]:
    """The import names installed in a venv, lower-cased."""
    (packages,) = venv.glob("lib/python3*/site-packages")
    return {path.name.lower() for path in packages.iterdir()}


def pong(url: str, token: str) -> dict[str, object]:
    with connect(url, subprotocols=["bearer", token], open_timeout=WAIT) as ws:  # type: ignore[list-item]
        assert json.loads(ws.recv(timeout=WAIT))["type"] == "connected"
        ws.send(json.dumps({"type": "ping", "ref": "1"}))
        reply: dict[str, object] = json.loads(ws.recv(timeout=WAIT))
        return reply


def test_serve_on_a_fresh_clone_installs_no_test_tool_and_keeps_edits(fresh_clone: Path) -> None:
    log = fresh_clone.parent / "serve.log"
    project = fresh_clone / ".bake" / "realtime-app"
    with serving(fresh_clone, log) as url:
        printed = log.read_text()
        token = re.search(r"token=([\w.-]+)'", printed)
        assert token, printed
        assert pong(url, token[1])["type"] == "pong"
    # One set of next steps, the serve command's, naming the project it serves.
    assert printed.count("Work on the project") == 1, printed
    assert "Next steps" not in printed
    assert f"cd {project}" in printed
    # Nothing but uv and cookiecutter in the template's .venv, runtime packages in the bake's.
    test_tools = {"playwright", "mypy", "pytest", "ruff", "hypothesis"}
    assert not test_tools & site_packages(fresh_clone / ".venv")
    assert not (fresh_clone / ".venv" / "node").exists()
    assert not test_tools & site_packages(project / ".venv")
    assert {"fastapi", "uvicorn"} <= site_packages(project / ".venv")
    assert "cookiecutter" in site_packages(fresh_clone / ".venv")

    chat = project / "src" / "realtime_app" / "channels" / "chat.py"
    chat.write_text(chat.read_text().replace('"Connected to chat"', '"My own chat"'))
    with serving(fresh_clone, log) as url:
        assert greeting(url, token[1]) == "My own chat"
    again = log.read_text()[len(printed) :]
    assert "Your edits are kept (src/realtime_app/channels/chat.py)" in again, again


def test_the_readme_opens_with_the_serve_and_test_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()]
    assert commands == ["python3 scripts/dev.py serve", "python3 scripts/dev.py test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 scripts/dev.py test" in ci


@pytest.fixture
def plain_uvicorn(bake: Bake, tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """`uvicorn <package>.main:app --reload` in a fresh bake, as uvicorn's own docs run it."""
    project = bake()
    port, log = free_port(), tmp_path / "uvicorn.log"
    command = [sys.executable, "-m", "uvicorn", "realtime_app.main:app", "--reload"]
    command += ["--port", str(port)]
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=project,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_health(f"http://127.0.0.1:{port}/healthz", process, log)
        yield f"ws://127.0.0.1:{port}/ws/chat", project, log
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def greeting_within(url: str, token: str, seconds: float, wanted: str) -> str:
    """The chat's greeting once it is `wanted`, or the last one seen after `seconds`."""
    deadline, seen = time.monotonic() + seconds, ""
    while time.monotonic() < deadline and seen != wanted:
        try:
            seen = greeting(url, token)
        except (OSError, WebSocketException):
            time.sleep(0.2)  # restarting, or not serving
    return seen


def test_plain_uvicorn_reload_shows_an_edit_a_syntax_error_and_the_recovery(
    plain_uvicorn: tuple[str, Path, Path],
) -> None:
    url, project, log = plain_uvicorn
    token = mint_token(project, "alice")
    assert greeting(url, token) == "Connected to chat"
    # In development it serves, and says what production would refuse.
    assert "uvicorn lacks --http azu_ws.http_edge:HttpEdge" in log.read_text()
    chat = project / "src" / "realtime_app" / "channels" / "chat.py"
    original = chat.read_text()

    chat.write_text(original.replace('"Connected to chat"', '"Edited once"'))
    assert greeting_within(url, token, 30, "Edited once") == "Edited once", log.read_text()

    broken = original.replace(
        "    async def on_connect(self) -> None:", "    async def on_connect(self) ->"
    )
    chat.write_text(broken)
    deadline = time.monotonic() + 30
    while "SyntaxError" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    text = log.read_text()
    # Readable: the file, the line and what is wrong, as Python reports it.
    line = broken.splitlines().index("    async def on_connect(self) ->") + 1
    assert f'channels/chat.py", line {line}' in text, text[-3000:]
    assert "SyntaxError: invalid syntax" in text or "SyntaxError: expected" in text, text[-3000:]

    chat.write_text(original.replace('"Connected to chat"', '"Fixed again"'))
    assert greeting_within(url, token, 30, "Fixed again") == "Fixed again", log.read_text()[-3000:]
