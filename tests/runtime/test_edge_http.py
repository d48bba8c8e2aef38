"""The HTTP edge under `serve`, with raw sockets: request lines, headers, trailers and bodies
bounded before the app reads them, bodies that must arrive in time, connections capped per
address and while they speak HTTP, refusals logged sparsely, the API's token checked before
its body and its callers' rate limited."""

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, closing, suppress
from pathlib import Path
from typing import Any

import pytest
import uvicorn.config as uvicorn_config
from azu_ws import http_edge
from azu_ws.http_edge import MAX_URL_BYTES, EdgeLimits, configure_edge
from azu_ws.log_filters import FAULTS_BURST, FAULTS_PER_SECOND
from azu_ws.settings import RuntimeSettings
from azu_ws.testing import WAIT, Server, uvicorn, wait_for_log
from uvicorn.server import ServerState

from .bench import PACKAGE, SERVE

SECRET = "a-secret-only-for-the-http-edge-tests-0123"
PER_ADDRESS = 8
EDGE = {
    "HTTP_BODY_TIMEOUT": "1",
    "HTTP_MAX_CONNECTIONS_PER_ADDRESS": str(PER_ADDRESS),
    "API_RATE_LIMIT": "60",
    "API_RATE_BURST": "5",
    "SHUTDOWN_TIMEOUT": "2",
}
NOTIFY_BOB = "/api/notifications/bob"
MB = 1024 * 1024
CHUNK = b"%x\r\n%s\r\n" % (65536, b" " * 65536)  # of a chunked body


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with uvicorn(tmp_path_factory.mktemp("edge"), SECRET, command=SERVE, **EDGE) as served:
        yield served


def opened(server: Server, source: str = "127.0.0.1") -> socket.socket:
    """A raw connection to the server, from the loopback address `source`."""
    raw = socket.socket()
    raw.settimeout(WAIT)
    raw.bind((source, 0))
    raw.connect(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
    return raw


def response(raw: socket.socket, limit: int = 64 * 1024) -> tuple[int, bytes]:
    """The status and the bytes of the reply on `raw`, up to the close (or `limit`)."""
    received = b""
    try:
        while len(received) < limit and (chunk := raw.recv(65536)):
            received += chunk
            head, _, body = received.partition(b"\r\n\r\n")
            length = [line for line in head.split(b"\r\n") if line.startswith(b"content-length")]
            if length and len(body) >= int(length[0].split(b":")[1]):
                break
    except ConnectionResetError:
        pass  # what came before the reset is the reply
    assert received.startswith(b"HTTP/1.1 "), received[:200]
    return int(received.split(b" ", 2)[1]), received


def stream(raw: socket.socket, total: int, piece: bytes = b"x" * 65536) -> int:
    """Send up to `total` bytes of `piece`s until the server stops taking them."""
    sent = 0
    raw.settimeout(1)
    try:
        while sent < total:
            raw.sendall(piece)
            sent += len(piece)
    except OSError:
        pass  # refused: reset, closed, or no longer read
    return sent


def post_head(path: str, *, token: str | None, length: int | None) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: test", "Content-Type: application/json"]
    framing = "Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}"
    lines.append(framing)
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def still_serving(server: Server, source: str = "127.0.0.1") -> None:
    """/healthz answers 200 from `source`, within WAIT: the server may not yet have seen
    the client's closes that made room for it (a loaded machine takes its time)."""
    deadline = time.monotonic() + WAIT
    while True:
        try:
            with closing(opened(server, source)) as raw:
                raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
                assert response(raw)[0] == 200
                return
        except (OSError, AssertionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def log_lines_after(server: Server, count: int) -> list[str]:
    return server.log.read_text().splitlines()[count:]


def bytes_read(server: Server) -> int:
    """What the server process has read so far, sockets included (Linux: `rchar`)."""
    (line,) = [line for line in read_proc(server, "io") if line.startswith("rchar:")]
    return int(line.split()[1])


def read_proc(server: Server, name: str) -> list[str]:
    return Path(f"/proc/{server.pid}/{name}").read_text().splitlines()


def test_a_url_streamed_past_its_limit_gets_414_and_is_held_no_further(server: Server) -> None:
    before, read_before = server.memory(), bytes_read(server)
    with closing(opened(server)) as raw:
        raw.sendall(b"GET /ws/chat?x=")
        sent = 0
        while sent <= MAX_URL_BYTES:
            raw.sendall(b"a" * 4096)
            sent += 4096
        # Nothing more is needed for the refusal; 20 MB more are neither read nor kept.
        status, _ = response(raw)
        assert status == 414
        assert sent <= 64 * 1024
        stream(raw, 20 * MB)
    assert bytes_read(server) - read_before <= 64 * 1024
    assert server.memory() - before < 10 * MB
    still_serving(server)


def test_a_giant_header_gets_431(server: Server) -> None:
    with closing(opened(server)) as raw:
        raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Big: " + b"v" * 200_000)
        assert response(raw)[0] == 431
    with closing(opened(server)) as raw:
        headers = b"".join(b"X-Many-%d: %s\r\n" % (n, b"v" * 100) for n in range(1000))
        raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n" + headers + b"\r\n")
        assert response(raw)[0] == 431
    still_serving(server)


@pytest.mark.parametrize("length", [100 * MB, None], ids=["content-length", "chunked"])
def test_a_100_mb_tokenless_body_is_refused_unread(server: Server, length: int | None) -> None:
    before = server.memory()
    with closing(opened(server)) as raw:
        raw.sendall(post_head(NOTIFY_BOB, token=None, length=length))
        piece = b"x" * 65536 if length else CHUNK
        sending = threading.Thread(target=stream, args=(raw, 100 * MB, piece))
        sending.start()
        status, _ = response(raw)
        sending.join(timeout=30)
        assert status in (401, 413)
    assert server.memory() - before < 10 * MB
    still_serving(server)


def test_a_body_over_the_size_limit_gets_413_though_the_token_is_valid(server: Server) -> None:
    token = server.token("sender-413", scope="notifications:send")
    with closing(opened(server)) as raw:
        raw.sendall(post_head(NOTIFY_BOB, token=token, length=10 * MB))
        status, reply = response(raw)
        assert status == 413
        assert len(reply) < 4096


def test_a_chunked_body_past_the_size_limit_gets_413(server: Server) -> None:
    token = server.token("sender-chunked", scope="notifications:send")
    with closing(opened(server)) as raw:
        raw.sendall(post_head(NOTIFY_BOB, token=token, length=None))
        sending = threading.Thread(target=stream, args=(raw, 10 * MB, CHUNK))
        sending.start()
        status, reply = response(raw)
        sending.join(timeout=30)
        assert status == 413
        assert len(reply) < 4096


def test_a_bad_body_just_under_the_limit_gets_a_short_422(server: Server) -> None:
    fields = ",".join(f'"field{n}":"{"x" * 8}"' for n in range(42_000))
    body = ('{"payload": {},' + fields + "}").encode()
    assert len(body) < MB
    token = server.token("sender-422", scope="notifications:send")
    with closing(opened(server)) as raw:
        raw.sendall(post_head(NOTIFY_BOB, token=token, length=len(body)) + body)
        status, reply = response(raw, limit=20 * MB)
        assert status == 422
        assert len(reply) < 4096
        detail = json.loads(reply.partition(b"\r\n\r\n")[2])
        assert detail["error_count"] == 42_000


def test_a_slow_body_is_cut_off_after_its_deadline(server: Server) -> None:
    token = server.token("sender-slow", scope="notifications:send")
    with closing(opened(server)) as raw:
        raw.sendall(post_head(NOTIFY_BOB, token=token, length=1000) + b'{"payload"')
        assert response(raw)[0] == 408  # HTTP_BODY_TIMEOUT: 1 s
    still_serving(server)


def test_past_the_per_address_cap_new_connections_are_closed_while_others_are_served(
    server: Server,
) -> None:
    with ExitStack() as held:
        # Not 127.0.0.1: as a trusted proxy's address (FORWARDED_ALLOW_IPS), it has no cap.
        # Accepted in the order they connected: the last one is counted after these.
        for _ in range(PER_ADDRESS):
            held.enter_context(closing(opened(server, "127.0.0.3"))).sendall(b"GET /heal")
        with closing(opened(server, "127.0.0.3")) as refused:
            refused.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
            with suppress(ConnectionResetError):  # closed at once: no reply
                assert refused.recv(1024) == b""
        with closing(opened(server, source="127.0.0.2")) as other:
            other.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            assert response(other)[0] == 200
    log = wait_for_log(server, "HTTP_MAX_CONNECTIONS_PER_ADDRESS")
    assert "HTTP refused 127.0.0.3 with a close (8 open: HTTP_MAX_CONNECTIONS_PER_ADDRESS)" in log
    still_serving(server, "127.0.0.3")  # the held ones are closed: their address is served again


def test_a_burst_over_the_api_rate_gets_429_and_another_caller_is_served(server: Server) -> None:
    token = server.token("greedy")
    for _ in range(30):  # API_RATE_BURST: 5, then one a second (API_RATE_LIMIT: 60)
        with closing(opened(server)) as raw:
            raw.sendall(post_head("/api/notifications", token=token, length=2) + b"{}")
            status, reply = response(raw)
        if status == 429:
            break
    assert status == 429
    assert b"\r\nretry-after: 1\r\n" in reply.lower()
    token = server.token("patient", scope="notifications:send")
    with closing(opened(server)) as raw:
        raw.sendall(post_head("/api/notifications", token=token, length=14) + b'{"payload":{}}')
        assert response(raw)[0] == 202


def test_sigterm_with_slow_bodies_open_logs_no_traceback(tmp_path: Path) -> None:
    with uvicorn(tmp_path, SECRET, command=SERVE, SHUTDOWN_TIMEOUT="1") as server:
        token = server.token("sender", scope="notifications:send")
        with ExitStack() as held:
            for _ in range(5):
                raw = held.enter_context(closing(opened(server)))
                raw.sendall(post_head(NOTIFY_BOB, token=token, length=1000) + b'{"pay')
            time.sleep(0.3)  # each request's app task waits for its body
            assert server.stop()
    log = server.log.read_text()
    assert "Traceback" not in log
    assert "ERROR" not in log


def test_under_a_low_open_file_limit_the_connection_cap_refuses_in_a_few_lines_and_recovers(
    tmp_path: Path,
) -> None:
    # `serve` under a hard limit of 160 open files, as a small container might set: the cap
    # (96, 64 below the limit) refuses connections before the process runs out of files.
    limited = "import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (160, 160))"
    limited += f"; sys.argv[0] = {PACKAGE!r}; runpy.run_module({PACKAGE!r}, run_name='__main__')"
    command = ("-c", limited, *SERVE[2:])
    with uvicorn(tmp_path, SECRET, command=command) as server, ExitStack() as held:
        lines_before = len(server.log.read_text().splitlines())
        started = time.monotonic()
        for number in range(200):
            source = f"127.0.0.{4 + number % 4}"  # under the per-address cap
            held.enter_context(closing(opened(server, source))).sendall(b"GET /heal")
        wait_for_log(server, "or the open file limit less 64)")
        elapsed = time.monotonic() - started
        refusals = [line for line in log_lines_after(server, lines_before) if "refused" in line]
        assert 1 <= len(refusals) <= FAULTS_BURST + FAULTS_PER_SECOND * elapsed + 2
        assert "WARNING" in refusals[0]
        assert "Out of file descriptors" not in server.log.read_text()
        held.close()
        still_serving(server)


def chunked_head(path: str, *, token: str | None = None) -> bytes:
    lines = [f"{path} HTTP/1.1", "Host: test", "Transfer-Encoding: chunked"]
    if token is not None:
        lines += ["Content-Type: application/json", f"Authorization: Bearer {token}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_a_trailer_streamed_after_a_chunked_body_gets_431_and_is_held_no_further(
    server: Server,
) -> None:
    # The app waits for the end of the body, which a trailer without end never brings.
    token = server.token("sender-trailer", scope="notifications:send")
    body = b'{"payload":{}}'
    before, read_before = server.memory(), bytes_read(server)
    with closing(opened(server)) as raw:
        raw.sendall(chunked_head(f"POST {NOTIFY_BOB}", token=token))
        raw.sendall(b"%x\r\n%s\r\n0\r\nX-Trailer: " % (len(body), body))
        sending = threading.Thread(target=stream, args=(raw, 50 * MB, b"a" * 65536))
        sending.start()
        status, reply = response(raw)
        sending.join(timeout=30)
    assert status == 431
    assert len(reply) < 4096
    assert bytes_read(server) - read_before < 4 * MB
    assert server.memory() - before < 10 * MB
    still_serving(server)


def test_a_get_answered_before_its_chunked_body_ends_closes_rather_than_reading_on(
    server: Server,
) -> None:
    before, read_before = server.memory(), bytes_read(server)
    with closing(opened(server, "127.0.0.2")) as raw:
        raw.sendall(chunked_head("GET /healthz"))
        sending = threading.Thread(target=stream, args=(raw, 50 * MB, CHUNK))
        sending.start()
        status, reply = response(raw)
        sending.join(timeout=30)
        with suppress(ConnectionResetError):
            assert raw.recv(65536) == b""  # closed after the reply, not kept alive
    assert status == 200
    assert b"\r\nconnection: close\r\n" in reply.lower()
    assert bytes_read(server) - read_before < 4 * MB
    assert server.memory() - before < 10 * MB


def test_a_kept_alive_get_without_a_body_is_still_kept_alive(server: Server) -> None:
    with closing(opened(server)) as raw:
        for _ in range(3):
            raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
            status, reply = response(raw)
            assert status == 200
            assert b"connection: close" not in reply.lower()


def test_many_431s_log_a_few_lines_naming_the_limit_and_the_address(server: Server) -> None:
    # From 127.0.0.1, which has no per-address cap: each refused one lingers for a second.
    lines_before = len(server.log.read_text().splitlines())
    started = time.monotonic()
    for _ in range(100):
        with closing(opened(server)) as raw:
            raw.sendall(b"GET /healthz HTTP/1.1\r\nX-Big: " + b"v" * 40_000 + b"\r\n\r\n")
            assert response(raw)[0] == 431
    time.sleep(1 / FAULTS_PER_SECOND + 0.1)  # the log's bucket has a token again
    with closing(opened(server)) as raw:
        raw.sendall(b"GET /healthz HTTP/1.1\r\nX-Big: " + b"v" * 40_000 + b"\r\n\r\n")
        assert response(raw)[0] == 431
    wait_for_log(server, "more HTTP refusals not logged")
    elapsed = time.monotonic() - started
    lines = [line for line in log_lines_after(server, lines_before) if "HTTP refused" in line]
    assert 1 <= len(lines) <= FAULTS_BURST + FAULTS_PER_SECOND * elapsed + 2
    assert "HTTP refused 127.0.0.1 with 431 (headers over 32 KiB)" in lines[-1]


def test_connections_speaking_http_are_capped_on_their_own(tmp_path: Path) -> None:
    with uvicorn(tmp_path, SECRET, command=SERVE, HTTP_MAX_CONNECTIONS="4") as server:
        with ExitStack() as held:
            # Two addresses, two each: under the per-address cap (64), at HTTP_MAX_CONNECTIONS.
            for source in ("127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3"):
                held.enter_context(closing(opened(server, source))).sendall(b"GET /heal")
            with closing(opened(server, "127.0.0.3")) as refused:
                refused.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
                with suppress(ConnectionResetError):  # closed at once: no reply
                    assert refused.recv(1024) == b""
        log = wait_for_log(server, "HTTP_MAX_CONNECTIONS)")
        assert "HTTP refused 127.0.0.3 with a close (4 open: HTTP_MAX_CONNECTIONS)" in log
        still_serving(server, "127.0.0.2")


def edge_limits(**settings: Any) -> EdgeLimits:
    """The limits HttpEdge applies in a process whose settings are `settings`."""
    try:
        configure_edge(RuntimeSettings(_env_file=None, jwt_secret=SECRET, **settings))
        return http_edge._limits
    finally:
        configure_edge(RuntimeSettings(_env_file=None, jwt_secret=SECRET))


def test_the_edge_trusts_as_a_proxy_exactly_what_uvicorn_trusts() -> None:
    limits = edge_limits(forwarded_allow_ips="127.0.0.1,::1,10.0.0.0/8")
    assert limits.is_trusted("127.0.0.1")
    assert limits.is_trusted("10.1.2.3")
    # uvicorn takes no X-Forwarded-For from these: the edge must not exempt them either.
    assert not limits.is_trusted("::ffff:127.0.0.1")
    assert not limits.is_trusted("::ffff:10.1.2.3")
    assert not limits.is_trusted("192.0.2.1")
    assert edge_limits(forwarded_allow_ips="*").is_trusted("192.0.2.1")
    assert not edge_limits(forwarded_allow_ips="*", proxy_headers=False).is_trusted("127.0.0.1")


class FailingUpgrade(asyncio.Protocol):
    """A websocket protocol whose handshake fails, once the transport is its."""

    def __init__(self, **_: Any) -> None:
        pass

    def data_received(self, data: bytes) -> None:
        raise RuntimeError("the upgrade failed")


class FakeTransport(asyncio.Transport):
    def __init__(self, peer: tuple[str, int]) -> None:
        super().__init__()
        self.peer = peer
        self.protocol: asyncio.BaseProtocol | None = None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": self.peer}.get(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        assert self.protocol is not None
        return self.protocol

    def is_closing(self) -> bool:
        return False


async def empty_app(scope: Any, receive: Any, send: Any) -> None:
    pass


def test_an_upgrade_that_fails_leaves_its_address_uncounted() -> None:
    config = uvicorn_config.Config(empty_app, ws=FailingUpgrade, log_config=None, lifespan="off")
    loop = asyncio.new_event_loop()
    try:
        edge = http_edge.HttpEdge(config, ServerState(), {}, _loop=loop)
        transport = FakeTransport(("192.0.2.7", 40000))
        transport.set_protocol(edge)
        edge.connection_made(transport)
        assert http_edge._open_per_address.get("192.0.2.7") == 1
        handshake = (
            b"GET /ws/chat HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        with pytest.raises(RuntimeError, match="the upgrade failed"):
            edge.data_received(handshake)
        # connection_lost now goes to the websocket's protocol, not to the edge.
        assert transport.get_protocol() is not edge
        assert "192.0.2.7" not in http_edge._open_per_address
    finally:
        loop.close()
