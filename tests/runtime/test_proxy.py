"""Behind a proxy: `serve` gives uvicorn ROOT_PATH, PROXY_HEADERS and FORWARDED_ALLOW_IPS, and
the demo page, its files and the origin check work under the prefix the proxy strips."""

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from azu_ws.testing import WAIT, Server, receive, uvicorn, wait_for_log
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Origin

from .bench import SERVE, TEST_SECRET
from .proxy import stripping_proxy
from .testapp.channels import PROBE

ROOT = "/rt"


@pytest.fixture(scope="module")
def behind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """The app served under /rt, and the proxy in front of it that strips /rt."""
    workdir = tmp_path_factory.mktemp("root-path")
    with (
        uvicorn(workdir, TEST_SECRET, command=SERVE, ROOT_PATH=ROOT) as server,
        stripping_proxy(server.url, ROOT) as proxy,
    ):
        yield server, proxy


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=WAIT) as response:  # noqa: S310 - loopback
        return response.status, response.read().decode()


def test_the_demo_page_names_every_url_under_the_root_path(behind: tuple[Server, str]) -> None:
    _, proxy = behind
    status, page = get(f"{proxy}{ROOT}/")
    assert status == 200
    assert '<meta name="root-path" content="/rt">' in page
    assert '<script type="module" src="/rt/static/demo.js">' in page
    for path in ("static/demo.js", "static/azu-ws.js", "static/favicon.svg", "asyncapi.json"):
        assert get(f"{proxy}{ROOT}/{path}")[0] == 200


def test_a_socket_of_the_pages_own_origin_is_served_under_the_root_path(
    behind: tuple[Server, str],
) -> None:
    server, proxy = behind
    url = proxy.replace("http", "ws", 1) + f"{ROOT}{PROBE}?token={server.token('alice')}"
    with connect(url, origin=Origin(proxy), open_timeout=WAIT) as ws:
        assert receive(ws, "connected")["user"] == "alice"


def test_a_socket_of_a_foreign_origin_is_refused_with_403_under_the_root_path(
    behind: tuple[Server, str],
) -> None:
    server, proxy = behind
    url = proxy.replace("http", "ws", 1) + f"{ROOT}{PROBE}?token={server.token('alice')}"
    foreign = Origin("https://evil.example")
    with pytest.raises(InvalidStatus) as refused, connect(url, origin=foreign, open_timeout=WAIT):
        pass
    assert refused.value.response.status_code == 403


def test_the_address_the_proxy_forwards_is_the_clients(behind: tuple[Server, str]) -> None:
    server, _ = behind
    request = urllib.request.Request(  # noqa: S310 - loopback
        server.url + "/healthz?from=forwarded", headers={"X-Forwarded-For": "203.0.113.9"}
    )
    with urllib.request.urlopen(request, timeout=WAIT):  # noqa: S310
        pass
    assert '203.0.113.9:0 - "GET /rt/healthz?from=forwarded' in wait_for_log(server, "forwarded")


def test_without_proxy_headers_the_address_is_the_proxys(tmp_path: Path) -> None:
    with uvicorn(tmp_path, TEST_SECRET, command=SERVE, PROXY_HEADERS="false") as server:
        request = urllib.request.Request(  # noqa: S310 - loopback
            server.url + "/healthz?from=proxy", headers={"X-Forwarded-For": "203.0.113.9"}
        )
        with urllib.request.urlopen(request, timeout=WAIT):  # noqa: S310
            pass
        log = wait_for_log(server, "from=proxy")
    assert "127.0.0.1:" in log.split("from=proxy")[0].splitlines()[-1]
    assert "203.0.113.9" not in log
