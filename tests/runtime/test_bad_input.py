"""Bad frames get a typed `error` and the connection stays open: the next ping still works."""

import json

import pytest
from azu_ws.testing import Connect, receive_type
from starlette.testclient import WebSocketTestSession

from .testapp.config import Settings


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


def unknown_fields(count: int) -> str:
    """A ping with `count` fields nobody asked for: `{"type":"ping","ref":"r","k0":0,...}`."""
    return '{"type":"ping","ref":"r",' + ",".join(f'"k{n}":0' for n in range(count)) + "}"


def test_many_unknown_fields_are_answered_by_naming_five_and_counting_the_rest(
    connect: Connect,
) -> None:
    with connect() as ws:
        receive_type(ws, "connected")
        ws.send_text(unknown_fields(200))
        raw = ws.receive_text()
        error = json.loads(raw)
        assert (error["code"], error["ref"]) == ("invalid_message", "r")
        assert [field["field"] for field in error["fields"]] == ["k0", "k1", "k2", "k3", "k4"]
        assert error["message"] == "Invalid fields: k0, k1, k2, k3, k4 and 195 more"
        assert len(raw) < 1000
        # Thousands are counted without being read one by one.
        ws.send_text(unknown_fields(3000))
        raw = ws.receive_text()
        assert json.loads(raw)["message"] == "Invalid fields: 3000 of them"
        assert len(raw) < 1000
        still_open(ws)


def test_a_frame_with_more_fields_and_items_than_allowed_is_refused_unread(
    connect: Connect, settings: Settings
) -> None:
    # Just under WS_MAX_MESSAGE_SIZE: 90,000 fields.
    frame = unknown_fields(90_000)
    assert len(frame.encode()) < settings.ws_max_message_size
    with connect() as ws:
        receive_type(ws, "connected")
        ws.send_text(frame)
        raw = ws.receive_text()
        assert json.loads(raw) == {
            "type": "error",
            "code": "invalid_message",
            "message": f"More than {settings.ws_max_frame_items} fields and items: not read",
        }
        still_open(ws)


def test_an_error_quotes_no_more_than_a_line_of_what_the_client_sent(connect: Connect) -> None:
    with connect() as ws:
        receive_type(ws, "connected")
        ws.send_json({"type": "x" * 100_000})
        raw = ws.receive_text()
        assert json.loads(raw)["code"] == "unknown_type"
        assert len(raw) < 1000
        ws.send_json({"type": "ping", "y" * 100_000: 1})
        raw = ws.receive_text()
        assert json.loads(raw)["code"] == "invalid_message"
        assert len(raw) < 1000
        still_open(ws)


@pytest.mark.parametrize(
    ("ref", "echoed"), [(2**53 - 1, True), (-(2**53) + 1, True), (2**53, False), (10**30, False)]
)
def test_an_integer_ref_is_one_javascript_holds_exactly(
    connect: Connect, ref: int, echoed: bool
) -> None:
    with connect() as ws:
        receive_type(ws, "connected")
        ws.send_json({"type": "ping", "ref": ref})
        if echoed:
            assert receive_type(ws, "pong")["ref"] == ref
        else:
            error = receive_type(ws, "error")
            assert error["code"] == "invalid_message"
            assert "ref" not in error
            assert {field["field"].split(".")[0] for field in error["fields"]} == {"ref"}
        still_open(ws)


def test_deep_nesting_counts_against_the_frame_items_too(
    connect: Connect, settings: Settings
) -> None:
    # Arrays in arrays have no commas or colons, and parsing them costs all the same.
    nested = "[" * 150 + "]" * 150
    frame = '{"type":"ping","ref":[' + ",".join([nested] * 3000) + "]}"
    assert len(frame.encode()) < settings.ws_max_message_size
    with connect() as ws:
        receive_type(ws, "connected")
        ws.send_text(frame)
        error = receive_type(ws, "error")
        assert (
            error["message"]
            == f"More than {settings.ws_max_frame_items} fields and items: not read"
        )
        still_open(ws)
