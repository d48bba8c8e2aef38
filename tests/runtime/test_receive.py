"""`Connection.receive` stops waiting for the client once the server closes, and no later.

Unit tests on a stand-in socket: the end-to-end tests cannot time these races.
"""

import asyncio
import functools
from typing import Any

from azu_ws.auth import User
from azu_ws.close_codes import WS_4403_FORBIDDEN
from azu_ws.connection import Connection

FRAME = {"type": "websocket.receive", "text": '{"type": "ping"}'}


class StandInSocket:
    """Enough of Starlette's WebSocket for a Connection: frames come from `inbox`."""

    def __init__(self) -> None:
        self.scope: dict[str, Any] = {}
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.closed_with: int | None = None

    async def receive(self) -> dict[str, Any]:
        return await self.inbox.get()

    async def send_text(self, text: str) -> None:
        pass

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed_with = code


def connection_on(socket: StandInSocket) -> Connection:
    user = User(id="alice", claims={"sub": "alice"})
    return Connection(socket, user, queue_size=8)  # type: ignore[arg-type]


def test_a_wait_for_the_client_ends_when_the_server_closes_and_the_session_goes_on() -> None:
    async def scenario() -> None:
        connection = connection_on(socket := StandInSocket())
        waiting = asyncio.create_task(connection.receive())
        await asyncio.sleep(0)  # parked in the socket's receive
        connection.close(WS_4403_FORBIDDEN, "banned", abandon_queue=True)
        assert await waiting is None
        assert waiting.cancelling() == 0  # the interrupt was taken back
        await connection.wait_closed()
        assert socket.closed_with == WS_4403_FORBIDDEN

    asyncio.run(scenario())


def test_a_queued_frame_is_not_handled_if_the_server_closes_in_the_next_turn() -> None:
    async def scenario() -> None:
        connection = connection_on(socket := StandInSocket())
        socket.inbox.put_nowait(FRAME)
        # Decided while the frame is being received (a ban, a heartbeat timeout).
        banned = functools.partial(
            connection.close, WS_4403_FORBIDDEN, "banned", abandon_queue=True
        )
        asyncio.get_running_loop().call_soon(banned)
        assert await connection.receive() is None
        await connection.wait_closed()

    asyncio.run(scenario())


def test_a_shutdown_cancel_in_the_same_turn_as_a_close_is_not_swallowed() -> None:
    async def scenario() -> None:
        connection = connection_on(StandInSocket())
        waiting = asyncio.create_task(connection.receive())
        await asyncio.sleep(0)
        connection.close(
            WS_4403_FORBIDDEN, "banned", abandon_queue=True
        )  # interrupts the wait, a turn later
        waiting.cancel()  # and the server shuts down in the same turn
        await asyncio.wait([waiting])
        assert waiting.cancelled()
        await connection.wait_closed()

    asyncio.run(scenario())


def test_frames_are_received_in_order_while_the_socket_is_open() -> None:
    async def scenario() -> None:
        connection = connection_on(socket := StandInSocket())
        for number in range(3):
            socket.inbox.put_nowait({"type": "websocket.receive", "text": str(number)})
        received = [await connection.receive() for _ in range(3)]
        assert [message["text"] for message in received if message] == ["0", "1", "2"]
        connection.close(1000)
        await connection.wait_closed()

    asyncio.run(scenario())


def test_a_frame_waited_for_is_not_handled_if_the_server_closes_in_its_turn() -> None:
    async def scenario() -> None:
        connection = connection_on(socket := StandInSocket())
        waiting = asyncio.create_task(connection.receive())
        await asyncio.sleep(0)  # parked in the socket's receive
        socket.inbox.put_nowait(FRAME)  # the frame lands ...
        connection.close(
            WS_4403_FORBIDDEN, "banned", abandon_queue=True
        )  # ... as the user is banned
        assert await waiting is None
        assert waiting.cancelling() == 0
        await connection.wait_closed()

    asyncio.run(scenario())


def test_a_queued_frame_lets_every_other_task_run_first_a_frame_waited_for_does_not() -> None:
    async def receive(connection: Connection, others: list[str]) -> list[str]:
        assert await connection.receive() == FRAME
        return list(others)  # who ran before the frame was handed over

    async def queued() -> list[str]:
        connection = connection_on(socket := StandInSocket())
        socket.inbox.put_nowait(FRAME)  # a flood: the frame is there already
        others: list[str] = []
        asyncio.get_running_loop().call_soon(others.append, "writer")
        ran = await receive(connection, others)
        connection.close(1000)
        await connection.wait_closed()
        return ran

    async def waited_for() -> list[str]:
        connection = connection_on(socket := StandInSocket())
        others: list[str] = []
        receiving = asyncio.create_task(receive(connection, others))
        await asyncio.sleep(0)  # parked in the socket's receive: turns go by
        socket.inbox.put_nowait(FRAME)
        asyncio.get_running_loop().call_soon(others.append, "writer")
        ran = await receiving
        connection.close(1000)
        await connection.wait_closed()
        return ran

    assert asyncio.run(queued()) == ["writer"]
    assert asyncio.run(waited_for()) == []
