"""The answer to a request FastAPI could not validate: its 422, written so that it can always
be sent."""

import json
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


class EscapedJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped: a lone surrogate a client sent, quoted
    back in an error, is then text like any other instead of a failure to encode (500)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":")).encode()


async def invalid_request(request: Request, exc: Exception) -> EscapedJSONResponse:
    """FastAPI's own 422 (`{"detail": [...]}`), in escaped JSON."""
    assert isinstance(exc, RequestValidationError)
    return EscapedJSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)
