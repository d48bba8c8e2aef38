"""Dependencies of the HTTP routes: the shared services, and callers checked by scope."""

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from azu_ws import (
    MAX_USER_ID_LENGTH,
    AuthenticationError,
    Services,
    User,
    VerifierFailed,
    utf8_json,
    verify_token,
)
from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, BaseModel, ConfigDict, model_validator

logger = logging.getLogger(__name__)

_bearer = HTTPBearer(auto_error=False, description="A JWT signed with JWT_SECRET")

# What one JSON object of a request body may carry, serialised: it goes to
# sockets (and may be stored), so it must fit comfortably in a frame.
MAX_PAYLOAD_BYTES = 64 * 1024


class Body(BaseModel):
    """Base of the request bodies: unknown fields are an error, as on the sockets, and so
    is a string UTF-8 cannot encode (a lone surrogate): no socket could be sent it."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _utf8(cls, data: Any) -> Any:
        utf8_json(data)
        return data


def _small(value: dict[str, Any]) -> dict[str, Any]:
    if len(utf8_json(value)) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"must serialise to at most {MAX_PAYLOAD_BYTES} bytes")
    return value


def _printable(value: str) -> str:
    if not value.isprintable():
        raise ValueError("must be printable")
    return value


# A JSON object of bounded size, and a user id in a path as a token's `sub` may be.
Payload = Annotated[dict[str, Any], AfterValidator(_small)]
UserIdPath = Annotated[
    str, AfterValidator(_printable), Path(min_length=1, max_length=MAX_USER_ID_LENGTH)
]


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def caller_with_scope(scope: str) -> Callable[[Services, Credentials], Awaitable[User]]:
    """A dependency: the token's user, if the token is valid (401) and grants `scope` (403).

    Scopes are OAuth2-style: the token's `scope` claim, space-separated.
    """

    async def caller(services: ServicesDep, credentials: Credentials) -> User:
        challenge = {"WWW-Authenticate": "Bearer"}
        if credentials is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing token", challenge)
        try:
            user = verify_token(credentials.credentials, services.settings)
        except AuthenticationError as exc:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, exc.reason, challenge) from None
        except VerifierFailed:
            logger.exception("could not verify a token")
            unavailable = status.HTTP_503_SERVICE_UNAVAILABLE
            raise HTTPException(unavailable, "could not verify the token; try again") from None
        granted = user.claims.get("scope", "")
        if not isinstance(granted, str) or scope not in granted.split():
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"the token lacks scope {scope!r}")
        return user

    return caller
