"""The notification store's contract (docs/channels.md, Notifications), one property a test, held
to both stores: SQLite (one host) and Redis (many). What a client sees of it over the wire, an
unreadable record among the pending ones too, is in test_edge_data.py."""

import asyncio
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest
import redis
from azu_ws import open_store
from azu_ws.notifications import Notification, NotificationStore
from azu_ws.redis.keys import notifications_key as user_key
from azu_ws.testing import running_redis

# The parts of a stored notification a test damages.
Part = Literal["payload", "created_at"]
CAP = 3
TTL = 60.0
# A time with a fraction: a store must give back the very instant it stored.
START = 1_700_000_000.25


@dataclass
class Clock:
    """The stores' time, moved by the test rather than waited for."""

    now: float = START

    def __call__(self) -> float:
        return self.now


@dataclass
class Place:
    """Where notifications are kept (a SQLite file, a Redis): stores opened over it share it."""

    url: str
    clock: Clock = field(default_factory=Clock)

    @property
    def is_redis(self) -> bool:
        return self.url.startswith("redis://")

    @asynccontextmanager
    async def opened(self, max_pending: int = CAP) -> AsyncIterator[NotificationStore]:
        """A store over this place, as a worker opens one (`open_store`), closed on the way out."""
        store = open_store(self.url, max_pending=max_pending, ttl_seconds=TTL)
        store.clock = self.clock
        try:
            yield store
        finally:
            await store.close()

    def damage(self, notification: Notification, part: Part, stored: str) -> None:
        """Store the JSON text `stored` as `notification`'s payload or time, the rest kept: what
        a record damaged in the store, or written by an unchecked runtime, reads as."""
        payload = json.dumps(notification.payload)
        created_at = repr(notification.created_at)
        if part == "payload":
            payload = stored
        else:
            created_at = stored
        if self.is_redis:
            record = redis_member(notification.id, created_at, payload)
            self.put_member(notification.user_id, notification.id, record)
            return
        with closing(sqlite3.connect(self.url.removeprefix("sqlite:///"))) as db, db:
            db.execute(
                "UPDATE notifications SET payload = ?, created_at = ? WHERE id = ?",
                (payload, json.loads(created_at), notification.id),
            )

    def put_member(self, user_id: str, notification_id: int, member: str) -> None:
        """In Redis, make `member` the record of `user_id`'s notification `notification_id`."""
        with closing(redis.Redis.from_url(self.url)) as client:
            key = user_key(user_id)
            client.zremrangebyscore(key, notification_id, notification_id)
            client.zadd(key, {member: notification_id})

    def kept(self, user_id: str) -> int:
        """How many records of `user_id` the store holds, readable or not."""
        if self.is_redis:
            with closing(redis.Redis.from_url(self.url)) as client:
                return int(client.zcard(user_key(user_id)))
        with closing(sqlite3.connect(self.url.removeprefix("sqlite:///"))) as db:
            query = "SELECT COUNT(*) FROM notifications WHERE user_id = ?"
            count: int = db.execute(query, (user_id,)).fetchone()[0]
            return count


def redis_member(number: int, created_at: str, payload: str, version: int = 2) -> str:
    """Notification `number` as the Redis store keeps it, around the text of its time and
    payload."""
    return f'{{"v":{version},"id":{number},"created_at":{created_at},"payload":{payload}}}'


@pytest.fixture(params=["sqlite", "redis"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Place]:
    """A fresh place per test; Redis skips without redis-server, and fails so under CI=true."""
    if request.param == "sqlite":
        yield Place(f"sqlite:///{tmp_path}/notifications.db")
        return
    with running_redis(tmp_path) as server:
        yield Place(server.url)


def ids(notifications: list[Notification]) -> list[int]:
    return [notification.id for notification in notifications]


def test_pending_ones_come_oldest_first(place: Place) -> None:
    async def scenario() -> None:
        async with place.opened() as store:
            stored = [await store.add("bob", {"n": n}) for n in range(CAP)]
            pending = await store.pending("bob")
        assert ids(stored) == sorted(ids(stored)), "ids do not grow in the order stored"
        assert ids(pending) == ids(stored), "pending ones are not in the order stored"

    asyncio.run(scenario())


def test_a_pending_notification_reads_back_as_it_was_stored(place: Place) -> None:
    payload = {"n": 1, "nested": {"ok": [1, 2.5, None, True]}, "text": "héllo 🙂", "": {}}

    async def scenario() -> None:
        async with place.opened() as store:
            stored = await store.add("bob", payload)
            (pending,) = await store.pending("bob")
        assert pending == stored, "what is read back differs from what was stored"
        assert (pending.payload, pending.created_at) == (payload, START), "payload or time changed"

    asyncio.run(scenario())


def test_an_unacknowledged_one_is_pending_again_on_the_next_read(place: Place) -> None:
    async def scenario() -> None:
        async with place.opened() as store:
            stored = [await store.add("bob", {"n": n}) for n in range(2)]
            first_read, second_read = await store.pending("bob"), await store.pending("bob")
        assert ids(second_read) == ids(first_read) == ids(stored), "a read consumed them"

    asyncio.run(scenario())


def test_ack_removes_exactly_the_acknowledged_one(place: Place) -> None:
    async def scenario() -> None:
        async with place.opened() as store:
            first, middle, last = [await store.add("bob", {"n": n}) for n in range(3)]
            assert await store.ack("bob", middle.id), "a pending one's ack was not found"
            pending = await store.pending("bob")
        assert ids(pending) == [first.id, last.id], "ack removed the wrong ones"

    asyncio.run(scenario())


def test_an_id_acknowledged_twice_is_not_found_the_second_time(place: Place) -> None:
    async def scenario() -> None:
        async with place.opened() as store:
            stored = await store.add("bob", {"n": 1})
            assert await store.ack("bob", stored.id), "a pending one's ack was not found"
            assert not await store.ack("bob", stored.id), "an acked id was found again"
            assert not await store.ack("bob", stored.id + 1), "an id never given was found"

    asyncio.run(scenario())


def test_a_user_can_neither_see_nor_acknowledge_anothers(place: Place) -> None:
    async def scenario() -> None:
        async with place.opened() as store:
            bobs = await store.add("bob", {"for": "bob"})
            carols = await store.add("carol", {"for": "carol"})
            assert not await store.ack("mallory", bobs.id), "mallory acknowledged bob's"
            assert ids(await store.pending("bob")) == [bobs.id], "bob sees another's, or lost his"
            assert ids(await store.pending("carol")) == [carols.id], "carol sees bob's"
            assert await store.pending("mallory") == [], "mallory sees someone else's"

    asyncio.run(scenario())


def test_beyond_the_cap_the_oldest_pending_one_is_dropped(place: Place) -> None:
    async def scenario() -> None:
        async with place.opened() as store:
            stored = [await store.add("bob", {"n": n}) for n in range(CAP + 1)]
            pending = await store.pending("bob")
        assert ids(pending) == ids(stored[1:]), f"the cap of {CAP} did not drop just the oldest"

    asyncio.run(scenario())


def test_acknowledged_ones_do_not_count_toward_the_cap(place: Place) -> None:
    async def scenario() -> None:
        async with place.opened() as store:
            stored = [await store.add("bob", {"n": n}) for n in range(CAP)]
            await store.ack("bob", stored[0].id)
            stored.append(await store.add("bob", {"n": CAP}))
            pending = await store.pending("bob")
        assert ids(pending) == ids(stored[1:]), "a pending one was dropped for an acked one"

    asyncio.run(scenario())


def test_the_cap_is_per_user(place: Place) -> None:
    async def scenario() -> None:
        async with place.opened() as store:
            carols = await store.add("carol", {"n": 0})
            for n in range(CAP + 1):
                await store.add("bob", {"n": n})
            pending = await store.pending("carol")
        assert ids(pending) == [carols.id], "bob's cap dropped carol's notification"

    asyncio.run(scenario())


def test_a_notification_is_pending_for_the_ttl_and_no_longer(place: Place) -> None:
    async def scenario() -> None:
        async with place.opened() as store:
            old = await store.add("bob", {"n": 1})
            place.clock.now = START + TTL / 2
            young = await store.add("bob", {"n": 2})
            place.clock.now = START + TTL
            assert ids(await store.pending("bob")) == [old.id, young.id], "expired too soon"
            place.clock.now = START + TTL + 1
            assert ids(await store.pending("bob")) == [young.id], "an expired one is pending"
            place.clock.now = START + TTL * 2
            assert await store.pending("bob") == [], "an expired one is pending"

    asyncio.run(scenario())


def test_an_expired_notification_cannot_be_acknowledged(place: Place) -> None:
    async def scenario() -> None:
        async with place.opened() as store:
            expired = await store.add("bob", {"n": 1})
            place.clock.now = START + TTL + 1  # and no add since to sweep it
            assert not await store.ack("bob", expired.id), "an expired one was acknowledged"
            fresh = await store.add("bob", {"n": 2})
            assert await store.ack("bob", fresh.id), "an unexpired one was not acknowledged"

    asyncio.run(scenario())


@pytest.mark.parametrize("place", ["redis"], indirect=True)
def test_in_redis_a_user_who_never_reads_again_leaves_nothing_past_the_ttl(place: Place) -> None:
    async def scenario() -> None:
        async with place.opened() as store:
            await store.add("ghost", {"n": 1})

    asyncio.run(scenario())
    with closing(redis.Redis.from_url(place.url)) as client:
        expiry = client.ttl(user_key("ghost"))
    assert 0 < expiry <= TTL, f"ghost's notifications are kept {expiry} s, not within the TTL"


def test_pending_pages_on_after_an_id(place: Place) -> None:
    async def scenario() -> None:
        async with place.opened(max_pending=5) as store:
            stored = [await store.add("bob", {"n": n}) for n in range(5)]
            page = await store.pending("bob", after=stored[1].id, limit=2)
        assert ids(page) == ids(stored[2:4]), "a page is not the next ones after the id"

    asyncio.run(scenario())


def test_a_store_opened_again_sees_what_was_stored_and_not_what_was_acknowledged(
    place: Place,
) -> None:
    async def scenario() -> None:
        async with place.opened() as before:
            acked, *kept = [await before.add("bob", {"n": n}) for n in range(3)]
            await before.ack("bob", acked.id)
        async with place.opened() as after:
            pending = await after.pending("bob")
        assert pending == kept, "a restart lost a pending one, or revived an acknowledged one"

    asyncio.run(scenario())


def test_an_id_is_never_given_twice_even_after_the_newest_is_acknowledged_and_reopened(
    place: Place,
) -> None:
    async def given_ids() -> list[int]:
        async with place.opened() as before:
            acked = [await before.add(user_id, {}) for user_id in ("bob", "carol")]
            for notification in acked:
                await before.ack(notification.user_id, notification.id)
        async with place.opened() as after:
            return [*ids(acked), (await after.add("bob", {})).id]

    given = asyncio.run(given_ids())
    assert given == sorted(set(given)), "an id was given again: a resuming client would drop it"


def test_two_stores_over_one_place_share_pending_ones_and_acks(place: Place) -> None:
    async def scenario() -> None:
        async with place.opened() as one, place.opened() as other:
            stored = [await one.add("bob", {"n": 1}), await other.add("bob", {"n": 2})]
            assert ids(await other.pending("bob")) == ids(stored), "a worker misses another's"
            assert await other.ack("bob", stored[0].id), "a worker cannot ack another's"
            assert ids(await one.pending("bob")) == ids(stored[1:]), "an ack was not shared"

    asyncio.run(scenario())


def test_a_user_named_as_the_id_counter_is_notified_like_anyone_and_ids_go_on(
    place: Place,
) -> None:
    # In Redis the counter is `azu:notifications:next-id`, among the users' sets.
    user_id = "next-id"

    async def scenario() -> None:
        async with place.opened() as store:
            gus = await store.add("gus", {"n": 1})
            theirs = [await store.add(user_id, {"n": n}) for n in range(2)]
            later = await store.add("gus", {"n": 2})
            assert ids(await store.pending(user_id)) == ids(theirs), f"{user_id} lost theirs"
            assert ids(await store.pending("gus")) == [gus.id, later.id], "gus's were disturbed"
        assert gus.id < min(ids(theirs)) <= max(ids(theirs)) < later.id, "the counter restarted"

    asyncio.run(scenario())


def test_a_payload_no_socket_could_be_sent_is_refused_and_nothing_stored(place: Place) -> None:
    async def scenario() -> None:
        async with place.opened() as store:
            with pytest.raises(ValueError, match="lone surrogate"):
                await store.add("bob", {"x": "\ud800"})
            assert await store.pending("bob") == [], "a refused payload was stored"

    asyncio.run(scenario())


UNREADABLE: dict[str, tuple[Part, str]] = {
    "payload not JSON": ("payload", '{"x": '),
    "payload not an object": ("payload", "[1, 2]"),
    "payload with a lone surrogate": ("payload", '{"x": "\\ud800"}'),
    "payload nested too deep": ("payload", "[" * 100_000 + "]" * 100_000),
    "time not a number": ("created_at", '"yesterday"'),
    "time out of range": ("created_at", "1e400"),
}


@pytest.mark.parametrize(("part", "stored"), UNREADABLE.values(), ids=UNREADABLE.keys())
def test_an_unreadable_record_is_skipped_logged_deleted_and_the_rest_delivered(
    place: Place, part: Part, stored: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with place.opened() as store:
            first, damaged, last = [await store.add("dora", {"n": n}) for n in range(3)]
            place.damage(damaged, part, stored)
            assert ids(await store.pending("dora")) == [first.id, last.id], "the rest were not"
            assert ids(await store.pending("dora")) == [first.id, last.id], "not on a 2nd read"

    asyncio.run(scenario())
    logged = [r for r in caplog.records if r.levelno == logging.ERROR and "unreadable" in r.message]
    assert len(logged) == 1, f"the unreadable record was logged {len(logged)} times, not once"
    assert place.kept("dora") == 2, "the unreadable record was kept"


def test_a_page_short_by_an_unreadable_record_is_filled_from_beyond_it(place: Place) -> None:
    async def scenario() -> None:
        async with place.opened(max_pending=4) as store:
            stored = [await store.add("dora", {"n": n}) for n in range(4)]
            place.damage(stored[1], *UNREADABLE["payload not JSON"])
            page = await store.pending("dora", limit=2)
        assert ids(page) == [stored[0].id, stored[2].id], "the page came short"

    asyncio.run(scenario())


@pytest.mark.parametrize("place", ["redis"], indirect=True)
def test_in_redis_a_newer_runtimes_record_is_skipped_and_kept_for_it(
    place: Place, caplog: pytest.LogCaptureFixture
) -> None:
    # A rolling deploy: a worker of the next format shares Redis with this one.
    async def scenario() -> None:
        async with place.opened() as store:
            first, newer, last = [await store.add("dora", {"n": n}) for n in range(3)]
            member = redis_member(newer.id, repr(START), "{}", version=99)
            place.put_member("dora", newer.id, member)
            assert ids(await store.pending("dora")) == [first.id, last.id], "the rest were not"

    asyncio.run(scenario())
    assert "format 99" in caplog.text, "the skipped record's format was not logged"
    assert place.kept("dora") == 3, "a newer runtime's record was deleted"


BROKEN_RECORDS = {
    "not an object": "[1, 2]",
    "without a payload": '{"v":2,"id":2,"created_at":1700000000}',
    "an id not a number": '{"v":2,"id":"two","created_at":1700000000,"payload":{}}',
    "no time": '{"v":2,"id":2,"created_at":null,"payload":{}}',
}


@pytest.mark.parametrize("place", ["redis"], indirect=True)
@pytest.mark.parametrize("member", BROKEN_RECORDS.values(), ids=BROKEN_RECORDS.keys())
def test_in_redis_a_broken_record_is_skipped_deleted_and_the_rest_delivered(
    place: Place, member: str
) -> None:
    async def scenario() -> None:
        async with place.opened() as store:
            first, broken, last = [await store.add("dora", {"n": n}) for n in range(3)]
            place.put_member("dora", broken.id, member)
            assert ids(await store.pending("dora")) == [first.id, last.id], "the rest were not"

    asyncio.run(scenario())
    assert place.kept("dora") == 2, "the broken record was kept"
