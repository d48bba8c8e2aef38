"""The demo page in a real browser: Debian's Chromium, driven by Playwright.

Playwright cannot download its own browser here, so these tests use the
system's (`apt-get install chromium`, or CHROMIUM=/path/to/chrome). Without
one they skip, saying so; under CI=true they fail. Screenshots of the demo
are written to `artifacts/` (BROWSER_ARTIFACTS=dir to change it).
"""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, WebSocket, expect, sync_playwright

from .e2e import SERVE_COMMAND, Server, system_binary, uvicorn, uvicorn_on

SECRET = "a-secret-for-the-browser-tests-0123456789"
ARTIFACTS = Path(
    os.environ.get("BROWSER_ARTIFACTS", Path(__file__).resolve().parents[1] / "artifacts")
)
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
# Playwright's 5 s default for expect() is short on a loaded CI machine running
# several bakes' browsers at once; a passing check returns as soon as it holds.
expect.set_options(timeout=10_000)


def chromium() -> str:
    return system_binary("chromium", "the browser tests", override=os.environ.get("CHROMIUM"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # For this module only: Playwright's sync API holds an event loop in this
    # thread while it runs, and the other tests need theirs (asyncio.run).
    executable = chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Server]:
    """The app as `serve` runs it, in development: the page gets its tokens itself."""
    with uvicorn(tmp_path, SECRET, command=SERVE_COMMAND, ENVIRONMENT="development") as server:
        yield server


def open_demo(browser: Browser, server: Server, name: str) -> Page:
    """A new browser profile on the demo, connected as `name`."""
    page = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
    page.goto(server.url + "/")
    page.fill("#name", name)
    page.click("#connect")
    return page


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / name, full_page=True)


def status(page: Page, panel: str) -> Any:
    return page.locator(f"#{panel} [data-status]")


def first_panel(page: Page) -> str:
    """The id of the first channel panel the page shows."""
    panel = page.locator(".panel:not([hidden])").first
    expect(panel).to_be_visible()
    return str(panel.get_attribute("id"))
{%- if cookiecutter.with_chat %}


def say(page: Page, panel: str, text: str) -> None:
    page.fill(f"#{panel} [data-send] [data-input]", text)
    page.press(f"#{panel} [data-send] [data-input]", "Enter")


def test_two_pages_chat_with_each_other(browser: Browser, demo: Server) -> None:
    alice, bob = open_demo(browser, demo, "alice"), open_demo(browser, demo, "bob")
    for page in (alice, bob):
        expect(status(page, "chat")).to_have_text("open")
    say(alice, "chat", "hello bob")
    expect(bob.locator("#chat [data-log] li").last).to_have_text("alice: hello bob")
    say(bob, "chat", "hi alice")
    expect(alice.locator("#chat [data-log] li").last).to_have_text("bob: hi alice")
    screenshot(alice, "demo.png")
{%- endif %}
{%- if cookiecutter.with_rooms %}


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
{%- endif %}
{%- if cookiecutter.with_notifications %}


def test_a_notification_sent_over_http_appears(browser: Browser, demo: Server) -> None:
    alice = open_demo(browser, demo, "alice")
    expect(status(alice, "notifications")).to_have_text("open")
    alice.fill("#notifications [data-title]", "Your export is ready")
    alice.click("#notifications [data-notify] button")
    log = alice.locator("#notifications [data-log]")
    expect(log).to_contain_text("user: Your export is ready")
    screenshot(alice, "notification.png")
{%- endif %}
{%- if cookiecutter.with_live_updates %}


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
{%- endif %}


def test_after_a_restart_the_page_reconnects_by_itself(browser: Browser, tmp_path: Path) -> None:
    for directory in ("first", "second"):
        (tmp_path / directory).mkdir()
    with uvicorn(
        tmp_path / "first", SECRET, command=SERVE_COMMAND, ENVIRONMENT="development"
    ) as first:
        page = open_demo(browser, first, "alice")
        panel = first_panel(page)
        expect(status(page, panel)).to_have_text("open")
        assert first.stop()  # clients get 1012, service restart
        expect(status(page, panel)).to_have_text("reconnecting")
    port = int(first.url.rsplit(":", 1)[1])
    with uvicorn_on(
        port, tmp_path / "second", SECRET, command=SERVE_COMMAND, ENVIRONMENT="development"
    ):
        expect(status(page, panel)).to_have_text("open", timeout=SLOW)
{%- if cookiecutter.with_chat %}
        say(page, "chat", "back again")
        expect(page.locator("#chat [data-log] li").last).to_have_text("alice: back again")
{%- endif %}


def test_a_refused_token_shows_why_instead_of_a_reconnect_loop(
    browser: Browser, tmp_path: Path
) -> None:
    # Production: no development tokens, the page asks for one.
    with uvicorn(tmp_path, SECRET, command=SERVE_COMMAND) as server:
        page = browser.new_context().new_page()
        sockets: list[str] = []
        page.on("websocket", lambda socket: sockets.append(socket_url(socket)))
        page.goto(server.url + "/")
        page.click("#connect")
        expect(page.locator("#notice")).to_contain_text("paste a token")
        expect(page.locator("#token-field")).to_be_visible()
        page.fill("#token", "not-a-token")
        page.click("#connect")
        panel = first_panel(page)
        expect(status(page, panel)).to_have_text("refused")
        expect(page.locator("#notice")).to_contain_text("the server refused the token")
        screenshot(page, "refused.png")
        page.wait_for_timeout(1500)  # time for a loop to show, if there were one
        tries = [url for url in sockets if url.endswith(first_address(page, panel))]
        assert len(tries) == 2, sockets  # the token, then a fresh one: then it stops


def socket_url(socket: WebSocket) -> str:
    return socket.url.split("?", 1)[0]


def first_address(page: Page, panel: str) -> str:
    """The path of that panel's channel, as the page read it from /asyncapi.json."""
    address: str = page.evaluate(
        "async (id) => (await (await fetch('/asyncapi.json')).json()).channels[id].address",
        panel,
    )
    return address.replace("{room_id}", "lobby")


# The client module alone, in the page: its own socket, short-lived tokens.
RENEWING_CLIENT = """
async ([path, seconds]) => {
  const { AzuSocket } = await import("/static/azu-ws.js");
  const getToken = async () => {
    const response = await fetch("/dev/token", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ user: "alice", ttl_seconds: 10 }),
    });
    return (await response.json()).token;
  };
  const socket = new AzuSocket(path, { getToken });
  const seen = [];
  const states = [];
  socket.on("*", (message) => seen.push(message.type));
  socket.onStatus((status) => states.push(status.state));
  socket.connect();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  socket.close();
  return { seen, states };
}
"""


def test_the_client_answers_heartbeats_and_renews_its_token_before_it_expires(
    browser: Browser, tmp_path: Path
) -> None:
    # A heartbeat after 1 s of silence, 1 s to answer it; tokens that last 10 s.
    with uvicorn(
        tmp_path,
        SECRET,
        command=SERVE_COMMAND,
        ENVIRONMENT="development",
        WS_PING_INTERVAL="1",
        WS_PING_TIMEOUT="1",
    ) as server:
        page = browser.new_context().new_page()
        page.goto(server.url + "/")
        page.click("#connect")
        path = first_address(page, first_panel(page))
        outcome = page.evaluate(RENEWING_CLIENT, [path, 13])
    # Past the first token's expiry and many heartbeats, still the first socket.
    assert outcome["states"] == ["connecting", "open", "closed"], outcome
    assert "heartbeat" in outcome["seen"], outcome
    assert "pong" in outcome["seen"], outcome  # its answer to them
    assert "authenticated" in outcome["seen"], outcome  # the fresh token, taken in band


CLIENT_API = """
async (path) => {
  const { AzuSocket, trackMembers } = await import("/static/azu-ws.js");
  const getToken = async () => {
    const response = await fetch("/dev/token", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ user: "carol" }),
    });
    return (await response.json()).token;
  };
  const socket = new AzuSocket(path, { getToken });
  const opened = new Promise((resolve) => socket.onStatus((s) => s.state === "open" && resolve()));
  socket.connect();
  await opened;
  const pong = await socket.request({ type: "ping" });
  const failure = (promise) => promise.then(() => null, (error) => error);
  const refused = await failure(socket.request({ type: "auth", token: "not-a-token" }));
  const late = await failure(socket.request({ type: "ping" }, { timeout: 0 }));
  socket.close();
  // trackMembers, fed by hand: a repeated arrival or an unknown departure is no news.
  const handlers = {};
  const changes = [];
  const room = { on: (type, handler) => (handlers[type] = handler) };
  trackMembers(room, (members) => changes.push(members.join()));
  handlers.joined({ members: ["b", "a"] });
  handlers.user_joined({ user: "b" });
  handlers.user_joined({ user: "c" });
  handlers.user_left({ user: "z" });
  handlers.user_left({ user: "a" });
  handlers.user_left({ user: "a" });
  return {
    pong: [pong.type, pong.ref],
    refused: [refused.name, refused.reply.code],
    late: late.message,
    changes,
    sentWhileClosed: socket.send({ type: "ping" }),
  };
}
"""


def test_the_client_matches_replies_rejects_errors_and_timeouts_and_dedupes_members(
    browser: Browser, demo: Server
) -> None:
    page = open_demo(browser, demo, "carol")
    outcome = page.evaluate(CLIENT_API, first_address(page, first_panel(page)))
    assert outcome == {
        "pong": ["pong", "r1"],
        "refused": ["RequestError", "invalid_token"],
        "late": "no reply to ping within 0 ms",
        "changes": ["a,b", "a,b,c", "b,c"],
        "sentWhileClosed": False,
    }
