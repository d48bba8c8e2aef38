"""Every channel of the app, in one place: this list becomes the websocket routes."""

from typing import Any

from ..core.channel import Channel
from .chat import ChatChannel

CHANNELS: list[type[Channel[Any]]] = [ChatChannel]
