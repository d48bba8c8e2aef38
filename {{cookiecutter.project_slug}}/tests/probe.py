"""A channel for testing the machinery, so those tests hold whichever channels a project keeps.

`create_probe_app` is the app with it mounted, for uvicorn's `--factory` in
the end-to-end tests.
"""

from typing import Annotated

from azu_ws.channel import Channel
from azu_ws.messages import Ping, Pong
from fastapi import FastAPI
from pydantic import Field

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.channels import CHANNELS
from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.messages import Connected, NewMessage, PostMessage

ProbeInbound = Annotated[Ping | PostMessage, Field(discriminator="type")]
ProbeOutbound = Connected | Pong | NewMessage
PROBE = "/ws/probe"


class ProbeChannel(Channel[ProbeInbound, ProbeOutbound]):
    path = PROBE

    async def on_connect(self) -> None:
        followed = await self.join("probe", since=self.since)
        connected = Connected(message="probe", user=self.user.id, **followed.greeting)
        await self.push(connected)

    async def on_message(self, message: ProbeInbound) -> None:
        match message:
            case Ping():
                await self.reply(message, Pong())
            case PostMessage(content=content):
                await self.broadcast("probe", NewMessage(content=content, user=self.user.id))

    async def on_binary(self, data: bytes) -> None:
        await self.broadcast_from("probe", data)


def create_probe_app(settings: Settings | None = None) -> FastAPI:
    return create_app(settings, channels=[*CHANNELS, ProbeChannel])
