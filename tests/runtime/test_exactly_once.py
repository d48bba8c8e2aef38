"""No duplicate and no loss when Redis is slow: a publish whose reply is lost, a subscription
confirmed late, and a replay that honours `broadcast_from`."""

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from azu_ws.close_codes import WS_4400_BAD_REQUEST
from azu_ws.frames import Envelope
from azu_ws.redis.broker import RedisBroker
from azu_ws.testing import Connect, RedisServer, Server, closed_with, receive, uvicorn
from redis import asyncio as aioredis
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.testclient import WebSocketTestSession

from .bench import SERVE
from .testapp.channels import PROBE, PROBE_OTHERS

SECRET = "a-secret-only-for-the-exactly-once-tests-0123"
FRAME = '{"type":"message","content":"once"}'


async def publish_losing_replies(url: str, lost: int, *, record: bool) -> dict[str, Any]:
    """Publish once to a topic two processes hear, the first `lost` replies of Redis lost
    after it acted on them (a timeout in flight); what each process and the history got."""
    here, elsewhere = RedisBroker(url), RedisBroker(url)
    got: dict[str, list[Envelope]] = {"here": [], "elsewhere": []}
    await here.start(got["here"].append)
    await elsewhere.start(got["elsewhere"].append)
    for broker in (here, elsewhere):
        assert await broker.subscribe("room")
    target = "_record" if record else "publish"
    owner: Any = here if record else here._redis
    act = getattr(owner, target)
    replies_lost = 0

    async def act_then_lose_the_reply(*args: Any, **kwargs: Any) -> Any:
        nonlocal replies_lost
        result = await act(*args, **kwargs)
        if replies_lost < lost:
            replies_lost += 1
            raise RedisTimeoutError("Timeout reading from socket")
        return result

    setattr(owner, target, act_then_lose_the_reply)
    await here.publish(Envelope("room", FRAME), record=record)
    await asyncio.sleep(0.5)  # for a relay that should not come
    client = aioredis.Redis.from_url(url)
    kept = await client.xlen("azu:history:room")
    await client.aclose()
    for broker in (here, elsewhere):
        await broker.close()
    return {
        "here": len(got["here"]),
        "elsewhere": len(got["elsewhere"]),
        "kept": kept,
        "offsets": [e.position.offset if e.position else None for e in got["elsewhere"]],
    }


def test_a_recorded_publish_whose_reply_is_lost_is_asked_again_and_kept_once(
    redis_server: RedisServer,
) -> None:
    outcome = asyncio.run(publish_losing_replies(redis_server.url, 1, record=True))
    assert outcome == {"here": 1, "elsewhere": 1, "kept": 1, "offsets": [1]}


def test_a_publish_whose_replies_are_all_lost_is_delivered_here_once(
    redis_server: RedisServer,
) -> None:
    # Redis took it, then never answered: this process delivers it itself, and
    # drops its relay; the others get it from Redis; the history has it once.
    recorded = asyncio.run(publish_losing_replies(redis_server.url, 2, record=True))
    assert recorded == {"here": 1, "elsewhere": 1, "kept": 1, "offsets": [1]}
    live = asyncio.run(publish_losing_replies(redis_server.url, 1, record=False))
    assert (live["here"], live["elsewhere"]) == (1, 1)


def resume_during_a_stall(server: Server, redis_server: RedisServer, seconds: float) -> Any:
    """Bob resumes on the probe while Redis is frozen for `seconds`. No one here is on the
    probe's topic then, so his join waits for Redis to confirm its subscription; his
    socket on the other probe keeps the topics every socket joins (his own, `all`) subscribed."""
    with server.connect(PROBE_OTHERS, "bob") as keeper:
        receive(keeper, "connected")
        topics = healthz(server)["topics"]
        with server.connect(PROBE, "alice") as alice, server.connect(PROBE, "bob") as bob:
            receive(alice, "connected")
            receive(bob, "connected")
            alice.send(json.dumps({"type": "message", "content": "seen"}))
            seen = receive(bob, "message")
            receive(alice, "message")
            alice.send(json.dumps({"type": "message", "content": "missed"}))
            receive(alice, "message")
        since = f"{seen['epoch']}:{seen['offset']}"
        while healthz(server)["topics"] != topics:  # the probe's topic is left
            time.sleep(0.05)
        redis_server.stall(seconds)
        with server.connect(f"{PROBE}?since={since}", "bob") as bob:
            greeting = receive(bob, "connected")
            missed = [receive(bob, "message")["content"]] if greeting["recovered"] else []
    return greeting["recovered"], missed


def healthz(server: Server) -> dict[str, Any]:
    with server.get("/healthz") as response:
        answer: dict[str, Any] = json.load(response)
        return answer


def test_a_resume_recovers_through_a_stall_shorter_than_the_reply_timeout(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    # A subscription waits for Redis up to its reply timeout, 5 s (redis/client.py):
    # a stall within it costs the client a wait, and nothing is lost. (It waited
    # 1 s before: then this client was told to reload.)
    with uvicorn(tmp_path, SECRET, command=SERVE, BROKER_URL=redis_server.url) as server:
        assert resume_during_a_stall(server, redis_server, 2.5) == (True, ["missed"])


def test_a_replay_skips_what_this_session_sent_with_broadcast_from(connect: Connect) -> None:
    session = "?session=tab-0123456789"
    with (
        connect(PROBE_OTHERS + session, user="alice") as alice,
        connect(PROBE_OTHERS, user="bob") as bob,
    ):
        since = position_of(receive_connected(alice))
        receive_connected(bob)
        alice.send_json({"type": "message", "content": "from alice"})
        assert bob.receive_json()["content"] == "from alice"
        bob.send_json({"type": "message", "content": "from bob"})
        assert alice.receive_json()["content"] == "from bob"
    resumed = f"{PROBE_OTHERS}{session}&since={since}"
    with connect(resumed, user="alice") as alice:  # the same tab, back
        assert receive_connected(alice)["recovered"] is True
        assert alice.receive_json()["content"] == "from bob"  # and not her own
        alice.send_json({"type": "ping"})
        assert alice.receive_json()["type"] == "pong"
    with connect(f"{PROBE_OTHERS}?session=tab-other-01&since={since}", user="alice") as other:
        assert receive_connected(other)["recovered"] is True  # another tab of hers: both
        assert [other.receive_json()["content"] for _ in range(2)] == ["from alice", "from bob"]


def receive_connected(ws: WebSocketTestSession) -> dict[str, Any]:
    frame: dict[str, Any] = ws.receive_json()
    assert frame["type"] == "connected", frame
    return frame


def position_of(greeting: dict[str, Any]) -> str:
    return f"{greeting['epoch']}:{greeting['offset']}"


def test_a_session_that_is_not_a_name_is_refused_with_4400(connect: Connect) -> None:
    with connect(f"{PROBE}?session=a%20b", user="alice") as ws:
        assert closed_with(ws) == (WS_4400_BAD_REQUEST, "invalid session")
