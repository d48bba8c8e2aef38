"""The suites' bench: the test app's package, the command that serves it, where a Python
started outside pytest imports it from, and the secret its tokens are signed with."""

import os
from collections.abc import Callable
from pathlib import Path

import azu_ws
from azu_ws.testing import serve_command

from . import testapp

PACKAGE = testapp.__name__
# The project's root (for `tests.runtime.testapp`) and the runtime's `src/`.
IMPORT_PATH = os.pathsep.join(
    str(path) for path in (Path(__file__).resolve().parents[2], Path(azu_ws.__file__).parents[1])
)
# Through `python -m <package> serve`, as a README runs an app in production.
SERVE = serve_command(PACKAGE)
TEST_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
TokenFor = Callable[..., str]
