"""Revocation: when each user was last disconnected, so that the tokens they held then are
refused, and the orders that carry it to every process (`Hub.disconnect_user`)."""

import logging
import time

from pydantic import BaseModel, ValidationError

from .auth import User
from .formats import UnknownFormat, check
from .frames import Frame

logger = logging.getLogger(__name__)

# Where orders for every process travel, through the broker.
ORDERS_TOPIC = "hub:control"


class DisconnectOrder(BaseModel):
    """Close every socket of `user` and refuse their tokens issued up to `at`."""

    v: int = 1  # its format (formats.py); format 1 had no field
    user: str
    at: float
    code: int
    reason: str


class Revocations:
    """Who was disconnected when, in this process: orders from every process are recorded."""

    def __init__(self, write_format: int) -> None:
        self._write_format = write_format
        # user id -> when their sockets were revoked; older tokens are refused.
        self._revoked_before: dict[str, float] = {}

    def order(self, user_id: str, code: int, reason: str) -> DisconnectOrder:
        """An order to disconnect `user_id` now, in the format this process writes."""
        return DisconnectOrder(
            v=self._write_format, user=user_id, at=time.time(), code=code, reason=reason
        )

    def written(self, order: DisconnectOrder) -> str:
        """`order` as it travels; format 1 had no `v`."""
        return order.model_dump_json(exclude={"v"} if self._write_format == 1 else None)

    def read(self, frame: Frame) -> DisconnectOrder | None:
        """The order in `frame`, or None (logged) if this process cannot read it."""
        try:
            order = DisconnectOrder.model_validate_json(frame)
        except ValidationError:
            logger.warning("ignoring a malformed order on %s", ORDERS_TOPIC)
            return None
        try:
            check(order.v, "an order")
        except UnknownFormat as exc:
            logger.warning("ignoring an order: %s", exc)
            return None
        return order

    def record(self, order: DisconnectOrder) -> None:
        """Refuse the user's tokens issued up to the order's time; the same order twice
        changes nothing, and an older one never undoes a newer."""
        revoked_at = self._revoked_before.get(order.user, 0.0)
        self._revoked_before[order.user] = max(revoked_at, order.at)

    def is_revoked(self, user: User) -> bool:
        """True if the user was disconnected after this token was issued."""
        revoked_at = self._revoked_before.get(user.id)
        issued_at = user.claims.get("iat", 0)
        return revoked_at is not None and issued_at <= revoked_at
