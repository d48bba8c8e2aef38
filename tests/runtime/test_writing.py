"""Frames queued in one turn reach the wire together, in order, whatever happens; one close.

Unit tests on a stand-in of a server that offers its transport (as uvicorn's
websockets-sansio does), framing with a real `websockets` connection and read
back by a real client: over a real wire (`test_batch.py`) flow control and a
close racing a write cannot be timed.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast

import pytest
from azu_ws import connection as connection_module
from azu_ws import writer as writer_module
from azu_ws.auth import User
from azu_ws.broker import MemoryBroker
from azu_ws.close_codes import WS_1012_SERVICE_RESTART, WS_4008_SLOW_CONSUMER
from azu_ws.connection import Connection
from azu_ws.hub import Hub
from azu_ws.presence import MemoryPresence
from azu_ws.wire import SERVER_KEY, AsgiWire, TransportWire, wire_for
from azu_ws.writer import Writer
from starlette.websockets import WebSocket, WebSocketDisconnected
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame as WireFrame
from websockets.frames import Opcode
from websockets.protocol import Protocol, Side, State


def deflate() -> PerMessageDeflate:
    return PerMessageDeflate(False, False, 15, 15)


class StandInTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []  # one entry per system call
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def abort(self) -> None:
        self.aborted = True

    def get_extra_info(self, name: str) -> None:
        return None


class StandInServer:
    """What a server offers for batched writes (`wire._can_batch`), under a name of its own."""

    def __init__(self, *, compressed: bool) -> None:
        self.conn = Protocol(Side.SERVER, state=State.OPEN)  # as after the handshake
        self.conn.extensions = [deflate()] if compressed else []
        self.transport = StandInTransport()
        self.writable = asyncio.Event()
        self.writable.set()
        self.disconnected = False
        self.close_sent = False
        self.handshake_complete = True


class StandInSocket:
    """Enough of Starlette's WebSocket for a Connection on that protocol, and its peer."""

    def __init__(self, *, compressed: bool = False) -> None:
        self.protocol = StandInServer(compressed=compressed)
        self.scope: dict[str, Any] = {SERVER_KEY: self.protocol}
        self.closed_with: int | None = None
        self.before_close: list[str | bytes] = []
        self.peer = Protocol(Side.CLIENT, state=State.OPEN)
        self.peer.extensions = [deflate()] if compressed else []

    @property
    def writes(self) -> list[bytes]:
        return self.protocol.transport.writes

    def received(self) -> list[str | bytes]:
        """What the client reads of every write so far (each read once)."""
        for data in self.writes:
            self.peer.receive_data(data)
        self.writes.clear()
        frames = [event for event in self.peer.events_received() if isinstance(event, WireFrame)]
        return [decoded(frame) for frame in frames]

    async def receive(self) -> dict[str, Any]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed_with = code
        self.before_close = self.received()


def decoded(frame: WireFrame) -> str | bytes:
    data = bytes(frame.data)
    return data.decode() if frame.opcode is Opcode.TEXT else data


Scenario = Callable[[Writer], Awaitable[None]]


def run(scenario: Scenario) -> None:
    asyncio.run(asyncio.wait_for(scenario(Writer()), 5))


async def turns(count: int = 3) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


async def connect(writer: Writer, socket: StandInSocket, queue_size: int = 8) -> Connection:
    """A connection, as after the handshake."""
    user = User(id="alice", claims={"sub": "alice"})
    connection = Connection(
        socket,  # type: ignore[arg-type]
        user,
        queue_size=queue_size,
        writer=writer,
    )
    await turns()
    return connection


def test_frames_queued_in_one_turn_reach_each_socket_whole_in_one_write() -> None:
    async def scenario(writer: Writer) -> None:
        # A compressed socket among plain ones: its bytes are its own.
        sockets = [StandInSocket(), StandInSocket(compressed=True), StandInSocket()]
        connections = [await connect(writer, socket) for socket in sockets]
        for connection in connections:
            connection.send_frame('{"n": 1}')
            connection.send_frame(b"\x00\x01")
            connection.send_frame("x" * 70_000)  # a frame with a 64-bit length
        await turns()
        assert [len(socket.writes) for socket in sockets] == [1, 1, 1]
        assert len(sockets[1].writes[0]) < len(sockets[0].writes[0]) // 10  # compressed
        for socket in sockets:
            assert socket.received() == ['{"n": 1}', b"\x00\x01", "x" * 70_000]
        connections[1].send_frame("next")  # the next turn's frames: a write of their own
        await turns()
        assert (len(sockets[1].writes), sockets[1].received()) == (1, ["next"])
        for connection in connections:
            await connection.wait_closed()

    run(scenario)


def test_a_socket_under_flow_control_gets_everything_in_order_once_it_drains() -> None:
    async def scenario(writer: Writer) -> None:
        socket = StandInSocket()
        connection = await connect(writer, socket)
        socket.protocol.writable.clear()  # the peer reads slowly: the transport is full
        connection.send_frame("a")
        await turns()
        connection.send_frame("b")
        await turns()
        assert socket.writes == []
        socket.protocol.writable.set()
        await turns()
        connection.send_frame("c")
        await turns()
        assert socket.received() == ["a", "b", "c"]
        await connection.wait_closed()

    run(scenario)


def test_a_close_requested_after_queued_frames_goes_out_after_them() -> None:
    async def scenario(writer: Writer) -> None:
        socket = StandInSocket()
        connection = await connect(writer, socket)
        connection.send_frame("a")
        connection.send_frame("b")
        connection.close(WS_1012_SERVICE_RESTART, "bye")
        await connection.wait_closed()
        assert (socket.before_close, socket.closed_with) == (["a", "b"], WS_1012_SERVICE_RESTART)

    run(scenario)


def test_a_close_while_the_writer_waits_on_flow_control_follows_every_frame() -> None:
    async def scenario(writer: Writer) -> None:
        socket = StandInSocket()
        connection = await connect(writer, socket)
        connection.send_frame("a")
        await turns()
        socket.protocol.writable.clear()
        connection.send_frame("b")  # the wire makes this write wait
        await turns()
        connection.send_frame("c")
        connection.close(WS_1012_SERVICE_RESTART, "bye")
        connection.send_frame("after the close")
        socket.protocol.writable.set()
        await connection.wait_closed()
        assert (socket.before_close, socket.closed_with) == (
            ["a", "b", "c"],
            WS_1012_SERVICE_RESTART,
        )
        assert socket.received() == []

    run(scenario)


def test_a_dropped_socket_is_sent_its_close_and_none_of_what_was_queued() -> None:
    async def scenario(writer: Writer) -> None:
        socket = StandInSocket()
        connection = await connect(writer, socket)
        connection.send_frame("a")
        connection.send_frame("b")
        connection.close(WS_4008_SLOW_CONSUMER, "Slow consumer", abandon_queue=True)
        await turns()
        await connection.wait_closed()
        assert (socket.before_close, socket.closed_with) == ([], WS_4008_SLOW_CONSUMER)
        assert socket.received() == []

    run(scenario)


def test_a_backlog_sent_in_turn_waits_for_room_instead_of_closing() -> None:
    async def scenario(writer: Writer) -> None:
        socket = StandInSocket()
        connection = await connect(writer, socket, queue_size=2)
        socket.protocol.writable.clear()  # the peer reads slowly
        backlog = [f"missed {number}" for number in range(6)]
        sending = asyncio.create_task(send_all_in_turn(connection, backlog))
        await turns()
        assert (sending.done(), connection.closing) == (False, False)
        socket.protocol.writable.set()
        await sending
        await turns()
        assert socket.received() == backlog
        await connection.wait_closed()

    run(scenario)


async def send_all_in_turn(connection: Connection, frames: list[str]) -> None:
    for frame in frames:
        await connection.send_in_turn(frame)


def test_a_close_is_one_call_and_a_second_changes_nothing() -> None:
    async def scenario(writer: Writer) -> None:
        socket = StandInSocket()
        connection = await connect(writer, socket)
        connection.send_frame("a")
        connection.close(WS_1012_SERVICE_RESTART, "restart")
        connection.close(WS_4008_SLOW_CONSUMER, "Slow consumer", abandon_queue=True)
        await connection.wait_closed()
        assert (connection.close_code, socket.closed_with) == (WS_1012_SERVICE_RESTART,) * 2
        assert (socket.before_close, connection.state.value) == (["a"], "closed")

    run(scenario)


def test_a_peer_that_cannot_take_its_close_frame_is_reset_after_the_grace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(connection_module, "DROP_GRACE_SECONDS", 0.05)

    async def scenario(writer: Writer) -> None:
        socket = StandInSocket()
        connection = await connect(writer, socket)
        socket.protocol.writable.clear()  # the peer stopped reading for good
        connection.send_frame("a")
        await turns()
        socket.close = stuck  # type: ignore[method-assign]  # the close frame cannot go either
        connection.close(WS_4008_SLOW_CONSUMER, "Slow consumer", abandon_queue=True)
        await connection.wait_closed()
        assert (socket.protocol.transport.aborted, connection.state.value) == (True, "closed")

    run(scenario)


async def stuck(code: int = 1000, reason: str = "") -> None:
    await asyncio.Event().wait()


def test_the_wire_is_chosen_by_what_the_server_offers_not_by_its_name() -> None:
    async def scenario(writer: Writer) -> None:
        offered = StandInSocket()
        assert isinstance(wire_for(offered), TransportWire)  # type: ignore[arg-type]
        assert isinstance(wire_for(offered, batched=False), AsgiWire)  # type: ignore[arg-type]
        del offered.protocol.writable  # no way to know when it may write
        assert isinstance(wire_for(offered), AsgiWire)  # type: ignore[arg-type]
        without = StandInSocket()
        without.scope = {"type": "websocket"}  # a server that offers nothing
        assert isinstance(wire_for(without), AsgiWire)  # type: ignore[arg-type]

    run(scenario)


def test_more_frames_than_one_write_takes_all_arrive_in_order() -> None:
    async def scenario(writer: Writer) -> None:
        socket = StandInSocket()
        connection = await connect(writer, socket, queue_size=500)
        for number in range(300):
            connection.send_frame(str(number))
        await turns()
        assert len(socket.writes) > 1  # written in bounded batches
        assert socket.received() == [str(number) for number in range(300)]
        await connection.wait_closed()

    run(scenario)


def test_a_peer_gone_mid_flush_ends_its_connection_and_no_other() -> None:
    async def scenario(writer: Writer) -> None:
        gone, alive = StandInSocket(), StandInSocket()
        connections = [await connect(writer, gone), await connect(writer, alive)]
        gone.protocol.disconnected = True
        for connection in connections:
            connection.send_frame("a")
        await turns()
        assert (connections[0].closing, gone.writes) == (True, [])
        assert (connections[1].closing, alive.received()) == (False, ["a"])
        for connection in connections:
            await connection.wait_closed()

    run(scenario)


def test_a_transport_that_pauses_again_before_the_write_loses_no_frame() -> None:
    async def scenario(writer: Writer) -> None:
        socket = StandInSocket()
        connection = await connect(writer, socket)
        writable = socket.protocol.writable
        writable.clear()
        connection.send_frame("a")
        await turns()
        writable.set()  # wakes the waiting write...
        writable.clear()  # ...but the transport is full again before its turn
        await turns()
        assert socket.writes == []
        connection.send_frame("b")
        writable.set()
        await turns()
        assert socket.received() == ["a", "b"]
        assert not connection.closing
        await connection.wait_closed()

    run(scenario)


def test_a_peer_that_closed_first_is_recorded_with_its_own_code_when_a_write_finds_it() -> None:
    async def scenario(writer: Writer) -> None:
        socket = StandInSocket()
        connection = await connect(writer, socket)
        socket.peer.send_close(1001, "going away")  # the client leaves, as a closing tab does
        for data in socket.peer.data_to_send():
            socket.protocol.conn.receive_data(data)
        socket.protocol.close_sent = True  # the server answered its close
        connection.send_frame("a")
        await turns()
        assert (connection.close_code, connection.close_reason) == (1001, "going away")
        await connection.wait_closed()

    run(scenario)


def test_a_peer_gone_is_quiet_and_a_failing_write_is_an_error_closed_with_1011(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(RuntimeError):
        pass

    def write(data: bytes) -> None:
        raise Broken("the transport is broken")

    async def scenario(writer: Writer) -> None:
        gone, broken = StandInSocket(), StandInSocket()
        connections = [await connect(writer, gone), await connect(writer, broken)]
        gone.protocol.disconnected = True
        broken.protocol.transport.write = write  # type: ignore[method-assign]
        for connection in connections:
            connection.send_frame("a")
        await turns()
        assert [connection.close_code for connection in connections] == [1006, 1011]
        for connection in connections:
            await connection.wait_closed()
        assert (gone.closed_with, broken.closed_with) == (None, 1011)  # a close frame, sent
        assert not gone.protocol.transport.aborted

    with caplog.at_level("DEBUG", logger="azu_ws.connection"):
        run(scenario)
    loud = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert [record.levelname for record in loud] == ["ERROR"]
    assert loud[0].exc_info is not None
    assert isinstance(loud[0].exc_info[1], Broken)


def test_a_send_starlette_refuses_after_the_socket_closed_is_a_quiet_peer_gone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class ClosedSocket:
        """A socket as Starlette holds it once its close was sent: every send refuses."""

        def __init__(self) -> None:
            self.scope: dict[str, Any] = {}  # no server transport: one ASGI send a frame

        async def send_text(self, text: str) -> None:
            raise WebSocketDisconnected('Cannot call "send" once a close message has been sent.')

    async def scenario(writer: Writer) -> None:
        user = User(id="alice", claims={"sub": "alice"})
        connection = Connection(ClosedSocket(), user, queue_size=8, writer=writer)  # type: ignore[arg-type]
        connection.send_frame("a")
        await turns()
        assert connection.close_code == 1006
        await connection.wait_closed()

    with caplog.at_level("DEBUG", logger="azu_ws.connection"):
        run(scenario)
    assert [record for record in caplog.records if record.levelno >= logging.WARNING] == []


def test_a_pong_websockets_owes_the_peer_goes_out_before_the_next_frames() -> None:
    async def scenario(writer: Writer) -> None:
        socket = StandInSocket()
        connection = await connect(writer, socket)
        socket.protocol.conn.send_pong(b"owed")  # framed, not yet written
        connection.send_frame("a")
        await turns()
        assert socket.received() == [b"owed", "a"]
        await connection.wait_closed()

    run(scenario)


def test_a_broadcast_after_a_quiet_spell_is_written_at_once_one_under_load_waits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # "Straight after" must not depend on how fast this machine runs the test.
    monkeypatch.setattr(writer_module, "QUIET_SECONDS", 3600.0)

    async def scenario(writer: Writer) -> None:
        sockets = [StandInSocket(), StandInSocket(compressed=True)]
        connections = [await connect(writer, socket) for socket in sockets]
        with writer.broadcast():  # nothing written yet: a quiet spell
            for connection in connections:
                connection.send_frame("first")
                assert connection is connections[1] or sockets[0].received() == ["first"]
        assert sockets[1].received() == ["first"]
        # Straight after, other broadcasts may come in the same turn: they wait,
        # to go out together.
        for frame in ("second", "third"):
            with writer.broadcast():
                for connection in connections:
                    connection.send_frame(frame)
        assert [socket.writes for socket in sockets] == [[], []]
        await turns()
        assert [len(socket.writes) for socket in sockets] == [1, 1]
        assert [socket.received() for socket in sockets] == [["second", "third"]] * 2
        monkeypatch.setattr(writer_module, "QUIET_SECONDS", 0.0)  # the spell is over ...
        connections[0].send_frame("due")  # ... but something is due: it goes first
        with writer.broadcast():
            connections[1].send_frame("waits")
        assert [socket.writes for socket in sockets] == [[], []]
        await turns()
        assert [socket.received() for socket in sockets] == [["due"], ["waits"]]
        with writer.broadcast():
            connections[1].send_frame("now")
        assert sockets[1].received() == ["now"]
        for connection in connections:
            await connection.wait_closed()

    run(scenario)


def test_a_broadcast_at_once_leaves_a_socket_under_flow_control_to_its_writer() -> None:
    async def scenario(writer: Writer) -> None:
        plain, slow = StandInSocket(), StandInSocket()
        connections = [await connect(writer, socket) for socket in (plain, slow)]
        slow.protocol.writable.clear()  # its peer reads slowly: the transport is full
        with writer.broadcast():
            for connection in connections:
                connection.send_frame("first")
        connections[1].send_frame("second")
        assert (plain.received(), slow.writes) == (["first"], [])
        slow.protocol.writable.set()
        await turns()
        assert slow.received() == ["first", "second"]
        for connection in connections:
            await connection.wait_closed()

    run(scenario)


def test_a_publish_after_a_quiet_spell_is_on_the_wire_when_it_returns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(writer_module, "QUIET_SECONDS", 3600.0)

    async def scenario() -> None:
        hub = Hub(MemoryBroker(), MemoryPresence(), send_queue_size=8)
        await hub.start()
        sockets = [StandInSocket(), StandInSocket()]
        for number, socket in enumerate(sockets):
            connection = await hub.connect(cast(WebSocket, socket), User(id=f"user{number}"))
            await hub.join(connection, "room")
            await hub.catch_up(connection)
        await hub.publish("room", b"first")
        assert [socket.received() for socket in sockets] == [[b"first"]] * 2
        await hub.publish("room", b"second")  # straight after: with the next ones
        await hub.publish("room", b"third")
        assert [socket.writes for socket in sockets] == [[], []]
        await turns()
        assert [len(socket.writes) for socket in sockets] == [1, 1]
        assert [socket.received() for socket in sockets] == [[b"second", b"third"]] * 2
        for connection in list(hub.connections):
            await hub.disconnect(connection)
            await connection.wait_closed()
        await hub.stop()

    asyncio.run(asyncio.wait_for(scenario(), 5))
