"""Posting into a room over HTTP: its members get a `message` from the caller."""

from typing import Annotated

from azu_ws import User, require_scope
from fastapi import APIRouter, Depends, Path, status
from pydantic import BaseModel, StringConstraints

from ..channels.rooms import ROOM_ID_PATTERN, RoomMessage, room_topic
from ..messages import MAX_CONTENT_LENGTH
from .deps import Body, ServicesDep

router = APIRouter(prefix="/api/rooms", tags=["rooms"])
Poster = Annotated[User, Depends(require_scope("rooms:publish"))]


class RoomMessageIn(Body):
    content: Annotated[str, StringConstraints(min_length=1, max_length=MAX_CONTENT_LENGTH)]


class RoomMessagePosted(BaseModel):
    status: str = "posted"


@router.post("/{room_id}/messages", status_code=status.HTTP_202_ACCEPTED)
async def post_room_message(
    room_id: Annotated[str, Path(pattern=ROOM_ID_PATTERN)],
    body: RoomMessageIn,
    services: ServicesDep,
    poster: Poster,
) -> RoomMessagePosted:
    """Send a `message` to every member of the room, signed by the caller's token."""
    message = RoomMessage(room=room_id, content=body.content, user=poster.id)
    await services.hub.publish(room_topic(room_id), message)
    return RoomMessagePosted()
