"""Live updates: subscribe to a resource, get its changes and nobody else's."""

import pytest
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.services import Services

from .conftest import Connect, call, receive_type

PATH = "/ws/live_updates"


def publish(
    client: TestClient, services: Services, resource: str, id: int | str, **data: object
) -> None:
    call(client, services.updates.publish_update, resource, id, dict(data))


def test_a_socket_starts_subscribed_to_its_own_user(
    client: TestClient, services: Services, connect: Connect
) -> None:
    with connect(PATH, user="alice") as alice:
        assert receive_type(alice, "subscribed") == {
            "type": "subscribed",
            "resource": "user",
            "id": "alice",
        }
        publish(client, services, "user", "alice", name="Alice")
        update = receive_type(alice, "update")
        assert (update["resource"], update["id"], update["data"]) == (
            "user",
            "alice",
            {"name": "Alice"},
        )
        assert update["timestamp"]


def test_updates_reach_the_subscribers_of_that_resource_only(
    client: TestClient, services: Services, connect: Connect
) -> None:
    with connect(PATH, user="alice") as alice, connect(PATH, user="bob") as bob:
        receive_type(alice, "subscribed")
        receive_type(bob, "subscribed")
        alice.send_json({"type": "subscribe", "resource": "post", "id": 42, "ref": 1})
        assert receive_type(alice, "subscribed") == {
            "type": "subscribed",
            "resource": "post",
            "id": 42,
            "ref": 1,
        }
        bob.send_json({"type": "subscribe", "resource": "post", "id": 43})
        receive_type(bob, "subscribed")
        publish(client, services, "post", 42, title="new")
        assert receive_type(alice, "update")["data"] == {"title": "new"}
        bob.send_json({"type": "ping"})
        receive_type(bob, "pong")  # post 42 never reached bob


def test_a_string_and_an_integer_id_name_the_same_resource(
    client: TestClient, services: Services, connect: Connect
) -> None:
    with connect(PATH, user="alice") as alice:
        receive_type(alice, "subscribed")
        alice.send_json({"type": "subscribe", "resource": "post", "id": "42"})
        receive_type(alice, "subscribed")
        publish(client, services, "post", 42, seen=True)
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
