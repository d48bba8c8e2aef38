"""Sockets of Starlette's TestClient, read as a client would, and the app's loop at hand."""

from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from starlette.testclient import TestClient, WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

# `connect(path, user, claims)`: a socket opened as `user`, as a fixture gives it.
Connect = Callable[..., AbstractContextManager[WebSocketTestSession]]
T = TypeVar("T")


def call(client: TestClient, function: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run a coroutine function on the app's event loop, as application code would."""
    assert client.portal is not None
    result: T = client.portal.call(function, *args)
    return result


def closed_with(ws: WebSocketTestSession) -> tuple[int, str]:
    """Read until the server closes; the close code and reason."""
    try:
        while True:
            ws.receive_json()
    except WebSocketDisconnect as closed:
        return closed.code, closed.reason


def receive_type(ws: WebSocketTestSession, expected: str) -> dict[str, Any]:
    """The next frame, which must be of type `expected`."""
    frame: dict[str, Any] = ws.receive_json()
    assert frame["type"] == expected, frame
    return frame
