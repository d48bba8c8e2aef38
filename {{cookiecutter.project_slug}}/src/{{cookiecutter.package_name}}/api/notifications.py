"""Sending notifications over HTTP: to one user (stored until acknowledged), or to everyone."""

from typing import Annotated

from azu_ws import Notifier, StoreUnavailable, User, app_state, require_scope
from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel

from .deps import Body, Payload, UserIdPath

# Made in NotificationsChannel.lifespan.
NotifierDep = Annotated[Notifier, Depends(app_state("notifier", Notifier))]

router = APIRouter(prefix="/api/notifications", tags=["notifications"])
Sender = Annotated[User, Depends(require_scope("notifications:send"))]


class NotificationIn(Body):
    payload: Payload


class NotificationStored(BaseModel):
    id: int
    user_id: str


class SystemNotificationSent(BaseModel):
    status: str = "sent"


@router.post("/{user_id}", status_code=status.HTTP_202_ACCEPTED)
async def notify_user(
    user_id: UserIdPath,
    body: NotificationIn,
    notifier: NotifierDep,
    sender: Sender,
) -> NotificationStored:
    """Store a notification for `user_id` and deliver it to each of their open sockets.

    503 when the store cannot be reached: nothing was stored, send it again.
    """
    try:
        notification = await notifier.notify_user(user_id, body.payload)
    except StoreUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    return NotificationStored(id=notification.id, user_id=user_id)


@router.post("", status_code=status.HTTP_202_ACCEPTED)
async def broadcast_system_notification(
    body: NotificationIn, notifier: NotifierDep, sender: Sender
) -> SystemNotificationSent:
    """Send a notification to every user connected to /ws/notifications now (not stored)."""
    await notifier.broadcast_system_notification(body.payload)
    return SystemNotificationSent()
