"""Who gets in: only a valid token we signed, from the header, the subprotocol, or the query."""

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from azu_ws import auth
from azu_ws.auth import AuthenticationError, create_token, verify_token
from azu_ws.cli import main as cli
from azu_ws.close_codes import WS_1011_INTERNAL_ERROR, WS_4401_UNAUTHORIZED
from azu_ws.testing import receive_type
from fastapi import FastAPI
from jose import jwt
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from .bench import PACKAGE, TEST_SECRET
from .test_jwt import EC_PRIVATE, EC_PUBLIC
from .testapp.channels import PROBE
from .testapp.config import Settings


def refused(client: TestClient, url: str = PROBE, **kwargs: object) -> WebSocketDisconnect:
    """Connect and return the close the server answered with."""
    with (
        client.websocket_connect(url, **kwargs) as ws,  # type: ignore[arg-type]
        pytest.raises(WebSocketDisconnect) as closed,
    ):
        ws.receive_json()
    return closed.value


def signed(claims: dict[str, object], secret: str = TEST_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def in_an_hour() -> int:
    return int(time.time()) + 3600


def test_no_token_is_refused_with_4401(client: TestClient) -> None:
    closed = refused(client)
    assert closed.code == WS_4401_UNAUTHORIZED
    assert closed.reason == "missing token"


def test_bad_token_is_refused_with_4401(client: TestClient) -> None:
    closed = refused(client, headers={"authorization": "Bearer not.a.jwt"})
    assert (closed.code, closed.reason) == (WS_4401_UNAUTHORIZED, "invalid token")


def test_expired_token_is_refused_with_4401(client: TestClient) -> None:
    token = signed({"sub": "alice", "exp": int(time.time()) - 10})
    closed = refused(client, headers={"authorization": f"Bearer {token}"})
    assert (closed.code, closed.reason) == (WS_4401_UNAUTHORIZED, "token expired")


def test_token_signed_with_another_secret_is_refused(client: TestClient) -> None:
    token = signed({"sub": "alice", "exp": in_an_hour()}, secret="another-secret-" * 4)
    assert (
        refused(client, headers={"authorization": f"Bearer {token}"}).code == WS_4401_UNAUTHORIZED
    )


def test_token_signed_with_another_algorithm_is_refused(client: TestClient) -> None:
    token = signed({"sub": "alice", "exp": in_an_hour()}, algorithm="HS512")
    assert (
        refused(client, headers={"authorization": f"Bearer {token}"}).code == WS_4401_UNAUTHORIZED
    )


def test_unsigned_alg_none_token_is_refused(client: TestClient) -> None:
    header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"  # {"alg":"none","typ":"JWT"}
    valid = signed({"sub": "mallory", "exp": in_an_hour()})
    token = f"{header}.{valid.split('.')[1]}."
    assert (
        refused(client, headers={"authorization": f"Bearer {token}"}).code == WS_4401_UNAUTHORIZED
    )


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "alice"},
        {"exp": 4102444800},
        {"sub": "", "exp": 4102444800},
        {"sub": 42, "exp": 4102444800},
        {"sub": "eve\nINFO: forged log line", "exp": 4102444800},
    ],
)
def test_token_without_exp_or_sub_is_refused(client: TestClient, claims: dict[str, object]) -> None:
    closed = refused(client, headers={"authorization": f"Bearer {signed(claims)}"})
    assert closed.code == WS_4401_UNAUTHORIZED


def test_token_in_the_subprotocol_is_accepted_and_the_marker_echoed(
    client: TestClient, token_for: Callable[[str], str]
) -> None:
    with client.websocket_connect(PROBE, subprotocols=["bearer", token_for("bea")]) as ws:
        assert ws.accepted_subprotocol == "bearer"
        assert receive_type(ws, "connected")["user"] == "bea"


def test_refusal_still_echoes_the_subprotocol_so_browsers_see_the_code(
    client: TestClient,
) -> None:
    with client.websocket_connect(PROBE, subprotocols=["bearer", "garbage"]) as ws:
        assert ws.accepted_subprotocol == "bearer"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == WS_4401_UNAUTHORIZED


def test_token_in_the_query_is_accepted(
    client: TestClient, token_for: Callable[[str], str]
) -> None:
    with client.websocket_connect(f"{PROBE}?token={token_for('quinn')}") as ws:
        assert receive_type(ws, "connected")["user"] == "quinn"


@pytest.mark.parametrize(
    ("audience", "issuer", "accepted"),
    [
        ("chat", "us", True),
        (None, None, False),
        ("chat", None, False),
        (None, "us", False),
        ("billing", "us", False),
        ("chat", "them", False),
    ],
)
def test_audience_and_issuer_are_both_required_and_checked_when_set(
    audience: str | None, issuer: str | None, accepted: bool
) -> None:
    strict = Settings(_env_file=None, jwt_secret=TEST_SECRET, jwt_audience="chat", jwt_issuer="us")
    signer = Settings(
        _env_file=None, jwt_secret=TEST_SECRET, jwt_audience=audience, jwt_issuer=issuer
    )
    token = create_token("alice", signer)
    if accepted:
        assert verify_token(token, strict).id == "alice"
    else:
        with pytest.raises(AuthenticationError):
            verify_token(token, strict)


def test_the_header_wins_over_the_query(
    client: TestClient, token_for: Callable[[str], str]
) -> None:
    query = f"{PROBE}?token={token_for('from-query')}"
    closed = refused(client, headers={"authorization": "Bearer not.a.jwt"}, url=query)
    assert closed.code == WS_4401_UNAUTHORIZED
    with client.websocket_connect(
        query, headers={"authorization": f"Bearer {token_for('from-header')}"}
    ) as ws:
        assert receive_type(ws, "connected")["user"] == "from-header"


def test_the_subprotocol_wins_over_the_query(
    client: TestClient, token_for: Callable[[str], str]
) -> None:
    query = f"{PROBE}?token=not.a.jwt"
    with client.websocket_connect(query, subprotocols=["bearer", token_for("from-protocol")]) as ws:
        assert receive_type(ws, "connected")["user"] == "from-protocol"


def test_command_line_mints_a_token_for_the_user(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], settings: Settings
) -> None:
    monkeypatch.setenv("JWT_SECRET", TEST_SECRET)
    cli(PACKAGE, ["token", "alice", "--ttl", "60"])
    token = capsys.readouterr().out.strip()
    user = verify_token(token, settings)
    assert user.id == "alice"
    assert 50 <= user.claims["exp"] - time.time() <= 60


def test_command_line_names_a_missing_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    with pytest.raises(SystemExit) as exited:
        cli(PACKAGE, ["token", "alice"])
    assert exited.value.code == 2
    assert "JWT_SECRET" in capsys.readouterr().err


def test_a_server_that_cannot_check_a_signature_says_so_and_never_refuses_the_token(
    client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As at the file-descriptor limit, when python-jose's lazy imports fail: the
    # library calls that a bad signature; a client told 4401 would stop for good.
    key = auth._prepared_key(settings.jwt_algorithm, TEST_SECRET)

    def no_descriptors_left(*args: object) -> bool:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(type(key), "verify", no_descriptors_left)
    token = create_token("alice", settings)
    closed = refused(client, PROBE, subprotocols=["bearer", token])
    assert (closed.code, closed.reason) == (
        WS_1011_INTERNAL_ERROR,
        "Could not verify the token; retry",
    )
    headers = {"authorization": f"Bearer {token}"}
    assert client.post("/api/users/bob/disconnect", headers=headers).status_code == 503
    monkeypatch.undo()
    with client.websocket_connect(PROBE, subprotocols=["bearer", token]) as ws:
        assert receive_type(ws, "connected")["user"] == "alice"


def test_the_verification_key_is_built_when_the_app_starts_before_any_handshake(
    app: FastAPI, settings: Settings
) -> None:
    auth._prepared_key.cache_clear()
    with TestClient(app):  # its lifespan: the services start
        assert auth._prepared_key.cache_info().currsize == 1
        verify_token(create_token("alice", settings), settings)
        assert auth._prepared_key.cache_info().misses == 1  # built once, at the start


def test_an_es256_key_that_cannot_check_a_signature_is_a_server_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # python-jose's EC keys answer False for any exception: checked without them.
    settings = Settings(
        _env_file=None, jwt_algorithm="ES256", jwt_public_key=EC_PUBLIC, jwt_private_key=EC_PRIVATE
    )
    token = create_token("alice", settings)
    assert verify_token(token, settings).id == "alice"
    key = auth._prepared_key(settings.jwt_algorithm, EC_PUBLIC.replace("\\n", "\n"))

    def no_descriptors_left(*args: object) -> None:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(type(key.prepared_key), "verify", no_descriptors_left)  # type: ignore[attr-defined]
    with pytest.raises(auth.VerifierFailed):
        verify_token(token, settings)
    forged = token[: token.rindex(".") + 1] + "A" * 86
    monkeypatch.undo()
    with pytest.raises(AuthenticationError):  # a bad signature is still the client's
        verify_token(forged, settings)
