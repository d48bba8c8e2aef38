"""The chat in the demo page, in Chromium."""

import json
from pathlib import Path

from azu_ws.testing import Server, receive, uvicorn
from azu_ws.testing.browser import (
    Browser,
    Line,
    expect,
    new_page,
    open_demo,
    say,
    screenshot,
    sign_in,
    status,
)
from websockets.sync.client import ClientConnection

from .conftest import BROWSER_SECRET, SERVE


def test_two_pages_chat_with_each_other(browser: Browser, demo: Server) -> None:
    alice, bob = open_demo(browser, demo, "alice"), open_demo(browser, demo, "bob")
    for page in (alice, bob):
        expect(status(page, "chat")).to_have_text("open")
    say(alice, "chat", "hello bob")
    expect(bob.locator("#chat [data-log] li").last).to_have_text("alice: hello bob")
    say(bob, "chat", "hi alice")
    expect(alice.locator("#chat [data-log] li").last).to_have_text("bob: hi alice")
    screenshot(alice, "demo.png")


def test_a_page_back_from_a_dropped_connection_shows_what_it_missed_once_and_in_order(
    browser: Browser, demo: Server
) -> None:
    page = new_page(browser)
    line = Line(page, "/ws/chat")
    sign_in(page, demo, "alice")
    expect(page.locator("#chat [data-log]")).to_contain_text("connected as alice")
    messages = page.locator("#chat [data-log] li:not(.system)")
    with demo.connect("/ws/chat", "bob") as bob:
        receive(bob, "connected")
        post(bob, "before")
        expect(messages).to_have_text(["bob: before"])
        line.cut()
        for content in ("missed 1", "missed 2", "missed 3"):
            post(bob, content)  # published while the page is away
        line.restore()
        missed = ["bob: missed 1", "bob: missed 2", "bob: missed 3"]
        expect(messages).to_have_text(["bob: before", *missed])
        post(bob, "live again")
        expect(messages).to_have_text(["bob: before", *missed, "bob: live again"])
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
        log = page.locator("#chat [data-log]")
        expect(log).to_contain_text("connected as alice")
        with server.connect("/ws/chat", "bob") as bob:
            receive(bob, "connected")
            line.cut()
            for content in ("missed 1", "missed 2", "missed 3"):
                post(bob, content)  # one more than the chat keeps
            line.restore()
            expect(log).to_contain_text("some messages sent while you were away are gone")
            post(bob, "live again")
            messages = page.locator("#chat [data-log] li:not(.system)")
            expect(messages).to_have_text(["bob: live again"])


def post(ws: ClientConnection, content: str) -> None:
    """Say `content` in the chat; back once the server has published it (its echo came)."""
    ws.send(json.dumps({"type": "message", "content": content}))
    assert receive(ws, "message")["content"] == content
