"""Turning a rejected client frame into the `error` message the client is sent."""

import json
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from ..messages import MAX_REF_LENGTH, ErrorCode, ErrorMessage, FieldError


class ClientError(Exception):
    """Raised anywhere in a message hook to answer the client with a typed `error`.

    The runner replies with `code` and `message` (and the request's `ref`) and
    keeps the connection open; nothing is logged as a server error.
    """

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message


def error_for_invalid_frame(exc: ValidationError, text: str) -> ErrorMessage:
    """Say what was wrong with a frame, echoing its `ref` when it had a usable one."""
    error = _describe(exc)
    if error.code != "invalid_json":
        error.ref = _ref_of(text)
    return error


def _describe(exc: ValidationError) -> ErrorMessage:
    """Not JSON, not an object, an unknown or missing type, or bad fields."""
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    kind = first["type"]
    if kind == "json_invalid":
        return ErrorMessage(code="invalid_json", message="Invalid JSON format")
    if kind == "union_tag_invalid":
        ctx = first.get("ctx", {})
        return ErrorMessage(
            code="unknown_type",
            message=f"Unknown message type {ctx.get('tag')}; expected one of: "
            f"{ctx.get('expected_tags')}",
        )
    if kind == "union_tag_not_found":
        return ErrorMessage(code="invalid_message", message="Message has no 'type' field")
    if kind in {"model_attributes_type", "model_type", "dict_type"} and len(first["loc"]) == 0:
        return ErrorMessage(code="invalid_message", message="A message must be a JSON object")
    fields = [FieldError(field=_field_name(error), message=error["msg"]) for error in errors]
    names = ", ".join(field.field for field in fields)
    return ErrorMessage(code="invalid_message", message=f"Invalid fields: {names}", fields=fields)


def _field_name(error: ErrorDetails) -> str:
    # The first element of `loc` is the union member's tag ("message"); the
    # client thinks in fields of its own message, so drop it.
    loc: tuple[Any, ...] = tuple(error["loc"][1:]) or tuple(error["loc"])
    return ".".join(str(part) for part in loc) or "(message)"


def _ref_of(text: str) -> str | int | None:
    # Only on the error path: parse again, leniently, to find what to echo.
    try:
        ref = json.loads(text).get("ref")
    except (ValueError, AttributeError):
        return None
    if isinstance(ref, bool) or not isinstance(ref, str | int):
        return None
    return ref if not isinstance(ref, str) or len(ref) <= MAX_REF_LENGTH else None
