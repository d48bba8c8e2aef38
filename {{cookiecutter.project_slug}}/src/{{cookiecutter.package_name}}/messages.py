"""The messages of a conversation: post, typing, and what everyone then hears. A channel's
other messages are in its own module."""

from datetime import datetime
from typing import Annotated, Literal

from azu_ws import ClientMessage, Published, ServerMessage, utc_now
from pydantic import Field, StringConstraints

MAX_CONTENT_LENGTH = 4000


# --- client to server ---------------------------------------------------------


class PostMessage(ClientMessage):
    type: Literal["message"]
    content: Annotated[str, StringConstraints(min_length=1, max_length=MAX_CONTENT_LENGTH)]


class SetTyping(ClientMessage):
    type: Literal["typing"]
    is_typing: bool


# --- server to client ---------------------------------------------------------


class NewMessage(Published):
    type: Literal["message"] = "message"
    content: str
    user: str
    timestamp: datetime = Field(default_factory=utc_now)


class UserTyping(ServerMessage):
    type: Literal["typing"] = "typing"
    user: str
    is_typing: bool
    timestamp: datetime = Field(default_factory=utc_now)
