"""End-to-end helpers: the app served by uvicorn in a subprocess, real websockets clients."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

import {{ cookiecutter.package_name }}
from {{ cookiecutter.package_name }}.auth import create_token
from {{ cookiecutter.package_name }}.config import Settings

PACKAGE = {{ cookiecutter.package_name }}.__name__
SOURCE = Path({{ cookiecutter.package_name }}.__file__).resolve().parents[1]
PROJECT = SOURCE.parent
WAIT = 5.0  # seconds any one frame may take on loopback


@dataclass
class Server:
    url: str
    log: Path
    secret: str
    pid: int
    process: "subprocess.Popen[bytes]"

    def stop(self) -> bool:
        """SIGTERM, as a deployment would send; True if uvicorn then shut down by itself.

        uvicorn re-raises the signal once it has shut down gracefully, so its
        exit status is -SIGTERM, or 0 on older versions.
        """
        self.process.terminate()
        return self.process.wait(timeout=20) in (0, -signal.SIGTERM)

    def peak_memory(self) -> int:
        """The server process's peak resident memory so far, in bytes (Linux)."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        (line,) = [line for line in status.splitlines() if line.startswith("VmHWM:")]
        return int(line.split()[1]) * 1024

    def ws(self, path: str) -> str:
        return self.url.replace("http", "ws", 1) + path

    def token(self, user: str, **claims: Any) -> str:
        settings = Settings(_env_file=None, jwt_secret=self.secret)
        return create_token(user, settings, extra_claims=claims)

    def connect(self, path: str, user: str) -> ClientConnection:
        """A socket as `user`, its token offered as a subprotocol, as a browser does."""
        offered: Any = ["bearer", self.token(user)]
        return connect(self.ws(path), subprotocols=offered, open_timeout=WAIT)

    def post(self, path: str, body: dict[str, Any], scope: str) -> dict[str, Any]:
        """POST as a service account holding `scope`; the JSON answer of a 202."""
        request = urllib.request.Request(  # noqa: S310 - a loopback URL we built
            self.url + path,
            data=json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {self.token('service', scope=scope)}",
                "Content-Type": "application/json",
            },
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=WAIT) as response:  # noqa: S310
            assert response.status == 202
            answer: dict[str, Any] = json.loads(response.read())
            return answer


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


PROBE_APP = ("-m", "uvicorn", "--factory", "tests.probe:create_probe_app", "--port")
SERVE_COMMAND = ("-m", PACKAGE, "serve", "--port")


@contextmanager
def uvicorn(
    workdir: Path, secret: str, *, command: tuple[str, ...] = PROBE_APP, **settings: str
) -> Iterator[Server]:
    """The app (by default with the probe channel) served on a free port until the block ends."""
    log, port = workdir / "uvicorn.log", free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SOURCE), str(PROJECT)]),
        "JWT_SECRET": secret,
        "ENVIRONMENT": "production",
        "DATABASE_URL": f"sqlite:///{workdir}/app.db",
        **settings,
    }
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, *command, str(port)],
            cwd=workdir,
            env=env,
            stdout=output,
            stderr=output,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, process, log)
        yield Server(url, log, secret, process.pid, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
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


def wait_for_log(server: Server, text: str, within: float = WAIT) -> str:
    """The server's log once it contains `text` (or after `within` seconds, for the assert)."""
    deadline = time.monotonic() + within
    while text not in (log := server.log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return log


def receive(ws: ClientConnection, expected: str) -> dict[str, Any]:
    """The next frame, which must be of type `expected`."""
    frame: dict[str, Any] = json.loads(ws.recv(timeout=WAIT))
    assert frame["type"] == expected, frame
    return frame
