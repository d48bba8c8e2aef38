"""The chat in the demo page, in Chromium."""

from playwright.sync_api import Browser, expect

from .browser import open_demo, say, screenshot, status
from .e2e import Server


def test_two_pages_chat_with_each_other(browser: Browser, demo: Server) -> None:
    alice, bob = open_demo(browser, demo, "alice"), open_demo(browser, demo, "bob")
    for page in (alice, bob):
        expect(status(page, "chat")).to_have_text("open")
    say(alice, "chat", "hello bob")
    expect(bob.locator("#chat [data-log] li").last).to_have_text("alice: hello bob")
    say(bob, "chat", "hi alice")
    expect(alice.locator("#chat [data-log] li").last).to_have_text("bob: hi alice")
    screenshot(alice, "demo.png")
