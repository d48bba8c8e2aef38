"""Fan-out never waits for a slow client: it is dropped with 4008, everyone else keeps up."""

import asyncio
from typing import Any, cast

from azu_ws.auth import User
from azu_ws.broker import MemoryBroker
from azu_ws.close_codes import WS_4008_SLOW_CONSUMER
from azu_ws.hub import Hub
from azu_ws.presence import MemoryPresence
from prometheus_client import REGISTRY
from starlette.websockets import WebSocket

from .testapp.messages import NewMessage


class FakeSocket:
    """Records what it is sent; a stalled one never finishes a send, like a full TCP buffer."""

    def __init__(self, *, stalled: bool = False) -> None:
        self.stalled = stalled
        self.scope: dict[str, Any] = {"type": "websocket"}  # no server's protocol in it
        self.frames: list[str] = []
        self.closed_with: int | None = None

    async def send_text(self, frame: str) -> None:
        if self.stalled:
            await asyncio.Event().wait()
        self.frames.append(frame)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed_with = code

    async def receive(self) -> dict[str, Any]:
        await asyncio.Event().wait()  # a client that never sends again
        raise AssertionError("unreachable")


CHANNEL = "/ws/fanout-test"


def slow_consumers_counted() -> float:
    """What /metrics says of slow consumers dropped on this test's channel."""
    sample = {"channel": CHANNEL}
    return REGISTRY.get_sample_value("azu_ws_slow_consumer_disconnects_total", sample) or 0.0


async def broadcast_past_a_stalled_client(queue_size: int, messages: int) -> dict[str, Any]:
    hub = Hub(MemoryBroker(), MemoryPresence(), send_queue_size=queue_size)
    await hub.start()
    slow_consumers_before = slow_consumers_counted()
    fast, stalled = FakeSocket(), FakeSocket(stalled=True)
    for name, socket in (("fast", fast), ("stalled", stalled)):
        connection = await hub.connect(cast(WebSocket, socket), User(id=name), CHANNEL)
        await hub.join(connection, "room")
        await hub.catch_up(connection)
    for number in range(messages):
        await hub.publish("room", NewMessage(content=str(number), user="sender"))
        await asyncio.sleep(0)  # let the writers run, as a real server would
    for _ in range(10):
        await asyncio.sleep(0)
    slow_connection = next(c for c in hub.connections if c.user.id == "stalled")
    result = {
        "fast_received": len(fast.frames),
        "stalled_closing": slow_connection.closing,
        "stalled_code": slow_connection.close_code,
        "stalled_told": stalled.closed_with,
        "in_the_metrics": slow_consumers_counted() - slow_consumers_before,
    }
    for connection in list(hub.connections):
        await hub.disconnect(connection)
        await connection.wait_closed()
    await hub.stop()
    return result


def test_a_stalled_client_is_dropped_with_4008_and_the_others_get_every_message() -> None:
    result = asyncio.run(broadcast_past_a_stalled_client(queue_size=8, messages=1000))
    assert result == {
        "fast_received": 1000,
        "stalled_closing": True,
        "stalled_code": WS_4008_SLOW_CONSUMER,
        "stalled_told": WS_4008_SLOW_CONSUMER,
        "in_the_metrics": 1,
    }


def test_a_burst_within_the_queue_size_drops_nobody() -> None:
    result = asyncio.run(broadcast_past_a_stalled_client(queue_size=64, messages=50))
    assert result == {
        "fast_received": 50,
        "stalled_closing": False,
        "stalled_code": None,
        "stalled_told": None,
        "in_the_metrics": 0,
    }


async def read_while_being_dropped() -> object:
    hub = Hub(MemoryBroker(), MemoryPresence(), send_queue_size=4)
    connection = await hub.connect(cast(WebSocket, FakeSocket(stalled=True)), User(id="zombie"))
    reading = asyncio.create_task(connection.receive())
    for number in range(10):
        connection.send_frame(str(number))
        await asyncio.sleep(0)
    # The reader must not wait for a client that may never send again.
    result = await asyncio.wait_for(reading, timeout=5)
    await hub.disconnect(connection)
    await connection.wait_closed()
    return result


def test_a_dropped_clients_read_ends_at_once_so_its_session_is_torn_down() -> None:
    assert asyncio.run(read_while_being_dropped()) is None
