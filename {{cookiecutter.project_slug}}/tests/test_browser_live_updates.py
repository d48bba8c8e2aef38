"""Live updates in the demo page, in Chromium."""

from playwright.sync_api import Browser, expect

from .browser import open_demo, status
from .e2e import Server


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
