"""A post and what everyone then hears: the messages most channels here speak."""

from datetime import datetime
from typing import Annotated, Literal

from azu_ws import ClientMessage, Published, ServerMessage, utc_now
from pydantic import Field, StringConstraints

MAX_CONTENT_LENGTH = 4000


class PostMessage(ClientMessage):
    type: Literal["message"]
    content: Annotated[str, StringConstraints(min_length=1, max_length=MAX_CONTENT_LENGTH)]


class NewMessage(Published):
    type: Literal["message"] = "message"
    content: str
    user: str
    timestamp: datetime = Field(default_factory=utc_now)


class Joined(ServerMessage):
    """To a socket that joined a room: who is present now, itself included."""

    type: Literal["joined"] = "joined"
    members: list[str]


class UserJoined(ServerMessage):
    type: Literal["user_joined"] = "user_joined"
    user: str


class UserLeft(ServerMessage):
    type: Literal["user_left"] = "user_left"
    user: str
