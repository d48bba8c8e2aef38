"""`require_scope` and `app_state`: an HTTP route's caller, verified once, and what the
app's lifespan made, typed; each refusal says what is wrong."""

from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from azu_ws import (
    MissingState,
    RuntimeSettings,
    Services,
    User,
    app_state,
    build_app,
    require_scope,
)
from azu_ws.testing import create_token, services_of
from fastapi import Depends, FastAPI
from jose import jwt
from starlette.testclient import TestClient

SECRET = "a-secret-only-for-the-require-scope-tests-01"
Sender = Annotated[User, Depends(require_scope("send"))]


@pytest.fixture
def settings() -> RuntimeSettings:
    return RuntimeSettings(_env_file=None, environment="production", jwt_secret=SECRET)


@pytest.fixture
def app(settings: RuntimeSettings) -> FastAPI:
    """The runtime alone, with one scoped route under the API's prefix and one outside it."""
    app = build_app(settings, [], title="scoped", package=__name__)

    @app.post("/api/send")
    async def send(sender: Sender) -> dict[str, str]:
        return {"sender": sender.id}

    @app.post("/internal/send")
    async def send_internally(sender: Sender) -> dict[str, str]:
        return {"sender": sender.id}

    @app.get("/internal/missing")
    async def missing(value: Annotated[int, Depends(app_state("nothing", int))]) -> int:
        return value

    @app.get("/internal/mistyped")
    async def mistyped(value: Annotated[int, Depends(app_state("services", int))]) -> int:
        return value

    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def bearer(settings: RuntimeSettings, **claims: Any) -> dict[str, str]:
    return {"authorization": f"Bearer {create_token('svc', settings, extra_claims=claims)}"}


def test_under_the_api_prefix_the_token_is_verified_once_per_request(
    client: TestClient, settings: RuntimeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    decode, decoded = jwt.decode, []

    def counted(*args: Any, **kwargs: Any) -> Any:
        decoded.append(args[0])
        return decode(*args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counted)
    response = client.post("/api/send", headers=bearer(settings, scope="send"))
    assert (response.status_code, response.json()) == (200, {"sender": "svc"})
    assert len(decoded) == 1


def test_outside_the_api_prefix_the_route_checks_the_token_itself(
    client: TestClient, settings: RuntimeSettings
) -> None:
    for headers in ({}, {"authorization": "Bearer not.a.token"}):
        refused = client.post("/internal/send", headers=headers)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
    unscoped = client.post("/internal/send", headers=bearer(settings, scope="read send:all"))
    assert unscoped.status_code == 403
    assert unscoped.json()["detail"] == "the token lacks scope 'send'"
    scoped = client.post("/internal/send", headers=bearer(settings, scope="read send"))
    assert (scoped.status_code, scoped.json()) == (200, {"sender": "svc"})


def test_the_scope_is_offered_in_the_openapi_document(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert document["paths"]["/api/send"]["post"]["security"] == [{"HTTPBearer": []}]


def test_what_the_app_state_lacks_is_named(client: TestClient) -> None:
    with pytest.raises(MissingState, match=r"app\.state has no 'nothing'"):
        client.get("/internal/missing")
    with pytest.raises(TypeError, match=r"app\.state\.services is Services, expected int"):
        client.get("/internal/mistyped")


def test_services_are_there_only_while_the_app_runs(app: FastAPI) -> None:
    with pytest.raises(MissingState, match=r"with TestClient\(app\)"):
        services_of(TestClient(app))
    with TestClient(app) as client:
        assert isinstance(services_of(client), Services)
