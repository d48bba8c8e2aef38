"""Tokens never reach the logs, however the query string spells the parameter."""

import pytest
from azu_ws.auth import create_token
from azu_ws.logs import redact

from realtime_app.config import Settings


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


@pytest.mark.timeout(5)
@pytest.mark.parametrize("unit", ["eyJ", "?x", "eyJabcd.", "&x=1"])
def test_redacting_pathological_lines_takes_linear_time(unit: str) -> None:
    # A line is searched up to 16 KiB; a quadratic search of a hundred such
    # lines would take ten seconds or more, and the timeout fails it.
    line = "GET /" + unit * 150_000
    for _ in range(100):
        assert redact(line).startswith("GET /")
