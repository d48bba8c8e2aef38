"""`require_scope`: the bearer token of an HTTP request, verified once, and its scopes."""

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .auth import AuthenticationError, User, VerifierFailed, verify_token
from .settings import RuntimeSettings
from .state import state_of

logger = logging.getLogger(__name__)

# Declared so that /docs offers to authorize with a token; the checks are below.
_bearer = HTTPBearer(auto_error=False, description="A JWT signed with JWT_SECRET")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def request_user(request: Request, credentials: HTTPAuthorizationCredentials | None) -> User:
    """The caller, as its bearer token says: 401 without a valid one, 503 if it could not
    be checked. Under the API's prefix the middleware verified it already (`scope["user"]`)."""
    verified = request.scope.get("user")
    if isinstance(verified, User):
        return verified
    if credentials is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing token", _CHALLENGE)
    settings = state_of(request, "settings", RuntimeSettings)
    try:
        user = verify_token(credentials.credentials, settings)
    except AuthenticationError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, exc.reason, _CHALLENGE) from None
    except VerifierFailed:
        logger.exception("could not verify a token")
        unavailable = status.HTTP_503_SERVICE_UNAVAILABLE
        raise HTTPException(unavailable, "could not verify the token; try again") from None
    request.scope["user"] = user  # for the log lines of this request, and any later check
    return user


def require_scope(scope: str) -> Callable[[Request, Credentials], Awaitable[User]]:
    """A FastAPI dependency: the caller, if their bearer token is valid (else 401) and
    grants `scope` (else 403). Scopes are OAuth2's: the token's `scope` claim, space-separated.

    `Publisher = Annotated[User, Depends(require_scope("reports:publish"))]`
    """

    async def caller(request: Request, credentials: Credentials) -> User:
        user = request_user(request, credentials)
        granted = user.claims.get("scope", "")
        if not isinstance(granted, str) or scope not in granted.split():
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"the token lacks scope {scope!r}")
        return user

    return caller
