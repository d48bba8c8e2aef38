"""pytest fixtures of the test kit: `pytest_plugins = ["azu_ws.testing.fixtures"]`."""

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .redis_server import RedisServer, running_redis

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server of the test's own (skips without one, fails so under CI=true)."""
    with running_redis(tmp_path) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator["Browser"]:
    """The system's Chromium, headless, for one test module."""
    # One module at a time: Playwright's sync API holds an event loop in this
    # thread while it runs, and the other tests need theirs (asyncio.run).
    # Imported here: only the browser tests need Playwright (the `browser` group).
    from .browser import launched_chromium

    with launched_chromium() as launched:
        yield launched
