"""GET /metrics: what happened, in Prometheus's format, with labels no client can multiply."""

import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from azu_ws.testing import WAIT, Connect, Server, health, receive, receive_type, uvicorn
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect

from .bench import SERVE, TokenFor
from .testapp.channels import PROBE

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return samples(response.text)


def value(scraped: Samples, name: str, **labels: str) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


def changes(before: Samples, after: Samples) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The app's samples that moved between two scrapes, and by how much."""
    return {
        key: after[key] - before.get(key, 0.0)
        for key in after
        if key[0].startswith("azu_")
        and not key[0].endswith("_created")
        and after[key] != before.get(key, 0.0)
    }


def test_a_session_is_counted_as_it_happens(client: TestClient, connect: Connect) -> None:
    before = scrape(client)
    with connect(PROBE, user="alice") as alice:
        receive_type(alice, "connected")
        assert value(scrape(client), "azu_ws_connections_open", channel=PROBE) == (
            value(before, "azu_ws_connections_open", channel=PROBE) + 1
        )
        alice.send_json({"type": "ping"})
        receive_type(alice, "pong")
        alice.send_text('{"type": "dance"}')
        receive_type(alice, "error")
        alice.send_bytes(b"\x01\x02")
    after = scrape(client)
    moved = changes(before, after)
    for name, labels in [
        ("azu_ws_messages_received_total", {"channel": PROBE, "type": "ping"}),
        ("azu_ws_messages_received_total", {"channel": PROBE, "type": "invalid"}),
        ("azu_ws_messages_received_total", {"channel": PROBE, "type": "binary"}),
        ("azu_ws_messages_sent_total", {"channel": PROBE, "type": "connected"}),
        ("azu_ws_messages_sent_total", {"channel": PROBE, "type": "pong"}),
        ("azu_ws_messages_sent_total", {"channel": PROBE, "type": "binary"}),
        ("azu_ws_messages_sent_total", {"channel": PROBE, "type": "error"}),
        ("azu_ws_errors_total", {"channel": PROBE, "code": "unknown_type"}),
        ("azu_ws_closes_total", {"channel": PROBE, "code": "1000"}),
        # The TestClient offers no transport: frames go one ASGI send each.
        ("azu_ws_connections_total", {"wire": "asgi"}),
    ]:
        assert moved.pop((name, frozenset(labels.items())), None) == 1, (name, labels)
    # connected, pong and the error: her binary frame went to the others (none)
    delivered = moved.pop(("azu_ws_frames_delivered_total", frozenset({("channel", PROBE)})))
    assert delivered == 3
    assert moved == {}  # and nothing else moved
    assert value(after, "azu_ws_connections_open", channel=PROBE) == value(
        before, "azu_ws_connections_open", channel=PROBE
    )


def test_refusals_are_counted_by_reason(client: TestClient, token_for: TokenFor) -> None:
    before = scrape(client)
    attempts = [
        {},  # no token
        {"authorization": "Bearer not-a-token"},
        {"authorization": f"Bearer {token_for('eve')}", "origin": "https://evil.example"},
    ]
    for headers in attempts:
        with (
            pytest.raises((WebSocketDisconnect, WebSocketDenialResponse)),  # the origin: 403
            client.websocket_connect(PROBE, headers=headers) as ws,
        ):
            ws.receive_json()
    moved = changes(before, scrape(client))
    refusals = "azu_ws_handshake_refusals_total"
    assert moved.pop((refusals, frozenset({("channel", PROBE), ("reason", "token")}))) == 2
    assert moved.pop((refusals, frozenset({("channel", PROBE), ("reason", "origin")}))) == 1
    assert moved == {}  # a refused handshake never counts as a connection


@pytest.mark.settings(ws_rate_limit=1, ws_rate_burst=1)
def test_rate_limited_frames_are_counted(client: TestClient, connect: Connect) -> None:
    before = scrape(client)
    with connect(PROBE, user="alice") as alice:
        receive_type(alice, "connected")
        alice.send_json({"type": "ping"})
        receive_type(alice, "pong")
        alice.send_json({"type": "ping"})
        assert receive_type(alice, "error")["code"] == "rate_limited"
    after = scrape(client)
    assert value(after, "azu_ws_rate_limited_total", channel=PROBE) == (
        value(before, "azu_ws_rate_limited_total", channel=PROBE) + 1
    )


def test_a_client_close_code_outside_the_protocol_is_labelled_other(
    client: TestClient, connect: Connect
) -> None:
    before = scrape(client)
    for code in (4999, 4123, 3000):
        with connect(PROBE, user="mallory") as ws:
            receive_type(ws, "connected")
            ws.close(code)
    deadline = time.monotonic() + WAIT
    while (moved := changes(before, scrape(client))) == {} and time.monotonic() < deadline:
        time.sleep(0.05)
    closes = {dict(labels)["code"] for (name, labels) in moved if name == "azu_ws_closes_total"}
    assert closes == {"other"}


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[Server]:
    command = (*SERVE[:-1], "--workers", "2", "--port")
    with uvicorn(tmp_path, "a-secret-only-for-the-metrics-tests-0123456", command=command) as s:
        yield s


def test_with_two_workers_metrics_add_up_whichever_worker_answers(two_workers: Server) -> None:
    server = two_workers

    def open_connections() -> set[float]:
        """What several scrapes say, each answered by one worker or the other."""
        answers = set()
        for _ in range(8):
            with server.get("/metrics") as response:
                scraped = samples(response.read().decode())
            answers.add(value(scraped, "azu_ws_connections_open", channel=PROBE))
        return answers

    with ExitStack() as sockets:
        for number in range(6):
            receive(sockets.enter_context(server.connect(PROBE, f"user{number}")), "connected")
        # /healthz counts the answering worker's own: one that has fewer than
        # six shows that the sum below is not one worker's count.
        deadline, fewer = time.monotonic() + WAIT, False
        while not fewer and time.monotonic() < deadline:
            fewer = health(server)["connections"] < 6
        assert fewer, "every /healthz came from a worker holding all six sockets"
        assert open_connections() == {6.0}
    deadline = time.monotonic() + WAIT
    while open_connections() != {0.0} and time.monotonic() < deadline:
        time.sleep(0.1)
    assert open_connections() == {0.0}
