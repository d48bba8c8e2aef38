"""Per-user notifications: stored before they are sent, delivered at least once, pending until
acknowledged (docs/channels.md); and system notifications, live only."""

import asyncio
import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from .frames import Envelope, Position
from .history import Replay
from .hub import Hub
from .messages import ServerMessage, utc_now
from .utf8 import utf8_json

logger = logging.getLogger(__name__)

NOTIFICATIONS = "notifications:"
SYSTEM_NOTIFICATIONS = NOTIFICATIONS + "system"
USER_NOTIFICATIONS = NOTIFICATIONS + "user:"
# A notification's id is its position in its user's topic, in this one epoch.
NOTIFICATION_EPOCH = "notifications"
T = TypeVar("T")


class NotificationMessage(ServerMessage):
    """A user's notification (with an `id` to acknowledge) or a system one (without)."""

    type: Literal["notification"] = "notification"
    id: int | None
    kind: Literal["user", "system"]
    payload: dict[str, Any]
    timestamp: datetime

    @classmethod
    def for_user(
        cls, notification_id: int, payload: dict[str, Any], created_at: float
    ) -> "NotificationMessage":
        timestamp = datetime.fromtimestamp(created_at, UTC)
        return cls(id=notification_id, kind="user", payload=payload, timestamp=timestamp)

    @classmethod
    def for_system(cls, payload: dict[str, Any]) -> "NotificationMessage":
        return cls(id=None, kind="system", payload=payload, timestamp=utc_now())


def notifications_topic(user_id: str) -> str:
    """The topic every notifications socket of `user_id` is on."""
    return f"{USER_NOTIFICATIONS}{user_id}"


# `\ud800` to `\udfff` in JSON text: half of a pair, or a lone surrogate.
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


def stored_json(payload: dict[str, Any]) -> str:
    """`payload` as a store keeps it; ValueError, before anything is stored, if it holds a
    string no socket could be sent (a lone surrogate)."""
    return utf8_json(payload).decode()


def sendable(payload: object, stored: str | bytes) -> dict[str, Any]:
    """A stored payload, read back from the text `stored`: ValueError if no socket could be
    sent it (a record written before it was checked, or damaged in the store)."""
    if not isinstance(payload, dict):
        raise ValueError(f"its payload is a {type(payload).__name__}, not a JSON object")
    # Parsed from UTF-8, a string holds a lone surrogate only where the text escapes one:
    # the payload is serialised again, to find it, only then (a reconnect reads them all).
    if _ESCAPED_SURROGATE.search(stored if isinstance(stored, str) else stored.decode()):
        utf8_json(payload)
    return payload


def stored_time(created_at: object) -> float:
    """A stored notification's time, read back: ValueError if it is not one a message can
    carry (a record damaged in the store)."""
    if isinstance(created_at, bool) or not isinstance(created_at, int | float):
        raise ValueError(f"its time is a {type(created_at).__name__}, not a number")
    try:
        datetime.fromtimestamp(created_at, UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"its time {created_at!r} is out of range") from None
    return created_at


def log_unreadable(user_id: str, notification_id: object, exc: Exception) -> None:
    """Say, once, that the store deletes a record it cannot read; the rest are still delivered."""
    logger.error(
        "an unreadable notification (id %s) of %r deleted, the others delivered: %s",
        notification_id,
        user_id,
        exc,
    )


@dataclass(frozen=True, slots=True)
class Notification:
    """A stored notification: its id orders a user's notifications."""

    id: int
    user_id: str
    payload: dict[str, Any]
    created_at: float

    def message(self) -> NotificationMessage:
        return NotificationMessage.for_user(self.id, self.payload, self.created_at)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS notifications_by_user ON notifications (user_id, id);
CREATE INDEX IF NOT EXISTS notifications_by_age ON notifications (created_at);
"""


class SqliteNotificationStore:
    """Pending notifications in one SQLite file, written through before delivery.

    sqlite3 blocks, so each call runs in a worker thread. A thread lock, not
    an asyncio one, guards the connection: a call whose task is cancelled
    still finishes in its thread, and `close` must wait for it. The file is
    opened on first use.
    """

    def __init__(
        self,
        path: Path,
        *,
        max_pending: int,
        ttl_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.clock = clock
        self.max_pending = max_pending
        self.ttl_seconds = ttl_seconds
        self._db: sqlite3.Connection | None = None
        self._closed = False
        self._lock = threading.Lock()

    async def add(self, user_id: str, payload: dict[str, Any]) -> Notification:
        """Store a notification for `user_id`, dropping its oldest beyond the cap."""
        stored = stored_json(payload)
        return await self._run(lambda db: self._add(db, user_id, payload, stored))

    async def pending(
        self, user_id: str, *, after: int = 0, limit: int | None = None
    ) -> list[Notification]:
        """`user_id`'s unexpired, unacknowledged notifications after id `after`, oldest first."""
        return await self._run(lambda db: self._pending(db, user_id, after, limit))

    async def ack(self, user_id: str, notification_id: int) -> bool:
        """Delete one of `user_id`'s notifications; False if it has no such one."""
        return await self._run(lambda db: self._ack(db, user_id, notification_id))

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.to_thread(self._locked, work)

    def _locked(self, work: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            if self._closed:
                raise RuntimeError("the notification store is closed")
            if self._db is None:
                self._db = self._open()
            return work(self._db)

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(_SCHEMA)
        return db

    def _close(self) -> None:
        with self._lock:
            self._closed = True
            if self._db is not None:
                self._db.close()
                self._db = None

    def _add(
        self, db: sqlite3.Connection, user_id: str, payload: dict[str, Any], stored: str
    ) -> Notification:
        now = self.clock()
        with db:
            db.execute("BEGIN IMMEDIATE")
            # Expired rows go here, for every user: one who never connects
            # again must not keep them forever.
            db.execute("DELETE FROM notifications WHERE created_at < ?", (now - self.ttl_seconds,))
            cursor = db.execute(
                "INSERT INTO notifications (user_id, payload, created_at) VALUES (?, ?, ?)",
                (user_id, stored, now),
            )
            db.execute(
                "DELETE FROM notifications WHERE user_id = ? AND id NOT IN "
                "(SELECT id FROM notifications WHERE user_id = ? ORDER BY id DESC LIMIT ?)",
                (user_id, user_id, self.max_pending),
            )
        assert cursor.lastrowid is not None
        return Notification(cursor.lastrowid, user_id, payload, now)

    def _pending(
        self, db: sqlite3.Connection, user_id: str, after: int, limit: int | None
    ) -> list[Notification]:
        oldest = self.clock() - self.ttl_seconds
        rows = db.execute(
            "SELECT id, payload, created_at FROM notifications "
            "WHERE user_id = ? AND id > ? AND created_at >= ? ORDER BY id LIMIT ?",
            (user_id, after, oldest, -1 if limit is None else limit),
        ).fetchall()
        notifications, unreadable = [], []
        for notification_id, stored, created_at in rows:
            try:
                payload = sendable(json.loads(stored), stored)
                created_at = stored_time(created_at)
            except (ValueError, RecursionError) as exc:
                log_unreadable(user_id, notification_id, exc)
                unreadable.append((notification_id,))
                continue
            notifications.append(Notification(notification_id, user_id, payload, created_at))
        if unreadable:
            db.executemany("DELETE FROM notifications WHERE id = ?", unreadable)
            if limit is not None and len(rows) == limit:  # the page is short by what it skipped
                more = self._pending(db, user_id, rows[-1][0], limit - len(notifications))
                notifications.extend(more)
        return notifications

    def _ack(self, db: sqlite3.Connection, user_id: str, notification_id: int) -> bool:
        # An expired one, not yet swept, is not pending: its ack is for an unknown id.
        oldest = self.clock() - self.ttl_seconds
        cursor = db.execute(
            "DELETE FROM notifications WHERE user_id = ? AND id = ? AND created_at >= ?",
            (user_id, notification_id, oldest),
        )
        return cursor.rowcount > 0


class StoreUnavailable(Exception):
    """The store could not be reached: nothing was stored (HTTP answers 503)."""


class NotificationStore(Protocol):
    """Where notifications wait for their user: SQLite (one host) or Redis (many).

    `add` refuses (ValueError) a payload that could not be read back and sent, before
    storing anything; `pending` deletes a record it cannot read, logs it, and returns the rest.
    """

    clock: Callable[[], float]

    async def add(self, user_id: str, payload: dict[str, Any]) -> Notification: ...

    async def pending(
        self, user_id: str, *, after: int = 0, limit: int | None = None
    ) -> list[Notification]: ...

    async def ack(self, user_id: str, notification_id: int) -> bool: ...

    async def close(self) -> None: ...


# Pending notifications read from the store at a time.
PAGE = 100


class Notifier:
    """The notifications API for application code: store, then deliver."""

    def __init__(self, store: NotificationStore, hub: Hub) -> None:
        self.store = store
        self._hub = hub
        # Kept in the store until acknowledged, not in the topics' history.
        hub.keep_no_history(NOTIFICATIONS)

    async def notify_user(self, user_id: str, payload: dict[str, Any]) -> Notification:
        """Store a notification for `user_id` and send it to each of their open sockets.

        ValueError, with nothing stored, if no socket could be sent `payload` (a string in
        it holds a lone surrogate); StoreUnavailable if the store cannot be reached.
        """
        notification = await self.store.add(user_id, payload)
        position = Position(NOTIFICATION_EPOCH, notification.id)
        topic = notifications_topic(user_id)
        await self._hub.publish(topic, notification.message(), position=position)
        return notification

    async def pending(self, topic: str, since: Position | None = None) -> Replay:
        """The pending notifications of the user whose topic this is, oldest first: the
        backlog a socket catches up from (`Channel.join(topic, backlog=...)`)."""
        user_id = topic.removeprefix(USER_NOTIFICATIONS)
        frames: list[Envelope] = []
        after = 0
        while page := await self.store.pending(user_id, after=after, limit=PAGE):
            for notification in page:
                frame = notification.message().model_dump_json()
                position = Position(NOTIFICATION_EPOCH, notification.id)
                frames.append(Envelope(topic, frame, None, position))
            after = page[-1].id
        return Replay(Position(NOTIFICATION_EPOCH, after), None, frames)

    async def broadcast_system_notification(self, payload: dict[str, Any]) -> None:
        """Send a notification to every user connected now; it is not stored."""
        await self._hub.publish(SYSTEM_NOTIFICATIONS, NotificationMessage.for_system(payload))
