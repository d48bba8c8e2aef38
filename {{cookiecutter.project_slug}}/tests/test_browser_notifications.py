"""Notifications in the demo page, in Chromium."""

from azu_ws.testing import Server
from azu_ws.testing.browser import Browser, expect, open_demo, received, screenshot, send, status


def test_a_notification_sent_over_http_appears_and_is_acked(browser: Browser, demo: Server) -> None:
    alice = open_demo(browser, demo, "alice")
    expect(status(alice, "notifications")).to_have_text("open")
    # The back end's part, as a back end does it: a POST with a scoped token.
    body = {"payload": {"title": "Your export is ready"}}
    delivered = str(demo.post("/api/notifications/alice", body, "notifications:send")["id"])
    expect(received(alice, "notifications", "notification", "payload")).to_have_text(
        ['{"title":"Your export is ready"}']
    )
    expect(received(alice, "notifications", "notification", "id")).to_have_text([delivered])
    send(alice, "notifications", "ack", id=delivered)
    expect(received(alice, "notifications", "acked", "id")).to_have_text([delivered])
    screenshot(alice, "notification.png")
