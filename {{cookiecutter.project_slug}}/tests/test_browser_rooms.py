"""A room in the demo page, in Chromium."""

from azu_ws.testing import Server
from azu_ws.testing.browser import (
    Browser,
    connect,
    expect,
    open_demo,
    panel,
    received,
    screenshot,
    send,
)


def test_a_room_shows_both_members_and_then_one_leaving(browser: Browser, demo: Server) -> None:
    alice = open_demo(browser, demo, "alice")
    connect(alice, "rooms", room_id="lobby")
    members = panel(alice, "rooms").locator("[data-members]")
    expect(members).to_have_text("alice")
    bob = open_demo(browser, demo, "bob")
    connect(bob, "rooms", room_id="lobby")
    expect(members).to_have_text("alice, bob")
    expect(panel(bob, "rooms").locator("[data-members]")).to_have_text("alice, bob")
    expect(received(alice, "rooms", "user_joined", "user")).to_have_text(["bob"])
    send(bob, "rooms", "message", content="hello room")
    expect(received(alice, "rooms", "message", "content")).to_have_text(["hello room"])
    send(bob, "rooms", "typing", is_typing=True)  # a check box, sent as a boolean
    expect(received(alice, "rooms", "typing", "is_typing")).to_have_text(["true"])
    screenshot(alice, "room.png")
    panel(bob, "rooms").locator("[data-disconnect]").click()
    expect(members).to_have_text("alice")
    expect(received(alice, "rooms", "user_left", "user")).to_have_text(["bob"])
