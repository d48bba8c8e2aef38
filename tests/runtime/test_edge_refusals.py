"""Refusals end: a refused handshake costs a few KiB and under a second, whatever the client
sends after it; open sockets are bounded per address; an IPv4 client is keyed as IPv4 even
through an IPv6 socket; refusals log one line each, a few a second at most."""

import contextlib
import os
import resource
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from azu_ws.admission import TOO_MANY_FROM_ADDRESS
from azu_ws.log_filters import FAULTS_BURST, FAULTS_PER_SECOND
from azu_ws.refusals import REFUSAL_GRACE_SECONDS, address_key
from azu_ws.testing import (
    WAIT,
    Server,
    client_frame,
    health,
    receive,
    uvicorn,
    wait_for_log,
)
from starlette.testclient import TestClient, WebSocketDenialResponse
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from .bench import SERVE, TEST_SECRET, TokenFor
from .testapp.channels import PROBE

# Enough attempts that every token-less handshake reaches the token check.
ANY_NUMBER_OF_ATTEMPTS = {
    "WS_CONNECT_RATE_PER_ADDRESS": "1000000",
    "WS_CONNECT_BURST_PER_ADDRESS": "100000",
}
MIB = 1024 * 1024
ONE_REFUSED_FOR_ATTEMPTS = f'_refusals_total{{channel="{PROBE}",reason="attempts"}} 1.0'

# A binary frame that announces 1 MB (under WS_MAX_MESSAGE_SIZE) and stops one byte short.
UNFINISHED_FRAME = client_frame(0x2, b"\0" * 1_000_000)[:-1]


@contextlib.contextmanager
def tokenless(
    server: Server, *, answer: bool = True, forwarded_for: str | None = None
) -> Iterator[tuple[socket.socket, bytes]]:
    """A raw handshake without a token; the socket, held open until the block ends, and
    the head of the server's answer (unless `answer` is False). `forwarded_for`: the
    client's address as a proxy on 127.0.0.1 (trusted, as by default) forwards it."""
    port = int(server.url.rsplit(":", 1)[1])
    forwarded = f"X-Forwarded-For: {forwarded_for}\r\n" if forwarded_for else ""
    with socket.create_connection(("127.0.0.1", port), WAIT) as raw:
        raw.sendall(
            f"GET {PROBE} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Version: 13\r\n{forwarded}\r\n".encode()
        )
        head = b""
        while answer and b"\r\n\r\n" not in head and (chunk := raw.recv(65536)):
            head += chunk
        yield raw, head


@contextlib.contextmanager
def room_for_sockets(count: int) -> Iterator[None]:
    """Let this process open `count` more sockets until the block ends: its soft open file
    limit (often 1,024) raised toward its hard one. Where the hard limit is too low the
    test skips, saying so; under CI=true it fails instead, since a skipped test is not a
    passed one."""
    needed = len(os.listdir("/proc/self/fd")) + count + 64  # and room for the test's own
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        yield
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        reason = f"the test opens {count} sockets; this process may open {hard} files"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must allow {needed} (ulimit -n)")
        pytest.skip(reason)
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def open_fds(server: Server) -> int:
    return len(os.listdir(f"/proc/{server.pid}/fd"))


def fds_settle(server: Server, at_most: int, within: float) -> int:
    """The server's open file descriptors once they are `at_most`, or after `within` seconds."""
    deadline = time.monotonic() + within
    while (count := open_fds(server)) > at_most and time.monotonic() < deadline:
        time.sleep(0.05)
    return count


def test_refused_sockets_holding_unfinished_frames_cost_little_and_are_gone_within_2_s(
    tmp_path: Path,
) -> None:
    with uvicorn(tmp_path, TEST_SECRET, command=SERVE, **ANY_NUMBER_OF_ATTEMPTS) as server:
        with (  # warm up the refusal's code paths
            connect(server.ws(PROBE), open_timeout=WAIT) as ws,
            pytest.raises(ConnectionClosed) as refused,
        ):
            ws.recv(timeout=WAIT)
        assert refused.value.rcvd is not None
        assert refused.value.rcvd.code == 4401  # the code is read, though the server hangs up
        time.sleep(REFUSAL_GRACE_SECONDS)  # that socket is gone, whatever its client does
        memory, fds = server.memory(), open_fds(server)
        with ExitStack() as held:
            for _ in range(500):
                raw, head = held.enter_context(tokenless(server))
                assert head.startswith(b"HTTP/1.1 101"), head
                with contextlib.suppress(OSError):  # the server hung up: what it should do
                    raw.sendall(UNFINISHED_FRAME)
            # Every client still holds its socket open: the server must not wait for them.
            grown = server.memory() - memory
            left = fds_settle(server, at_most=fds + 2, within=2.0)
            counts = health(server)
    assert grown < 50 * MIB  # it held 485 MB: every unfinished frame, for 10 s
    assert left <= fds + 2
    assert counts["connections"] == 0


def test_a_tokenless_flood_from_one_address_leaves_room_for_a_client_from_another(
    tmp_path: Path,
) -> None:
    with room_for_sockets(1_000), uvicorn(tmp_path, TEST_SECRET, command=SERVE) as server:
        # The 20,000 descriptors of the finding, scaled down with the flood.
        resource.prlimit(server.pid, resource.RLIMIT_NOFILE, (256, 256))
        fds = open_fds(server)
        with ExitStack() as held:
            for _ in range(1_000):  # as fast as it can, never reading, never closing
                held.enter_context(tokenless(server, answer=False))
            # The client holds every socket; the server holds none of them for long.
            assert fds_settle(server, at_most=fds + 2, within=2.0) <= fds + 2
            with connect(
                server.ws(PROBE),
                additional_headers={"Authorization": f"Bearer {server.token('alice')}"},
                source_address=("127.0.0.2", 0),
                open_timeout=WAIT,
            ) as alice:
                assert receive(alice, "connected")["user"] == "alice"


def test_two_thousand_refusals_log_a_few_lines_naming_the_limit_and_the_address(
    tmp_path: Path,
) -> None:
    # A handshake every 1,000 minutes after the burst: none is refilled while the test
    # runs, however slow the machine.
    with uvicorn(
        tmp_path, TEST_SECRET, command=SERVE, WS_CONNECT_RATE_PER_ADDRESS="0.001"
    ) as server:
        lines_before = len(server.log.read_text().splitlines())
        started = time.monotonic()
        answers: list[bytes] = []
        for _ in range(2_000):
            with tokenless(server) as (_, head):
                answers.append(head)
        time.sleep(1 / FAULTS_PER_SECOND + 0.1)  # the log's bucket has a token again
        with tokenless(server) as (_, last):
            pass
        log = wait_for_log(server, "more refusals not logged")  # the line after the last
        elapsed = time.monotonic() - started
        lines = log.splitlines()[lines_before:]
    assert len(lines) <= FAULTS_BURST + FAULTS_PER_SECOND * elapsed + 2
    assert f"{PROBE} refused 127.0.0.1 with 4401 (token): missing token" in lines[0]
    assert f"{PROBE} refused 127.0.0.1 with HTTP 429 (attempts): " in lines[-1]
    assert "more refusals not logged)" in lines[-1]
    assert not [line for line in lines if "WebSocket" in line or "connection open" in line]
    # WS_CONNECT_BURST_PER_ADDRESS of them reached the token check; the rest
    # were refused before the upgrade, told when to come back.
    statuses = [head.split(b" ", 2)[1] for head in [*answers, last]]
    assert statuses.count(b"101") == 200
    assert statuses.count(b"429") == 1_801
    assert b"\r\nretry-after: 60000\r\n" in last.lower()


@pytest.mark.settings(ws_max_connections_per_address=2)
def test_an_address_holding_its_share_of_sockets_is_refused_with_429_until_one_ends(
    client: TestClient, token_for: TokenFor
) -> None:
    def headers(user: str) -> dict[str, str]:
        return {"authorization": f"Bearer {token_for(user)}"}

    with (
        client.websocket_connect(PROBE, headers=headers("alice")),
        client.websocket_connect(PROBE, headers=headers("bob")) as bob,
    ):
        with (
            pytest.raises(WebSocketDenialResponse) as refused,
            client.websocket_connect(PROBE, headers=headers("carol")),
        ):
            pass
        assert (refused.value.status_code, refused.value.text) == (429, TOO_MANY_FROM_ADDRESS)
        assert int(refused.value.headers["retry-after"]) > 0
        other = TestClient(client.app, client=("192.0.2.9", 50000))
        with other, other.websocket_connect(PROBE, headers=headers("carol")) as carol:
            assert carol.receive_json()["type"] == "connected"
        bob.close()
        with client.websocket_connect(PROBE, headers=headers("dave")) as dave:
            assert dave.receive_json()["type"] == "connected"


def test_a_served_address_holding_its_share_of_sockets_is_refused_with_http_429_until_one_ends(
    tmp_path: Path,
) -> None:
    def from_address(host: str, user: str) -> ClientConnection:
        # Not 127.0.0.1: a trusted proxy by default, though its sockets are capped too.
        headers = {"Authorization": f"Bearer {server.token(user)}"}
        return connect(
            server.ws(PROBE),
            additional_headers=headers,
            source_address=(host, 0),
            open_timeout=WAIT,
        )

    capped = {"WS_MAX_CONNECTIONS_PER_ADDRESS": "2"}
    with (
        uvicorn(tmp_path, TEST_SECRET, command=SERVE, **capped) as server,
        from_address("127.0.0.2", "alice") as alice,
        from_address("127.0.0.2", "bob") as bob,
    ):
        receive(alice, "connected")
        receive(bob, "connected")
        with pytest.raises(InvalidStatus) as refused:
            from_address("127.0.0.2", "carol")
        response = refused.value.response
        assert (response.status_code, response.body) == (429, TOO_MANY_FROM_ADDRESS.encode())
        with from_address("127.0.0.3", "carol") as carol:
            assert receive(carol, "connected")["user"] == "carol"
        bob.close()
        deadline = time.monotonic() + WAIT
        while True:  # until the server has counted bob's socket out
            try:
                with from_address("127.0.0.2", "dave") as dave:
                    assert receive(dave, "connected")["user"] == "dave"
                    break
            except InvalidStatus:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


def test_an_ipv4_mapped_address_is_keyed_as_its_ipv4_address() -> None:
    assert address_key("::ffff:192.0.2.1") == address_key("192.0.2.1") == "192.0.2.1"
    assert address_key("::ffff:192.0.2.1") != address_key("::ffff:192.0.2.2")
    assert address_key("::ffff:c000:201") == "192.0.2.1"


def test_ipv4_clients_forwarded_as_ipv4_mapped_addresses_are_counted_apart(
    tmp_path: Path,
) -> None:
    # What a proxy that listens on IPv6 forwards for its IPv4 clients.
    limited = {"WS_CONNECT_RATE_PER_ADDRESS": "0.001", "WS_CONNECT_BURST_PER_ADDRESS": "5"}
    with uvicorn(tmp_path, TEST_SECRET, command=SERVE, **limited) as server:
        for _ in range(6):
            with tokenless(server, forwarded_for="::ffff:203.0.113.9"):
                pass
        with server.get("/metrics") as response:  # the sixth: over that client's burst
            assert ONE_REFUSED_FOR_ATTEMPTS in response.read().decode()
        headers = {
            "Authorization": f"Bearer {server.token('alice')}",
            "X-Forwarded-For": "::ffff:203.0.113.10",
        }
        with connect(server.ws(PROBE), additional_headers=headers, open_timeout=WAIT) as alice:
            assert receive(alice, "connected")["user"] == "alice"
        log = server.log.read_text()
    assert f"{PROBE} refused 203.0.113.9 with 4401 (token)" in log  # not as ::/64
