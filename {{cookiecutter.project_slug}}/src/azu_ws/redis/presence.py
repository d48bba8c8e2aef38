"""Cluster-wide presence in Redis: one members list, whichever worker each member is on, and
the members of a process that died withdrawn (docs/ARCHITECTURE.md, Scale-out)."""

import asyncio
import contextlib
import json
import logging
import uuid

from ..formats import CURRENT
from ..presence import Announce
from ..tasks import cancel_and_wait
from .client import UNREACHABLE, open_redis
from .keys import PRESENCE_NODE as NODE_PREFIX
from .keys import PRESENCE_NODES as NODES
from .keys import PRESENCE_TOPIC as TOPIC_PREFIX

logger = logging.getLogger(__name__)


# KEYS: topic hash, node set. ARGV: user, socket, node, farewell, entry, the
# format this process writes. Returns 1 if the user had no socket there before.
_TRACK = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
local record = raw and cjson.decode(raw) or {s = {}}
local first = next(record.s) == nil
record.s[ARGV[2]] = ARGV[3]
record.f = ARGV[4]
if ARGV[6] ~= '1' then record.v = tonumber(ARGV[6]) end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(record))
redis.call('SADD', KEYS[2], ARGV[5])
return first and 1 or 0
"""

# The body shared by untrack and the reaper: withdraw one socket of a user.
_WITHDRAW = """
local function withdraw(key, user, socket)
  local raw = redis.call('HGET', key, user)
  if not raw then return nil end
  local record = cjson.decode(raw)
  if record.s[socket] == nil then return nil end
  record.s[socket] = nil
  if next(record.s) == nil then
    redis.call('HDEL', key, user)
    return record.f
  end
  redis.call('HSET', key, user, cjson.encode(record))
  return nil
end
"""

# KEYS: topic hash, node set. ARGV: user, socket, entry.
# Returns 1 if that was the user's last socket on the topic.
_UNTRACK = (
    _WITHDRAW
    + """
redis.call('SREM', KEYS[2], ARGV[3])
return withdraw(KEYS[1], ARGV[1], ARGV[2]) and 1 or 0
"""
)

# KEYS: the nodes set. ARGV: node, ttl seconds, topic prefix, node prefix.
# Returns {1 if this node was unknown (new, or reaped), topic, farewell, ...}.
_HEARTBEAT = (
    _WITHDRAW
    + """
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1e6
local unknown = redis.call('ZSCORE', KEYS[1], ARGV[1]) == false
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
local out = {unknown and 1 or 0}
for _, node in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do
  redis.call('ZREM', KEYS[1], node)
  local entries = ARGV[4] .. node
  for _, raw in ipairs(redis.call('SMEMBERS', entries)) do
    local entry = cjson.decode(raw)
    local farewell = withdraw(ARGV[3] .. entry[1], entry[2], entry[3])
    if farewell and farewell ~= '' then
      table.insert(out, entry[1])
      table.insert(out, farewell)
    end
  end
  redis.call('DEL', entries)
end
return out
"""
)

Entry = tuple[str, str, str]  # topic, user, socket


class RedisPresence:
    """One presence for every process sharing a Redis; dead processes are reaped."""

    def __init__(self, url: str, *, ttl_seconds: float, write_format: int = CURRENT) -> None:
        self.ttl_seconds = ttl_seconds
        self.write_format = write_format
        self.node = uuid.uuid4().hex
        self._redis = open_redis(url)
        self._track = self._redis.register_script(_TRACK)
        self._untrack = self._redis.register_script(_UNTRACK)
        self._heartbeat = self._redis.register_script(_HEARTBEAT)
        self._node_key = NODE_PREFIX + self.node
        # What this process holds, to write again after an outage or a reaping.
        self._local: dict[Entry, str] = {}
        # Sockets that left while Redis was away, with their farewells:
        # withdrawn when it is back, so that other processes hear them leave.
        self._departed: dict[Entry, str] = {}
        self._stale = False
        self._announce: Announce | None = None
        self._beating: asyncio.Task[None] | None = None

    async def start(self, announce: Announce) -> None:
        self._announce = announce
        # Registered before the first socket is tracked: entries of a process
        # that never registered could not be reaped.
        with contextlib.suppress(*UNREACHABLE):
            await self._renew()
        self._beating = asyncio.create_task(self._beat(), name="presence-heartbeat")

    async def track(
        self, topic: str, user_id: str, connection_id: str, farewell: str | None
    ) -> bool:
        entry = (topic, user_id, connection_id)
        self._local[entry] = farewell or ""
        self._departed.pop(entry, None)
        try:
            return bool(await self._write(entry, farewell or ""))
        except UNREACHABLE as exc:
            self._went_stale(exc)
            return len(self._local_sockets(topic, user_id)) == 1

    async def untrack(self, topic: str, user_id: str, connection_id: str) -> bool:
        entry = (topic, user_id, connection_id)
        farewell = self._local.pop(entry, None)
        if farewell is None:
            return False
        try:
            return await self._withdraw(entry)
        except UNREACHABLE as exc:
            self._went_stale(exc)
            self._departed[entry] = farewell
            return not self._local_sockets(topic, user_id)

    async def members(self, topic: str) -> list[str]:
        try:
            users = await self._redis.hkeys(TOPIC_PREFIX + topic)
        except UNREACHABLE as exc:
            self._went_stale(exc)
            return sorted({user for (on, user, _) in self._local if on == topic})
        return sorted(user.decode() if isinstance(user, bytes) else user for user in users)

    async def close(self) -> None:
        await cancel_and_wait(self._beating)
        with contextlib.suppress(*UNREACHABLE):
            for entry in list(self._local):
                await self._withdraw(entry)
            await self._redis.zrem(NODES, self.node)
            await self._redis.delete(self._node_key)
        self._local.clear()
        with contextlib.suppress(*UNREACHABLE):
            await self._redis.aclose()

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_seconds / 3)
            try:
                await self._renew()
            except UNREACHABLE as exc:
                self._went_stale(exc)

    async def _renew(self) -> None:
        reply = await self._heartbeat(
            keys=[NODES], args=[self.node, self.ttl_seconds, TOPIC_PREFIX, NODE_PREFIX]
        )
        unknown, *farewells = reply
        if unknown or self._stale:
            await self._resync()
        for topic, frame in zip(farewells[::2], farewells[1::2], strict=True):
            await self._publish(topic.decode(), frame.decode())

    async def _resync(self) -> None:
        """Write this process's sockets again; withdraw those that left meanwhile."""
        for entry, farewell in list(self._local.items()):
            await self._write(entry, farewell)
        for entry, farewell in list(self._departed.items()):
            if await self._withdraw(entry) and farewell:
                await self._publish(entry[0], farewell)
            del self._departed[entry]
        if self._stale:
            logger.info("presence written to Redis again after an outage")
        self._stale = False

    async def _write(self, entry: Entry, farewell: str) -> int:
        topic, user_id, connection_id = entry
        arguments = [user_id, connection_id, self.node, farewell, self._entry(entry)]
        keys = [TOPIC_PREFIX + topic, self._node_key]
        return int(await self._track(keys=keys, args=[*arguments, self.write_format]))

    async def _withdraw(self, entry: Entry) -> bool:
        topic, user_id, connection_id = entry
        last = await self._untrack(
            keys=[TOPIC_PREFIX + topic, self._node_key],
            args=[user_id, connection_id, self._entry(entry)],
        )
        return bool(last)

    def _entry(self, entry: Entry) -> str:
        """What the node's set holds for `entry`: `[topic, user, socket]`, and the format
        from 2 on (the reaper reads the first three, whatever follows)."""
        return json.dumps([*entry, self.write_format] if self.write_format > 1 else list(entry))

    async def _publish(self, topic: str, frame: str) -> None:
        if self._announce is not None:
            await self._announce(topic, frame)

    def _local_sockets(self, topic: str, user_id: str) -> list[Entry]:
        """This process's sockets of a user on a topic (a scan: for outages only)."""
        return [entry for entry in self._local if entry[:2] == (topic, user_id)]

    def _went_stale(self, exc: BaseException) -> None:
        if not self._stale:
            logger.warning("Redis unreachable (%s): presence is this process's own until back", exc)
        self._stale = True
