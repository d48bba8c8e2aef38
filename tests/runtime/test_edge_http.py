"""The HTTP edge under `serve`, with raw sockets: request lines, headers and bodies bounded
before the app reads them, bodies that must arrive in time, connections capped per address,
the API's token checked before its body and its callers' rate limited."""

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, closing, suppress
from pathlib import Path

import pytest
from azu_ws.http_edge import MAX_URL_BYTES
from azu_ws.testing import WAIT, Server, uvicorn, wait_for_log

from .probe import PACKAGE, PROBE_APP

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
    with uvicorn(tmp_path_factory.mktemp("edge"), SECRET, command=PROBE_APP, **EDGE) as served:
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


def still_serving(server: Server) -> None:
    with closing(opened(server)) as raw:
        raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        assert response(raw)[0] == 200


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
        for _ in range(PER_ADDRESS):
            held.enter_context(closing(opened(server, "127.0.0.3"))).sendall(b"GET /heal")
        time.sleep(0.2)  # accepted and counted
        with closing(opened(server, "127.0.0.3")) as refused:
            refused.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
            with suppress(ConnectionResetError):  # closed at once: no reply
                assert refused.recv(1024) == b""
        with closing(opened(server, source="127.0.0.2")) as other:
            other.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            assert response(other)[0] == 200
    log = wait_for_log(server, "HTTP_MAX_CONNECTIONS_PER_ADDRESS")
    assert "Refused a connection from 127.0.0.3" in log
    time.sleep(0.2)  # the held ones are closed: their address is served again
    with closing(opened(server, "127.0.0.3")) as again:
        again.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        assert response(again)[0] == 200


def test_a_burst_over_the_api_rate_gets_429_and_another_caller_is_served(server: Server) -> None:
    statuses = []
    for _ in range(8):  # API_RATE_BURST: 5
        with closing(opened(server)) as raw:
            raw.sendall(post_head("/api/notifications", token=server.token("greedy"), length=2))
            raw.sendall(b"{}")
            status, reply = response(raw)
            statuses.append(status)
    assert 429 in statuses
    assert b"retry-after: 1" in reply.lower()
    token = server.token("patient", scope="notifications:send")
    with closing(opened(server)) as raw:
        raw.sendall(post_head("/api/notifications", token=token, length=14) + b'{"payload":{}}')
        assert response(raw)[0] == 202


def test_sigterm_with_slow_bodies_open_logs_no_traceback(tmp_path: Path) -> None:
    with uvicorn(tmp_path, SECRET, command=PROBE_APP, SHUTDOWN_TIMEOUT="1") as server:
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


def test_out_of_file_descriptors_is_one_warning_and_the_server_recovers(tmp_path: Path) -> None:
    # `serve` under a hard limit of 160 open files, as a small container might set.
    limited = "import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (160, 160))"
    limited += f"; sys.argv[0] = {PACKAGE!r}; runpy.run_module({PACKAGE!r}, run_name='__main__')"
    command = ("-c", limited, *PROBE_APP[2:])
    with uvicorn(tmp_path, SECRET, command=command) as server, ExitStack() as held:
        for number in range(200):
            source = f"127.0.0.{4 + number % 4}"  # under the per-address cap
            held.enter_context(closing(opened(server, source))).sendall(b"GET /heal")
        time.sleep(0.5)
        log = wait_for_log(server, "the open file limit")
        assert log.count("Refused a connection: ") == 1  # once per 10 s, however many
        held.close()
        time.sleep(0.5)
        still_serving(server)
