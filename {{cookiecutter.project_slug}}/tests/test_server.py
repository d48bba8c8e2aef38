"""End to end: the app served by uvicorn in a subprocess, spoken to by a real websockets client."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

import {{ cookiecutter.package_name }}
from {{ cookiecutter.package_name }}.auth import create_token
from {{ cookiecutter.package_name }}.config import Settings

from .conftest import TEST_SECRET

PACKAGE = {{ cookiecutter.package_name }}.__name__
SOURCE = Path({{ cookiecutter.package_name }}.__file__).resolve().parents[1]
WAIT = 5.0  # seconds any one frame may take on loopback


@dataclass
class Server:
    url: str
    log: Path

    def ws(self, path: str = "/ws/chat") -> str:
        return self.url.replace("http", "ws", 1) + path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("server")  # no .env here: settings come from env
    log = workdir / "uvicorn.log"
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(SOURCE),
        "JWT_SECRET": TEST_SECRET,
        "ENVIRONMENT": "production",
    }
    command = [sys.executable, "-m", "uvicorn", f"{PACKAGE}.main:app", "--port", str(port)]
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=output, stderr=output)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, process, log)
        yield Server(url, log)
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_until_serving(url: str, process: "subprocess.Popen[bytes]", log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"uvicorn exited early:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"uvicorn did not serve within 20 s:\n{log.read_text()}")


def token(user: str) -> str:
    return create_token(user, Settings(_env_file=None, jwt_secret=TEST_SECRET))


def receive(ws: ClientConnection, expected: str) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(ws.recv(timeout=WAIT))
    assert frame["type"] == expected, frame
    return frame


def test_healthz_is_served(server: Server) -> None:
    with urllib.request.urlopen(server.url + "/healthz", timeout=WAIT) as response:  # noqa: S310
        assert response.status == 200


def test_no_token_is_refused_with_4401(server: Server) -> None:
    with connect(server.ws(), open_timeout=WAIT) as ws, pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=WAIT)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4401, "missing token")


def test_a_message_from_one_client_reaches_another(server: Server) -> None:
    alice_auth = {"Authorization": f"Bearer {token('alice')}"}
    with (
        connect(server.ws(), additional_headers=alice_auth, open_timeout=WAIT) as alice,
        connect(server.ws(), subprotocols=["bearer", token("bob")], open_timeout=WAIT) as bob,  # type: ignore[list-item]
    ):
        assert bob.subprotocol == "bearer"
        receive(alice, "connected")
        receive(bob, "connected")
        alice.send(json.dumps({"type": "message", "content": "over the wire"}))
        frame = receive(bob, "message")
        assert (frame["content"], frame["user"]) == ("over the wire", "alice")


def test_a_token_in_the_query_never_reaches_the_log(server: Server) -> None:
    secret_token = token("quinn")
    with connect(server.ws() + f"?token={secret_token}", open_timeout=WAIT) as ws:
        assert receive(ws, "connected")["user"] == "quinn"
    log = server.log.read_text()
    assert "token=[redacted]" in log
    assert secret_token not in log


def test_connects_and_disconnects_are_logged_with_the_count(server: Server) -> None:
    with connect(server.ws(), subprotocols=["bearer", token("logan")], open_timeout=WAIT) as ws:  # type: ignore[list-item]
        receive(ws, "connected")
    deadline = time.monotonic() + WAIT
    while "logan disconnected" not in server.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = server.log.read_text()
    assert "/ws/chat: logan connected (connections: " in log
    assert "/ws/chat: logan disconnected with 1000 (connections: " in log


def test_a_missing_secret_stops_uvicorn_with_one_line_naming_it(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "JWT_SECRET"}
    env["PYTHONPATH"] = str(SOURCE)
    command = [sys.executable, "-m", "uvicorn", f"{PACKAGE}.main:app", "--port", str(free_port())]
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode != 0
    assert "JWT_SECRET: Field required" in result.stderr
    assert "Traceback" not in result.stderr
