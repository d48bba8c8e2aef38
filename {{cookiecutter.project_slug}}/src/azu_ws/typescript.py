"""TypeScript types of every message (`GET /messages.d.ts`, `types --output FILE`), from the
Pydantic models that validate them, so a front end compiles against what the server accepts."""

import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode

from .asyncapi import channel_id, check_unique_ids, error_message_name
from .channel import Channel
from .messages import ErrorMessage
from .scaffold import camel_case

HEADER = (
    "// The messages of {title}'s websocket channels, made from its Pydantic models\n"
    "// (GET /messages.d.ts). Do not edit: fetch it again after the models change.\n"
)


def typescript_types(channels: Sequence[type[Channel[Any, Any]]], *, title: str) -> str:
    check_unique_ids(channels)
    interfaces: dict[str, str] = {}
    lines = [HEADER.format(title=title)]
    channel_map = []
    for channel in channels:
        name = camel_case(channel_id(channel))
        inbound = [_interface(model, "validation", interfaces) for model in channel.accepts]
        outbound = [_interface(model, "serialization", interfaces) for model in channel.sends]
        if ErrorMessage in channel.sends:
            lines.append(_error_message(channel))
            error = outbound.index(ErrorMessage.__name__)
            outbound[error] = error_message_name(channel)
        lines.append(f"/** What a client may send on {channel.path}. */")
        lines.append(f"export type {name}Inbound = {' | '.join(inbound)};")
        lines.append(f"/** What {channel.path} sends a client. */")
        lines.append(f"export type {name}Outbound = {' | '.join(outbound)};\n")
        types = f"inbound: {name}Inbound; outbound: {name}Outbound"
        channel_map.append(f"  {json.dumps(channel.path)}: " + "{ " + types + " };")
    lines.append('/** Every channel by its path: `Channels["/ws/chat"]["inbound"]`. */')
    lines.append("export interface Channels " + "{\n" + "\n".join(channel_map) + "\n}\n")
    return "\n".join(interfaces.values()) + "\n" + "\n".join(lines)


def _error_message(channel: type[Channel[Any, Any]]) -> str:
    """The channel's `error`: `ErrorMessage` with the codes it may carry, each explained."""
    name = error_message_name(channel)
    code = f"{camel_case(channel_id(channel))}ErrorCode"
    # Each code under what it means: a `//` comment ends with its line, which is one line.
    codes = [f"  // {text}\n  | {json.dumps(key)}" for key, text in channel.all_error_codes.items()]
    return (
        f"/** The `code` of an `error` from {channel.path}. */\n"
        f"export type {code} =\n" + "\n".join(codes) + ";\n"
        f"export interface {name} extends ErrorMessage " + "{\n" + f"  code: {code};\n" + "}\n"
    )


def _interface(model: type[BaseModel], mode: JsonSchemaMode, interfaces: dict[str, str]) -> str:
    """Add `model`'s interface (and those it refers to) once; return its name."""
    schema = model.model_json_schema(mode=mode, ref_template="{model}")
    for name, definition in schema.pop("$defs", {}).items():
        interfaces.setdefault(name, _declaration(name, definition, None))
    # Sent messages always carry their fields, except those left out when empty.
    always = (
        {name for name, field in model.model_fields.items() if field.exclude_if is None}
        if mode == "serialization"
        else None
    )
    interfaces.setdefault(model.__name__, _declaration(model.__name__, schema, always))
    return model.__name__


def _declaration(name: str, schema: dict[str, Any], always: set[str] | None) -> str:
    if "properties" not in schema:
        return f"export type {name} = {_type(schema)};\n"
    required = always if always is not None else set(schema.get("required", []))
    doc = f"/** {' '.join(schema['description'].split())} */\n" if "description" in schema else ""
    fields = [
        f"  {key}{'' if key in required else '?'}: {_type(value)};"
        for key, value in schema["properties"].items()
    ]
    return f"{doc}export interface {name} " + "{\n" + "\n".join(fields) + "\n}\n"


def _type(schema: dict[str, Any]) -> str:
    """A JSON Schema, as Pydantic writes it for these models, in TypeScript."""
    if "$ref" in schema:
        return str(schema["$ref"])
    if "const" in schema:
        return json.dumps(schema["const"])
    if "enum" in schema:
        return " | ".join(json.dumps(value) for value in schema["enum"])
    if "anyOf" in schema:
        return " | ".join(dict.fromkeys(_type(option) for option in schema["anyOf"]))
    kind = schema.get("type")
    if kind == "array":
        item = _type(schema.get("items", {}))
        return f"({item})[]" if " | " in item else f"{item}[]"
    if kind == "object":
        values = schema.get("additionalProperties", True)
        value = _type(values) if isinstance(values, dict) else "unknown"
        return "{ [key: string]: " + value + " }"
    simple = {"string": "string", "integer": "number", "number": "number", "boolean": "boolean"}
    return simple.get(kind, "null" if kind == "null" else "unknown") if kind else "unknown"
