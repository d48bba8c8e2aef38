"""End to end, on the probe channel: uvicorn serves the app to a real websockets client."""

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from azu_ws.connection import DROP_GRACE_SECONDS
from azu_ws.launch import EDGE_PROTOCOL
from azu_ws.testing import (
    WAIT,
    Server,
    client_frame,
    close_code_on,
    free_port,
    receive,
    stalled_client,
    uvicorn,
    wait_for_log,
)
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from .bench import IMPORT_PATH, PACKAGE, SERVE
from .testapp.channels import CHANNELS, PROBE


def test_healthz_is_served(server: Server) -> None:
    with urllib.request.urlopen(server.url + "/healthz", timeout=WAIT) as response:  # noqa: S310
        assert response.status == 200


def test_no_token_is_refused_with_4401(server: Server) -> None:
    with (
        connect(server.ws(PROBE), open_timeout=WAIT) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        ws.recv(timeout=WAIT)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4401, "missing token")


def test_a_token_in_the_header_and_one_in_the_subprotocol_both_work(server: Server) -> None:
    alice_auth = {"Authorization": f"Bearer {server.token('alice')}"}
    with (
        connect(server.ws(PROBE), additional_headers=alice_auth, open_timeout=WAIT) as alice,
        server.connect(PROBE, "bob") as bob,
    ):
        assert bob.subprotocol == "bearer"
        assert receive(alice, "connected")["user"] == "alice"
        assert receive(bob, "connected")["user"] == "bob"
        alice.send(json.dumps({"type": "message", "content": "over the wire"}))
        frame = receive(bob, "message")
        assert (frame["content"], frame["user"]) == ("over the wire", "alice")


def test_a_token_in_the_query_never_reaches_the_log(server: Server) -> None:
    secret_token = server.token("quinn")
    with connect(server.ws(PROBE) + f"?token={secret_token}", open_timeout=WAIT) as ws:
        assert receive(ws, "connected")["user"] == "quinn"
    log = server.log.read_text()
    assert "token=[redacted]" in log
    assert secret_token not in log


def test_connects_and_disconnects_are_logged_with_the_count(server: Server) -> None:
    with server.connect(PROBE, "logan") as ws:
        receive(ws, "connected")
    log = wait_for_log(server, "logan disconnected")
    assert f"{PROBE}: logan connected (connections: " in log
    assert f"{PROBE}: logan disconnected with 1000 (connections: " in log


def test_a_missing_secret_stops_uvicorn_with_one_line_naming_it(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "JWT_SECRET"}
    env["PYTHONPATH"] = IMPORT_PATH
    command = [sys.executable, "-m", "uvicorn", f"{PACKAGE}.main:app", "--port", str(free_port())]
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode != 0
    assert "JWT_SECRET: Field required" in result.stderr
    assert "Traceback" not in result.stderr


@contextmanager
def a_dropped_zombie(
    tmp_path: Path, command: tuple[str, ...] = SERVE, **settings: str
) -> Iterator[tuple[Server, socket.socket, ClientConnection]]:
    """A server, a peer that never reads, and a sender whose flood got that peer dropped."""
    limits = {"WS_SEND_QUEUE_SIZE": "8", "WS_RATE_LIMIT": "1000000", "WS_RATE_BURST": "1000"}
    secret = "a-secret-only-for-the-slow-consumer-tests"
    with (
        uvicorn(tmp_path, secret, command=command, **limits, **settings) as server,
        stalled_client(server, PROBE, "zombie") as zombie,
        server.connect(PROBE, "sender") as sender,
    ):
        receive(sender, "connected")
        flood_until_dropped(server, sender)
        yield server, zombie, sender


def test_a_client_that_stops_reading_is_dropped_with_4008_at_once(tmp_path: Path) -> None:
    with a_dropped_zombie(tmp_path) as (server, _, sender):
        # Its session ends at once, though the zombie never sends anything
        # more: well before the 5 s an unanswered close may take.
        log = wait_for_log(server, "zombie disconnected", within=2)
        assert f"{PROBE}: zombie disconnected with 4008 (connections: 1)" in log
        sender.send(json.dumps({"type": "ping"}))
        receive(sender, "pong")


def a_channel_path() -> str:
    """The path of the test app's first channel, its parameters filled in."""
    return re.sub(r"\{[^}]+\}", "x", CHANNELS[0].path)


def refuses_compression_and_a_huge_frame(server: Server, path: str) -> None:
    """Compression offered (as browsers do) is not taken, and a frame announcing 8 MiB
    (under uvicorn's own 16 MiB) is refused after 64 KiB of it, not read whole."""
    with server.connect(path, "alice") as ws:
        assert ws.protocol.extensions == []
    with stalled_client(server, path, "mallory") as raw:
        before = server.peak_memory()
        frame = client_frame(0x1, b"x" * (8 * 1024 * 1024))
        raw.sendall(frame[: 14 + 65536])
        assert close_code_on(raw) == 1009
    assert server.peak_memory() - before < 4 * 1024 * 1024


def test_the_serve_command_refuses_a_huge_frame_without_reading_it(tmp_path: Path) -> None:
    secret = "a-secret-only-for-this-serve-command-test"
    with uvicorn(tmp_path, secret, command=SERVE) as server:
        refuses_compression_and_a_huge_frame(server, a_channel_path())


def test_with_compression_turned_on_the_size_after_decompression_is_bounded(
    tmp_path: Path,
) -> None:
    secret = "a-secret-only-for-this-compression-test-01"
    with (
        uvicorn(tmp_path, secret, command=SERVE, WS_PER_MESSAGE_DEFLATE="true") as server,
        server.connect(a_channel_path(), "mallory") as ws,
    ):
        assert ws.protocol.extensions  # deflate was negotiated
        before = server.peak_memory()
        ws.send("x" * (8 * 1024 * 1024))  # a few kB on the wire, 8 MiB inflated
        closed = close_of(ws)
        assert closed.rcvd is not None
        assert closed.rcvd.code == 1009
        assert server.peak_memory() - before < 4 * 1024 * 1024


def close_of(ws: ClientConnection) -> ConnectionClosed:
    """Read until the server closes the socket; how it closed it."""
    try:
        while True:
            ws.recv(timeout=WAIT)
    except ConnectionClosed as closed:
        return closed


def test_on_sigterm_clients_are_told_1012_and_the_server_shuts_down_cleanly(
    tmp_path: Path,
) -> None:
    with uvicorn(tmp_path, "a-secret-only-for-this-shutdown-test-0123", command=SERVE) as server:
        with server.connect(PROBE, "alice") as alice:
            receive(alice, "connected")
            assert server.stop()
            with pytest.raises(ConnectionClosed) as closed:
                alice.recv(timeout=WAIT)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1012  # service restart: reconnect, with backoff
        log = server.log.read_text()
        assert "Application shutdown complete" in log
        assert "Traceback" not in log


def test_a_client_that_stopped_reading_cannot_hold_a_shutdown_open(tmp_path: Path) -> None:
    with a_dropped_zombie(tmp_path, SHUTDOWN_TIMEOUT="2") as (server, _, _):
        started = time.monotonic()
        assert server.stop()  # the zombie is still connected at the TCP level
        assert time.monotonic() - started < 2 + WAIT


def flood_until_dropped(server: Server, sender: ClientConnection) -> None:
    """Relay binary frames (up to 24 MB) to a stalled peer until the server drops it."""
    for _ in range(400):
        sender.send(b"x" * 60_000)
        if "as a slow consumer" in server.log.read_text():
            return
    pytest.fail("the stalled peer was never dropped")


def test_a_dropped_peer_that_never_reads_has_its_tcp_connection_reset(tmp_path: Path) -> None:
    with a_dropped_zombie(tmp_path) as (_, zombie, _):
        # The close frame cannot get through a full buffer; after its grace
        # the server resets the connection instead of holding it open.
        time.sleep(DROP_GRACE_SECONDS + 1)
        with pytest.raises(ConnectionResetError):
            read_to_the_end(zombie)


def read_to_the_end(raw: socket.socket) -> None:
    """Read what is buffered; return on an orderly end, raise on a reset (or time out)."""
    for _ in range(10_000):
        if not raw.recv(65536):
            return


# Plain uvicorn with the options the README gives it (those `serve` passes itself).
PLAIN_OPTIONS = (
    *("--http", EDGE_PROTOCOL),
    *("--ws-per-message-deflate", "false", "--ws-max-size", "1048576"),
    *("--timeout-graceful-shutdown", "2"),
)
PLAIN_PROBE = ("-m", "uvicorn", "--factory", f"{PACKAGE}.app:create_app", *PLAIN_OPTIONS)


def test_plain_uvicorn_without_the_options_refuses_to_start_outside_development(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "PYTHONPATH": IMPORT_PATH, "ENVIRONMENT": "production"}
    env["JWT_SECRET"] = "a-secret-only-for-the-plain-uvicorn-test-0123"
    command = [sys.executable, "-m", "uvicorn", f"{PACKAGE}.main:app", "--port", str(free_port())]
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        f"{PACKAGE}: uvicorn lacks --http {EDGE_PROTOCOL} --ws-per-message-deflate false "
        f"--ws-max-size 1048576 --timeout-graceful-shutdown 10: start with `python -m {PACKAGE} "
        "serve`, which passes them from the settings, or add them"
    )


# uvicorn started from Python, as a team's own launcher script would.
RUN_FROM_PYTHON = """
import sys, uvicorn
options = dict(
    http="{edge}", ws_per_message_deflate=False, ws_max_size=1048576, timeout_graceful_shutdown=2
)
uvicorn.run("{package}.main:app", port=int(sys.argv[1]), **(options if "{safe}" else {{}}))
"""


@pytest.mark.parametrize("safe", [False, True], ids=["bare", "with-the-options"])
def test_uvicorn_run_from_python_is_checked_like_the_command(tmp_path: Path, safe: bool) -> None:
    script = RUN_FROM_PYTHON.format(edge=EDGE_PROTOCOL, package=PACKAGE, safe="yes" if safe else "")
    secret = "a-secret-only-for-the-uvicorn-run-test-012345"
    if safe:
        with uvicorn(tmp_path, secret, command=("-c", script)) as server:
            with server.connect(a_channel_path(), "alice") as ws:
                assert json.loads(ws.recv(timeout=WAIT))["type"] == "connected"
            assert "uvicorn lacks" not in server.log.read_text()
        return
    env = {**os.environ, "PYTHONPATH": IMPORT_PATH, "ENVIRONMENT": "production"}
    env["JWT_SECRET"] = secret
    result = subprocess.run(
        [sys.executable, "-c", script, str(free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert f"{PACKAGE}: uvicorn lacks --http {EDGE_PROTOCOL}" in result.stderr


def test_plain_uvicorn_with_the_options_refuses_the_compression_bomb(tmp_path: Path) -> None:
    secret = "a-secret-only-for-the-plain-uvicorn-test-0123"
    with uvicorn(tmp_path, secret, command=(*PLAIN_PROBE, "--port")) as server:
        refuses_compression_and_a_huge_frame(server, PROBE)


def test_plain_uvicorn_with_the_options_shuts_down_in_time_past_a_stalled_reader(
    tmp_path: Path,
) -> None:
    with a_dropped_zombie(tmp_path, command=(*PLAIN_PROBE, "--port")) as (server, _, _):
        started = time.monotonic()
        assert server.stop()  # the zombie is still connected at the TCP level
        assert time.monotonic() - started < 2 + WAIT


def test_a_handshake_whose_headers_never_finish_is_cut_off_and_others_are_served(
    tmp_path: Path,
) -> None:
    secret = "a-secret-only-for-the-header-deadline-test-01"
    with uvicorn(tmp_path, secret, command=SERVE) as server:
        port = int(server.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=WAIT + 5) as slow:
            started = time.monotonic()
            slow.sendall(f"GET {PROBE} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
            for _ in range(3):  # trickling headers does not buy more time
                time.sleep(1)
                slow.sendall(b"X-Trickle: 1\r\n")
            assert slow.recv(1024) == b""  # closed, with no answer
            # uvicorn's --timeout-keep-alive, 5 s by default, from the first byte.
            assert 4 < time.monotonic() - started < 5 + WAIT
        with server.connect(PROBE, "alice") as ws:
            receive(ws, "connected")


def test_plain_uvicorn_with_the_options_starts_in_production(tmp_path: Path) -> None:
    secret = "a-secret-only-for-the-plain-uvicorn-test-0123"
    command = ("-m", "uvicorn", f"{PACKAGE}.main:app", *PLAIN_OPTIONS, "--port")
    with uvicorn(tmp_path, secret, command=command) as server:
        assert "uvicorn lacks" not in server.log.read_text()
