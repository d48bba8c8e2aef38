"""The app's command line (`python -m <package>`, or the project's own command): serve, types,
new-channel, token. It finds the app by convention; `serve` passes uvicorn what it would miss."""

import argparse
import importlib
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from .auth import AuthenticationError, create_token
from .http_edge import HttpEdge, raise_open_file_limit
from .log_setup import uvicorn_log_config
from .metrics import MULTIPROCESS_DIR
from .settings import RuntimeSettings, SettingsError


def main(package: str, argv: Sequence[str] | None = None) -> None:
    """Run the command line of the app `package` (its `__main__.py` calls this)."""
    parser = command_line(package, program_name(package, argv))
    args = parser.parse_args(argv)
    if args.command == "types":
        write_types(package, args.output)
        return
    if args.command == "new-channel":
        write_channel(parser, package, args.name)
        return
    try:
        settings = app_settings(package)
    except SettingsError as exc:
        parser.exit(2, f"{exc}\n")
    if args.command == "token":
        claims = {"scope": " ".join(args.scope)} if args.scope else None
        try:
            print(create_token(args.user, settings, ttl_seconds=args.ttl, extra_claims=claims))
        except AuthenticationError as exc:
            parser.exit(2, f"{exc}\n")
        return
    if args.workers > 1 and not os.environ.get(MULTIPROCESS_DIR):
        # Each worker counts in files here, and /metrics adds them up; set
        # before the workers start, which import prometheus-client. A fresh
        # directory per run: prometheus-client wants it empty at start.
        os.environ[MULTIPROCESS_DIR] = tempfile.mkdtemp(prefix="metrics-")
    raise_open_file_limit()  # each connection is a file: the soft limit is often 1,024
    uvicorn.run(
        args.app,
        factory=args.factory,
        host=args.host,
        port=args.port,
        reload=args.reload,
        workers=args.workers,
        ws="websockets-sansio",
        # uvicorn's own, with bounds on a request's head, body and connections (http_edge.py).
        http=HttpEdge,
        ws_max_size=settings.ws_max_message_size,
        ws_per_message_deflate=settings.ws_per_message_deflate,
        # Protocol pings too, which browsers answer by themselves; with a longer
        # timeout than the app's, so that a silent peer always gets the app's
        # 4408 (and leaves its topics) rather than uvicorn's 1011.
        ws_ping_interval=settings.ws_ping_interval,
        ws_ping_timeout=settings.ws_ping_interval + 2 * settings.ws_ping_timeout,
        # A client that stopped reading can hold its socket (and a shutdown)
        # open forever: shutting down waits this long for them at most.
        timeout_graceful_shutdown=settings.shutdown_timeout,
        log_config=uvicorn_log_config(settings, package),
        log_level=settings.log_level,
        # Behind a proxy: whose X-Forwarded-* to believe, and the prefix it strips.
        proxy_headers=settings.proxy_headers,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        root_path=settings.root_path,
    )


def command_line(package: str, prog: str) -> argparse.ArgumentParser:
    """The parser of every command of the app `package`, called `prog` in its messages."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=f"{package}: serve it, mint a token, write a new channel or the types.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="serve the app with uvicorn")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    serve.add_argument("--reload", action="store_true", help="restart on code changes")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes (default: %(default)s); more share broadcasts through Redis only",
    )
    serve.add_argument(
        "--app",
        default=f"{package}.main:app",
        help="what to serve, as an import string (default: %(default)s)",
    )
    serve.add_argument("--factory", action="store_true", help="--app names a function to call")
    types = commands.add_parser("types", help="write the messages' TypeScript types")
    types.add_argument("--output", type=Path, help="a .d.ts file (default: standard output)")
    channel = commands.add_parser("new-channel", help="write a new channel, registered and tested")
    channel.add_argument("name", help="lower case, as in /ws/NAME (letters, digits, _)")
    token = commands.add_parser("token", help="print a signed token for a user (development)")
    token.add_argument("user", help="the user id, stored as the token's `sub` claim")
    token.add_argument(
        "--ttl", type=int, default=3600, help="lifetime in seconds (default: %(default)s)"
    )
    token.add_argument(
        "--scope",
        action="append",
        default=[],
        help="grant an HTTP API scope, e.g. orders:publish (repeatable)",
    )
    return parser


def program_name(package: str, argv: Sequence[str] | None) -> str:
    """How the user called this, for --help and errors: the installed command's name, or
    `python -m <package>`."""
    called = Path(sys.argv[0]).name if argv is None and sys.argv else ""
    if called in ("", "__main__.py", "-c") or called.endswith(".py"):
        return f"python -m {package}"
    return called


def app_settings(package: str) -> RuntimeSettings:
    settings: RuntimeSettings = importlib.import_module(f"{package}.config").load_settings()
    return settings


def write_types(package: str, output: Path | None) -> None:
    # Imported here, not at the top: `serve` leaves importing the app to uvicorn.
    from .typescript import typescript_types

    channels = importlib.import_module(f"{package}.channels").CHANNELS
    title = importlib.import_module(f"{package}.app").TITLE
    text = typescript_types(channels, title=title)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)


def write_channel(parser: argparse.ArgumentParser, package: str, name: str) -> None:
    from .scaffold import ScaffoldError, new_channel

    try:
        written = new_channel(name, Path.cwd(), package)
    except ScaffoldError as exc:
        parser.exit(2, f"{parser.prog} new-channel: {exc}\n")
    for path in written:
        print(f"wrote {path.relative_to(Path.cwd())}")
    print(f"Serve it at /ws/{name}; its test: pytest tests/test_{name}.py")
