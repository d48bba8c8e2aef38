"""Scale-out over a real Redis: two app processes, one conversation, and Redis restarted mid-run."""

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from {{ cookiecutter.package_name }}.services import worker_count

from .e2e import PROBE_APP, WAIT, Server, receive, two_uvicorns, uvicorn
from .probe import PROBE
from .redis_server import RedisServer

SECRET = "a-secret-only-for-the-redis-tests-0123456789"


@pytest.fixture
def two_processes(tmp_path: Path, redis_server: RedisServer) -> Iterator[tuple[Server, Server]]:
    database = f"sqlite:///{tmp_path}/shared.db"
    with two_uvicorns(
        tmp_path, SECRET, BROKER_URL=redis_server.url, DATABASE_URL=database
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
    with uvicorn(tmp_path, SECRET, command=(*PROBE_APP[:-1], "--workers", "2", "--port")) as server:
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
        tmp_path, SECRET, BROKER_URL=redis_server.url, WS_RATE_LIMIT="0.001", WS_RATE_BURST="6"
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
