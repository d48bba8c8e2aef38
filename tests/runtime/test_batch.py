"""Under uvicorn, frames queued for a socket are written together, and arrive whole, in order."""

import json
from pathlib import Path

import pytest
from azu_ws.testing import WAIT, Server, receive, uvicorn

from .bench import SERVE
from .test_metrics import samples, value
from .testapp.channels import PROBE

SECRET = "a-secret-only-for-the-batch-write-tests-0123"


def wires_in_use(server: Server) -> dict[str, float]:
    """How the server's sockets so far had their frames written, from /metrics."""
    with server.get("/metrics") as response:
        scraped = samples(response.read().decode())
    return {
        wire: value(scraped, "azu_ws_connections_total", wire=wire) for wire in ("batched", "asgi")
    }


@pytest.mark.parametrize(("setting", "wire"), [("true", "batched"), ("false", "asgi")])
def test_under_the_locked_uvicorn_batched_writes_are_in_force_unless_turned_off(
    tmp_path: Path, setting: str, wire: str
) -> None:
    # The capability is found on the server's own objects: should uvicorn change
    # them, frames go one ASGI send each, and the "batched" count here says so.
    with (
        uvicorn(tmp_path, SECRET, WS_BATCHED_WRITES=setting, command=SERVE) as server,
        server.connect(PROBE, "alice") as alice,
    ):
        receive(alice, "connected")
        alice.send(json.dumps({"type": "message", "content": "hello"}))
        assert receive(alice, "message")["content"] == "hello"
        assert wires_in_use(server) == {"batched": 0.0, "asgi": 0.0} | {wire: 1.0}


def test_a_burst_of_text_and_binary_frames_arrives_whole_and_in_order(tmp_path: Path) -> None:
    # The senders' rate limit lifted: the burst is the point.
    with (
        uvicorn(
            tmp_path, SECRET, WS_RATE_LIMIT="1000000", WS_RATE_BURST="1000", command=SERVE
        ) as server,
        server.connect(PROBE, "alice") as alice,
        server.connect(PROBE, "bob") as bob,
    ):
        receive(alice, "connected")
        receive(bob, "connected")
        expected: list[str | bytes] = []
        for number in range(300):
            alice.send(json.dumps({"type": "message", "content": f"m{number}"}))
            alice.send(bytes([number % 256]) * (number * 7))  # to the others only
            expected += [f"m{number}", bytes([number % 256]) * (number * 7)]
        received: list[str | bytes] = []
        for _ in expected:
            frame = bob.recv(timeout=WAIT)
            received.append(json.loads(frame)["content"] if isinstance(frame, str) else frame)
        assert received == expected
        for number in range(300):  # her own messages came back to her, in order too
            assert receive(alice, "message")["content"] == f"m{number}"


def test_with_compression_on_compressed_and_plain_clients_each_get_every_frame(
    tmp_path: Path,
) -> None:
    # A broadcast is framed once for the plain sockets; a compressed one gets its own.
    with (
        uvicorn(
            tmp_path,
            SECRET,
            WS_PER_MESSAGE_DEFLATE="true",
            WS_RATE_BURST="1000",
            command=SERVE,
        ) as server,
        server.connect(PROBE, "alice") as alice,
        server.connect(PROBE, "bob", compression=None) as bob,
    ):
        assert alice.protocol.extensions  # deflate was negotiated
        assert not bob.protocol.extensions
        receive(alice, "connected")
        receive(bob, "connected")
        for number in range(100):
            alice.send(json.dumps({"type": "message", "content": f"m{number}" * 500}))
        for client in (alice, bob):
            for number in range(100):
                assert receive(client, "message")["content"] == f"m{number}" * 500
