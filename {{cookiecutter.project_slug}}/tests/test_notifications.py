"""Notifications: stored before delivery, on every socket of the user, until acknowledged."""

import json
import sqlite3
import time
import urllib.error
from pathlib import Path
from typing import Any

import pytest
from azu_ws import Notification, Notifier, Services, state_of
from azu_ws.testing import (
    Connect,
    RedisServer,
    Server,
    app_of,
    call,
    create_token,
    receive,
    receive_type,
    services_of,
    two_uvicorns,
    uvicorn,
)
from fastapi import FastAPI
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.config import Settings

from .conftest import SERVE, TokenFor

PATH = "/ws/notifications"


def notifier(client: TestClient) -> Notifier:
    return state_of(app_of(client), "notifier", Notifier)


def notify(client: TestClient, services: Services, user: str, **payload: Any) -> int:
    notification = call(client, notifier(client).notify_user, user, payload)
    return notification.id


def test_a_notification_reaches_each_socket_of_the_user(
    client: TestClient, services: Services, connect: Connect
) -> None:
    with (
        connect(PATH, user="bob") as phone,
        connect(PATH, user="bob") as laptop,
        connect(PATH, user="carol") as carol,
    ):
        sent = notify(client, services, "bob", title="hi")
        for ws in (phone, laptop):
            frame = receive_type(ws, "notification")
            assert (frame["id"], frame["kind"], frame["payload"]) == (sent, "user", {"title": "hi"})
        carol.send_json({"type": "ping"})
        receive_type(carol, "pong")  # nothing for carol


def test_an_offline_user_gets_the_pending_ones_in_order_on_connect(
    client: TestClient, services: Services, connect: Connect
) -> None:
    sent = [notify(client, services, "bob", n=n) for n in range(3)]
    with connect(PATH, user="bob") as bob:
        received = [receive_type(bob, "notification") for _ in sent]
    assert [frame["id"] for frame in received] == sent
    assert [frame["payload"]["n"] for frame in received] == [0, 1, 2]


def test_an_acknowledged_one_is_not_sent_again_and_an_unacknowledged_one_is(
    client: TestClient, services: Services, connect: Connect
) -> None:
    first, second = notify(client, services, "bob"), notify(client, services, "bob")
    with connect(PATH, user="bob") as bob:
        receive_type(bob, "notification")
        receive_type(bob, "notification")
        bob.send_json({"type": "ack", "id": first, "ref": "a1"})
        assert receive_type(bob, "acked") == {"type": "acked", "id": first, "ref": "a1"}
    with connect(PATH, user="bob") as bob:
        assert receive_type(bob, "notification")["id"] == second
        bob.send_json({"type": "ping"})
        receive_type(bob, "pong")  # and nothing else


def test_acknowledging_an_unknown_or_someone_elses_id_is_an_error(
    client: TestClient, services: Services, connect: Connect
) -> None:
    bobs = notify(client, services, "bob")
    with connect(PATH, user="mallory") as mallory:
        for unknown in (bobs, 999_999):
            mallory.send_json({"type": "ack", "id": unknown})
            assert receive_type(mallory, "error")["code"] == "unknown_notification"
    with connect(PATH, user="bob") as bob:
        assert receive_type(bob, "notification")["id"] == bobs


def test_pending_notifications_survive_a_restart(settings: Settings, connect: Connect) -> None:
    from {{ cookiecutter.package_name }}.app import create_app

    first_run: FastAPI = create_app(settings)
    with TestClient(first_run) as client:
        sent = notify(client, services_of(client), "bob", kept=True)
    with TestClient(create_app(settings)) as client:
        headers = {"authorization": connect_header(settings, "bob")}
        with client.websocket_connect(PATH, headers=headers) as bob:
            frame = receive_type(bob, "notification")
    assert (frame["id"], frame["payload"]) == (sent, {"kept": True})


def connect_header(settings: Settings, user: str) -> str:
    return f"Bearer {create_token(user, settings)}"


@pytest.mark.settings(notification_max_pending=2)
def test_beyond_the_per_user_cap_the_oldest_is_dropped(
    client: TestClient, services: Services, connect: Connect
) -> None:
    sent = [notify(client, services, "bob", n=n) for n in range(3)]
    with connect(PATH, user="bob") as bob:
        assert [receive_type(bob, "notification")["id"] for _ in range(2)] == sent[1:]
        bob.send_json({"type": "ping"})
        receive_type(bob, "pong")


@pytest.mark.settings(notification_ttl=60)
def test_an_expired_notification_is_not_delivered(
    client: TestClient, services: Services, connect: Connect
) -> None:
    store, now = notifier(client).store, time.time()
    store.clock = lambda: now - 61  # stored a minute and a second ago
    notify(client, services, "bob", old=True)
    store.clock = lambda: now
    fresh = notify(client, services, "bob", old=False)
    with connect(PATH, user="bob") as bob:
        assert receive_type(bob, "notification")["id"] == fresh
        bob.send_json({"type": "ping"})
        receive_type(bob, "pong")


@pytest.mark.settings(notification_ttl=60)
def test_expired_rows_are_deleted_even_for_users_who_never_connect(
    client: TestClient, services: Services, settings: Settings
) -> None:
    store, now = notifier(client).store, time.time()
    store.clock = lambda: now - 61
    notify(client, services, "ghost")
    store.clock = lambda: now
    notify(client, services, "bob")
    with sqlite3.connect(settings.database_url.removeprefix("sqlite:///")) as db:
        users = [row[0] for row in db.execute("SELECT user_id FROM notifications")]
    assert users == ["bob"]


@pytest.mark.settings(ws_send_queue_size=8)
def test_a_backlog_larger_than_the_send_queue_arrives_whole_and_in_order(
    client: TestClient, services: Services, connect: Connect
) -> None:
    sent = [notify(client, services, "bob", n=n) for n in range(30)]
    with connect(PATH, user="bob") as bob:
        assert [receive_type(bob, "notification")["id"] for _ in sent] == sent
        bob.send_json({"type": "ping"})
        receive_type(bob, "pong")


def test_one_sent_while_the_backlog_goes_out_comes_once_and_in_order(
    client: TestClient, services: Services, connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = notifier(client).store
    backlog = [notify(client, services, "bob", n=n) for n in range(3)]
    fetch = store.pending
    racing: list[int] = []

    async def pending_while_another_is_sent(user_id: str, **page: Any) -> list[Notification]:
        if not racing:  # the first page: a live one lands right now
            racing.append((await notifier(client).notify_user("bob", {"n": "live"})).id)
        return await fetch(user_id, **page)

    monkeypatch.setattr(store, "pending", pending_while_another_is_sent)
    with connect(PATH, user="bob") as bob:
        received = [receive_type(bob, "notification")["id"] for _ in range(4)]
        bob.send_json({"type": "ping"})
        receive_type(bob, "pong")  # and no duplicate before it
    assert received == [*backlog, *racing]


def test_a_system_notification_reaches_every_connected_user_and_is_not_stored(
    client: TestClient, services: Services, connect: Connect
) -> None:
    with connect(PATH, user="alice") as alice, connect(PATH, user="bob") as bob:
        call(client, notifier(client).broadcast_system_notification, {"maintenance": "soon"})
        for ws in (alice, bob):
            frame = receive_type(ws, "notification")
            assert (frame["kind"], frame["id"], frame["payload"]) == (
                "system",
                None,
                {"maintenance": "soon"},
            )
    with connect(PATH, user="alice") as alice:
        alice.send_json({"type": "ping"})
        receive_type(alice, "pong")  # nothing pending: system ones are not stored


def test_over_http_a_notification_waits_for_an_offline_user(
    client: TestClient, token_for: TokenFor, connect: Connect
) -> None:
    headers = {"authorization": f"Bearer {token_for('svc', scope='notifications:send')}"}
    response = client.post("/api/notifications/bob", json={"payload": {"n": 1}}, headers=headers)
    assert response.status_code == 202
    stored = response.json()
    with connect(PATH, user="bob") as bob:
        frame = receive_type(bob, "notification")
    assert (frame["id"], frame["payload"], stored["user_id"]) == (stored["id"], {"n": 1}, "bob")


def test_over_http_a_system_notification(
    client: TestClient, token_for: TokenFor, connect: Connect
) -> None:
    headers = {"authorization": f"Bearer {token_for('svc', scope='notifications:send')}"}
    with connect(PATH, user="bob") as bob:
        body = {"payload": {"all": True}}
        response = client.post("/api/notifications", json=body, headers=headers)
        assert response.status_code == 202
        assert receive_type(bob, "notification")["kind"] == "system"


def test_over_the_wire_a_notification_waits_for_an_offline_user(server: Server) -> None:
    stored = server.post("/api/notifications/olive", {"payload": {"hi": 1}}, "notifications:send")
    with server.connect(PATH, "olive") as olive:
        frame = receive(olive, "notification")
        assert (frame["id"], frame["payload"]) == (stored["id"], {"hi": 1})
        olive.send(json.dumps({"type": "ack", "id": stored["id"]}))
        receive(olive, "acked")


def test_over_http_a_user_id_that_no_token_could_carry_answers_422(
    client: TestClient, token_for: TokenFor
) -> None:
    headers = {"authorization": f"Bearer {token_for('svc', scope='notifications:send')}"}
    for user_id in ("bo%0Ab", "x" * 129):
        response = client.post(
            f"/api/notifications/{user_id}", json={"payload": {}}, headers=headers
        )
        assert response.status_code == 422, user_id


def test_over_the_wire_a_restart_loses_no_pending_notification_and_revives_no_acked_one(
    tmp_path: Path,
) -> None:
    secret = "a-secret-only-for-this-restart-test-012345"
    with uvicorn(tmp_path, secret, command=SERVE) as server:
        acked = server.post("/api/notifications/rita", {"payload": {"n": 1}}, "notifications:send")
        kept = server.post("/api/notifications/rita", {"payload": {"n": 2}}, "notifications:send")
        with server.connect(PATH, "rita") as rita:
            assert receive(rita, "notification")["id"] == acked["id"]
            rita.send(json.dumps({"type": "ack", "id": acked["id"]}))
            assert receive(rita, "notification")["id"] == kept["id"]
            receive(rita, "acked")
        assert server.stop()
    with (
        uvicorn(tmp_path, secret, command=SERVE) as restarted,
        restarted.connect(PATH, "rita") as rita,
    ):
        assert receive(rita, "notification")["id"] == kept["id"]
        rita.send(json.dumps({"type": "ping"}))
        receive(rita, "pong")


def test_over_the_wire_with_redis_a_notification_sent_through_one_process_is_read_on_another(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    secret = "a-secret-only-for-the-redis-store-test-0123"
    with two_uvicorns(
        tmp_path,
        secret,
        command=SERVE,
        BROKER_URL=redis_server.url,
        DATABASE_URL=redis_server.url,
    ) as (a, b):
        stored = a.post("/api/notifications/nina", {"payload": {"via": "a"}}, "notifications:send")
        with b.connect(PATH, "nina") as nina:
            assert receive(nina, "notification")["id"] == stored["id"]
            live = a.post("/api/notifications/nina", {"payload": {"live": 1}}, "notifications:send")
            assert receive(nina, "notification")["id"] == live["id"]  # live, across processes
            for notification_id in (stored["id"], live["id"]):
                nina.send(json.dumps({"type": "ack", "id": notification_id}))
                receive(nina, "acked")
            a.post("/api/notifications", {"payload": {"system": 1}}, "notifications:send")
            system = receive(nina, "notification")  # a system one, across processes too
            assert (system["kind"], system["payload"]) == ("system", {"system": 1})
        with a.connect(PATH, "nina") as again:
            again.send(json.dumps({"type": "ping"}))
            receive(again, "pong")  # both acknowledged through b: none comes back through a


def test_with_redis_away_a_notification_over_http_is_refused_with_503(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    secret = "a-secret-only-for-the-redis-outage-test-01"
    with uvicorn(tmp_path, secret, command=SERVE, DATABASE_URL=redis_server.url) as server:
        redis_server.stop()
        with pytest.raises(urllib.error.HTTPError) as refused:
            server.post("/api/notifications/bob", {"payload": {}}, "notifications:send")
        assert refused.value.code == 503
        assert "unreachable" in json.loads(refused.value.read())["detail"]
