"""Revoking a user over HTTP: every socket of theirs is closed at once (logout, ban)."""

from typing import Annotated

from azu_ws import User, close_codes, require_scope
from fastapi import APIRouter, Depends, status
from pydantic import BaseModel, StringConstraints

from .deps import Body, ServicesDep, UserIdPath

router = APIRouter(prefix="/api/users", tags=["users"])
Revoker = Annotated[User, Depends(require_scope("users:revoke"))]


class DisconnectIn(Body):
    # A close reason travels in the close frame, which allows 123 bytes.
    reason: Annotated[str, StringConstraints(min_length=1, max_length=100)]


class Disconnected(BaseModel):
    user_id: str
    sockets: int


@router.post("/{user_id}/disconnect", status_code=status.HTTP_202_ACCEPTED)
async def disconnect_user(
    user_id: UserIdPath,
    body: DisconnectIn,
    services: ServicesDep,
    revoker: Revoker,
) -> Disconnected:
    """Close every socket of `user_id` with 4403, on every worker; their tokens still need
    revoking at the source. `sockets` counts those this worker closed."""
    sockets = await services.hub.disconnect_user(
        user_id, close_codes.WS_4403_FORBIDDEN, body.reason
    )
    return Disconnected(user_id=user_id, sockets=sockets)
