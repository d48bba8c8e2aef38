"""The demo page, in Chromium: a panel for each of this app's channels, and no other."""

from azu_ws.testing import Server
from azu_ws.testing.browser import Browser, expect, open_demo, panel, status

from {{ cookiecutter.package_name }}.channels import CHANNELS


def test_the_page_has_a_panel_for_each_channel_of_the_app_and_no_other(
    browser: Browser, demo: Server
) -> None:
    # A channel added to CHANNELS (by hand or by `new-channel`) gets its panel with no
    # edit to the page: the page reads the channels from /asyncapi.json.
    page = open_demo(browser, demo, "alice")
    expect(page.locator(".panel [data-address]")).to_have_text([c.path for c in CHANNELS])
    # Each one whose path needs no parameter is connected at once.
    for channel in page.locator(".panel[data-channel]").all():
        name = channel.get_attribute("data-channel")
        if name and not channel.get_attribute("data-parameters"):
            expect(status(page, name)).to_have_text("open")
            expect(panel(page, name).locator("form[data-message]").first).to_be_visible()
    page.context.close()
