"""Bad frames get a typed `error` and the connection stays open: the next ping still works."""

import pytest
from starlette.testclient import WebSocketTestSession

from .conftest import Connect, receive_type


def still_open(ws: WebSocketTestSession) -> None:
    ws.send_json({"type": "ping", "ref": "after"})
    assert receive_type(ws, "pong")["ref"] == "after"


def test_invalid_json_gets_invalid_json_format_and_stays_open(connect: Connect) -> None:
    with connect() as ws:
        receive_type(ws, "connected")
        ws.send_text("{not json")
        error = receive_type(ws, "error")
        assert error["message"] == "Invalid JSON format"
        assert error["code"] == "invalid_json"
        still_open(ws)


def test_unknown_type_is_named_in_the_error(connect: Connect) -> None:
    with connect() as ws:
        receive_type(ws, "connected")
        ws.send_json({"type": "dance", "ref": 7})
        error = receive_type(ws, "error")
        assert error["code"] == "unknown_type"
        assert "dance" in error["message"]
        assert "ping" in error["message"]
        assert error["ref"] == 7
        still_open(ws)


def test_missing_type_is_an_error(connect: Connect) -> None:
    with connect() as ws:
        receive_type(ws, "connected")
        ws.send_json({"content": "no type"})
        error = receive_type(ws, "error")
        assert error["code"] == "invalid_message"
        assert "type" in error["message"]
        still_open(ws)


@pytest.mark.parametrize("frame", ["[1, 2]", '"text"', "42", "null"])
def test_json_that_is_not_an_object_is_an_error(connect: Connect, frame: str) -> None:
    with connect() as ws:
        receive_type(ws, "connected")
        ws.send_text(frame)
        assert receive_type(ws, "error")["code"] == "invalid_message"
        still_open(ws)


def test_bad_fields_are_named_in_the_error(connect: Connect) -> None:
    with connect() as ws:
        receive_type(ws, "connected")
        ws.send_json({"type": "message", "content": 12, "ref": "t1"})
        error = receive_type(ws, "error")
        assert error["code"] == "invalid_message"
        assert error["ref"] == "t1"
        assert [field["field"] for field in error["fields"]] == ["content"]
        assert "content" in error["message"]
        still_open(ws)


def test_missing_and_empty_content_are_named(connect: Connect) -> None:
    with connect() as ws:
        receive_type(ws, "connected")
        ws.send_json({"type": "message"})
        assert receive_type(ws, "error")["fields"][0]["field"] == "content"
        ws.send_json({"type": "message", "content": ""})
        assert receive_type(ws, "error")["fields"][0]["field"] == "content"
        still_open(ws)


@pytest.mark.parametrize("ref", [True, 1.5, {"a": 1}, "r" * 65])
def test_a_ref_that_is_not_a_short_string_or_an_integer_is_an_error(
    connect: Connect, ref: object
) -> None:
    with connect() as ws:
        receive_type(ws, "connected")
        ws.send_json({"type": "ping", "ref": ref})
        error = receive_type(ws, "error")
        assert error["code"] == "invalid_message"
        assert error["fields"][0]["field"].startswith("ref")
        still_open(ws)
