"""Heartbeats: a quiet client is asked, a silent one is dropped with 4408 and leaves."""

import json
import time
from pathlib import Path

import pytest
from azu_ws.close_codes import WS_4408_HEARTBEAT_TIMEOUT
from azu_ws.testing import WAIT, Connect, closed_with, receive_type, stalled_client, uvicorn

from .bench import SERVE
from .testapp.channels import PROBE

# Short enough for a quick test, long enough for a loaded CI machine to answer in time.
QUICK = {"ws_ping_interval": 0.5, "ws_ping_timeout": 1.0}


@pytest.mark.settings(**QUICK)
def test_a_quiet_client_gets_a_heartbeat_and_stays_by_answering(connect: Connect) -> None:
    with connect() as ws:
        receive_type(ws, "connected")
        for _ in range(3):  # three rounds: each answer resets the clock
            receive_type(ws, "heartbeat")
            ws.send_json({"type": "ping"})
            receive_type(ws, "pong")


@pytest.mark.settings(**QUICK)
def test_a_client_that_never_answers_is_dropped_with_4408(connect: Connect) -> None:
    with connect() as ws:
        receive_type(ws, "connected")
        receive_type(ws, "heartbeat")
        started = time.monotonic()
        assert closed_with(ws) == (WS_4408_HEARTBEAT_TIMEOUT, "Heartbeat timeout")
    assert time.monotonic() - started < 5  # within interval + timeout, not whenever


def test_over_the_wire_a_half_open_peer_is_dropped_while_a_live_one_stays(
    tmp_path: Path,
) -> None:
    secret = "a-secret-only-for-this-heartbeat-test-0123"
    with (
        uvicorn(
            tmp_path, secret, WS_PING_INTERVAL="0.5", WS_PING_TIMEOUT="0.5", command=SERVE
        ) as server,
        server.connect(PROBE, "watcher") as watcher,
        stalled_client(server, PROBE, "ghost"),
    ):
        deadline = time.monotonic() + WAIT
        while "ghost disconnected" not in server.log.read_text() and time.monotonic() < deadline:
            watcher.send(json.dumps({"type": "ping"}))  # the live one keeps answering
            while json.loads(watcher.recv(timeout=WAIT))["type"] != "pong":
                pass
            time.sleep(0.2)
        log = server.log.read_text()
        assert f"{PROBE}: ghost disconnected with 4408" in log
        assert "watcher disconnected" not in log
