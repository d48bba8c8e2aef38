"""The chat in the demo page, in Chromium."""

import json
import re
from pathlib import Path

from azu_ws.testing import Server, receive, uvicorn
from azu_ws.testing.browser import (
    Browser,
    Line,
    expect,
    log,
    new_page,
    open_demo,
    received,
    screenshot,
    send,
    sign_in,
    status,
)
from websockets.sync.client import ClientConnection

from .conftest import BROWSER_SECRET, SERVE


def test_two_pages_chat_with_each_other(browser: Browser, demo: Server) -> None:
    alice, bob = open_demo(browser, demo, "alice"), open_demo(browser, demo, "bob")
    for page in (alice, bob):
        expect(status(page, "chat")).to_have_text("open")
    send(alice, "chat", "message", content="hello bob")
    said = log(bob, "chat").locator("li").last
    expect(said).to_have_text(re.compile(r"^message content: hello bob user: alice timestamp: "))
    send(bob, "chat", "message", content="hi alice")
    expect(received(alice, "chat", "message", "content").last).to_have_text("hi alice")
    expect(received(alice, "chat", "message", "user").last).to_have_text("bob")
    screenshot(alice, "demo.png")


def test_a_page_back_from_a_dropped_connection_shows_what_it_missed_once_and_in_order(
    browser: Browser, demo: Server
) -> None:
    page = new_page(browser)
    line = Line(page, "/ws/chat")
    sign_in(page, demo, "alice")
    expect(received(page, "chat", "connected", "user")).to_have_text(["alice"])
    messages = received(page, "chat", "message", "content")
    with demo.connect("/ws/chat", "bob") as bob:
        receive(bob, "connected")
        post(bob, "before")
        expect(messages).to_have_text(["before"])
        line.cut()
        for content in ("missed 1", "missed 2", "missed 3"):
            post(bob, content)  # published while the page is away
        line.restore()
        missed = ["missed 1", "missed 2", "missed 3"]
        expect(messages).to_have_text(["before", *missed])
        post(bob, "live again")
        expect(messages).to_have_text(["before", *missed, "live again"])
    assert "since=" not in line.urls[0]
    assert all("since=" in url for url in line.urls[1:]), line.urls


def test_a_page_that_missed_more_than_the_history_keeps_says_so(
    browser: Browser, tmp_path: Path
) -> None:
    with uvicorn(
        tmp_path, BROWSER_SECRET, command=SERVE, ENVIRONMENT="development", HISTORY_SIZE="2"
    ) as server:
        page = new_page(browser)
        line = Line(page, "/ws/chat")
        sign_in(page, server, "alice")
        expect(received(page, "chat", "connected", "user")).to_have_text(["alice"])
        with server.connect("/ws/chat", "bob") as bob:
            receive(bob, "connected")
            line.cut()
            for content in ("missed 1", "missed 2", "missed 3"):
                post(bob, content)  # one more than the chat keeps
            line.restore()
            gone = "some messages sent while you were away are gone"
            expect(log(page, "chat")).to_contain_text(gone)
            post(bob, "live again")
            expect(received(page, "chat", "message", "content")).to_have_text(["live again"])


def post(ws: ClientConnection, content: str) -> None:
    """Say `content` in the chat; back once the server has published it (its echo came)."""
    ws.send(json.dumps({"type": "message", "content": content}))
    assert receive(ws, "message")["content"] == content
