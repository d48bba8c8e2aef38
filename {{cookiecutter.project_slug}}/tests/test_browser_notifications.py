"""Notifications in the demo page, in Chromium."""

from azu_ws.testing import Server
from azu_ws.testing.browser import Browser, expect, open_demo, screenshot, status


def test_a_notification_sent_over_http_appears(browser: Browser, demo: Server) -> None:
    alice = open_demo(browser, demo, "alice")
    expect(status(alice, "notifications")).to_have_text("open")
    alice.fill("#notifications [data-title]", "Your export is ready")
    alice.click("#notifications [data-notify] button")
    log = alice.locator("#notifications [data-log]")
    expect(log).to_contain_text("user: Your export is ready")
    screenshot(alice, "notification.png")
