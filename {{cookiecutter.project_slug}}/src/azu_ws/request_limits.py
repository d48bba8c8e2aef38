"""Bounds on an HTTP request before the app reads it: a body's size, for every request; under
the API's prefix, the bearer token checked before any body is read, and a rate per caller."""

import logging
import math

from fastapi import HTTPException, status
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth import AuthenticationError, VerifierFailed, verify_token
from .ratelimit import KeyedLimit
from .settings import RuntimeSettings

logger = logging.getLogger(__name__)

# Where the HTTP API lives, unless the app says otherwise to build_app.
API_PREFIX = "/api/"
# Said when a request is refused before its body was read: the rest of it is not wanted.
_CLOSE = {"connection": "close"}
_CHALLENGE = {"www-authenticate": "Bearer"}


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a body passes HTTP_MAX_BODY_SIZE: the app answers 413."""

    def __init__(self) -> None:
        super().__init__(status.HTTP_413_CONTENT_TOO_LARGE, "request body too large", _CLOSE)


class RequestLimits:
    """ASGI middleware for `http` requests only (websockets pass straight through).

    - A body over HTTP_MAX_BODY_SIZE gets 413: unread if its Content-Length says so,
      or as soon as it passes the size.
    - Under `api_prefix`, a request without a valid bearer token gets 401 (503 if the
      token could not be checked) before its body is read; one from a caller (the token's
      `sub`) over API_RATE_LIMIT gets 429 with Retry-After. The user is left in
      `scope["user"]`, where `require_scope` finds it: the token is verified once.
    """

    def __init__(self, app: ASGIApp, *, settings: RuntimeSettings, api_prefix: str) -> None:
        self.app = app
        self.settings = settings
        self.max_body = settings.http_max_body_size
        self.api_prefix = api_prefix if api_prefix.endswith("/") else api_prefix + "/"
        self.per_caller = KeyedLimit(settings.api_rate_limit, settings.api_rate_burst)
        self.retry_after = str(max(1, math.ceil(60 / settings.api_rate_limit)))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length", "")
        has_body = length not in ("", "0") or "transfer-encoding" in headers
        if length.isdigit() and int(length) > self.max_body:
            too_large = _reply(status.HTTP_413_CONTENT_TOO_LARGE, "request body too large")
            await too_large(scope, receive, send)
            return
        if self._is_api(scope):
            refusal = self._refusal_of_caller(scope, headers, has_body)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, self._bounded(receive), send)

    def _is_api(self, scope: Scope) -> bool:
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]  # uvicorn's path includes the proxy's prefix
        return path.startswith(self.api_prefix) or path == self.api_prefix[:-1]

    def _refusal_of_caller(
        self, scope: Scope, headers: Headers, has_body: bool
    ) -> JSONResponse | None:
        refusal = self._check_caller(scope, headers)
        if refusal is not None and not has_body:
            del refusal.headers["connection"]  # nothing unread: the connection may be kept
        return refusal

    def _check_caller(self, scope: Scope, headers: Headers) -> JSONResponse | None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _reply(status.HTTP_401_UNAUTHORIZED, "missing token", _CHALLENGE)
        try:
            user = verify_token(token.strip(), self.settings)
        except AuthenticationError as exc:
            return _reply(status.HTTP_401_UNAUTHORIZED, exc.reason, _CHALLENGE)
        except VerifierFailed:
            logger.exception("could not verify a token")
            unavailable = status.HTTP_503_SERVICE_UNAVAILABLE
            return _reply(unavailable, "could not verify the token; try again")
        if not self.per_caller.allow(user.id):
            too_many = status.HTTP_429_TOO_MANY_REQUESTS
            return _reply(too_many, "too many requests", {"retry-after": self.retry_after})
        scope["user"] = user
        return None

    def _bounded(self, receive: Receive) -> Receive:
        received = 0
        limit = self.max_body

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        return bounded_receive


def _reply(code: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, code, headers={**_CLOSE, **(headers or {})})
