"""The runtime's test bench in the reference app: a probe channel, the app with it mounted,
and the commands that serve them.

`create_probe_app` is the app with the probe mounted, for uvicorn's
`--factory` in the end-to-end tests.
"""

from pathlib import Path
from typing import Annotated

from azu_ws.channel import Channel
from azu_ws.messages import Connected, Ping, Pong
from azu_ws.testing import serve_command
from fastapi import FastAPI
from pydantic import Field

import realtime_app
from realtime_app.app import create_app
from realtime_app.channels import CHANNELS
from realtime_app.config import Settings
from realtime_app.messages import NewMessage, PostMessage

ProbeInbound = Annotated[Ping | PostMessage, Field(discriminator="type")]
ProbeOutbound = Connected | Pong | NewMessage
PROBE = "/ws/probe"
# Like the probe, but posts go to everyone else (`broadcast_from`), kept and replayed.
PROBE_OTHERS = "/ws/probe-others"
PACKAGE = realtime_app.__name__
SOURCE = Path(realtime_app.__file__).resolve().parents[1]
PROJECT = SOURCE.parent
# Both through `python -m <package> serve`, as the README runs it in production.
SERVE_COMMAND = serve_command(PACKAGE)
PROBE_APP = serve_command(PACKAGE, "tests.runtime.probe:create_probe_app")
# An app of one channel, the probe: what a page shows when an app has no other.
PROBE_ONLY_APP = serve_command(PACKAGE, "tests.runtime.probe:create_probe_only_app")


class ProbeChannel(Channel[ProbeInbound, ProbeOutbound]):
    path = PROBE
    topic = "probe"

    async def on_connect(self) -> None:
        joined_at = await self.join(self.topic, since=self.since)
        connected = Connected(message=self.topic, user=self.user.id, **joined_at.greeting)
        await self.push(connected)

    async def on_message(self, message: ProbeInbound) -> None:
        match message:
            case Ping():
                await self.reply(message, Pong())
            case PostMessage(content=content):
                await self.post(NewMessage(content=content, user=self.user.id))

    async def post(self, message: NewMessage) -> None:
        await self.broadcast(self.topic, message)

    async def on_binary(self, data: bytes) -> None:
        await self.broadcast_from(self.topic, data)


class OthersProbeChannel(ProbeChannel):
    path = PROBE_OTHERS
    topic = "others"

    async def post(self, message: NewMessage) -> None:
        await self.broadcast_from(self.topic, message)


def create_probe_app(settings: Settings | None = None) -> FastAPI:
    return create_app(settings, channels=[*CHANNELS, ProbeChannel, OthersProbeChannel])


def create_probe_only_app(settings: Settings | None = None) -> FastAPI:
    return create_app(settings, channels=[ProbeChannel])
