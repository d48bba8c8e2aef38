"""The chat channel: everyone on `/ws/chat` hears every message, typed and signed by the token.

A client back from a dropped connection adds `?since=epoch:offset` (of the
last message it got) and gets what it missed first.
"""

from typing import Annotated

from azu_ws import Channel, Connected, Ping, Pong
from pydantic import Field

from ..messages import NewMessage, PostMessage, SetTyping, UserTyping

ChatInbound = Annotated[Ping | PostMessage | SetTyping, Field(discriminator="type")]
ChatOutbound = Connected | Pong | NewMessage | UserTyping

ROOM = "chat"


class ChatChannel(Channel[ChatInbound, ChatOutbound]):
    path = "/ws/chat"

    async def on_connect(self) -> None:
        joined_at = await self.join(ROOM, since=self.since)
        connected = Connected(message="Connected to chat", user=self.user.id, **joined_at.greeting)
        await self.push(connected)

    async def on_message(self, message: ChatInbound) -> None:
        match message:
            case Ping():
                await self.reply(message, Pong())
            case PostMessage(content=content):
                # The author is who the token says, whatever the client claims.
                await self.broadcast(ROOM, NewMessage(content=content, user=self.user.id))
            case SetTyping(is_typing=is_typing):
                await self.broadcast(ROOM, UserTyping(user=self.user.id, is_typing=is_typing))
