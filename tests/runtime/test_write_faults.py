"""A write that fails for any reason but the peer leaving is loud: an ERROR with its
traceback, a 1011 to the client, a count in /metrics; a peer that resets stays quiet."""

import json
import re
import socket
import struct
from pathlib import Path

import pytest
from azu_ws.frames import Frame
from azu_ws.messages import Ping
from azu_ws.testing import WAIT, Server, receive, serve_command, uvicorn
from fastapi import FastAPI
from websockets.exceptions import ConnectionClosed

from .bench import PACKAGE
from .testapp.app import create_app
from .testapp.channels import CHANNELS, ProbeChannel
from .testapp.config import Settings
from .testapp.messages import NewMessage, PostMessage

BROKEN = "/ws/broken-wire"
SECRET = "a-secret-only-for-the-write-fault-tests-0123"
UNLIMITED = {"WS_RATE_LIMIT": "1000000", "WS_RATE_BURST": "100000"}


class InjectedFault(RuntimeError):
    """Stands for a bug of ours, or a server that changed under the runtime."""


class BrokenWire:
    """A wire whose every write fails as nothing on a real network does."""

    batched = True

    def write(self, frames: object, cache: dict[Frame, bytes]) -> None:
        raise InjectedFault("injected into the wire by the test")

    def abort(self) -> None:
        pass


class BrokenWireChannel(ProbeChannel):
    """The probe, whose wire breaks when told to: `break` breaks it, then writes."""

    path = BROKEN
    topic = "broken-wire"

    async def on_message(self, message: Ping | PostMessage) -> None:
        if isinstance(message, PostMessage) and message.content == "break":
            self.connection._wire = BrokenWire()
            await self.push(NewMessage(content="never sent", user=self.user.id))
            return
        await super().on_message(message)


def create_app_with_a_broken_wire(settings: Settings | None = None) -> FastAPI:
    return create_app(settings, channels=[*CHANNELS, BrokenWireChannel])


APP = serve_command(PACKAGE, "tests.runtime.test_write_faults:create_app_with_a_broken_wire")


def write_faults(server: Server) -> float:
    with server.get("/metrics") as response:
        text = response.read().decode()
    pattern = r'^azu_ws_write_faults_total\{channel="/ws/broken-wire"\} (\S+)$'
    found = re.search(pattern, text, re.MULTILINE)
    return float(found[1]) if found else 0.0


def test_a_write_that_fails_unexpectedly_is_an_error_a_1011_and_a_count(tmp_path: Path) -> None:
    with uvicorn(tmp_path, SECRET, command=APP, **UNLIMITED) as server:
        with server.connect(BROKEN, "alice") as alice:
            receive(alice, "connected")
            alice.send(json.dumps({"type": "message", "content": "break"}))
            with pytest.raises(ConnectionClosed) as closed:  # nothing was sent before it
                alice.recv(timeout=WAIT)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1011
        assert write_faults(server) == 1
        log = server.log.read_text()
        assert "a write failed; closing the socket with 1011" in log
        assert "InjectedFault: injected into the wire by the test" in log  # the traceback
        with server.connect(BROKEN, "bob") as bob:  # and the server serves on
            receive(bob, "connected")


def test_a_peer_that_resets_while_broadcasts_reach_it_stays_quiet(tmp_path: Path) -> None:
    with uvicorn(tmp_path, SECRET, command=APP, **UNLIMITED) as server:
        with server.connect(BROKEN, "carol") as carol:
            receive(carol, "connected")
            for _ in range(5):
                with server.connect(BROKEN, "dave") as leaver:
                    receive(leaver, "connected")
                    raw = leaver.socket
                    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    for number in range(50):
                        carol.send(json.dumps({"type": "message", "content": str(number)}))
                    raw.close()  # a reset, with broadcasts on their way to it
                for _ in range(50):
                    receive(carol, "message")
        assert write_faults(server) == 0
        log = server.log.read_text()
        assert "a write failed" not in log
        assert "Traceback" not in log
