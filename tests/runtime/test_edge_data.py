"""Bad data refused before it is stored, and publishers bounded: a lone surrogate never reaches
a store or a socket, an unreadable stored record is skipped, user ids cannot name the store's
own keys, and a publish flood keeps only the history's byte budget in memory."""

import json
import sqlite3
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from azu_ws.history import HistoryLimits, MemoryHistory
from azu_ws.log_filters import FAULTS_BURST, FAULTS_PER_SECOND
from azu_ws.testing import WAIT, RedisServer, Server, health, receive, uvicorn

from .bench import SERVE
from .testapp.channels import PROBE

SECRET = "a-secret-only-for-the-edge-data-tests-0123456"
SEND = "notifications:send"
PUBLISH = "rooms:publish"
# A lone surrogate as Python's JSON parser reads it, escaped as JSON allows.
LONE_SURROGATE = '"\\ud800"'
# The history budget of the flood test, and what else the flood may leave behind.
BUDGET = 4 * 1024 * 1024
MARGIN = 24 * 1024 * 1024


@pytest.fixture(params=["sqlite", "redis"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """The app, its notifications stored in SQLite or in Redis."""
    if request.param == "redis":
        store = request.getfixturevalue("redis_server").url
    else:
        store = f"sqlite:///{tmp_path}/notifications.db"
    with uvicorn(tmp_path, SECRET, command=SERVE, DATABASE_URL=store) as server:
        yield server


def post_raw(server: Server, path: str, body: str, scope: str) -> tuple[int, dict[str, Any]]:
    """POST `body` as it stands (JSON text no encoder would write); the status and answer."""
    request = urllib.request.Request(  # noqa: S310 - a loopback URL we built
        server.url + path,
        data=body.encode(),
        headers={
            "Authorization": f"Bearer {server.token('service', scope=scope)}",
            "Content-Type": "application/json",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=WAIT) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def notified(server: Server, user: str, count: int) -> list[Any]:
    """The payloads of the first `count` notifications a new socket of `user` is sent."""
    with server.connect("/ws/notifications", user) as ws:
        return [receive(ws, "notification")["payload"] for _ in range(count)]


def test_a_notification_with_a_lone_surrogate_gets_422_and_the_inbox_stays_whole(
    served: Server,
) -> None:
    served.post("/api/notifications/carol", {"payload": {"n": 1}}, scope=SEND)
    body = '{"payload": {"x": ' + LONE_SURROGATE + "}}"
    status, answer = post_raw(served, "/api/notifications/carol", body, SEND)
    assert status == 422, answer
    assert "UTF-8" in json.dumps(answer)
    served.post("/api/notifications/carol", {"payload": {"n": 2}}, scope=SEND)
    assert notified(served, "carol", 2) == [{"n": 1}, {"n": 2}]


def poison(server: Server, user: str, store: str) -> None:
    """Write a record no socket could be sent straight into `user`'s pending notifications."""
    payload = '{"x": ' + LONE_SURROGATE + "}"
    if store.startswith("redis://"):
        member = f'{{"v":2,"id":1000,"created_at":{time.time()},"payload":{payload}}}'
        redis.Redis.from_url(store).zadd(f"azu:notifications:{user}", {member: 1000})
        return
    with sqlite3.connect(store.removeprefix("sqlite:///")) as db:
        db.execute(
            "INSERT INTO notifications (id, user_id, payload, created_at) VALUES (?, ?, ?, ?)",
            (1000, user, payload, time.time()),
        )


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_an_unreadable_stored_record_is_skipped_logged_once_and_the_rest_delivered(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = f"sqlite:///{tmp_path}/notifications.db"
    if kind == "redis":
        store = request.getfixturevalue("redis_server").url
    with uvicorn(tmp_path, SECRET, command=SERVE, DATABASE_URL=store) as server:
        server.post("/api/notifications/dora", {"payload": {"n": 1}}, scope=SEND)
        poison(server, "dora", store)
        for n in (2, 3):  # numbered after the poisoned record
            server.post("/api/notifications/dora", {"payload": {"n": n}}, scope=SEND)
        assert notified(server, "dora", 3) == [{"n": 1}, {"n": 2}, {"n": 3}]
        assert notified(server, "dora", 3) == [{"n": 1}, {"n": 2}, {"n": 3}]
        skipped = [line for line in server.log.read_text().splitlines() if "unreadable" in line]
        assert len(skipped) == 1, skipped
        assert "Traceback" not in server.log.read_text()


@pytest.mark.parametrize(
    ("path", "body", "scope"),
    [
        ("/api/notifications", '{"payload": {"x": %s}}', SEND),
        ("/api/notifications/erin", '{"payload": {%s: 1}}', SEND),
        ("/api/rooms/lobby/messages", '{"content": %s}', PUBLISH),
        ("/api/users/erin/disconnect", '{"reason": %s}', "users:revoke"),
    ],
)
def test_every_publishing_route_answers_a_lone_surrogate_with_422(
    tmp_path: Path, path: str, body: str, scope: str
) -> None:
    with uvicorn(tmp_path, SECRET, command=SERVE) as server:
        status, answer = post_raw(server, path, body % LONE_SURROGATE, scope)
        assert status == 422, answer
        assert "UTF-8" in json.dumps(answer)
        assert "Traceback" not in server.log.read_text()


def test_a_frame_with_a_lone_surrogate_gets_a_typed_error_and_the_socket_stays(
    tmp_path: Path,
) -> None:
    with (
        uvicorn(tmp_path, SECRET, command=SERVE) as server,
        server.connect(PROBE, "fay") as ws,
    ):
        receive(ws, "connected")
        ws.send('{"type": "message", "content": ' + LONE_SURROGATE + "}")
        assert receive(ws, "error")["code"] in ("invalid_json", "invalid_message")
        ws.send('{"type": "ping"}')
        receive(ws, "pong")


def metric(server: Server, name: str) -> float:
    with server.get("/metrics") as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"{name} is not in /metrics")


def test_a_publish_flood_over_many_topics_keeps_memory_within_the_history_budget(
    tmp_path: Path,
) -> None:
    # One publisher at full speed: the API's rate limit per caller lifted.
    budget = {
        "HISTORY_MAX_BYTES": str(BUDGET),
        "API_RATE_LIMIT": "1000000",
        "API_RATE_BURST": "10000",
    }
    with uvicorn(tmp_path, SECRET, command=SERVE, **budget) as server:
        post = {"content": "x" * 60_000}
        server.post("/api/rooms/warm-up/messages", post, scope=PUBLISH)
        before = server.memory()
        for n in range(1200):  # 72 MB over 300 rooms, each kept 100 deep
            server.post(f"/api/rooms/{n % 300}/messages", post, scope=PUBLISH)
        assert server.memory() - before < BUDGET + MARGIN
        counts = health(server)
        assert 0 < counts["history_bytes"] <= BUDGET
        assert 0 < counts["history_topics"] < 300
        assert 0 < metric(server, "azu_ws_history_bytes") <= BUDGET


def test_a_client_resuming_a_topic_forgotten_for_the_budget_hears_recovered_false(
    tmp_path: Path,
) -> None:
    budget = {"HISTORY_MAX_BYTES": str(1024 * 1024)}
    with uvicorn(tmp_path, SECRET, command=SERVE, **budget) as server:
        with server.connect(PROBE, "ida") as ida:
            receive(ida, "connected")
            ida.send('{"type": "message", "content": "before"}')
            said = receive(ida, "message")
        post = {"content": "x" * 60_000}
        for n in range(40):  # 2.4 MB over topics used after it
            server.post(f"/api/rooms/{n}/messages", post, scope=PUBLISH)
        since = f"{said['epoch']}:{said['offset']}"
        with server.connect(f"{PROBE}?since={since}", "ida") as ida:
            assert receive(ida, "connected")["recovered"] is False


def test_a_topic_dropped_for_the_budget_resumes_with_recovered_false() -> None:
    history = MemoryHistory(HistoryLimits(max_bytes=64 * 1024))
    first = history.append("post:1", '{"type":"update","n":1}')
    for n in range(20):
        history.append(f"post:{n + 2}", '{"type":"update","blob":"' + "x" * 8000 + '"}')
    assert history.bytes_kept <= 64 * 1024
    assert first.position is not None
    assert history.since("post:1", first.position).recovered is False


def test_a_full_redis_answers_a_notification_with_503_and_the_inbox_stays_whole(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    store = redis_server.url
    with uvicorn(tmp_path, SECRET, command=SERVE, DATABASE_URL=store) as server:
        server.post("/api/notifications/hal", {"payload": {"n": 1}}, scope=SEND)
        client = redis.Redis.from_url(store)
        client.config_set("maxmemory-policy", "noeviction")
        client.config_set("maxmemory", 1)  # below what it holds: every write is refused
        try:
            status, answer = post_raw(server, "/api/notifications/hal", '{"payload": {}}', SEND)
        finally:
            client.config_set("maxmemory", 0)
        assert status == 503, answer
        assert notified(server, "hal", 1) == [{"n": 1}]


def test_a_full_redis_leaves_messages_to_their_process_s_members_and_says_so_sparingly(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    broker = redis_server.url
    with uvicorn(tmp_path, SECRET, command=SERVE, BROKER_URL=broker) as server:
        with server.connect(PROBE, "ann") as ann, server.connect(PROBE, "ben") as ben:
            receive(ann, "connected")
            receive(ben, "connected")
            client = redis.Redis.from_url(broker)
            client.config_set("maxmemory-policy", "noeviction")
            client.config_set("maxmemory", 1)  # no message can be kept
            started = time.monotonic()
            try:
                for n in range(10):  # from both: each sender within its rate limit's burst
                    for sender in (ann, ben):
                        sender.send(json.dumps({"type": "message", "content": str(n)}))
                        for member in (ann, ben):
                            assert receive(member, "message")["content"] == str(n)
            finally:
                client.config_set("maxmemory", 0)
            elapsed = time.monotonic() - started
        log = server.log.read_text()
    assert 1 <= log.count("Redis is full") <= FAULTS_BURST + FAULTS_PER_SECOND * elapsed + 1
    assert "asking again" not in log  # a full Redis stays full
