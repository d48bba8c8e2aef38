"""Live updates: application code publishes a change, subscribers of that resource get it."""

import re
from typing import Any

from azu_ws import Hub

from .messages import ResourceId, Update

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
    """The live-updates API for application code."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    async def publish_update(
        self, resource: str, resource_id: ResourceId, data: dict[str, Any]
    ) -> None:
        """Send `data` to every subscriber of (`resource`, `resource_id`), and nobody else."""
        message = Update(resource=resource, id=canonical_id(resource_id), data=data)
        await self._hub.publish(update_topic(resource, resource_id), message)
