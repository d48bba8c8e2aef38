"""Every HTTP publishing route: token checked (401), scope checked (403), body typed (422)."""

import json
import re

import pytest
from fastapi.routing import APIRoute
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.api import ROUTERS

from .conftest import TokenFor


def scoped(client: TestClient, token_for: TokenFor, path: str) -> dict[str, str]:
    """Headers with a token granting the scope the route asks for, as its 403 names it."""
    unscoped = {"authorization": f"Bearer {token_for('svc')}"}
    detail = client.post(path, json={}, headers=unscoped).json()["detail"]
    scope = detail.rsplit(" ", 1)[1].strip("'")
    return {"authorization": f"Bearer {token_for('svc', scope=scope)}"}


def api_routes() -> list[str]:
    """The paths of the publishing routes this project has, with sample parameters.

    Read from the routers the app mounts: FastAPI keeps an included router's routes
    inside it, out of `app.routes`.
    """
    routes = [route for router in ROUTERS for route in router.routes]
    paths = [route.path for route in routes if isinstance(route, APIRoute)]
    return [re.sub(r"\{\w+\}", "x1", path) for path in paths if path.startswith("/api/")]


def test_without_a_valid_token_every_route_answers_401(client: TestClient) -> None:
    for path in api_routes():
        for headers in ({}, {"authorization": "Bearer not.a.token"}):
            response = client.post(path, json={}, headers=headers)
            assert response.status_code == 401, path
            assert response.headers["www-authenticate"] == "Bearer"


def test_without_the_scope_every_route_answers_403(client: TestClient, token_for: TokenFor) -> None:
    headers = {"authorization": f"Bearer {token_for('svc', scope='profile:read')}"}
    for path in api_routes():
        response = client.post(path, json={}, headers=headers)
        assert response.status_code == 403, path
        assert "lacks scope" in response.json()["detail"]


@pytest.mark.parametrize("body", [{}, {"payload": "nope", "data": [], "content": ""}])
def test_a_bad_body_answers_422_with_pydantics_details(
    client: TestClient, token_for: TokenFor, body: dict[str, object]
) -> None:
    for path in api_routes():
        response = client.post(path, json=body, headers=scoped(client, token_for, path))
        assert response.status_code == 422, path
        assert response.json()["detail"][0]["loc"][0] == "body"


def test_every_route_is_in_the_openapi_document(client: TestClient) -> None:
    documented = client.get("/openapi.json").json()["paths"]
    routes = [route for router in ROUTERS for route in router.routes]
    assert routes
    for route in routes:
        assert isinstance(route, APIRoute)
        assert "post" in documented[route.path]


def test_an_oversized_or_padded_body_answers_422(client: TestClient, token_for: TokenFor) -> None:
    huge = {"blob": "x" * (64 * 1024)}
    for path in api_routes():
        headers = scoped(client, token_for, path)
        for body in (
            {"payload": huge, "data": huge, "content": "x" * 5000},
            {"payload": {}, "data": {}, "content": "hi", "user": "forged"},
        ):
            response = client.post(path, json=body, headers=headers)
            assert response.status_code == 422, (path, response.text)


def test_a_lone_surrogate_anywhere_in_a_body_answers_422(
    client: TestClient, token_for: TokenFor
) -> None:
    # JSON text no encoder would write: a string UTF-8 cannot encode, which no socket
    # could be sent and no store should keep, as a value and as a key.
    fields = {"payload": {"x": "LONE", "LONE": 1}, "data": {"x": ["LONE"]}}
    text = json.dumps({**fields, "content": "LONE", "reason": "LONE"})
    body = text.replace('"LONE"', '"\\ud800"')
    for path in api_routes():
        headers = {**scoped(client, token_for, path), "content-type": "application/json"}
        response = client.post(path, content=body, headers=headers)
        assert response.status_code == 422, path
        assert "UTF-8" in response.text, path
