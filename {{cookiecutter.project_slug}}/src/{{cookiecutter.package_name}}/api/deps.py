"""What the HTTP routes share: typed bodies, and the runtime's services."""

from typing import Annotated, Any

from azu_ws import MAX_USER_ID_LENGTH, Services, app_state, utf8_json
from fastapi import Depends, Path
from pydantic import AfterValidator, BaseModel, ConfigDict, model_validator

# What one JSON object of a request body may carry, serialised: it goes to
# sockets (and may be stored), so it must fit comfortably in a frame.
MAX_PAYLOAD_BYTES = 64 * 1024


class Body(BaseModel):
    """Base of the request bodies: unknown fields are an error, as on the sockets, and so
    is a string UTF-8 cannot encode (a lone surrogate): no socket could be sent it."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _utf8(cls, data: Any) -> Any:
        utf8_json(data)
        return data


def _small(value: dict[str, Any]) -> dict[str, Any]:
    if len(utf8_json(value)) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"must serialise to at most {MAX_PAYLOAD_BYTES} bytes")
    return value


def _printable(value: str) -> str:
    if not value.isprintable():
        raise ValueError("must be printable")
    return value


# A JSON object of bounded size, and a user id in a path as a token's `sub` may be.
Payload = Annotated[dict[str, Any], AfterValidator(_small)]
UserIdPath = Annotated[
    str, AfterValidator(_printable), Path(min_length=1, max_length=MAX_USER_ID_LENGTH)
]


ServicesDep = Annotated[Services, Depends(app_state("services", Services))]
