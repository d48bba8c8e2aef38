"""Every channel of the app, in one place: this list becomes the websocket routes."""

from typing import Any

from azu_ws import Channel

from .chat import ChatChannel
from .live_updates import LiveUpdatesChannel
from .notifications import NotificationsChannel
from .rooms import RoomChannel

CHANNELS: list[type[Channel[Any, Any]]] = [
    ChatChannel,
    RoomChannel,
    NotificationsChannel,
    LiveUpdatesChannel,
]
