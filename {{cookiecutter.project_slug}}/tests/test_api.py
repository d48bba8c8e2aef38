"""Publishing over HTTP: authenticated by token, allowed by scope, validated by model."""

import pytest
from starlette.testclient import TestClient

from .conftest import Connect, TokenFor, receive_type


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/notifications/bob", {"payload": {}}),
        ("/api/notifications", {"payload": {}}),
        ("/api/updates/post/1", {"data": {}}),
        ("/api/rooms/lobby/messages", {"content": "hi"}),
    ],
)
def test_without_a_valid_token_every_route_answers_401(
    client: TestClient, path: str, body: dict[str, object]
) -> None:
    for headers in ({}, bearer("not.a.token")):
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"


def test_without_the_scope_the_route_answers_403(client: TestClient, token_for: TokenFor) -> None:
    token = token_for("svc", scope="updates:publish")
    response = client.post("/api/notifications/bob", json={"payload": {}}, headers=bearer(token))
    assert response.status_code == 403
    assert "notifications:send" in response.json()["detail"]


def test_a_bad_body_answers_422_with_pydantics_details(
    client: TestClient, token_for: TokenFor
) -> None:
    token = token_for("svc", scope="notifications:send")
    response = client.post(
        "/api/notifications/bob", json={"payload": "nope"}, headers=bearer(token)
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "payload"]


def test_notify_a_user_who_is_offline_then_connects(
    client: TestClient, token_for: TokenFor, connect: Connect
) -> None:
    token = token_for("svc", scope="notifications:send")
    response = client.post(
        "/api/notifications/bob", json={"payload": {"n": 1}}, headers=bearer(token)
    )
    assert response.status_code == 202
    stored = response.json()
    with connect("/ws/notifications", user="bob") as bob:
        frame = receive_type(bob, "notification")
    assert (frame["id"], frame["payload"]) == (stored["id"], {"n": 1})


def test_a_system_notification_over_http(
    client: TestClient, token_for: TokenFor, connect: Connect
) -> None:
    token = token_for("svc", scope="notifications:send")
    with connect("/ws/notifications", user="bob") as bob:
        response = client.post(
            "/api/notifications", json={"payload": {"all": True}}, headers=bearer(token)
        )
        assert response.status_code == 202
        assert receive_type(bob, "notification")["kind"] == "system"


def test_an_update_over_http_reaches_its_subscriber(
    client: TestClient, token_for: TokenFor, connect: Connect
) -> None:
    token = token_for("svc", scope="updates:publish")
    with connect("/ws/live_updates", user="alice") as alice:
        receive_type(alice, "subscribed")
        alice.send_json({"type": "subscribe", "resource": "post", "id": 42})
        receive_type(alice, "subscribed")
        response = client.post(
            "/api/updates/post/42", json={"data": {"v": 2}}, headers=bearer(token)
        )
        assert response.status_code == 202
        update = receive_type(alice, "update")
    assert (update["resource"], update["id"], update["data"]) == ("post", 42, {"v": 2})


def test_an_update_to_an_unknown_resource_is_404(client: TestClient, token_for: TokenFor) -> None:
    token = token_for("svc", scope="updates:publish")
    response = client.post("/api/updates/invoice/1", json={"data": {}}, headers=bearer(token))
    assert response.status_code == 404


def test_a_server_message_into_a_room_is_signed_by_the_caller(
    client: TestClient, token_for: TokenFor, connect: Connect
) -> None:
    token = token_for("announcer", scope="rooms:publish")
    with connect("/ws/rooms/lobby", user="alice") as alice:
        receive_type(alice, "joined")
        response = client.post(
            "/api/rooms/lobby/messages", json={"content": "welcome"}, headers=bearer(token)
        )
        assert response.status_code == 202
        message = receive_type(alice, "message")
    assert (message["room"], message["content"], message["user"]) == (
        "lobby",
        "welcome",
        "announcer",
    )


def test_the_routes_are_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/notifications/{user_id}",
        "/api/notifications",
        "/api/updates/{resource}/{resource_id}",
        "/api/rooms/{room_id}/messages",
    ):
        assert "post" in paths[path]
