"""The AsyncAPI 3.0 document of the app's websockets (`GET /asyncapi.json`), made from the
channels' own message unions and Pydantic's schemas, so it cannot drift from the code."""

import json
import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from .channel import Channel
from .close_codes import CLOSE_CODES
from .frames import SINCE_PATTERN
from .messages import ClientMessage, ErrorMessage, ServerMessage
from .scaffold import camel_case

SCHEMAS = "#/components/schemas/{model}"
# AsyncAPI's operations are this application's: it receives what clients send.
Action = Literal["receive", "send"]
# The default `on_binary` refuses binary frames: a channel that overrides it takes them.
BINARY = {
    "name": "binary",
    "title": "Binary frame",
    "summary": "Raw bytes (a binary websocket frame), relayed as they are.",
    "contentType": "application/octet-stream",
    "payload": {"type": "string", "format": "binary"},
}
AUTH_DESCRIPTION = (
    "A JWT (HS256 by default), from the first of: the Authorization header; the "
    "Sec-WebSocket-Protocol header, offering `bearer` and the token (browsers); the `token` "
    "query parameter. Without a valid one the socket is accepted and closed with 4401."
)
# Every handshake may say where the client left off; channels that resume read it.
WS_BINDING = {
    "ws": {
        "bindingVersion": "0.1.0",
        "query": {
            "type": "object",
            "properties": {
                "since": {
                    "type": "string",
                    "pattern": SINCE_PATTERN,
                    "description": (
                        "epoch:offset of the last message received from the channel's topic "
                        "(or of its greeting): what was missed since is replayed first, and "
                        "the greeting says `recovered`. Not epoch:offset: closed with 4400."
                    ),
                }
            },
        },
    }
}
SECURITY_SCHEMES = {
    "bearerHeader": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "Authorization: Bearer <token>",
    },
    "bearerSubprotocol": {
        "type": "httpApiKey",
        "name": "Sec-WebSocket-Protocol",
        "in": "header",
        "description": "For browsers: `new WebSocket(url, ['bearer', token])`.",
    },
    "tokenQuery": {
        "type": "httpApiKey",
        "name": "token",
        "in": "query",
        "description": "`?token=<token>`, a last resort: proxies may log it.",
    },
}


def asyncapi_document(
    channels: Sequence[type[Channel[Any, Any]]],
    *,
    title: str,
    version: str,
    host: str,
    secure: bool = False,
) -> dict[str, Any]:
    """The document for `channels`, served at `host` (`127.0.0.1:8000`), over TLS if `secure`."""
    check_unique_ids(channels)
    schemas, references = _schemas(channels)
    document: dict[str, Any] = {
        "asyncapi": "3.0.0",
        "info": {
            "title": title,
            "version": version,
            "description": f"{title}'s websocket channels. {AUTH_DESCRIPTION}",
        },
        "defaultContentType": "application/json",
        "servers": {
            "this": {
                "host": host,
                "protocol": "wss" if secure else "ws",
                "security": [
                    {"$ref": f"#/components/securitySchemes/{name}"} for name in SECURITY_SCHEMES
                ],
            }
        },
        "channels": {},
        "operations": {},
        "components": {
            "schemas": schemas,
            "messages": {},
            "securitySchemes": SECURITY_SCHEMES,
        },
        # Not part of AsyncAPI: what each close code means, for clients to act on.
        "x-close-codes": {
            str(code): {"name": name, "when": when} for code, (name, when) in CLOSE_CODES.items()
        },
    }
    for channel in channels:
        _add_channel(document, channel, references)
    return document


class AsyncApiJson:
    """`asyncapi_document` as the JSON `GET /asyncapi.json` serves, made once per app and
    scheme: building it takes milliseconds, and the only part a request changes is the
    host it names, which is filled in (escaped) each time."""

    # Stands where the host goes; a host is filled in as a JSON string in its place.
    _SLOT = "\x00host\x00"

    def __init__(self, channels: Sequence[type[Channel[Any, Any]]], *, title: str, version: str):
        self._channels = channels
        self._title, self._version = title, version
        self._halves: dict[bool, tuple[bytes, bytes]] = {}

    def render(self, host: str, *, secure: bool) -> bytes:
        halves = self._halves.get(secure)
        if halves is None:
            document = asyncapi_document(
                self._channels,
                title=self._title,
                version=self._version,
                host=self._SLOT,
                secure=secure,
            )
            before, _, after = _json(document).partition(_json(self._SLOT))
            halves = self._halves[secure] = (before.encode(), after.encode())
        return halves[0] + _json(host).encode() + halves[1]


def _json(value: Any) -> str:
    """As Starlette's JSONResponse writes it."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def channel_id(channel: type[Channel[Any, Any]]) -> str:
    """`/ws/games/{game_id}` -> `games`: the path's fixed segments after `/ws`, as a name
    that AsyncAPI and TypeScript both accept (letters, digits, `_`)."""
    fixed = [part for part in channel.path.strip("/").split("/") if not part.startswith("{")]
    words = fixed[1:] if fixed[:1] == ["ws"] and len(fixed) > 1 else fixed
    return re.sub(r"[^A-Za-z0-9_]", "_", "_".join(words))


def check_unique_ids(channels: Sequence[type[Channel[Any, Any]]]) -> None:
    """Two paths with one name would overwrite each other in the document: refuse them."""
    seen: dict[str, str] = {}
    for channel in channels:
        other = seen.setdefault(channel_id(channel), channel.path)
        if other != channel.path:
            raise ValueError(
                f"{other} and {channel.path} would both be called {channel_id(channel)!r} in "
                "/asyncapi.json and /messages.d.ts: rename one of the paths"
            )


def _add_channel(
    document: dict[str, Any],
    channel: type[Channel[Any, Any]],
    references: dict[tuple[type[BaseModel], JsonSchemaMode], str],
) -> None:
    name = channel_id(channel)
    messages: dict[str, Any] = {}
    directions: dict[Action, list[str]] = {"receive": [], "send": []}
    for action, mode, models in _directions(channel):
        for model in models:
            component = _message(model, references[model, mode])
            key = model.__name__
            if model is ErrorMessage:
                # Each channel has codes of its own: its `error` is its own message.
                key = error_message_name(channel)
                component["payload"] = _error_payload(channel, component["payload"])
            messages[model.__name__] = {"$ref": f"#/components/messages/{key}"}
            document["components"]["messages"][key] = component
            directions[action].append(model.__name__)
    if _takes_binary(channel):
        messages["binary"] = {"$ref": "#/components/messages/binary"}
        document["components"]["messages"]["binary"] = BINARY
        directions["receive"].append("binary")
        directions["send"].append("binary")
    entry: dict[str, Any] = {
        "address": channel.path,
        "title": name,
        "messages": messages,
        "bindings": WS_BINDING,
    }
    if channel.__doc__:
        entry["description"] = channel.__doc__.strip()
    parameters = _parameters(channel)
    if parameters:
        entry["parameters"] = parameters
    document["channels"][name] = entry
    for action, names in directions.items():
        verb = "receives from the client" if action == "receive" else "sends to the client"
        document["operations"][f"{name}_{action}"] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{name}"},
            "summary": f"What {channel.path} {verb}.",
            "messages": [{"$ref": f"#/channels/{name}/messages/{message}"} for message in names],
        }


def _message(model: type[BaseModel], reference: str) -> dict[str, Any]:
    """A message object: named by its `type`, with the model's schema as payload."""
    message: dict[str, Any] = {
        "name": message_type(model),
        "title": model.__name__,
        "payload": {"$ref": reference},
    }
    if model.__doc__ and model.__doc__ not in (ClientMessage.__doc__, ServerMessage.__doc__):
        message["summary"] = " ".join(model.__doc__.split())
    return message


def error_message_name(channel: type[Channel[Any, Any]]) -> str:
    """`LiveScoresErrorMessage`: the `error` of one channel, with the codes it may carry."""
    return f"{camel_case(channel_id(channel))}ErrorMessage"


def _error_payload(channel: type[Channel[Any, Any]], payload: dict[str, Any]) -> dict[str, Any]:
    """The `error` schema, its `code` narrowed to those this channel sends, each explained."""
    codes = [{"const": code, "description": text} for code, text in channel.all_error_codes.items()]
    return {"allOf": [payload, {"properties": {"code": {"oneOf": codes}}}]}


def message_type(model: type[BaseModel]) -> str:
    """The `type` the message carries: its field is a `Literal` of one value."""
    annotation = model.model_fields["type"].annotation
    (value,) = getattr(annotation, "__args__", ("?",))
    return str(value)


def _schemas(
    channels: Sequence[type[Channel[Any, Any]]],
) -> tuple[dict[str, Any], dict[tuple[type[BaseModel], JsonSchemaMode], str]]:
    """Every model's schema, under components/schemas, and a reference to each (in the mode
    of its direction: the two differ for defaults and computed fields)."""
    wanted: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {}
    for channel in channels:
        for _, mode, models in _directions(channel):
            wanted.update(dict.fromkeys((model, mode) for model in models))
    keys, top = models_json_schema(list(wanted), ref_template=SCHEMAS)
    references = {(model, mode): str(value["$ref"]) for (model, mode), value in keys.items()}
    schemas: dict[str, Any] = top.get("$defs", {})
    return schemas, references  # type: ignore[return-value]


def _directions(
    channel: type[Channel[Any, Any]],
) -> list[tuple[Action, JsonSchemaMode, Sequence[type[BaseModel]]]]:
    """What the client sends (this application receives it, as it is validated), and what it
    is sent (this application sends it, as it is serialised)."""
    return [("receive", "validation", channel.accepts), ("send", "serialization", channel.sends)]


def _parameters(channel: type[Channel[Any, Any]]) -> dict[str, Any]:
    """The path's `{name}` parameters, described from `params_model` where it has them."""
    names = [part[1:-1] for part in channel.path.split("/") if part.startswith("{")]
    fields = channel.params_model.model_fields if channel.params_model else {}
    parameters = {}
    for name in names:
        field = fields.get(name)
        patterns = [getattr(meta, "pattern", None) for meta in (field.metadata if field else [])]
        pattern = next(filter(None, patterns), None)
        description = f"must match {pattern}; otherwise closed with 4400" if pattern else ""
        parameters[name] = {"description": description or f"the {name} of this socket"}
    return parameters


def _takes_binary(channel: type[Channel[Any, Any]]) -> bool:
    return channel.on_binary is not Channel.on_binary
