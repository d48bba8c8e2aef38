"""The `error` messages a client is answered with: `ClientError`, the codes a channel
declares, and what a rejected frame becomes."""

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from .messages import (
    MAX_REF_LENGTH,
    MAX_SAFE_INTEGER,
    RUNTIME_ERROR_CODES,
    ErrorMessage,
    FieldError,
)

# An `invalid_message` error names this many fields at most, and counts the rest.
MAX_LISTED_FIELDS = 5
# Past this many errors they are counted only: reading each one costs time
# (about a millisecond for this many; 0.3 s for a hundred thousand).
MAX_READ_ERRORS = 256
# What an error quotes of the client's own (a type, a field name), in characters.
MAX_QUOTED = 64
# A frame longer than this is not parsed a second time to find its `ref`.
MAX_REPARSED = 64 * 1024
# What a channel's own error code looks like: the runtime's are of this form too.
ERROR_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class ClientError(Exception):
    """Raised anywhere in a message hook to answer the client with a typed `error`.

    The runner replies with `code` and `message` (and the request's `ref`) and
    keeps the connection open; nothing is logged as a server error. `code` is
    one of the runtime's (`invalid_message`...) or one the channel declares in
    `error_codes`; any other is a bug, answered as one (`internal_error`, and
    logged with its traceback).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ErrorCodes(Mapping[str, str]):
    """A channel's own error codes, each with what it means in one line, as keywords::

        error_codes = ErrorCodes(no_such_game="the game asked for does not exist")

    Read-only, unlike a dict: one channel class cannot change another's.
    """

    def __init__(self, **meanings: str) -> None:
        self._meanings = meanings

    def __getitem__(self, code: str) -> str:
        return self._meanings[code]

    def __iter__(self) -> Iterator[str]:
        return iter(self._meanings)

    def __len__(self) -> int:
        return len(self._meanings)


class UndeclaredErrorCode(Exception):
    """A channel sent an error code it does not declare in `error_codes`."""


def check_error_codes(owner: str, codes: Mapping[str, str]) -> None:
    """Refuse, when the channel class is defined, codes a client could not be told about:
    a code that is not a lower-case name, a meaning that is not one line, or one of the
    runtime's codes given another meaning."""
    for code, meaning in codes.items():
        if not isinstance(code, str) or not ERROR_CODE.match(code):
            raise TypeError(f"{owner}.error_codes: {code!r} is not a name like 'no_such_game'")
        if not isinstance(meaning, str) or not meaning.strip() or meaning.splitlines() != [meaning]:
            raise TypeError(f"{owner}.error_codes[{code!r}]: say in one line what it means")
        if code in RUNTIME_ERROR_CODES:
            raise TypeError(f"{owner}.error_codes: {code!r} is the runtime's; name yours apart")


def error_for_invalid_frame(exc: ValidationError, text: str) -> ErrorMessage:
    """Say what was wrong with a frame, echoing its `ref` when it had a usable one."""
    error = _describe(exc)
    if error.code != "invalid_json":
        error.ref = _ref_of(text)
    return error


def _describe(exc: ValidationError) -> ErrorMessage:
    """Not JSON, not an object, an unknown or missing type, or bad fields.

    However many fields are wrong, the answer names a few and counts the rest,
    and quotes nothing of the client's at length: its cost and size are
    bounded whatever the frame's shape.
    """
    count = exc.error_count()
    if count > MAX_READ_ERRORS:
        # Reading each error builds a dict of it: counted, not read.
        return ErrorMessage(code="invalid_message", message=f"Invalid fields: {count} of them")
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    kind = first["type"]
    if kind == "json_invalid":
        return ErrorMessage(code="invalid_json", message="Invalid JSON format")
    if kind == "union_tag_invalid":
        ctx = first.get("ctx", {})
        return ErrorMessage(
            code="unknown_type",
            message=f"Unknown message type {quote(ctx.get('tag'))}; expected one of: "
            f"{ctx.get('expected_tags')}",
        )
    if kind == "union_tag_not_found":
        return ErrorMessage(code="invalid_message", message="Message has no 'type' field")
    if kind in {"model_attributes_type", "model_type", "dict_type"} and len(first["loc"]) == 0:
        return ErrorMessage(code="invalid_message", message="A message must be a JSON object")
    listed = errors[:MAX_LISTED_FIELDS]
    fields = [FieldError(field=_field_name(error), message=error["msg"]) for error in listed]
    names = ", ".join(field.field for field in fields)
    more = f" and {count - len(fields)} more" if count > len(fields) else ""
    return ErrorMessage(
        code="invalid_message", message=f"Invalid fields: {names}{more}", fields=fields
    )


def quote(value: object) -> str:
    """Something the client sent, as an error may repeat it: shortened."""
    return shorten(repr(value))


def shorten(text: str) -> str:
    return text if len(text) <= MAX_QUOTED else text[: MAX_QUOTED - 3] + "..."


def _field_name(error: ErrorDetails) -> str:
    # The first element of `loc` is the union member's tag ("message"); the
    # client thinks in fields of its own message, so drop it.
    loc: tuple[Any, ...] = tuple(error["loc"][1:]) or tuple(error["loc"])
    return shorten(".".join(str(part) for part in loc) or "(message)")


def _ref_of(text: str) -> str | int | None:
    # Only on the error path: parse again, leniently, to find what to echo;
    # not a frame so long that parsing it again would cost much.
    if len(text) > MAX_REPARSED:
        return None
    try:
        ref = json.loads(text).get("ref")
    except (ValueError, AttributeError, RecursionError):
        return None
    if isinstance(ref, bool) or not isinstance(ref, str | int):
        return None
    if isinstance(ref, int):
        return ref if abs(ref) <= MAX_SAFE_INTEGER else None
    return ref if len(ref) <= MAX_REF_LENGTH else None
