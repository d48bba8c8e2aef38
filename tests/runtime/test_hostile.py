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
from collections import Counter

import pytest
from azu_ws.testing import Connect, call, receive_type
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient, WebSocketTestSession

# Limits have their own tests; these let every frame reach the parser and the handlers.
UNLIMITED = {"ws_rate_limit": 1e9, "ws_rate_burst": 1_000_000}
UNLIMITED |= {"ws_connect_rate": 1e9, "ws_connect_burst": 1_000_000}
UNLIMITED |= {"ws_connect_rate_per_address": 1e9, "ws_connect_burst_per_address": 1_000_000}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=16,
)
refs = st.none() | st.integers(-5, 5) | st.text(max_size=8)
# Messages that validate on the channels that accept them, so that the
# handlers run, not only the parser; then some of them spoiled.
valid_messages = st.one_of(
    st.builds(lambda: {"type": "ping"}),
    st.builds(
        lambda content: {"type": "message", "content": content}, st.text(min_size=1, max_size=60)
    ),
    st.builds(lambda typing: {"type": "typing", "is_typing": typing}, st.booleans()),
    st.builds(
        lambda kind, resource, resource_id: {"type": kind, "resource": resource, "id": resource_id},
        st.sampled_from(["subscribe", "unsubscribe"]),
        st.sampled_from(["user", "post", "comment", "invoice"]),
        st.integers(-3, 3) | st.sampled_from(["mallory", "42", "x"]),
    ),
    st.builds(lambda ack_id: {"type": "ack", "id": ack_id}, st.integers(1, 5)),
    st.builds(lambda token: {"type": "auth", "token": token}, st.text(min_size=1, max_size=20)),
).flatmap(
    lambda message: st.builds(
        lambda ref: {**message, "ref": ref} if ref is not None else message, refs
    )
)
KEYS = ["content", "is_typing", "resource", "id", "ref", "token", "user", "type", "extra"]
spoiled = st.builds(
    lambda message, key, value: {**message, key: value},
    valid_messages,
    st.sampled_from(KEYS),
    json_values,
)
frames = st.one_of(
    valid_messages.map(json.dumps),
    valid_messages.map(json.dumps),
    spoiled.map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=120),
    st.binary(max_size=200),
)


def channel_paths(app: FastAPI) -> list[str]:
    """Every websocket path of the app, its parameters filled in."""
    routes = [route for route in app.routes if isinstance(route, WebSocketRoute)]
    return [re.sub(r"\{[^}]+\}", "hostile", route.path) for route in routes]


def answer_then_pong(ws: WebSocketTestSession, answers: Counter[str]) -> None:
    """Read what the batch caused, counting answers by type, up to the final ping's pong."""
    ws.send_json({"type": "ping", "ref": "end"})
    for _ in range(1000):
        message = ws.receive()
        if message["type"] == "websocket.close":
            assert message["code"] in (1008, 1009, 4403), message
            return
        text = message.get("text")
        if text is not None:
            frame = json.loads(text)
            if frame.get("ref") == "end":
                return
            answers[frame["type"]] += 1
    pytest.fail("no pong after 1000 frames")


async def task_count() -> int:
    return len(asyncio.all_tasks())


@pytest.mark.settings(**UNLIMITED)
def test_generated_frames_at_every_channel_leave_the_server_whole(
    app: FastAPI, client: TestClient, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    tasks_before = call(client, task_count)
    answers: Counter[str] = Counter()

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
            answer_then_pong(ws, answers)

    for _ in range(5):  # 300 batches, up to 3,000 frames
        hostile()
    # The handlers ran, not only the parser: valid messages got real answers.
    assert answers["pong"] > 10
    assert sum(count for kind, count in answers.items() if kind not in ("pong", "error")) > 10
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
        # More brackets than WS_MAX_FRAME_ITEMS: refused before the parser sees it.
        ("[" * 100_000, "invalid_message"),
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
