"""Publishing live updates over HTTP: subscribers of that one resource receive them."""

from typing import Annotated

from azu_ws import User, app_state, require_scope
from fastapi import APIRouter, Depends, HTTPException, Path, status
from pydantic import BaseModel

from ..channels.live_updates import RESOURCES, UpdatePublisher, canonical_id
from .deps import Body, Payload

# Made in LiveUpdatesChannel.lifespan.
UpdatesDep = Annotated[UpdatePublisher, Depends(app_state("updates", UpdatePublisher))]

router = APIRouter(prefix="/api/updates", tags=["live updates"])
Publisher = Annotated[User, Depends(require_scope("updates:publish"))]


class UpdateIn(Body):
    data: Payload


class UpdatePublished(BaseModel):
    status: str = "published"


@router.post("/{resource}/{resource_id}", status_code=status.HTTP_202_ACCEPTED)
async def publish_update(
    resource: str,
    resource_id: Annotated[str, Path(min_length=1, max_length=64)],
    body: UpdateIn,
    updates: UpdatesDep,
    publisher: Publisher,
) -> UpdatePublished:
    """Send `data` to the subscribers of (`resource`, `resource_id`)."""
    if resource not in RESOURCES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown resource {resource!r}")
    await updates.publish_update(resource, canonical_id(resource_id), body.data)
    return UpdatePublished()
