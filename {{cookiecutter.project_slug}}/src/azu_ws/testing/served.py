"""The app served by uvicorn in a subprocess, and real clients for it: raw sockets included."""

import http.client
import json
import os
import shutil
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

from ..auth import create_token
from ..settings import RuntimeSettings

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
        return self._memory("VmHWM:")

    def memory(self) -> int:
        """The server process's resident memory now, in bytes (Linux)."""
        return self._memory("VmRSS:")

    def _memory(self, field: str) -> int:
        status = Path(f"/proc/{self.pid}/status").read_text()
        (line,) = [line for line in status.splitlines() if line.startswith(field)]
        return int(line.split()[1]) * 1024

    def ws(self, path: str) -> str:
        return self.url.replace("http", "ws", 1) + path

    def token(self, user: str, **claims: Any) -> str:
        settings = RuntimeSettings(_env_file=None, jwt_secret=self.secret)
        return create_token(user, settings, extra_claims=claims)

    def connect(
        self, path: str, user: str, *, compression: str | None = "deflate"
    ) -> ClientConnection:
        """A socket as `user`, its token offered as a subprotocol, as a browser does;
        offering compression (as browsers do, and `websockets`) unless told not to."""
        offered: Any = ["bearer", self.token(user)]
        return connect(
            self.ws(path), subprotocols=offered, compression=compression, open_timeout=WAIT
        )

    def get(self, path: str) -> "http.client.HTTPResponse":
        """GET `path`, to be read in a `with` block."""
        response: http.client.HTTPResponse = urllib.request.urlopen(  # noqa: S310 - loopback
            self.url + path, timeout=WAIT
        )
        return response

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


def system_binary(name: str, purpose: str, *, override: str | None = None) -> str:
    """The path of a program a test needs from the system (Debian package `name`).

    Without it the test skips, saying so; under CI=true it fails instead,
    since a skipped test is not a passed one.
    """
    path = override or shutil.which(name)
    if path is None:
        reason = f"{name} is not installed (Debian: apt-get install {name})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run {purpose}")
        pytest.skip(reason)
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def serve_command(package: str, factory: str | None = None) -> tuple[str, ...]:
    """`python -m <package> serve --port`, as the README runs it in production; with
    `factory` ("module:function"), the app that function makes instead of `main:app`."""
    app = ("--factory", "--app", factory) if factory else ()
    return ("-m", package, "serve", *app, "--port")


@contextmanager
def uvicorn(
    workdir: Path, secret: str, *, command: tuple[str, ...], **settings: str
) -> Iterator[Server]:
    """The app `command` serves (see `serve_command`), on a free port until the block ends."""
    with _served(workdir, secret, command, settings, port=None) as server:
        yield server


@contextmanager
def uvicorn_on(
    port: int, workdir: Path, secret: str, *, command: tuple[str, ...], **settings: str
) -> Iterator[Server]:
    """The same on `port`: a restart, where clients already know to find it."""
    with _served(workdir, secret, command, settings, port=port) as server:
        yield server


@contextmanager
def _served(
    workdir: Path,
    secret: str,
    command: tuple[str, ...],
    settings: dict[str, str],
    port: int | None,
) -> Iterator[Server]:
    log = workdir / "uvicorn.log"
    env = {
        **os.environ,
        # What this process imports, the server imports: the app, and the tests' own apps.
        "PYTHONPATH": os.pathsep.join(path for path in sys.path if path),
        "JWT_SECRET": secret,
        "ENVIRONMENT": "production",
        "DATABASE_URL": f"sqlite:///{workdir}/app.db",
        **settings,
    }
    # A free port can be taken by another test before uvicorn binds it: try another.
    for _ in range(1 if port else 3):
        chosen = port or free_port()
        with log.open("wb") as output:
            process = subprocess.Popen(  # noqa: S603 - the test's own command
                [sys.executable, *command, str(chosen)],
                cwd=workdir,
                env=env,
                stdout=output,
                stderr=output,
            )
        url = f"http://127.0.0.1:{chosen}"
        if wait_until_serving(url, process, log):
            break
    else:
        pytest.fail(f"uvicorn found no free port:\n{log.read_text()}")
    try:
        yield Server(url, log, secret, process.pid, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextmanager
def two_uvicorns(
    workdir: Path, secret: str, *, command: tuple[str, ...], **settings: str
) -> Iterator[tuple[Server, Server]]:
    """Two processes of the app, A and B, with the same settings (say, one BROKER_URL)."""
    (workdir / "a").mkdir()
    (workdir / "b").mkdir()
    with (
        uvicorn(workdir / "a", secret, command=command, **settings) as a,
        uvicorn(workdir / "b", secret, command=command, **settings) as b,
    ):
        yield a, b


def wait_until_serving(url: str, process: "subprocess.Popen[bytes]", log: Path) -> bool:
    """True once this uvicorn serves `url`; False if its port was taken meanwhile.

    Its own log must say it runs on that port: a health check alone could be
    answered by another test's server that took the port.
    """
    deadline = time.monotonic() + 20
    running = f"running on {url} "
    while time.monotonic() < deadline:
        text = log.read_text()
        if process.poll() is not None:
            if "address already in use" in text:
                return False
            pytest.fail(f"uvicorn exited early:\n{text}")
        if running in text:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=1) as response:  # noqa: S310
                    if response.status == 200:
                        return True
            except OSError:
                pass
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


@contextmanager
def stalled_client(
    server: Server, path: str, user: str, receive_buffer: int = 4096
) -> Iterator[socket.socket]:
    """A raw websocket after its handshake: it reads and writes only what the test does.

    The small receive buffer (set before connecting, so the window stays
    small) makes a client that does not read stall the server's sends soon.
    """
    host, port = "127.0.0.1", int(server.url.rsplit(":", 1)[1])
    with socket.socket() as raw:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        raw.settimeout(WAIT)
        raw.connect((host, port))
        handshake = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {server.token(user)}\r\n\r\n"
        )
        raw.sendall(handshake.encode())
        response = b""
        while b"\r\n\r\n" not in response:
            response += raw.recv(1)  # byte by byte: frames may follow the headers
        assert response.startswith(b"HTTP/1.1 101"), response
        yield raw


def client_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A masked client frame (key 0: masking is required, a zero key keeps bytes as they are)."""
    first = (0x80 if fin else 0) | opcode
    length = len(payload)
    if length < 126:
        header = bytes([first, 0x80 | length])
    elif length < 65536:
        header = bytes([first, 0x80 | 126]) + length.to_bytes(2, "big")
    else:
        header = bytes([first, 0x80 | 127]) + length.to_bytes(8, "big")
    return header + b"\0\0\0\0" + payload


def close_code_on(raw: socket.socket) -> int:
    """The code of the first close frame the server sends on a raw socket."""
    received = b""
    while True:
        start = received.find(b"\x88")
        if start >= 0 and len(received) >= start + 4:
            return int.from_bytes(received[start + 2 : start + 4], "big")
        chunk = raw.recv(65536)
        assert chunk, "the server hung up without a close frame"
        received += chunk


def health(server: Server) -> dict[str, Any]:
    with urllib.request.urlopen(server.url + "/healthz", timeout=WAIT) as response:  # noqa: S310
        answer: dict[str, Any] = json.loads(response.read())
        return answer
