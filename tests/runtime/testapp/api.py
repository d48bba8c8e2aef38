"""The test app's HTTP API under /api/: notify a user or everyone, post into a room, close a
user's sockets; each route asks for a token with its scope, as an app's routes do."""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from azu_ws import (
    AuthenticationError,
    Notifier,
    Services,
    StoreUnavailable,
    User,
    VerifierFailed,
    close_codes,
    utf8_json,
    verify_token,
)
from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

from .messages import NewMessage

API_PREFIX = "/api/"
router = APIRouter(prefix="/api")
_bearer = HTTPBearer(auto_error=False)


class Body(BaseModel):
    """Unknown fields are an error, and so is a string UTF-8 cannot encode."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _utf8(cls, data: Any) -> Any:
        utf8_json(data)
        return data


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(services_of)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def caller_with_scope(scope: str) -> Callable[[Services, Credentials], Awaitable[User]]:
    """A dependency: the token's user, if the token is valid (401) and grants `scope` (403)."""

    async def caller(services: ServicesDep, credentials: Credentials) -> User:
        challenge = {"WWW-Authenticate": "Bearer"}
        if credentials is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing token", challenge)
        try:
            user = verify_token(credentials.credentials, services.settings)
        except AuthenticationError as exc:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, exc.reason, challenge) from None
        except VerifierFailed:
            unavailable = status.HTTP_503_SERVICE_UNAVAILABLE
            raise HTTPException(unavailable, "could not verify the token; try again") from None
        granted = user.claims.get("scope", "")
        if not isinstance(granted, str) or scope not in granted.split():
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"the token lacks scope {scope!r}")
        return user

    return caller


def notifier_of(request: Request) -> Notifier:
    notifier: Notifier = request.app.state.notifier  # made in NotificationsChannel.lifespan
    return notifier


NotifierDep = Annotated[Notifier, Depends(notifier_of)]
Sender = Annotated[User, Depends(caller_with_scope("notifications:send"))]


class NotificationIn(Body):
    payload: dict[str, Any]


@router.post("/notifications/{user_id}", status_code=status.HTTP_202_ACCEPTED)
async def notify_user(
    user_id: str, body: NotificationIn, notifier: NotifierDep, sender: Sender
) -> dict[str, Any]:
    try:
        notification = await notifier.notify_user(user_id, body.payload)
    except StoreUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    return {"id": notification.id, "user_id": user_id}


@router.post("/notifications", status_code=status.HTTP_202_ACCEPTED)
async def notify_everyone(
    body: NotificationIn, notifier: NotifierDep, sender: Sender
) -> dict[str, str]:
    await notifier.broadcast_system_notification(body.payload)
    return {"status": "sent"}


class RoomMessageIn(Body):
    content: str


@router.post("/rooms/{room}/messages", status_code=status.HTTP_202_ACCEPTED)
async def post_into_a_room(
    room: str,
    body: RoomMessageIn,
    services: ServicesDep,
    poster: Annotated[User, Depends(caller_with_scope("rooms:publish"))],
) -> dict[str, str]:
    """Its members get a `message`, kept in the room's history like one said there."""
    await services.hub.publish(f"room:{room}", NewMessage(content=body.content, user=poster.id))
    return {"status": "posted"}


class DisconnectIn(Body):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=100)]


@router.post("/users/{user_id}/disconnect", status_code=status.HTTP_202_ACCEPTED)
async def disconnect_user(
    user_id: str,
    body: DisconnectIn,
    services: ServicesDep,
    revoker: Annotated[User, Depends(caller_with_scope("users:revoke"))],
) -> dict[str, Any]:
    closed = await services.hub.disconnect_user(user_id, close_codes.WS_4403_FORBIDDEN, body.reason)
    return {"user_id": user_id, "sockets": closed}
