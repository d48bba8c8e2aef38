"""Scale-out over a real Redis: two app processes, one conversation, and Redis restarted mid-run."""

import asyncio
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from azu_ws.redis.limit import SharedLimit
from azu_ws.services import worker_count
from azu_ws.testing import WAIT, RedisServer, Server, receive, two_uvicorns, uvicorn
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from .bench import SERVE
from .testapp.channels import PROBE

SECRET = "a-secret-only-for-the-redis-tests-0123456789"


@pytest.fixture
def two_processes(tmp_path: Path, redis_server: RedisServer) -> Iterator[tuple[Server, Server]]:
    database = f"sqlite:///{tmp_path}/shared.db"
    with two_uvicorns(
        tmp_path, SECRET, BROKER_URL=redis_server.url, DATABASE_URL=database, command=SERVE
    ) as servers:
        yield servers


def say(ws: ClientConnection, content: str) -> None:
    ws.send(json.dumps({"type": "message", "content": content}))


def test_a_message_sent_on_one_process_reaches_a_client_on_the_other(
    two_processes: tuple[Server, Server],
) -> None:
    a, b = two_processes
    with a.connect(PROBE, "alice") as alice, b.connect(PROBE, "bob") as bob:
        receive(alice, "connected")
        receive(bob, "connected")
        say(alice, "across")
        for ws in (alice, bob):
            frame = receive(ws, "message")
            assert (frame["content"], frame["user"]) == ("across", "alice")


def test_a_process_subscribes_only_to_topics_with_local_members(
    two_processes: tuple[Server, Server], redis_server: RedisServer
) -> None:
    a, _ = two_processes
    client = redis.Redis.from_url(redis_server.url)
    assert b"azu:probe" not in client.pubsub_channels()
    with a.connect(PROBE, "alice") as alice:
        receive(alice, "connected")
        assert b"azu:probe" in client.pubsub_channels()
    deadline = time.monotonic() + WAIT
    while b"azu:probe" in client.pubsub_channels() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert b"azu:probe" not in client.pubsub_channels()


def test_when_redis_restarts_delivery_across_processes_resumes(
    two_processes: tuple[Server, Server], redis_server: RedisServer
) -> None:
    a, b = two_processes
    with a.connect(PROBE, "alice") as alice, b.connect(PROBE, "bob") as bob:
        receive(alice, "connected")
        receive(bob, "connected")
        redis_server.stop()
        say(alice, "during the outage")
        # Local members are still served while Redis is away.
        assert receive(alice, "message")["content"] == "during the outage"
        redis_server.start()
        deadline = time.monotonic() + 3 * WAIT
        while True:  # until both processes have resubscribed
            say(alice, "after")
            assert receive(alice, "message")["content"] == "after"  # never lost locally
            try:
                frame = json.loads(bob.recv(timeout=0.5))
                break
            except TimeoutError:
                assert time.monotonic() < deadline, "delivery across processes did not resume"
        assert (frame["type"], frame["content"]) == ("message", "after")
        for server in (a, b):
            assert "Traceback" not in server.log.read_text()
            with server.get("/metrics") as response:
                assert re.search(rb"^azu_ws_broker_reconnects_total [1-9]", response.read(), re.M)


def test_sockets_joining_and_leaving_while_redis_restarts_are_never_failed(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """Every join and leave races the broker's reconnection: none may end in 1011."""
    unlimited = {"WS_CONNECT_RATE": "100000", "WS_CONNECT_BURST": "10000"}
    unlimited |= {"WS_CONNECT_RATE_PER_ADDRESS": "100000", "WS_CONNECT_BURST_PER_ADDRESS": "10000"}
    with two_uvicorns(
        tmp_path, SECRET, BROKER_URL=redis_server.url, command=SERVE, **unlimited
    ) as (a, b):
        stop = threading.Event()
        failures: list[str] = []

        def come_and_go(user: str) -> None:
            while not stop.is_set():
                try:
                    with a.connect(PROBE, user) as ws:
                        receive(ws, "connected")
                except Exception as exc:  # every failure is the test's
                    failures.append(f"{user}: {exc!r}")

        users = [threading.Thread(target=come_and_go, args=(f"u{n}",)) for n in range(3)]
        for thread in users:
            thread.start()
        try:
            for _ in range(12):
                redis_server.stop()
                time.sleep(0.05)
                redis_server.start()
                time.sleep(0.3)
        finally:
            stop.set()
            for thread in users:
                thread.join()
        assert failures == []
        # The broker is whole again: delivery across processes resumes.
        with a.connect(PROBE, "alice") as alice, b.connect(PROBE, "bob") as bob:
            receive(alice, "connected")
            receive(bob, "connected")
            deadline = time.monotonic() + 3 * WAIT
            while True:
                say(alice, "after the storm")
                try:
                    frame = json.loads(bob.recv(timeout=0.5))
                    break
                except TimeoutError:
                    assert time.monotonic() < deadline, "delivery across processes did not resume"
            assert frame["content"] == "after the storm"
        log = a.log.read_text()
        assert "Traceback" not in log, log[log.find("Traceback") - 500 :][:4000]


@pytest.mark.parametrize(
    ("argv", "environ", "workers"),
    [
        (["uvicorn", "app:app"], {}, 1),
        (["uvicorn", "app:app", "--workers", "4"], {}, 4),
        (["python", "-m", "app", "serve", "--workers=3"], {}, 3),
        (["uvicorn", "app:app"], {"WEB_CONCURRENCY": "2"}, 2),
        (["uvicorn", "app:app", "--workers", "many"], {}, 1),
    ],
)
def test_the_worker_count_is_read_as_uvicorn_reads_it(
    argv: list[str], environ: dict[str, str], workers: int
) -> None:
    assert worker_count(argv, environ) == workers


def test_several_workers_on_the_memory_broker_log_a_loud_warning(tmp_path: Path) -> None:
    with uvicorn(tmp_path, SECRET, command=(*SERVE[:-1], "--workers", "2", "--port")) as server:
        log = server.log.read_text()
        deadline = time.monotonic() + WAIT
        while log.count("each worker is its own island") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
            log = server.log.read_text()
        assert log.count("2 workers with BROKER_URL=memory://") == 2  # one per worker


def test_disconnecting_a_user_closes_their_sockets_on_every_process(
    two_processes: tuple[Server, Server],
) -> None:
    a, b = two_processes
    with (
        a.connect(PROBE, "bob") as phone,
        b.connect(PROBE, "bob") as laptop,
        b.connect(PROBE, "alice") as alice,
    ):
        for ws in (phone, laptop, alice):
            receive(ws, "connected")
        answer = a.post("/api/users/bob/disconnect", {"reason": "banned"}, scope="users:revoke")
        assert answer == {"user_id": "bob", "sockets": 1}  # the one on this process
        for ws in (phone, laptop):
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=WAIT)
            assert closed.value.rcvd is not None
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4403, "banned")
        alice.send(json.dumps({"type": "ping"}))
        receive(alice, "pong")


def test_a_users_rate_limit_holds_across_processes_and_reconnects(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    with two_uvicorns(
        tmp_path,
        SECRET,
        BROKER_URL=redis_server.url,
        WS_RATE_LIMIT="0.001",
        WS_RATE_BURST="6",
        command=SERVE,
    ) as (a, b):
        with a.connect(PROBE, "alice") as on_a:
            receive(on_a, "connected")
            for _ in range(4):
                on_a.send(json.dumps({"type": "ping"}))
                receive(on_a, "pong")
        with b.connect(PROBE, "alice") as on_b:
            receive(on_b, "connected")
            for _ in range(2):
                on_b.send(json.dumps({"type": "ping"}))
                receive(on_b, "pong")
            on_b.send(json.dumps({"type": "ping"}))
            assert receive(on_b, "error")["code"] == "rate_limited"
        with a.connect(PROBE, "alice") as again, b.connect(PROBE, "bob") as bob:
            receive(again, "connected")
            again.send(json.dumps({"type": "ping"}))
            assert receive(again, "error")["code"] == "rate_limited"
            receive(bob, "connected")
            bob.send(json.dumps({"type": "ping"}))
            receive(bob, "pong")


async def lease_scenario(url: str) -> tuple[list[bool], int]:
    """Ten frames of one user at once, on one process, with a burst of 20 (leases of 2)."""
    limit = SharedLimit(url, per_minute=0.001, burst=20)
    try:
        allowed = await asyncio.gather(*(limit.take("alice") for _ in range(10)))
        later = [await limit.take("alice") for _ in range(20)]
    finally:
        await limit.close()
    return [*allowed, *later], sum(allowed) + sum(later)


def test_concurrent_frames_share_their_leases_and_the_burst_is_never_passed(
    redis_server: RedisServer,
) -> None:
    outcomes, allowed = asyncio.run(lease_scenario(redis_server.url))
    # Every token Redis handed out was spent: 20 allowed, then only refusals.
    assert allowed == 20
    assert outcomes[-10:] == [False] * 10


async def failing_scenario(url: str) -> tuple[list[bool], float]:
    limit = SharedLimit(url, per_minute=0.001, burst=3)
    try:
        started = time.monotonic()
        outcomes = [await limit.take("alice") for _ in range(5)]
        return outcomes, time.monotonic() - started
    finally:
        await limit.close()


def test_while_redis_fails_the_limit_is_the_process_s_own_and_redis_is_not_asked_each_frame(
    redis_server: RedisServer,
) -> None:
    client = redis.Redis.from_url(redis_server.url)
    client.config_set("maxmemory", "1")  # every write refused: OOM
    client.config_set("maxmemory-policy", "noeviction")
    outcomes, _ = asyncio.run(failing_scenario(redis_server.url))
    client.config_set("maxmemory", "0")
    assert outcomes == [True, True, True, False, False]  # the local limit, burst 3
    stats = client.info("commandstats")
    asked = sum(
        stats.get(f"cmdstat_{name}", {}).get(kind, 0)
        for name in ("eval", "evalsha")
        for kind in ("calls", "rejected_calls")
    )
    assert asked <= 2  # asked once (a script that is not loaded yet may take two)
