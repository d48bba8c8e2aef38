"""Hostile clients on the wire: what only a real server sees, through uvicorn and raw sockets.

Invalid UTF-8, frames cut off by a TCP reset, resets during the handshake,
floods. After each, a well-behaved client still gets its pong; at the end the
server has no connection, topic or task left over, its memory is back near
where it started, and its log holds no traceback.
"""

import json
import socket
import struct
import time
from collections.abc import Callable, Iterator

import pytest

from .e2e import (
    PROBE_APP,
    WAIT,
    Server,
    client_frame,
    close_code_on,
    health,
    receive,
    stalled_client,
    uvicorn,
)
from .probe import PROBE

UNLIMITED = {"WS_RATE_LIMIT": "1000000000", "WS_RATE_BURST": "1000000"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    secret = "a-secret-only-for-the-hostile-wire-tests-01"
    with uvicorn(
        tmp_path_factory.mktemp("hostile"), secret, command=PROBE_APP, **UNLIMITED
    ) as served:
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
