"""Live updates: subscribe to a resource, get its changes and nobody else's."""

import json
from pathlib import Path

import pytest
from azu_ws import Services, state_of
from azu_ws.testing import (
    Connect,
    RedisServer,
    Server,
    app_of,
    call,
    receive,
    receive_type,
    two_uvicorns,
)
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.channels.live_updates import UpdatePublisher

from .conftest import SERVE, TokenFor

PATH = "/ws/live_updates"


def publish(
    client: TestClient, services: Services, resource: str, id: int | str, **data: object
) -> None:
    updates = state_of(app_of(client), "updates", UpdatePublisher)
    call(client, updates.publish_update, resource, id, dict(data))


def test_a_socket_starts_subscribed_to_its_own_user(
    client: TestClient, services: Services, connect: Connect
) -> None:
    with connect(PATH, user="alice") as alice:
        subscribed = receive_type(alice, "subscribed")
        epoch = subscribed.pop("epoch")  # where the resource's history stands
        assert subscribed == {"type": "subscribed", "resource": "user", "id": "alice", "offset": 0}
        publish(client, services, "user", "alice", name="Alice")
        update = receive_type(alice, "update")
        assert (update["resource"], update["id"], update["data"]) == (
            "user",
            "alice",
            {"name": "Alice"},
        )
        assert (update["epoch"], update["offset"]) == (epoch, 1)
        assert update["timestamp"]


def test_updates_reach_the_subscribers_of_that_resource_only(
    client: TestClient, services: Services, connect: Connect
) -> None:
    with connect(PATH, user="alice") as alice, connect(PATH, user="bob") as bob:
        receive_type(alice, "subscribed")
        receive_type(bob, "subscribed")
        alice.send_json({"type": "subscribe", "resource": "post", "id": 42, "ref": 1})
        subscribed = receive_type(alice, "subscribed")
        assert isinstance(subscribed.pop("epoch"), str)
        assert subscribed == {
            "type": "subscribed",
            "resource": "post",
            "id": 42,
            "offset": 0,
            "ref": 1,
        }
        bob.send_json({"type": "subscribe", "resource": "post", "id": 43})
        receive_type(bob, "subscribed")
        publish(client, services, "post", 42, title="new")
        assert receive_type(alice, "update")["data"] == {"title": "new"}
        bob.send_json({"type": "ping"})
        receive_type(bob, "pong")  # post 42 never reached bob


def test_a_subscriber_back_with_since_gets_the_updates_it_missed(
    client: TestClient, services: Services, connect: Connect
) -> None:
    with connect(PATH, user="alice") as alice:
        own = receive_type(alice, "subscribed")
        alice.send_json({"type": "subscribe", "resource": "post", "id": 42})
        post = receive_type(alice, "subscribed")
    publish(client, services, "post", 42, title="edited")
    publish(client, services, "user", "alice", name="Alice")
    since = f"{own['epoch']}:{own['offset']}"
    with connect(f"{PATH}?since={since}", user="alice") as alice:
        assert receive_type(alice, "subscribed")["recovered"] is True
        assert receive_type(alice, "update")["data"] == {"name": "Alice"}
        since = f"{post['epoch']}:{post['offset']}"
        alice.send_json({"type": "subscribe", "resource": "post", "id": 42, "since": since})
        assert receive_type(alice, "subscribed")["recovered"] is True
        assert receive_type(alice, "update")["data"] == {"title": "edited"}


def test_a_subscribe_with_a_malformed_since_is_an_error(connect: Connect) -> None:
    with connect(PATH, user="alice") as alice:
        receive_type(alice, "subscribed")
        alice.send_json({"type": "subscribe", "resource": "post", "id": 1, "since": "yesterday"})
        error = receive_type(alice, "error")
        assert (error["code"], error["fields"][0]["field"]) == ("invalid_message", "since")


def test_a_string_and_an_integer_id_name_the_same_resource(
    client: TestClient, services: Services, connect: Connect
) -> None:
    with connect(PATH, user="alice") as alice:
        receive_type(alice, "subscribed")
        alice.send_json({"type": "subscribe", "resource": "post", "id": "42"})
        assert receive_type(alice, "subscribed")["id"] == 42  # as updates will carry it
        publish(client, services, "post", "42", seen=True)
        assert receive_type(alice, "update")["id"] == 42


def test_unsubscribe_stops_the_updates(
    client: TestClient, services: Services, connect: Connect
) -> None:
    with connect(PATH, user="alice") as alice:
        receive_type(alice, "subscribed")
        alice.send_json({"type": "subscribe", "resource": "comment", "id": 7})
        receive_type(alice, "subscribed")
        alice.send_json({"type": "unsubscribe", "resource": "comment", "id": 7})
        assert receive_type(alice, "unsubscribed") == {
            "type": "unsubscribed",
            "resource": "comment",
            "id": 7,
        }
        publish(client, services, "comment", 7, text="gone")
        alice.send_json({"type": "ping"})
        receive_type(alice, "pong")


@pytest.mark.parametrize(
    ("subscribe", "code"),
    [
        ({"resource": "invoice", "id": 1}, "unknown_resource"),
        ({"resource": "user", "id": "bob"}, "forbidden"),
        ({"resource": "Post", "id": 1}, "invalid_message"),
        ({"resource": "post", "id": ""}, "invalid_message"),
        ({"resource": "post", "id": True}, "invalid_message"),
        ({"resource": "post", "id": 1.5}, "invalid_message"),
        ({"resource": "post", "id": 2**63}, "invalid_message"),
        ({"resource": "post", "id": "x" * 65}, "invalid_message"),
    ],
)
def test_a_refused_subscription_is_an_error(
    connect: Connect, subscribe: dict[str, object], code: str
) -> None:
    with connect(PATH, user="alice") as alice:
        receive_type(alice, "subscribed")
        alice.send_json({"type": "subscribe", **subscribe, "ref": "s"})
        error = receive_type(alice, "error")
        assert (error["code"], error["ref"]) == (code, "s")


@pytest.mark.settings(ws_max_subscriptions=2)
def test_subscriptions_beyond_the_cap_are_refused(connect: Connect) -> None:
    with connect(PATH, user="alice") as alice:
        receive_type(alice, "subscribed")  # its own user: one of two
        alice.send_json({"type": "subscribe", "resource": "post", "id": 1})
        receive_type(alice, "subscribed")
        alice.send_json({"type": "subscribe", "resource": "post", "id": 2})
        error = receive_type(alice, "error")
        assert error["code"] == "too_many_subscriptions"
        assert "2" in error["message"]
        alice.send_json({"type": "subscribe", "resource": "post", "id": 1})
        receive_type(alice, "subscribed")  # already subscribed: no new slot needed


def test_over_http_an_update_reaches_its_subscriber(
    client: TestClient, token_for: TokenFor, connect: Connect
) -> None:
    headers = {"authorization": f"Bearer {token_for('svc', scope='updates:publish')}"}
    with connect(PATH, user="alice") as alice:
        receive_type(alice, "subscribed")
        alice.send_json({"type": "subscribe", "resource": "post", "id": 42})
        receive_type(alice, "subscribed")
        response = client.post("/api/updates/post/42", json={"data": {"v": 2}}, headers=headers)
        assert response.status_code == 202
        update = receive_type(alice, "update")
    assert (update["resource"], update["id"], update["data"]) == ("post", 42, {"v": 2})


def test_over_http_an_update_to_an_unknown_resource_is_404(
    client: TestClient, token_for: TokenFor
) -> None:
    headers = {"authorization": f"Bearer {token_for('svc', scope='updates:publish')}"}
    response = client.post("/api/updates/invoice/1", json={"data": {}}, headers=headers)
    assert response.status_code == 404


def test_over_the_wire_a_live_update_reaches_its_subscriber_only(server: Server) -> None:
    with server.connect(PATH, "sub") as subscriber, server.connect(PATH, "other") as other:
        receive(subscriber, "subscribed")
        receive(other, "subscribed")
        subscriber.send(json.dumps({"type": "subscribe", "resource": "post", "id": 7}))
        receive(subscriber, "subscribed")
        server.post("/api/updates/post/7", {"data": {"v": 1}}, "updates:publish")
        assert receive(subscriber, "update")["data"] == {"v": 1}
        other.send(json.dumps({"type": "ping"}))
        receive(other, "pong")


def test_with_redis_an_update_published_on_one_process_reaches_a_subscriber_on_another(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    secret = "a-secret-only-for-the-cluster-updates-test"
    with (
        two_uvicorns(tmp_path, secret, command=SERVE, BROKER_URL=redis_server.url) as (
            a,
            b,
        ),
        b.connect(PATH, "sub") as subscriber,
    ):
        receive(subscriber, "subscribed")
        subscriber.send(json.dumps({"type": "subscribe", "resource": "post", "id": 7}))
        receive(subscriber, "subscribed")
        a.post("/api/updates/post/7", {"data": {"v": 1}}, "updates:publish")
        assert receive(subscriber, "update")["data"] == {"v": 1}


def test_unsubscribing_from_something_not_subscribed_is_an_error(connect: Connect) -> None:
    with connect(PATH, user="alice") as alice:
        receive_type(alice, "subscribed")
        alice.send_json({"type": "unsubscribe", "resource": "post", "id": 9, "ref": "u"})
        error = receive_type(alice, "error")
        assert (error["code"], error["ref"]) == ("not_subscribed", "u")


@pytest.mark.settings(ws_rate_limit=1e9, ws_rate_burst=1_000_000)
def test_thousands_of_subscribe_and_unsubscribe_leave_nothing_behind(
    client: TestClient, services: Services, connect: Connect
) -> None:
    with connect(PATH, user="alice") as alice:
        receive_type(alice, "subscribed")
        topics_before = services.hub.topic_count
        for number in range(2000):
            alice.send_json({"type": "subscribe", "resource": "post", "id": number})
            alice.send_json({"type": "unsubscribe", "resource": "post", "id": number})
        for _ in range(2000):
            receive_type(alice, "subscribed")
            receive_type(alice, "unsubscribed")
        assert services.hub.topic_count == topics_before
    assert services.hub.topic_count == 0
