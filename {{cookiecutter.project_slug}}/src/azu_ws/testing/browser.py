"""The demo page in Debian's Chromium, driven by Playwright (CHROMIUM=path to choose one): skips
without one, fails under CI=true; screenshots go to `artifacts/` (BROWSER_ARTIFACTS)."""

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from .served import Server, system_binary

# Playwright is the `browser` dependency group: without it the browser tests
# skip, saying how to get it, and fail under CI=true. The test modules import
# Browser and expect from here, so that this is the one place that decides.
try:
    from playwright.sync_api import Browser as Browser
    from playwright.sync_api import Page, WebSocket, WebSocketRoute, sync_playwright
    from playwright.sync_api import expect as expect
except ModuleNotFoundError:
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("Playwright is not installed: uv sync --group browser", allow_module_level=True)

# What a test of the demo page imports from here. `azu_ws.testing` does not import this
# module: importing it skips the importing test module when Playwright is missing.
__all__ = [
    "SLOW",
    "Browser",
    "Line",
    "connect",
    "expect",
    "first_address",
    "first_panel",
    "launched_chromium",
    "log",
    "new_page",
    "open_demo",
    "panel",
    "received",
    "screenshot",
    "send",
    "sign_in",
    "socket_url",
    "status",
]

ARTIFACTS = Path(os.environ.get("BROWSER_ARTIFACTS", "artifacts"))
# What a headless Chromium needs as root in a container with no network: no
# sandbox, no GPU, none of its calls home (each one would wait on a closed network).
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SLOW = 20_000  # ms: a reconnect after a restart, with backoff
GOING_AWAY = 1001  # the close code a page sees when a `Line` is cut: not final, it retries
# Playwright's 5 s default for expect() is short on a loaded CI machine running
# several bakes' browsers at once; a passing check returns as soon as it holds.
expect.set_options(timeout=10_000)


def chromium() -> str:
    return system_binary("chromium", "the browser tests", override=os.environ.get("CHROMIUM"))


@contextmanager
def launched_chromium() -> Iterator[Browser]:
    """The system's Chromium, headless, for as long as the block runs."""
    executable = chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def open_demo(browser: Browser, server: Server, name: str) -> Page:
    """A new browser profile on the demo, connected as `name`."""
    return sign_in(new_page(browser), server, name)


def new_page(browser: Browser) -> Page:
    """A page in a new browser profile, on no site yet."""
    return browser.new_context(viewport={"width": 1280, "height": 860}).new_page()


def sign_in(page: Page, server: Server, name: str) -> Page:
    """The demo in `page`, connected as `name`."""
    page.goto(server.url + "/")
    page.fill("#name", name)
    page.click("#connect")
    return page


class Line:
    """A page's websockets to one path, through Playwright: the test can cut them, as a
    network drop would, and keep the page from the server until it restores the line.

    Install it before the page opens a socket (before `sign_in`).
    """

    def __init__(self, page: Page, path: str) -> None:
        self.urls: list[str] = []  # every connection the page opened, in order
        self.sent: list[str] = []  # every text frame the page sent, in order
        self.down = False
        # The page's end and the server's end of each connection that is through.
        self._open: list[tuple[WebSocketRoute, WebSocketRoute]] = []
        page.route_web_socket(re.compile(re.escape(path) + r"(\?|$)"), self._route)

    def cut(self) -> None:
        """Drop the page's connections, at both ends, and refuse new ones."""
        self.down = True
        for page_end, server_end in self._open:
            # The server's end is closed from within the page, where a script may
            # only use 1000 or 3000-4999; Playwright ignores the failure of any other.
            server_end.close(code=1000, reason="the line was cut")
            page_end.close(code=GOING_AWAY, reason="the line was cut")
        self._open.clear()

    def restore(self) -> None:
        """Let the page's next attempt through to the server."""
        self.down = False

    def _route(self, route: WebSocketRoute) -> None:
        self.urls.append(route.url)
        if self.down:
            route.close(code=GOING_AWAY, reason="the line is down")
            return
        server = route.connect_to_server()

        def forward(frame: str | bytes) -> None:
            if isinstance(frame, str):
                self.sent.append(frame)
            server.send(frame)

        route.on_message(forward)
        self._open.append((route, server))


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / name, full_page=True)


def panel(page: Page, channel: str) -> Any:
    """The panel of `channel` (its id in /asyncapi.json: `chat`, `scores`)."""
    return page.locator(f'.panel[data-channel="{channel}"]')


def status(page: Page, channel: str) -> Any:
    return panel(page, channel).locator("[data-status]")


def log(page: Page, channel: str) -> Any:
    """The panel's log: a line per message, sent (`.sent`), received, or said by the page
    (`.system`)."""
    return panel(page, channel).locator("[data-log]")


def received(page: Page, channel: str, message_type: str, field: str) -> Any:
    """`field` of each message of `message_type` the panel received, in order."""
    lines = log(page, channel).locator(f'li[data-type="{message_type}"]:not(.sent)')
    return lines.locator(f'[data-field="{field}"]')


def first_panel(page: Page) -> str:
    """The channel of the first panel that connects on signing in: one with no path
    parameters to fill."""
    first = page.locator(".panel:not([data-parameters])").first
    expect(first).to_be_visible()
    return str(first.get_attribute("data-channel"))


def connect(page: Page, channel: str, **parameters: str) -> None:
    """Fill the panel's path parameters (`game_id="g1"`) and press its Connect."""
    at = panel(page, channel)
    for name, value in parameters.items():
        at.locator(f'[data-param="{name}"]').fill(value)
    at.locator("[data-connection] button:not([type])").click()


def send(page: Page, channel: str, message_type: str, **fields: str | bool) -> None:
    """Fill the panel's form for `message_type` and press its Send."""
    form = panel(page, channel).locator(f'form[data-message="{message_type}"]')
    for name, value in fields.items():
        field = form.locator(f'[data-field="{name}"]')
        if isinstance(value, bool):
            field.set_checked(value)
        elif field.evaluate("(node) => node.tagName") == "SELECT":
            field.select_option(label=value)
        else:
            field.fill(value)
    form.locator("button").click()


def socket_url(socket: WebSocket) -> str:
    """The socket's URL without its query (`session`, `since`)."""
    url = str(socket.url)  # Any where Playwright is not installed: mypy passes either way
    return url.split("?", 1)[0]


def first_address(page: Page, channel: str) -> str:
    """The path of `channel`, as the page read it from /asyncapi.json."""
    address: str = page.evaluate(
        "async (id) => (await (await fetch('/asyncapi.json')).json()).channels[id].address",
        channel,
    )
    return address
