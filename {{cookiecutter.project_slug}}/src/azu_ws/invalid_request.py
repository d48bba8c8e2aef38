"""The answer to a request FastAPI could not validate: its 422, short whatever was sent, and
written so that it can always be sent (build_app installs it)."""

import json
from typing import Any

from fastapi import Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from .errors import MAX_LISTED_FIELDS, MAX_QUOTED, quote, shorten

# Characters of a validation error's message kept in a 422.
MAX_MESSAGE = 256


class EscapedJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped: a lone surrogate a client sent, quoted
    back in an error, is then text like any other instead of a failure to encode (500)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":")).encode()


async def invalid_request(request: Request, exc: Exception) -> EscapedJSONResponse:
    """FastAPI's 422 (`{"detail": [...]}`), but quoting the input briefly and listing a few
    errors, with their count: a large bad body must not come back whole."""
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    listed = [_shortened(error) for error in errors[:MAX_LISTED_FIELDS]]
    content: dict[str, Any] = {"detail": listed}
    if len(errors) > len(listed):
        content["error_count"] = len(errors)
    return EscapedJSONResponse(content, status.HTTP_422_UNPROCESSABLE_CONTENT)


def _shortened(error: Any) -> dict[str, Any]:
    if not isinstance(error, dict):
        return {"msg": quote(error)}
    shortened: dict[str, Any] = {}
    for key, value in error.items():
        if key == "input":
            value = value if _is_short(value) else quote(value)
        elif key == "loc":
            value = [part if _is_short(part) else quote(part) for part in value]
        elif key == "msg":
            value = str(value)[:MAX_MESSAGE]  # pydantic's, which may quote a little input
        elif key == "ctx":
            value = {
                name: item if _is_short(item) else shorten(str(item))
                for name, item in dict(value).items()
            }
        elif key != "type":
            continue  # `url` and what else a version adds: nothing a client needs
        shortened[key] = value
    return shortened


def _is_short(value: object) -> bool:
    if isinstance(value, str):
        return len(value) <= MAX_QUOTED
    return value is None or isinstance(value, bool | int | float)
