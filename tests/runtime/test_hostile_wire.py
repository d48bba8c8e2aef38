"""Hostile clients on the wire: what only a real server sees, through uvicorn and raw sockets.

Invalid UTF-8, frames cut off by a TCP reset, resets during the handshake,
floods. After each, a well-behaved client still gets its pong; at the end the
server has no connection, topic or task left over, its memory is back near
where it started, and its log holds no traceback.
"""

import json
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from azu_ws.log_filters import FAULTS_BURST, FAULTS_PER_SECOND
from azu_ws.testing import (
    WAIT,
    Server,
    client_frame,
    close_code_on,
    health,
    receive,
    stalled_client,
    uvicorn,
    wait_for_log,
)

from .bench import SERVE
from .testapp.channels import PROBE

UNLIMITED = {"WS_RATE_LIMIT": "1000000000", "WS_RATE_BURST": "1000000"}
UNLIMITED |= {"WS_CONNECT_RATE_PER_ADDRESS": "1000000", "WS_CONNECT_BURST_PER_ADDRESS": "100000"}
UNLIMITED |= {"WS_CONNECT_RATE": "1000000", "WS_CONNECT_BURST": "100000"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    secret = "a-secret-only-for-the-hostile-wire-tests-01"
    with uvicorn(tmp_path_factory.mktemp("hostile"), secret, command=SERVE, **UNLIMITED) as served:
        yield served


@pytest.fixture(scope="module")
def baseline(server: Server) -> dict[str, int]:
    still_serving(server)  # warm up the code paths before measuring
    return {"tasks": settled(server)["tasks"], "memory": server.memory()}


def settled(server: Server) -> dict[str, int]:
    """The health counts once no client is connected (a dropped peer may take a moment)."""
    deadline = time.monotonic() + WAIT + 5
    while (counts := health(server))["connections"] and time.monotonic() < deadline:
        time.sleep(0.1)
    return counts


def still_serving(server: Server) -> None:
    """A fresh client is greeted and answered. Binary frames a hostile client sent just
    before may still be relayed to it (the probe relays them): those are skipped."""
    with server.connect(PROBE, "alice") as alice:
        alice.send(json.dumps({"type": "ping"}))
        seen: list[str] = []
        while "pong" not in seen:
            frame = alice.recv(timeout=WAIT)
            if isinstance(frame, str):
                seen.append(json.loads(frame)["type"])
        assert seen == ["connected", "pong"]


def reset(raw: socket.socket) -> None:
    """Close with a TCP reset instead of a goodbye, as a crashed client or a cut cable does."""
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def test_invalid_utf8_in_a_text_frame_is_closed_with_1007(
    server: Server, baseline: dict[str, int]
) -> None:
    with stalled_client(server, PROBE, "mallory", receive_buffer=65536) as raw:
        raw.sendall(client_frame(0x1, b'{"type": "ping", "ref": "\xff\xfe"}'))
        assert close_code_on(raw) == 1007
    still_serving(server)


HALF_SENT: dict[str, Callable[[], bytes]] = {
    "half a frame": lambda: client_frame(0x1, b"x" * 10_000)[:5_000],
    "half a frame header": lambda: client_frame(0x1, b"x" * 100_000)[:3],
    "the first of two fragments": lambda: client_frame(0x1, b'{"type": "pi', fin=False),
    "a binary frame": lambda: client_frame(0x2, b"\x00" * 1_000),
    "an empty text frame": lambda: client_frame(0x1, b""),
}


@pytest.mark.parametrize("sent", list(HALF_SENT))
def test_a_reset_after_sending_is_cleaned_up(
    server: Server, baseline: dict[str, int], sent: str
) -> None:
    for _ in range(20):
        with stalled_client(server, PROBE, "mallory", receive_buffer=65536) as raw:
            raw.sendall(HALF_SENT[sent]())
            reset(raw)
    still_serving(server)
    assert settled(server)["connections"] == 0


def test_resets_during_the_handshake_are_cleaned_up(
    server: Server, baseline: dict[str, int]
) -> None:
    host, port = "127.0.0.1", int(server.url.rsplit(":", 1)[1])
    for cut in (0, 10, 40, 80):
        for _ in range(10):
            with socket.create_connection((host, port), timeout=WAIT) as raw:
                raw.sendall(
                    f"GET {PROBE} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n".encode()[:cut]
                )
                reset(raw)
    still_serving(server)


BAD_FRAMES = [
    "{not json",
    "[1, 2, 3]",
    '{"type": "dance"}',
    '{"content": "no type"}',
    '{"type": "message", "content": 42}',
    '{"type": "message", "content": "hi", "user": "forged"}',
    '{"type": "ping", "ref": ' + "[" * 10_000 + "]" * 10_000 + "}",
    '{"type": "message", "content": "' + "x" * 500_000 + '"}',
    "",
]


def test_bad_frames_over_the_wire_each_get_a_typed_error(
    server: Server, baseline: dict[str, int]
) -> None:
    with server.connect(PROBE, "mallory") as mallory:
        receive(mallory, "connected")
        for frame in BAD_FRAMES:
            mallory.send(frame)
            assert receive(mallory, "error")["code"] in (
                "invalid_json",
                "invalid_message",
                "unknown_type",
            )
        mallory.send(b"binary where text is expected")  # the probe relays it; nobody else is here
        mallory.send(json.dumps({"type": "ping"}))
        receive(mallory, "pong")
    still_serving(server)


def test_a_flood_reaches_every_reader_and_slows_no_one(
    server: Server, baseline: dict[str, int]
) -> None:
    with server.connect(PROBE, "flood") as flood, server.connect(PROBE, "reader") as reader:
        receive(flood, "connected")
        receive(reader, "connected")
        for number in range(2000):
            flood.send(json.dumps({"type": "message", "content": str(number)}))
        contents = [receive(reader, "message")["content"] for _ in range(2000)]
        assert contents == [str(number) for number in range(2000)]


def test_afterwards_nothing_is_left_behind(server: Server, baseline: dict[str, int]) -> None:
    # Runs last in this module: every hostile client above is gone by now.
    counts = settled(server)
    assert (counts["connections"], counts["topics"]) == (0, 0)
    assert counts["tasks"] <= baseline["tasks"]
    assert server.memory() - baseline["memory"] < 32 * 1024 * 1024
    log = server.log.read_text()
    assert "Traceback" not in log
    assert "ERROR" not in log


def test_huge_invalid_frames_at_the_rate_limit_cost_a_bystander_no_wait(tmp_path: Path) -> None:
    """Two users send frames just under WS_MAX_MESSAGE_SIZE, with 85,000 unknown fields or
    thousands of arrays 150 deep, as fast as their rate limit lets them, from two sockets
    each, and read nothing."""
    flat = '{"type":"ping",' + ",".join(f'"k{n}":0' for n in range(85_000)) + "}"
    deep = '{"type":"ping","ref":[' + ",".join(["[" * 150 + "]" * 150] * 3000) + "]}"
    secret = "a-secret-only-for-the-amplifier-test-0123456"
    with uvicorn(tmp_path, secret, command=SERVE) as server, ExitStack() as sockets:
        bob = sockets.enter_context(server.connect(PROBE, "bob"))
        receive(bob, "connected")
        before = server.memory()
        attackers = []
        for user in ("mallory", "mallory", "trudy", "trudy"):
            attackers.append(sockets.enter_context(server.connect(PROBE, user, compression=None)))
            receive(attackers[-1], "connected")

        def attack() -> None:
            for frame in [flat, deep] * 5:  # 20 a user: the whole burst of the rate limit
                for attacker in attackers:
                    attacker.send(frame)

        sending = threading.Thread(target=attack)
        sending.start()
        round_trips: list[float] = []
        while len(round_trips) < 15:  # within bob's own rate limit
            started = time.monotonic()
            bob.send(json.dumps({"type": "ping"}))
            receive(bob, "pong")
            round_trips.append(time.monotonic() - started)
            time.sleep(0.02)
        sending.join()
        for attacker in attackers:  # every frame was answered, and briefly
            assert json.loads(attacker.recv(timeout=WAIT))["code"] == "invalid_message"
        # Before: 0.9 s of the event loop and an 8 MB reply for each frame.
        assert max(round_trips) < 1.0, round_trips
        assert server.memory() - before < 100 * 1024 * 1024


def test_a_flood_of_bad_frames_each_with_its_close_logs_a_few_lines_and_no_traceback(
    tmp_path: Path,
) -> None:
    """Invalid UTF-8 and a close frame in one write: uvicorn then tries to close a
    closing socket, and asyncio used to log ~30 lines of traceback for each client."""
    secret = "a-secret-only-for-the-log-flood-test-012345"
    bad_then_close = client_frame(0x1, b"\xff\xfe") + client_frame(0x8, (1000).to_bytes(2, "big"))
    with uvicorn(tmp_path, secret, command=SERVE, **UNLIMITED) as server:
        started = time.monotonic()
        for _ in range(100):
            with stalled_client(server, PROBE, "mallory") as raw:
                raw.sendall(bad_then_close)
                raw.settimeout(WAIT)
                while raw.recv(65536):  # until the server has closed it
                    pass
        elapsed = time.monotonic() - started
        still_serving(server)
        log = server.log.read_text()
        # The next line logged counts the rest. A client whose close the server reads
        # before its bad frame logs no fault (1005): then another, a second later.
        for _ in range(5):
            time.sleep(1 / FAULTS_PER_SECOND)
            with stalled_client(server, PROBE, "mallory") as raw:
                raw.sendall(bad_then_close)
                while raw.recv(65536):
                    pass
            later = wait_for_log(server, "client faults not logged", within=1)[len(log) :]
            if "client faults not logged" in later:
                break
    assert "Traceback" not in log
    assert "Fatal error" not in log
    faults = [line for line in log.splitlines() if "Invalid UTF-8" in line or "broke off" in line]
    assert 1 <= len(faults) <= FAULTS_BURST + elapsed * FAULTS_PER_SECOND + 1, faults
    assert re.search(r"\((\d+) more client faults not logged\)", later), later
