"""Tokens never reach the logs, however the query string spells the parameter; LOG_FORMAT=json
writes one object a line, with the connection's user and path."""

import json
import logging
import sys
from pathlib import Path

import pytest
from azu_ws.auth import create_token
from azu_ws.log_setup import JsonFormatter, uvicorn_log_config
from azu_ws.redaction import redact
from azu_ws.testing import WAIT, receive, uvicorn, wait_for_log
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from .bench import PACKAGE, SERVE, TEST_SECRET
from .testapp.channels import PROBE
from .testapp.config import Settings


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/ws/chat?token=abc.def", "/ws/chat?token=[redacted]"),
        ("/ws/chat?x=1&token=abc&y=2", "/ws/chat?x=1&token=[redacted]&y=2"),
        ("/ws/chat?tok%65n=abc", "/ws/chat?tok%65n=[redacted]"),
        ("/ws/chat?TOKEN=abc", "/ws/chat?TOKEN=[redacted]"),
        (
            '"WebSocket /ws/chat?token=abc" [accepted]',
            '"WebSocket /ws/chat?token=[redacted]" [accepted]',
        ),
        ("/ws/chat?tokens=keep", "/ws/chat?tokens=keep"),
        ("no query at all", "no query at all"),
    ],
)
def test_a_token_parameter_is_redacted(line: str, expected: str) -> None:
    assert redact(line) == expected


@pytest.mark.parametrize(
    "spelling",
    ["/ws/chat?x=1;token={}", "/ws/chat?x=1%26token={}", "/ws/chat?token[]={}", "Bearer {}!"],
)
def test_a_real_token_is_redacted_wherever_it_stands(settings: Settings, spelling: str) -> None:
    token = create_token("alice", settings)
    line = redact(f'"WebSocket {spelling.format(token)}" 403')
    assert token.split(".")[1] not in line  # not even its claims
    assert "[redacted]" in line


# A token after a percent-escape, with its dots percent-encoded, or spelled
# so that only the decoded query shows it.
ENCODED_SPELLINGS = [
    "/ws/chat?authorization=Bearer%20{token}",
    "/ws/chat?x=1%26token%3D{token}",
    "/ws/chat?x={dotless}",
    "/ws/chat/{dotless_lower}",
    "/ws/chat?x={half_dotless}",
    "/ws/chat?x=%65{token_after_e}",
]


def spell(spelling: str, token: str) -> str:
    return spelling.format(
        token=token,
        dotless=token.replace(".", "%2E"),
        dotless_lower=token.replace(".", "%2e"),
        half_dotless=token.replace(".", "%2E", 1),
        token_after_e=token[1:],
    )


@pytest.mark.parametrize("spelling", ENCODED_SPELLINGS)
def test_a_percent_encoded_token_is_redacted(settings: Settings, spelling: str) -> None:
    token = create_token("alice", settings)
    line = redact(f'"WebSocket {spell(spelling, token)}" [accepted]')
    assert token.split(".")[1] not in line  # not even its claims
    assert "[redacted]" in line
    assert line.startswith('"WebSocket /ws/chat')  # the rest of the line stays


def test_percent_encoded_tokens_never_reach_uvicorns_log(tmp_path: Path) -> None:
    with uvicorn(tmp_path, TEST_SECRET, command=SERVE) as server:
        token = server.token("alice")
        for spelling in ENCODED_SPELLINGS:
            path = spell(spelling.replace("/ws/chat", PROBE), token)
            headers = {"Authorization": f"Bearer {token}"}
            try:
                with connect(server.ws(path), additional_headers=headers, open_timeout=WAIT):
                    pass
            except InvalidStatus:  # a path that is no channel: 403, logged all the same
                pass
        log = wait_for_log(server, "/ws/probe/")
    handshakes = [line for line in log.splitlines() if '"WebSocket ' in line]
    assert len(handshakes) == len(ENCODED_SPELLINGS)
    assert token.split(".")[1] not in log
    assert all("[redacted]" in line for line in handshakes)


@pytest.mark.timeout(5)
@pytest.mark.parametrize(
    "unit", ["eyJ", "?x", "eyJabcd.", "&x=1", "%2EeyJabcd", "eyJabcd%2E", "&x=%41eyJabcd%2E"]
)
def test_redacting_pathological_lines_takes_linear_time(unit: str) -> None:
    # A line is searched up to 16 KiB; a quadratic search of a hundred such
    # lines would take ten seconds or more, and the timeout fails it.
    line = "GET /" + unit * 150_000
    for _ in range(100):
        assert redact(line).startswith("GET /")


def test_json_logs_are_one_object_a_line_with_the_connections_user_and_path_and_no_token(
    tmp_path: Path,
) -> None:
    # Text lines are held to the same redaction in test_server.py.
    with uvicorn(tmp_path, TEST_SECRET, command=SERVE, LOG_FORMAT="json") as server:
        token = server.token("alice")
        with connect(server.ws(f"{PROBE}?token={token}"), open_timeout=WAIT) as ws:
            receive(ws, "connected")
        log = wait_for_log(server, "alice disconnected")
    assert token.split(".")[1] not in log  # not even its claims
    lines = [json.loads(line) for line in log.splitlines()]  # each one parses
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    (handshake,) = [line for line in lines if "WebSocket" in line["message"]]
    assert "?token=[redacted]" in handshake["message"]  # uvicorn's line of it
    (connected,) = [line for line in lines if line["message"].endswith("connections: 1)")]
    assert connected["logger"] == "azu_ws.runner"
    assert (connected["level"], connected["user"], connected["path"]) == ("INFO", "alice", PROBE)
    started = next(line for line in lines if line["message"].startswith("Uvicorn running"))
    assert "user" not in started  # no connection: nothing made up


def test_a_json_line_redacts_a_token_in_its_message_and_its_traceback() -> None:
    token = "eyJhbGciOi.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
    try:
        raise ValueError(f"bad token {token}")
    except ValueError:
        record = logging.LogRecord(
            "azu_ws.test", logging.ERROR, __file__, 1, "%s failed", (token,), sys.exc_info()
        )
    line = JsonFormatter().format(record)
    assert token not in line
    assert json.loads(line)["message"] == "[redacted] failed"
    assert "[redacted]" in json.loads(line)["exception"]


def test_log_level_sets_uvicorns_the_runtimes_and_the_apps_loggers(settings: Settings) -> None:
    config = uvicorn_log_config(settings.model_copy(update={"log_level": "warning"}), PACKAGE)
    levels = {name: logger["level"] for name, logger in config["loggers"].items()}
    assert levels == dict.fromkeys(
        ["uvicorn", "uvicorn.error", "uvicorn.access", "azu_ws", PACKAGE], logging.WARNING
    )
    quiet = uvicorn_log_config(settings.model_copy(update={"log_level": "debug"}), PACKAGE)
    assert quiet["root"]["level"] == logging.WARNING  # other libraries: warnings and up
