"""Live updates in the demo page, in Chromium."""

import json

from azu_ws.testing import Server
from azu_ws.testing.browser import Browser, Line, expect, new_page, open_demo, sign_in, status


def test_an_update_published_over_http_reaches_the_subscribed_page(
    browser: Browser, demo: Server
) -> None:
    alice = open_demo(browser, demo, "alice")
    expect(status(alice, "live_updates")).to_have_text("open")
    alice.click("#live_updates [data-subscribe] button")
    expect(alice.locator("#live_updates [data-log]")).to_contain_text("subscribed to post 1")
    alice.fill("#live_updates [data-text]", "Edited")
    alice.click("#live_updates [data-publish] button")
    expect(alice.locator("#live_updates [data-log]")).to_contain_text('post 1: {"title":"Edited"}')


def test_a_subscription_resumes_after_a_drop_with_the_updates_it_missed(
    browser: Browser, demo: Server
) -> None:
    alice = new_page(browser)
    line = Line(alice, "/ws/live_updates")
    sign_in(alice, demo, "alice")
    expect(status(alice, "live_updates")).to_have_text("open")
    alice.click("#live_updates [data-subscribe] button")
    expect(alice.locator("#live_updates [data-log]")).to_contain_text("subscribed to post 1")
    updates = alice.locator("#live_updates [data-log] li:not(.system)")
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


def publish(server: Server, title: str) -> None:
    """A new title for post 1, over HTTP, as a back end would publish it."""
    server.post("/api/updates/post/1", {"data": {"title": title}}, "updates:publish")


def shown(title: str) -> str:
    """How the demo's log shows that update."""
    return "post 1: " + json.dumps({"title": title}, separators=(",", ":"))
