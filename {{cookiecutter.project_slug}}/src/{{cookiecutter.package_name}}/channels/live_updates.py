"""Live updates, `/ws/live_updates`: subscribe to resources, get each change to them.

Every socket starts subscribed to its own `user` resource. Add a resource by
adding a line to RESOURCES, with the rule that says who may subscribe.
Application code publishes a change with `UpdatePublisher.publish_update`
(`app.state.updates`; the HTTP route in `api/updates.py` is one such caller).

Back from a dropped connection, a client resumes its `user` resource with
`?since=epoch:offset`, and each other one with `since` in its `subscribe`.
"""

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

from azu_ws import (
    Channel,
    ClientError,
    ClientMessage,
    ErrorCodes,
    Greeting,
    Hub,
    Ping,
    Pong,
    Position,
    Published,
    ServerMessage,
    Services,
    Since,
    User,
    utc_now,
)
from pydantic import Field, StrictInt, StrictStr, StringConstraints
from starlette.applications import Starlette

# A resource: its kind (`post`), and which one (42 or "a1b2").
ResourceName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
ResourceId = (
    Annotated[StrictStr, StringConstraints(min_length=1, max_length=64)]
    | Annotated[StrictInt, Field(ge=-(2**63), lt=2**63)]
)


class Subscribe(ClientMessage):
    """Subscribe to a resource; with `since` (`epoch:offset`), get what was missed first."""

    type: Literal["subscribe"]
    resource: ResourceName
    id: ResourceId
    since: Since | None = None


class Unsubscribe(ClientMessage):
    type: Literal["unsubscribe"]
    resource: ResourceName
    id: ResourceId


class Subscribed(Greeting):
    type: Literal["subscribed"] = "subscribed"
    resource: str
    id: ResourceId


class Unsubscribed(ServerMessage):
    type: Literal["unsubscribed"] = "unsubscribed"
    resource: str
    id: ResourceId


class Update(Published):
    """A change to a resource, sent to its subscribers only."""

    type: Literal["update"] = "update"
    resource: str
    id: ResourceId
    data: dict[str, Any]
    timestamp: datetime = Field(default_factory=utc_now)


LiveUpdatesInbound = Annotated[Ping | Subscribe | Unsubscribe, Field(discriminator="type")]
# Updates come from `UpdatePublisher.publish_update`, to the topics subscribed here.
LiveUpdatesOutbound = Pong | Subscribed | Unsubscribed | Update

# Who may subscribe to what: resource name -> rule(user, id).
MaySubscribe = Callable[[User, ResourceId], bool]
RESOURCES: dict[str, MaySubscribe] = {
    "user": lambda user, resource_id: str(resource_id) == user.id,  # only your own
    "post": lambda user, resource_id: True,
    "comment": lambda user, resource_id: True,
}


_INTEGER = re.compile(r"^(0|-?[1-9][0-9]{0,17})$")


def canonical_id(resource_id: ResourceId) -> ResourceId:
    """42 and "42" name the same resource (a URL has only strings); "042" stays a string.

    Integers of up to 18 digits, which fit the messages' 64-bit bound.
    """
    if isinstance(resource_id, str) and _INTEGER.match(resource_id):
        return int(resource_id)
    return resource_id


def update_topic(resource: str, resource_id: ResourceId) -> str:
    """The topic of one resource."""
    return f"updates:{resource}:{canonical_id(resource_id)}"


class UpdatePublisher:
    """The live-updates API for application code: `app.state.updates`."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    async def publish_update(
        self, resource: str, resource_id: ResourceId, data: dict[str, Any]
    ) -> None:
        """Send `data` to every subscriber of (`resource`, `resource_id`), and nobody else."""
        message = Update(resource=resource, id=canonical_id(resource_id), data=data)
        await self._hub.publish(update_topic(resource, resource_id), message)


class LiveUpdatesChannel(Channel[LiveUpdatesInbound, LiveUpdatesOutbound]):
    path = "/ws/live_updates"
    error_codes = ErrorCodes(
        unknown_resource="a subscription to a resource not in `RESOURCES`",
        forbidden="a subscription the rules refuse",
        not_subscribed="an `unsubscribe` from something not subscribed",
    )

    @classmethod
    @asynccontextmanager
    async def lifespan(cls, app: Starlette, services: Services) -> AsyncIterator[None]:
        app.state.updates = UpdatePublisher(services.hub)
        yield

    async def on_connect(self) -> None:
        joined_at = await self.join(update_topic("user", self.user.id), since=self.since)
        subscribed = Subscribed(resource="user", id=self.user.id, **joined_at.greeting)
        await self.push(subscribed)

    async def on_message(self, message: LiveUpdatesInbound) -> None:
        match message:
            case Ping():
                await self.reply(message, Pong())
            case Subscribe(resource=resource, id=resource_id, since=since):
                resource_id = canonical_id(resource_id)  # as the updates will carry it
                self._check_may_subscribe(resource, resource_id)
                topic = update_topic(resource, resource_id)
                joined_at = await self.join(topic, since=Position.parse(since) if since else None)
                subscribed = Subscribed(resource=resource, id=resource_id, **joined_at.greeting)
                await self.reply(message, subscribed)
            case Unsubscribe(resource=resource, id=resource_id):
                resource_id = canonical_id(resource_id)
                topic = update_topic(resource, resource_id)
                if not self.has_joined(topic):
                    not_subscribed = f"Not subscribed to {resource} {resource_id}"
                    raise ClientError("not_subscribed", not_subscribed)
                await self.leave(topic)
                await self.reply(message, Unsubscribed(resource=resource, id=resource_id))

    def _check_may_subscribe(self, resource: str, resource_id: ResourceId) -> None:
        rule = RESOURCES.get(resource)
        if rule is None:
            known = ", ".join(RESOURCES)
            raise ClientError("unknown_resource", f"Unknown resource {resource!r}; use {known}")
        if not rule(self.user, resource_id):
            raise ClientError("forbidden", f"Not allowed: {resource} {resource_id}")
        # Past WS_MAX_SUBSCRIPTIONS, `join` itself answers too_many_subscriptions.
