"""Live updates in the demo page, in Chromium."""

import json
from typing import TYPE_CHECKING

from azu_ws.testing import Server
from azu_ws.testing.browser import (
    Browser,
    Line,
    expect,
    new_page,
    open_demo,
    received,
    send,
    sign_in,
    status,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page


def test_an_update_published_over_http_reaches_the_subscribed_page(
    browser: Browser, demo: Server
) -> None:
    alice = open_demo(browser, demo, "alice")
    expect(status(alice, "live_updates")).to_have_text("open")
    subscribe(alice)
    publish(demo, "Edited")
    expect(received(alice, "live_updates", "update", "data")).to_have_text([shown("Edited")])
    expect(received(alice, "live_updates", "update", "resource")).to_have_text(["post"])


def test_a_subscription_resumes_after_a_drop_with_the_updates_it_missed(
    browser: Browser, demo: Server
) -> None:
    alice = new_page(browser)
    line = Line(alice, "/ws/live_updates")
    sign_in(alice, demo, "alice")
    expect(status(alice, "live_updates")).to_have_text("open")
    subscribe(alice)
    updates = received(alice, "live_updates", "update", "data")
    publish(demo, "before")
    expect(updates).to_have_text([shown("before")])
    line.cut()
    publish(demo, "missed 1")
    publish(demo, "missed 2")
    line.restore()
    expect(updates).to_have_text([shown("before"), shown("missed 1"), shown("missed 2")])
    publish(demo, "live again")
    expect(updates).to_have_text(
        [shown(t) for t in ("before", "missed 1", "missed 2", "live again")]
    )
    subscribes = [json.loads(frame) for frame in line.sent if '"subscribe"' in frame]
    assert "since" not in subscribes[0]
    assert "since" in subscribes[-1], subscribes  # the one sent on reconnecting


def subscribe(page: "Page") -> None:
    """Subscribe the page to post 1, with its form, as a user would; back once it has."""
    send(page, "live_updates", "subscribe", resource="post", id="1")
    # After the greeting, itself a `subscribed` (to the user's own resource).
    expect(received(page, "live_updates", "subscribed", "resource").last).to_have_text("post")


def publish(server: Server, title: str) -> None:
    """A new title for post 1, over HTTP, as a back end would publish it."""
    server.post("/api/updates/post/1", {"data": {"title": title}}, "updates:publish")


def shown(title: str) -> str:
    """How the demo's log shows that update's data."""
    return json.dumps({"title": title}, separators=(",", ":"))
