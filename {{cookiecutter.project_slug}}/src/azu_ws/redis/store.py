"""Notifications in Redis, so that any worker on any host finds a user's pending ones: a sorted
set per user, scored by id from one counter."""

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

from ..formats import CURRENT, UnknownFormat, check, version_of
from ..notifications import (
    Notification,
    StoreUnavailable,
    log_unreadable,
    sendable,
    stored_json,
    stored_time,
)
from .client import UNREACHABLE, open_redis
from .keys import NOTIFICATIONS_COUNTER, notifications_key

logger = logging.getLogger(__name__)

# KEYS: the user's set, the id counter. ARGV: payload JSON, created_at, cap, ttl,
# the member's beginning (its format). The member is built as text around the
# payload, which stays as it was sent.
_ADD = """
local id = redis.call('INCR', KEYS[2])
local member = ARGV[5] .. id .. ',"created_at":' .. ARGV[2] .. ',"payload":' .. ARGV[1] .. '}'
redis.call('ZADD', KEYS[1], id, member)
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[3]) + 1))
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[4])))
return id
"""


@contextmanager
def reachable() -> Iterator[None]:
    """Turn Redis being unreachable (or full) into StoreUnavailable: nothing was stored or read."""
    try:
        yield
    except UNREACHABLE as exc:
        raise StoreUnavailable(f"the notification store is unreachable: {exc}") from None


def read_member(member: bytes) -> tuple[int, float, dict[str, Any]]:
    """A stored notification's id, time and payload: UnknownFormat if a newer runtime wrote
    it; ValueError, KeyError or RecursionError if no socket could be sent it."""
    item = json.loads(member)
    if not isinstance(item, dict):
        raise ValueError(f"it is a {type(item).__name__}, not a JSON object")
    check(version_of(item), "a stored notification")
    notification_id = item["id"]
    if isinstance(notification_id, bool) or not isinstance(notification_id, int):
        raise ValueError(f"its id is a {type(notification_id).__name__}, not an integer")
    return notification_id, stored_time(item["created_at"]), sendable(item["payload"], member)


class RedisNotificationStore:
    """The same contract as the SQLite store, in Redis; unreachable is StoreUnavailable."""

    def __init__(
        self,
        url: str,
        *,
        max_pending: int,
        ttl_seconds: float,
        clock: Callable[[], float] = time.time,
        write_format: int = CURRENT,
    ) -> None:
        # Format 2 names itself first; format 1 (azu_ws 0.2.0) starts with the id.
        self._member_start = '{"id":' if write_format == 1 else f'{{"v":{write_format},"id":'
        self.max_pending = max_pending
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self._redis = open_redis(url)
        self._add = self._redis.register_script(_ADD)

    async def add(self, user_id: str, payload: dict[str, Any]) -> Notification:
        created_at = self.clock()
        arguments: list[str | int | float] = [
            stored_json(payload),
            repr(created_at),
            self.max_pending,
            self.ttl_seconds,
            self._member_start,
        ]
        with reachable():
            notification_id = await self._add(
                keys=[notifications_key(user_id), NOTIFICATIONS_COUNTER], args=arguments
            )
        return Notification(int(notification_id), user_id, payload, created_at)

    async def pending(
        self, user_id: str, *, after: int = 0, limit: int | None = None
    ) -> list[Notification]:
        key, oldest = notifications_key(user_id), self.clock() - self.ttl_seconds
        with reachable():
            found = await self._redis.zrangebyscore(
                key,
                f"({after}",
                "+inf",
                start=0,
                num=-1 if limit is None else limit,
                withscores=True,
            )
        members = cast(list[tuple[bytes, float]], found)
        notifications, expired, unreadable = [], [], []
        for member, score in members:
            try:
                notification_id, created_at, payload = read_member(member)
            except UnknownFormat as exc:  # a newer worker's: it reads it
                logger.warning("a notification of %r skipped: %s", user_id, exc)
                continue
            except (ValueError, KeyError, TypeError, RecursionError) as exc:
                log_unreadable(user_id, int(score), exc)
                unreadable.append(member)
                continue
            if created_at < oldest:
                expired.append(member)
            else:
                notifications.append(Notification(notification_id, user_id, payload, created_at))
        if expired or unreadable:
            with reachable():
                await self._redis.zrem(key, *expired, *unreadable)
        if limit is not None and len(members) == limit and len(notifications) < limit:
            # The page is short by what it skipped: read on from where it ended.
            last = int(members[-1][1])
            notifications += await self.pending(
                user_id, after=last, limit=limit - len(notifications)
            )
        return notifications

    async def ack(self, user_id: str, notification_id: int) -> bool:
        key = notifications_key(user_id)
        with reachable():
            found = cast(
                list[bytes], await self._redis.zrangebyscore(key, notification_id, notification_id)
            )
            removed = await self._redis.zrem(key, *found) if found else 0
        if not removed:
            return False  # none, or another ack took it first
        try:
            _, created_at, _ = read_member(found[0])
        except UnknownFormat:
            return True  # a newer worker's: pending, as far as it can tell
        except (ValueError, KeyError, TypeError, RecursionError):
            return False  # unreadable: it was never delivered, so never pending
        # An expired one, not yet swept, is not pending: its ack is for an unknown id.
        return created_at >= self.clock() - self.ttl_seconds

    async def close(self) -> None:
        await self._redis.aclose()
