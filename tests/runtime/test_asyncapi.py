"""`/asyncapi.json` and `/messages.d.ts` describe what the sockets really speak."""

import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import jsonschema
import pytest
from azu_ws import asyncapi, typescript
from azu_ws.asyncapi import channel_id, message_type
from azu_ws.channel import Channel
from azu_ws.close_codes import CLOSE_CODES
from azu_ws.messages import ClientMessage, Ping, Pong, ServerMessage
from azu_ws.testing import Connect, receive_type
from pydantic import Field
from starlette.testclient import TestClient

from .bench import IMPORT_PATH, PACKAGE
from .testapp.app import create_app
from .testapp.channels import CHANNELS, PROBE, ProbeChannel
from .testapp.config import Settings

PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
EVERY_CHANNEL: list[type[Channel[Any, Any]]] = [*CHANNELS, ProbeChannel]


def document(client: TestClient) -> dict[str, Any]:
    response = client.get("/asyncapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def message_types(doc: dict[str, Any], channel: str, action: str) -> set[str]:
    """The `type` of each message of one direction of a channel, read through the refs."""
    operation = doc["operations"][f"{channel}_{action}"]
    names = set()
    for reference in operation["messages"]:
        # "#/channels/chat/messages/Ping" -> the channel's entry -> the component.
        key = reference["$ref"].rsplit("/", 1)[1]
        entry = doc["channels"][channel]["messages"][key]
        names.add(doc["components"]["messages"][entry["$ref"].rsplit("/", 1)[1]]["name"])
    return names


def payload_schema(doc: dict[str, Any], model: str) -> dict[str, Any]:
    """The payload schema of a message, with the components its refs point into."""
    payload = doc["components"]["messages"][model]["payload"]
    return {**payload, "components": doc["components"]}


def test_every_channel_is_there_at_its_path_with_its_messages_each_way(
    client: TestClient,
) -> None:
    doc = document(client)
    assert doc["asyncapi"] == "3.0.0"
    assert doc["servers"]["this"]["host"] == "testserver"
    for channel in EVERY_CHANNEL:
        name = channel_id(channel)
        assert doc["channels"][name]["address"] == channel.path
        accepted = {message_type(model) for model in channel.accepts}
        assert message_types(doc, name, "receive") - {"binary"} == accepted
        assert {"auth", "ping"} <= accepted
        sent = message_types(doc, name, "send") - {"binary"}
        assert {"heartbeat", "authenticated", "error", "pong"} <= sent


def test_a_frame_the_server_sends_validates_against_its_schema_in_the_document(
    client: TestClient, connect: Connect
) -> None:
    doc = document(client)
    with connect(PROBE) as ws:
        connected = receive_type(ws, "connected")
        ws.send_json({"type": "ping", "ref": 7})
        pong = receive_type(ws, "pong")
        ws.send_json({"type": "message", "content": ""})
        error = receive_type(ws, "error")
    jsonschema.validate(connected, payload_schema(doc, "Connected"))
    jsonschema.validate(pong, payload_schema(doc, "Pong"))
    jsonschema.validate(error, payload_schema(doc, "ProbeErrorMessage"))
    with pytest.raises(jsonschema.ValidationError):  # the schemas are not vacuous
        jsonschema.validate({**pong, "timestamp": 5}, payload_schema(doc, "Pong"))


def test_the_document_says_how_to_resume_in_the_form_the_server_takes(
    client: TestClient, connect: Connect
) -> None:
    doc = document(client)
    query = doc["channels"][channel_id(ProbeChannel)]["bindings"]["ws"]["query"]
    with connect(PROBE) as ws:
        greeting = receive_type(ws, "connected")
        ws.send_json({"type": "message", "content": "hello"})
        message = receive_type(ws, "message")
    jsonschema.validate(message, payload_schema(doc, "NewMessage"))
    with pytest.raises(jsonschema.ValidationError):  # the offset is described, as a number
        jsonschema.validate({**message, "offset": "7"}, payload_schema(doc, "NewMessage"))
    since = f"{message['epoch']}:{message['offset']}"
    jsonschema.validate({"since": since}, query)
    with connect(f"{PROBE}?since={since}") as ws:
        back = receive_type(ws, "connected")
    assert (back["recovered"], back["offset"]) == (True, greeting["offset"] + 1)
    jsonschema.validate(back, payload_schema(doc, "Connected"))
    with pytest.raises(jsonschema.ValidationError):  # what the handshake closes with 4400
        jsonschema.validate({"since": "yesterday"}, query)


def test_what_a_client_may_send_is_described_as_it_is_validated(client: TestClient) -> None:
    schema = payload_schema(document(client), "PostMessage")
    jsonschema.validate({"type": "message", "content": "hi", "ref": "r1"}, schema)
    for refused in ({"type": "message"}, {"type": "message", "content": "hi", "extra": 1}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(refused, schema)


class Shout(ClientMessage):
    """Something new a client may send."""

    type: Literal["shout"]
    volume: int


class Echoed(ServerMessage):
    type: Literal["echoed"] = "echoed"
    volume: int


class Loud(Channel[Annotated[Ping | Shout, Field(discriminator="type")], Pong | Echoed]):
    path = "/ws/loud/{level}"


class Quiet(Channel[Annotated[Ping, Field(discriminator="type")], Pong]):
    path = "/ws/loud/{level}"


def test_adding_a_message_to_a_union_puts_it_in_the_document_with_nothing_else_edited(
    settings: Settings,
) -> None:
    with TestClient(create_app(settings, channels=[Quiet])) as client:
        quiet = document(client)
    with TestClient(create_app(settings, channels=[Loud])) as client:
        loud = document(client)
        types = client.get("/messages.d.ts").text
    assert message_types(loud, "loud", "receive") - message_types(quiet, "loud", "receive") == {
        "shout"
    }
    assert message_types(loud, "loud", "send") - message_types(quiet, "loud", "send") == {"echoed"}
    assert loud["channels"]["loud"]["parameters"] == {
        "level": {"description": "the level of this socket"}
    }
    assert loud["components"]["messages"]["Shout"]["summary"] == "Something new a client may send."
    assert "export type LoudInbound = Ping | Shout | Auth;" in types
    assert "  volume: number;" in types


def test_the_document_carries_every_close_code_and_the_docs_list_the_same(
    client: TestClient,
) -> None:
    codes = document(client)["x-close-codes"]
    assert {int(code): entry["name"] for code, entry in codes.items()} == {
        code: name for code, (name, _) in CLOSE_CODES.items()
    }
    table = PROTOCOL.read_text().split("## Close codes", 1)[1].split("\n## ", 1)[0]
    rows = [
        line.split(" | ") for line in table.splitlines() if line[:3] == "| 1" or line[:3] == "| 4"
    ]
    listed = {int(row[0].strip("| ")): row[1] for row in rows}
    assert listed == {code: name for code, (name, _) in CLOSE_CODES.items()}


def test_the_typescript_types_name_each_channels_messages_each_way(client: TestClient) -> None:
    types = client.get("/messages.d.ts")
    assert types.status_code == 200
    for channel in EVERY_CHANNEL:
        name = "".join(part.capitalize() for part in channel_id(channel).split("_"))
        inbound = " | ".join(model.__name__ for model in channel.accepts)
        # The runner's `error` is the channel's own, with its codes.
        sent = [model.__name__ for model in channel.sends]
        outbound = " | ".join(sent).replace("ErrorMessage", f"{name}ErrorMessage")
        assert f"export type {name}Inbound = {inbound};" in types.text
        assert f"export type {name}Outbound = {outbound};" in types.text
    assert (
        'export interface Ping {\n  ref?: string | number | null;\n  type: "ping";\n}' in types.text
    )


def test_the_types_command_writes_what_the_server_serves(
    tmp_path: Path, settings: Settings
) -> None:
    output = tmp_path / "messages.d.ts"
    command = [sys.executable, "-m", PACKAGE, "types", "--output", str(output)]
    # No settings in its environment: writing types needs none.
    subprocess.run(command, check=True, timeout=60, env={"PYTHONPATH": IMPORT_PATH})
    with TestClient(create_app(settings, channels=CHANNELS)) as client:
        assert output.read_text() == client.get("/messages.d.ts").text


def test_both_documents_are_built_once_per_app_and_name_each_requests_host(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []
    build_document, build_types = asyncapi.asyncapi_document, typescript.typescript_types

    def counted_document(*args: Any, **kwargs: Any) -> dict[str, Any]:
        built.append("asyncapi")
        return build_document(*args, **kwargs)

    def counted_types(*args: Any, **kwargs: Any) -> str:
        built.append("types")
        return build_types(*args, **kwargs)

    monkeypatch.setattr(asyncapi, "asyncapi_document", counted_document)
    monkeypatch.setattr(typescript, "typescript_types", counted_types)
    with TestClient(create_app(settings, channels=CHANNELS)) as client:
        hosts = ["one.example", "two.example:8443", "one.example"]
        for host in hosts:
            doc = client.get("/asyncapi.json", headers={"host": host}).json()
            assert doc["servers"]["this"]["host"] == host
            assert client.get("/messages.d.ts").status_code == 200
    assert sorted(built) == ["asyncapi", "types"]


class Twin(Channel[Annotated[Ping, Field(discriminator="type")], Pong]):
    path = "/ws/loud"


def test_two_paths_that_would_share_a_name_stop_the_app_from_being_built(
    settings: Settings,
) -> None:
    with pytest.raises(ValueError, match="would both be called 'loud'"):
        create_app(settings, channels=[Quiet, Twin])
