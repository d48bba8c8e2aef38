"""Live updates, `/ws/live_updates`: subscribe to resources, get each change to them.

Every socket starts subscribed to its own `user` resource. Add a resource by
adding a line to RESOURCES, with the rule that says who may subscribe.

Back from a dropped connection, a client resumes its `user` resource with
`?since=epoch:offset`, and each other one with `since` in its `subscribe`.
"""

from collections.abc import Callable
from typing import Annotated

from azu_ws import Channel, ErrorMessage, Ping, Pong, Position, User
from pydantic import Field

from ..messages import ResourceId, Subscribe, Subscribed, Unsubscribe, Unsubscribed, Update
from ..updates import canonical_id, update_topic

LiveUpdatesInbound = Annotated[Ping | Subscribe | Unsubscribe, Field(discriminator="type")]
# Updates come from `services.updates.publish_update`, to the topics subscribed here.
LiveUpdatesOutbound = Pong | Subscribed | Unsubscribed | Update

# Who may subscribe to what: resource name -> rule(user, id).
MaySubscribe = Callable[[User, ResourceId], bool]
RESOURCES: dict[str, MaySubscribe] = {
    "user": lambda user, resource_id: str(resource_id) == user.id,  # only your own
    "post": lambda user, resource_id: True,
    "comment": lambda user, resource_id: True,
}


class LiveUpdatesChannel(Channel[LiveUpdatesInbound, LiveUpdatesOutbound]):
    path = "/ws/live_updates"

    async def on_connect(self) -> None:
        followed = await self.join(update_topic("user", self.user.id), since=self.since)
        subscribed = Subscribed(resource="user", id=self.user.id, **followed.greeting)
        await self.push(subscribed)

    async def on_message(self, message: LiveUpdatesInbound) -> None:
        match message:
            case Ping():
                await self.reply(message, Pong())
            case Subscribe(resource=resource, id=resource_id, since=since):
                resource_id = canonical_id(resource_id)  # as the updates will carry it
                refusal = self._refusal(resource, resource_id)
                if refusal:
                    await self.reply(message, refusal)
                    return
                topic = update_topic(resource, resource_id)
                followed = await self.join(topic, since=Position.parse(since) if since else None)
                subscribed = Subscribed(resource=resource, id=resource_id, **followed.greeting)
                await self.reply(message, subscribed)
            case Unsubscribe(resource=resource, id=resource_id):
                resource_id = canonical_id(resource_id)
                topic = update_topic(resource, resource_id)
                if topic not in self.connection.topics:
                    not_subscribed = f"Not subscribed to {resource} {resource_id}"
                    error = ErrorMessage(code="not_subscribed", message=not_subscribed)
                    await self.reply(message, error)
                    return
                await self.leave(topic)
                await self.reply(message, Unsubscribed(resource=resource, id=resource_id))

    def _refusal(self, resource: str, resource_id: ResourceId) -> ErrorMessage | None:
        rule = RESOURCES.get(resource)
        if rule is None:
            known = ", ".join(RESOURCES)
            return ErrorMessage(
                code="unknown_resource", message=f"Unknown resource {resource!r}; use {known}"
            )
        if not rule(self.user, resource_id):
            return ErrorMessage(code="forbidden", message=f"Not allowed: {resource} {resource_id}")
        # Past WS_MAX_SUBSCRIPTIONS, `join` itself answers too_many_subscriptions.
        return None
