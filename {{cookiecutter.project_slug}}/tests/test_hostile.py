"""Hostile input at every channel: generated frames by the thousand, and nothing gives.

After each batch the hostile socket still answers a ping (or was closed with a
documented code), and once the hostile clients are gone a well-behaved client
still gets its pong, no unhandled exception was logged, and no connection,
topic or task was left behind.
"""

import asyncio
import json
import logging
import re

import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient, WebSocketTestSession

from .conftest import Connect, call, receive_type

# Limits have their own tests; these let every frame reach the parser and the handlers.
UNLIMITED = {"ws_rate_limit": 1e9, "ws_rate_burst": 1_000_000}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=16,
)
TYPES = ["ping", "message", "typing", "subscribe", "unsubscribe", "ack", "auth", "dance", ""]
FIELDS = ["content", "is_typing", "resource", "id", "ref", "token", "user", "type"]
messages = st.builds(
    lambda kind, fields: {"type": kind, **fields},
    st.sampled_from(TYPES) | json_values,
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=4),
)
frames = st.one_of(
    messages.map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=120),
    st.binary(max_size=200),
)


def channel_paths(app: FastAPI) -> list[str]:
    """Every websocket path of the app, its parameters filled in."""
    routes = [route for route in app.routes if isinstance(route, WebSocketRoute)]
    return [re.sub(r"\{[^}]+\}", "hostile", route.path) for route in routes]


def answer_then_pong(ws: WebSocketTestSession) -> None:
    """Read whatever the batch caused, up to the pong of a final ping (or a documented close)."""
    ws.send_json({"type": "ping", "ref": "end"})
    for _ in range(1000):
        message = ws.receive()
        if message["type"] == "websocket.close":
            assert message["code"] in (1008, 1009), message
            return
        text = message.get("text")
        if text is not None and json.loads(text).get("ref") == "end":
            return
    pytest.fail("no pong after 1000 frames")


async def task_count() -> int:
    return len(asyncio.all_tasks())


@pytest.mark.settings(**UNLIMITED)
def test_generated_frames_at_every_channel_leave_the_server_whole(
    app: FastAPI, client: TestClient, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    tasks_before = call(client, task_count)

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(path=st.sampled_from(channel_paths(app)), batch=st.lists(frames, max_size=10))
    def hostile(path: str, batch: list[str | bytes]) -> None:
        with connect(path, user="mallory") as ws:
            for frame in batch:
                if isinstance(frame, bytes):
                    ws.send_bytes(frame)
                else:
                    ws.send_text(frame)
            answer_then_pong(ws)

    for _ in range(5):  # 300 batches, up to 3,000 frames
        hostile()
    with connect(user="alice") as alice:
        receive_type(alice, "connected")
        alice.send_json({"type": "ping"})
        receive_type(alice, "pong")
    assert [record.getMessage() for record in caplog.records] == []
    hub = client.app.state.services.hub  # type: ignore[attr-defined]
    assert (hub.connections, hub.topic_count) == (set(), 0)
    assert call(client, task_count) <= tasks_before


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("[" * 100_000, "invalid_json"),
        # Nesting is bounded by the parser itself, long before it costs anything.
        ('{"type": "ping", "ref": ' + "[" * 5_000 + "]" * 5_000 + "}", "invalid_json"),
        (json.dumps({"type": "message", "content": "x" * 900_000}), "invalid_message"),
        ("", "invalid_json"),
        ("\ufeff{}", "invalid_json"),
        ("{" + '"a":1,' * 50_000 + '"type":"ping"}', "invalid_message"),
    ],
)
def test_pathological_json_gets_a_typed_error(connect: Connect, frame: str, code: str) -> None:
    with connect() as ws:
        receive_type(ws, "connected")
        ws.send_text(frame)
        assert receive_type(ws, "error")["code"] == code
        ws.send_json({"type": "ping"})
        receive_type(ws, "pong")


def test_an_empty_binary_frame_is_just_a_frame(connect: Connect) -> None:
    with connect(user="alice") as alice, connect(user="bob") as bob:
        receive_type(alice, "connected")
        receive_type(bob, "connected")
        alice.send_bytes(b"")
        assert bob.receive_bytes() == b""  # the probe relays binary frames
        alice.send_json({"type": "ping"})
        receive_type(alice, "pong")
