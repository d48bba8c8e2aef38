"""An app's own error codes: its channel declares them, `ClientError` sends them, and
/asyncapi.json and /messages.d.ts list them for that channel; an undeclared one is a bug."""

from collections.abc import Iterator
from typing import Annotated, Any, Literal

import jsonschema
import pytest
from azu_ws import (
    Channel,
    ClientError,
    ClientMessage,
    ErrorCodes,
    ErrorMessage,
    Ping,
    Pong,
    RuntimeSettings,
    build_app,
)
from azu_ws.errors import UndeclaredErrorCode
from azu_ws.testing import receive_type
from pydantic import Field
from starlette.testclient import TestClient

from .bench import TokenFor


class Order(ClientMessage):
    type: Literal["order"]
    dish: str


KitchenInbound = Annotated[Ping | Order, Field(discriminator="type")]
SOLD_OUT = "the dish asked for is sold out today"


class KitchenChannel(Channel[KitchenInbound, Pong]):
    """Takes orders, and says when a dish is off."""

    path = "/ws/kitchen"
    error_codes = ErrorCodes(sold_out=SOLD_OUT)

    async def on_message(self, message: KitchenInbound) -> None:
        match message:
            case Ping():
                await self.reply(message, Pong())
            case Order(dish="soup"):
                raise ClientError("sold_out", "No soup today")
            case Order(dish="salad"):
                raise ClientError("no_lettuce", "declared nowhere")
            case Order():
                await self.push(ErrorMessage(code="sold_ot", message="a typo"))


class HallChannel(Channel[Annotated[Ping, Field(discriminator="type")], Pong]):
    """Declares nothing of its own."""

    path = "/ws/hall"


@pytest.fixture
def client(settings: RuntimeSettings) -> Iterator[TestClient]:
    app = build_app(settings, [KitchenChannel, HallChannel], title="Kitchen", package="kitchen")
    with TestClient(app, client=("127.0.0.1", 50000)) as client:
        yield client


def order(client: TestClient, token_for: TokenFor, dish: str) -> tuple[dict[str, Any], Any]:
    """Order `dish` with a ref: the error it is answered with, and the answer to a ping after."""
    headers = {"authorization": f"Bearer {token_for('alice')}"}
    with client.websocket_connect("/ws/kitchen", headers=headers) as ws:
        ws.send_json({"type": "order", "dish": dish, "ref": 3})
        error = receive_type(ws, "error")
        ws.send_json({"type": "ping"})
        return error, receive_type(ws, "pong")


def error_schema(client: TestClient, channel: str) -> dict[str, Any]:
    """The payload schema of one channel's `error`, with the components it refers to."""
    document = client.get("/asyncapi.json").json()
    entry = document["channels"][channel]["messages"]["ErrorMessage"]
    message = document["components"]["messages"][entry["$ref"].rsplit("/", 1)[1]]
    assert message["name"] == "error"
    return {**message["payload"], "components": document["components"]}


def test_a_code_of_the_channels_own_reaches_the_client_with_the_ref(
    client: TestClient, token_for: TokenFor
) -> None:
    error, _ = order(client, token_for, "soup")
    assert error == {"type": "error", "code": "sold_out", "message": "No soup today", "ref": 3}


def test_the_document_lists_the_channels_own_codes_for_that_channel_only(
    client: TestClient, token_for: TokenFor
) -> None:
    kitchen, hall = error_schema(client, "kitchen"), error_schema(client, "hall")
    codes = kitchen["allOf"][1]["properties"]["code"]["oneOf"]
    assert {"const": "sold_out", "description": SOLD_OUT} in codes
    assert {"invalid_json", "internal_error"} <= {code["const"] for code in codes}
    error, _ = order(client, token_for, "soup")
    jsonschema.validate(error, kitchen)
    with pytest.raises(jsonschema.ValidationError):  # another channel does not send it
        jsonschema.validate(error, hall)
    with pytest.raises(jsonschema.ValidationError):  # nor does this one send any code
        jsonschema.validate({**error, "code": "sold_ot"}, kitchen)


def test_the_typescript_types_list_the_channels_own_codes_for_that_channel_only(
    client: TestClient,
) -> None:
    types = client.get("/messages.d.ts").text
    kitchen = types.split("export type KitchenErrorCode =", 1)[1].split(";", 1)[0]
    hall = types.split("export type HallErrorCode =", 1)[1].split(";", 1)[0]
    assert f'  // {SOLD_OUT}\n  | "sold_out"' in kitchen
    assert '| "invalid_json"' in kitchen
    assert '"sold_out"' not in hall
    assert "export interface KitchenErrorMessage extends ErrorMessage {" in types
    outbound = types.split("export type KitchenOutbound = ", 1)[1].split(";", 1)[0]
    assert "KitchenErrorMessage" in outbound.split(" | ")


@pytest.mark.parametrize("dish", ["salad", "stew"])
def test_an_undeclared_code_is_answered_as_a_bug_and_logged_with_its_traceback(
    client: TestClient, token_for: TokenFor, caplog: pytest.LogCaptureFixture, dish: str
) -> None:
    error, pong = order(client, token_for, dish)
    assert (error["code"], error["ref"]) == ("internal_error", 3)
    assert pong["type"] == "pong"  # the socket stays open
    crash = next(record for record in caplog.records if "handler failed" in record.getMessage())
    assert crash.levelname == "ERROR"
    assert crash.exc_info is not None
    assert isinstance(crash.exc_info[1], UndeclaredErrorCode)
    assert "KitchenChannel sent the error code" in str(crash.exc_info[1])


@pytest.mark.parametrize(
    ("codes", "complaint"),
    [
        ({"Sold Out": "the dish is off"}, "is not a name"),
        ({"sold_out": " "}, "in one line"),
        ({"sold_out": "the dish\nis off"}, "in one line"),
        ({"sold_out": "\rthe dish is off"}, "in one line"),
        ({"invalid_json": "ours, not the runtime's"}, "is the runtime's"),
    ],
)
def test_codes_a_client_could_not_be_told_about_are_refused_when_the_class_is_defined(
    codes: dict[str, str], complaint: str
) -> None:
    with pytest.raises(TypeError, match=complaint):

        class Bad(Channel[KitchenInbound, Pong]):
            path = "/ws/bad"
            error_codes = ErrorCodes(**codes)
