"""Revocation: the application closes every socket of a user at once (logout, ban)."""

import logging
import time

import pytest
from azu_ws.auth import User
from azu_ws.close_codes import WS_4401_UNAUTHORIZED, WS_4403_FORBIDDEN
from azu_ws.formats import CURRENT, PREVIOUS
from azu_ws.revocation import Revocations
from azu_ws.services import Services
from azu_ws.testing import Connect, call, closed_with, receive_type
from starlette.testclient import TestClient

from .bench import TokenFor
from .testapp.channels import PROBE


def test_over_http_every_socket_of_the_user_is_closed_and_no_one_elses(
    client: TestClient, token_for: TokenFor, connect: Connect
) -> None:
    headers = {"authorization": f"Bearer {token_for('admin', scope='users:revoke')}"}
    with (
        connect(user="bob") as phone,
        connect(user="bob") as laptop,
        connect(user="alice") as alice,
    ):
        for ws in (phone, laptop, alice):
            receive_type(ws, "connected")
        body = {"reason": "banned"}
        response = client.post("/api/users/bob/disconnect", json=body, headers=headers)
        assert (response.status_code, response.json()) == (202, {"user_id": "bob", "sockets": 2})
        for ws in (phone, laptop):
            assert closed_with(ws) == (WS_4403_FORBIDDEN, "banned")
        alice.send_json({"type": "ping"})
        receive_type(alice, "pong")


def test_from_python_the_same_in_one_call(
    client: TestClient, services: Services, connect: Connect
) -> None:
    with connect(user="bob") as bob:
        receive_type(bob, "connected")
        closed = call(client, _disconnect, services, "bob")
        assert closed == 1
        assert closed_with(bob) == (WS_4403_FORBIDDEN, "logged out")


async def _disconnect(services: Services, user_id: str) -> int:
    return await services.hub.disconnect_user(user_id, WS_4403_FORBIDDEN, "logged out")


def test_a_revoked_token_cannot_reconnect_but_a_newer_one_can(
    client: TestClient, services: Services, connect: Connect, token_for: TokenFor
) -> None:
    old = {"authorization": f"Bearer {token_for('bob')}"}
    with client.websocket_connect(PROBE, headers=old) as bob:
        receive_type(bob, "connected")
        time.sleep(1.1)  # token times are whole seconds: the revocation comes later
        call(client, _disconnect, services, "bob")
        closed_with(bob)
    with client.websocket_connect(PROBE, headers=old) as again:
        assert closed_with(again) == (WS_4401_UNAUTHORIZED, "token revoked")
    time.sleep(1.1)
    with connect(user="bob") as fresh:
        receive_type(fresh, "connected")


def test_an_order_this_process_cannot_read_is_ignored_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    revocations = Revocations(CURRENT)
    newer = revocations.order("bob", WS_4403_FORBIDDEN, "banned").model_copy(update={"v": 99})
    with caplog.at_level(logging.WARNING, "azu_ws.revocation"):
        assert revocations.read('{"user": "bob"}') is None
        assert revocations.read(newer.model_dump_json()) is None
    assert [record.getMessage()[:28] for record in caplog.records] == [
        "ignoring a malformed order o",
        "ignoring an order: an order ",
    ]


@pytest.mark.parametrize("write_format", [PREVIOUS, CURRENT])
def test_an_order_reads_back_in_either_format_and_an_older_one_never_undoes_a_newer(
    write_format: int,
) -> None:
    revocations = Revocations(write_format)
    newer = revocations.order("bob", WS_4403_FORBIDDEN, "banned")
    older = newer.model_copy(update={"at": newer.at - 60})
    assert revocations.read(revocations.written(newer)) == newer
    revocations.record(newer)
    revocations.record(older)
    assert revocations.is_revoked(User("bob", {"iat": newer.at - 30}))
    assert not revocations.is_revoked(User("bob", {"iat": newer.at + 1}))
    assert not revocations.is_revoked(User("alice", {"iat": 0}))
