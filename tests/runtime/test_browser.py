"""The demo page in Chromium: what holds whichever channels a project keeps.

On the suites' test app. A bake's own `test_browser_demo.py` holds the page to that
app's channels (a scaffolded one included); its channels' page tests are its own too.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from azu_ws.testing import Server, serve_command, uvicorn, uvicorn_on
from azu_ws.testing.browser import (
    SLOW,
    Browser,
    expect,
    first_address,
    first_panel,
    new_page,
    open_demo,
    panel,
    received,
    screenshot,
    send,
    socket_url,
    status,
)

from .bench import PACKAGE, SERVE
from .proxy import stripping_proxy

if TYPE_CHECKING:
    from playwright.sync_api import Page

BROWSER_SECRET = "a-secret-for-the-browser-tests-0123456789"
# The test app with one channel, the probe: what a page shows when an app has no other.
PROBE_ONLY_APP = serve_command(PACKAGE, f"{PACKAGE}.app:create_probe_only_app")


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Server]:
    """The test app as `serve` runs it, in development: the page gets its tokens itself."""
    with uvicorn(tmp_path, BROWSER_SECRET, command=SERVE, ENVIRONMENT="development") as server:
        yield server


def test_after_a_restart_the_page_reconnects_by_itself(browser: Browser, tmp_path: Path) -> None:
    for directory in ("first", "second"):
        (tmp_path / directory).mkdir()
    with uvicorn(
        tmp_path / "first", BROWSER_SECRET, command=SERVE, ENVIRONMENT="development"
    ) as first:
        page = open_demo(browser, first, "alice")
        panel = first_panel(page)
        expect(status(page, panel)).to_have_text("open")
        assert first.stop()  # clients get 1012, service restart
        expect(status(page, panel)).to_have_text("reconnecting")
    port = int(first.url.rsplit(":", 1)[1])
    with uvicorn_on(
        port, tmp_path / "second", BROWSER_SECRET, command=SERVE, ENVIRONMENT="development"
    ):
        expect(status(page, panel)).to_have_text("open", timeout=SLOW)
        send(page, "probe", "message", content="back again")
        expect(received(page, "probe", "message", "content")).to_have_text(["back again"])


def test_a_refused_token_shows_why_instead_of_a_reconnect_loop(
    browser: Browser, tmp_path: Path
) -> None:
    # Production: no development tokens, the page asks for one.
    with uvicorn(tmp_path, BROWSER_SECRET, command=SERVE) as server:
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
        tries = [url for url in sockets if url.split("?")[0].endswith(first_address(page, panel))]
        assert len(tries) == 2, sockets  # the token, then a fresh one: then it stops


def failures(page: "Page") -> list[str]:
    """What goes wrong in `page` from now on: console errors, and responses of 400 and up
    (a missing favicon among them)."""
    seen: list[str] = []
    page.on("console", lambda m: seen.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: seen.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return seen


def test_under_a_root_path_behind_a_proxy_the_demo_page_talks(
    browser: Browser, tmp_path: Path
) -> None:
    with (
        uvicorn(
            tmp_path,
            BROWSER_SECRET,
            command=SERVE,
            ENVIRONMENT="development",
            ROOT_PATH="/rt",
        ) as server,
        stripping_proxy(server.url, "/rt") as proxy,
    ):
        page = new_page(browser)
        problems = failures(page)
        page.goto(f"{proxy}/rt/")
        page.fill("#name", "alice")
        page.click("#connect")
        expect(status(page, "probe")).to_have_text("open")
        send(page, "probe", "message", content="from under /rt")
        expect(received(page, "probe", "message", "content")).to_have_text(["from under /rt"])
        page.context.close()  # before the servers stop: no reconnecting to count
    assert problems == []


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
        BROWSER_SECRET,
        command=SERVE,
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


def test_an_app_of_one_channel_shows_that_channel_alone(browser: Browser, tmp_path: Path) -> None:
    with uvicorn(
        tmp_path, BROWSER_SECRET, command=PROBE_ONLY_APP, ENVIRONMENT="development"
    ) as server:
        page = open_demo(browser, server, "alice")
        expect(page.locator(".panel [data-title]")).to_have_text(["probe"])
        expect(status(page, "probe")).to_have_text("open")
        # Its forms are what it accepts: the client answers pings itself.
        forms = panel(page, "probe").locator("form[data-message]")
        expect(forms).to_have_count(1)
        send(page, "probe", "message", content="alone")
        expect(received(page, "probe", "message", "content")).to_have_text(["alone"])
        page.context.close()
