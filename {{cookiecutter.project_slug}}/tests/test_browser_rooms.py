"""A room in the demo page, in Chromium."""

from azu_ws.testing import Server
from azu_ws.testing.browser import Browser, expect, open_demo, screenshot


def test_a_room_shows_both_members_and_then_one_leaving(browser: Browser, demo: Server) -> None:
    alice = open_demo(browser, demo, "alice")
    expect(alice.locator("#rooms [data-members]")).to_have_text("alice")
    bob = open_demo(browser, demo, "bob")
    expect(alice.locator("#rooms [data-members]")).to_have_text("alice, bob")
    expect(bob.locator("#rooms [data-members]")).to_have_text("alice, bob")
    expect(alice.locator("#rooms [data-log]")).to_contain_text("bob joined lobby")
    bob.click("#rooms [data-leave]")
    expect(alice.locator("#rooms [data-members]")).to_have_text("alice")
    expect(alice.locator("#rooms [data-log]")).to_contain_text("bob left lobby")
    screenshot(alice, "room.png")
