"""The runner's guarantees, shown with small channels made for the purpose."""

import gc
from typing import Annotated, Any

import pytest
from azu_ws.channel import Channel
from azu_ws.close_codes import WS_1009_MESSAGE_TOO_BIG, WS_1011_INTERNAL_ERROR, WS_4403_FORBIDDEN
from azu_ws.gc_tuning import YOUNG_THRESHOLD
from azu_ws.messages import Connected, Ping, Pong
from azu_ws.runner import Session
from azu_ws.testing import Connect, receive_type
from fastapi import FastAPI
from pydantic import Field
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from .testapp.app import create_app
from .testapp.config import Settings
from .testapp.messages import NewMessage, PostMessage

Inbound = Annotated[Ping | PostMessage, Field(discriminator="type")]
Outbound = Connected | Pong | NewMessage
closes: list[tuple[str, int]] = []


class Recorder(Channel[Inbound, Outbound]):
    """Records every on_close; `boom` crashes the handler; binary frames are echoed."""

    path = "/ws/recorder"

    async def on_connect(self) -> None:
        await self.join("recorder")
        await self.push(Connected(message="hi", user=self.user.id))

    async def on_message(self, message: Inbound) -> None:
        match message:
            case PostMessage(content="boom"):
                raise RuntimeError("handler bug")
            case PostMessage(content=content):
                await self.send_to_user(content, NewMessage(content="psst", user=self.user.id))
            case Ping():
                await self.reply(message, Pong())

    async def on_binary(self, data: bytes) -> None:
        await self.broadcast_to_all(NewMessage(content=data.hex(), user=self.user.id))

    async def on_close(self, code: int, reason: str) -> None:
        closes.append((self.user.id, code))


class Listener(Channel[Inbound, Outbound]):
    """Another channel: hears broadcasts to all, nothing else."""

    path = "/ws/listener"

    async def on_connect(self) -> None:
        await self.push(Connected(message="listening", user=self.user.id))


class Joiner(Channel[Inbound, Outbound]):
    """Joins the topic each message names."""

    path = "/ws/joiner"

    async def on_message(self, message: Inbound) -> None:
        if isinstance(message, PostMessage):
            await self.join(message.content)
            await self.reply(message, Pong())


class CrashesOnConnect(Channel[Inbound, Outbound]):
    path = "/ws/crash"

    async def on_connect(self) -> None:
        raise RuntimeError("setup bug")

    async def on_close(self, code: int, reason: str) -> None:
        closes.append((self.user.id, code))


class Refuses(Channel[Inbound, Outbound]):
    path = "/ws/refuses"

    async def authorize(self) -> bool:
        return self.user.id != "mallory"

    async def on_connect(self) -> None:
        await self.push(Connected(message="welcome", user=self.user.id))


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    closes.clear()
    return create_app(settings, channels=[Recorder, Listener, Joiner, CrashesOnConnect, Refuses])


def test_on_close_runs_once_when_the_client_closes(connect: Connect) -> None:
    with connect("/ws/recorder", user="alice") as ws:
        receive_type(ws, "connected")
        ws.close(1000)
    with connect("/ws/recorder", user="bob") as ws:
        receive_type(ws, "connected")
    assert closes == [("alice", 1000), ("bob", 1000)]


def test_handler_crash_answers_internal_error_is_logged_and_keeps_the_socket(
    connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    with connect("/ws/recorder") as ws:
        receive_type(ws, "connected")
        ws.send_json({"type": "message", "content": "boom", "ref": "b1"})
        error = receive_type(ws, "error")
        assert error == {
            "type": "error",
            "code": "internal_error",
            "message": "Internal server error",
            "ref": "b1",
        }
        ws.send_json({"type": "ping"})
        receive_type(ws, "pong")
    crash = next(record for record in caplog.records if "handler failed" in record.getMessage())
    assert crash.exc_info is not None
    assert str(crash.exc_info[1]) == "handler bug"


def test_crash_in_on_connect_closes_with_1011_and_still_runs_on_close(connect: Connect) -> None:
    with connect("/ws/crash", user="carol") as ws, pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_json()
    assert closed.value.code == WS_1011_INTERNAL_ERROR
    assert closes == [("carol", WS_1011_INTERNAL_ERROR)]


def test_a_channel_that_refuses_in_authorize_closes_with_4403(connect: Connect) -> None:
    with connect("/ws/refuses", user="mallory") as ws, pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_json()
    assert (closed.value.code, closed.value.reason) == (WS_4403_FORBIDDEN, "Forbidden")
    with connect("/ws/refuses", user="alice") as ws:
        assert receive_type(ws, "connected")["message"] == "welcome"


def test_send_to_user_reaches_every_socket_of_that_user_only(connect: Connect) -> None:
    with (
        connect("/ws/recorder", user="alice") as sender,
        connect("/ws/recorder", user="bob") as phone,
        connect("/ws/recorder", user="bob") as laptop,
        connect("/ws/recorder", user="carol") as carol,
    ):
        for ws in (sender, phone, laptop, carol):
            receive_type(ws, "connected")
        sender.send_json({"type": "message", "content": "bob"})
        for ws in (phone, laptop):
            assert receive_type(ws, "message")["user"] == "alice"
        # carol's next frame is her own pong: the whisper never reached her.
        carol.send_json({"type": "ping"})
        receive_type(carol, "pong")


def test_broadcast_to_all_reaches_every_channel(connect: Connect) -> None:
    with connect("/ws/recorder", user="alice") as alice, connect("/ws/listener", user="bob") as bob:
        receive_type(alice, "connected")
        receive_type(bob, "connected")
        alice.send_bytes(b"\xca\xfe")
        for ws in (alice, bob):
            assert receive_type(ws, "message")["content"] == "cafe"


@pytest.mark.parametrize("kind", ["text", "binary"])
def test_a_frame_over_the_size_limit_closes_with_1009_and_on_close_hears_it(
    settings: Settings, connect: Connect, kind: str
) -> None:
    with connect("/ws/recorder", user="big") as ws:
        receive_type(ws, "connected")
        if kind == "text":
            ws.send_text("x" * (settings.ws_max_message_size + 1))
        else:
            ws.send_bytes(b"x" * (settings.ws_max_message_size + 1))
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == WS_1009_MESSAGE_TOO_BIG
    assert closes == [("big", WS_1009_MESSAGE_TOO_BIG)]


def test_a_multibyte_frame_over_the_limit_in_bytes_closes_with_1009(connect: Connect) -> None:
    with connect("/ws/recorder") as ws:
        receive_type(ws, "connected")
        # 300,000 characters, 1.2 MB of UTF-8: under the limit in characters only.
        ws.send_text("\U0001f600" * 300_000)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == WS_1009_MESSAGE_TOO_BIG


def test_healthz_answers_200_with_the_counts(client: TestClient, connect: Connect) -> None:
    idle = client.get("/healthz")
    assert idle.status_code == 200
    assert idle.json()["status"] == "ok"
    assert (idle.json()["connections"], idle.json()["topics"]) == (0, 0)
    with connect("/ws/recorder", user="alice") as ws:
        receive_type(ws, "connected")
        busy = client.get("/healthz").json()
        assert (busy["connections"], busy["topics"]) == (1, 3)
        assert busy["tasks"] > idle.json()["tasks"]  # its writer, its session


def test_the_app_is_built_without_an_event_loop(settings: Settings) -> None:
    # Building must not touch a loop: uvicorn --reload and the TestClient own theirs.
    app: Any = create_app(settings)
    assert not hasattr(app.state, "services")
    with TestClient(app):
        assert app.state.services.hub.connections == set()


def test_once_started_the_app_collects_garbage_less_often_and_never_walks_start_up_objects(
    settings: Settings,
) -> None:
    # Thousands of sockets make full collections frequent at CPython's defaults
    # (see azu_ws/gc_tuning.py); the benchmark measures the effect, this checks the cause.
    before = gc.get_threshold()
    gc.set_threshold(700, *before[1:])
    gc.unfreeze()
    try:
        with TestClient(create_app(settings)):
            assert gc.get_threshold()[0] >= YOUNG_THRESHOLD
            assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_binary_frames_on_a_channel_without_on_binary_get_an_error(connect: Connect) -> None:
    with connect("/ws/listener") as ws:
        receive_type(ws, "connected")
        ws.send_bytes(b"\x00\x01")
        assert receive_type(ws, "error")["code"] == "unsupported_frame"
        ws.send_bytes(b"\x02")
        assert receive_type(ws, "error")["code"] == "unsupported_frame"


def test_a_crash_in_the_runner_closes_that_connection_with_1011_only(
    connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatch = Session._dispatch

    async def dispatch_or_crash(self: Session, channel: Any, message: Any) -> None:
        if message.get("text") == "crash the runner":
            raise RuntimeError("a bug in the machinery")
        await dispatch(self, channel, message)

    monkeypatch.setattr(Session, "_dispatch", dispatch_or_crash)
    with connect("/ws/recorder", user="alice") as alice, connect("/ws/recorder", user="bob") as bob:
        receive_type(alice, "connected")
        receive_type(bob, "connected")
        alice.send_text("crash the runner")
        with pytest.raises(WebSocketDisconnect) as closed:
            alice.receive_json()
        assert closed.value.code == WS_1011_INTERNAL_ERROR
        bob.send_json({"type": "ping"})
        receive_type(bob, "pong")
    assert ("alice", WS_1011_INTERNAL_ERROR) in closes


def test_a_connection_the_hub_cannot_register_closes_with_1011_and_leaves_no_trace(
    client: TestClient, connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = client.app.state.services.hub  # type: ignore[attr-defined]
    enter = hub._enter

    async def enter_or_fail(connection: Any, topic: str) -> bool:
        if topic == "all" and connection.user.id == "alice":  # the broker failed under it
            raise RuntimeError("readuntil() called while another coroutine is already waiting")
        return bool(await enter(connection, topic))

    monkeypatch.setattr(hub, "_enter", enter_or_fail)
    with connect("/ws/recorder", user="alice") as alice:
        with pytest.raises(WebSocketDisconnect) as closed:
            alice.receive_json()
        assert closed.value.code == WS_1011_INTERNAL_ERROR
    assert hub.members("user:alice") == frozenset()
    assert all(connection.user.id != "alice" for connection in hub.connections)
    with connect("/ws/recorder", user="bob") as bob:  # everyone else is served
        receive_type(bob, "connected")


@pytest.mark.settings(ws_max_subscriptions=3)
def test_joining_more_topics_than_the_cap_is_a_typed_error(connect: Connect) -> None:
    with connect("/ws/joiner") as ws:
        for topic in ("a", "b", "c", "a"):  # joining one again takes no new slot
            ws.send_json({"type": "message", "content": topic, "ref": topic})
            assert receive_type(ws, "pong")["ref"] == topic
        ws.send_json({"type": "message", "content": "d", "ref": "d"})
        error = receive_type(ws, "error")
        assert (error["code"], error["ref"]) == ("too_many_subscriptions", "d")
        assert "At most 3 topics" in error["message"]
