"""The origin check against cross-site WebSocket hijacking (docs/ARCHITECTURE.md, Defences)."""

from collections.abc import Mapping
from urllib.parse import urlsplit


def origin_allowed(headers: Mapping[str, str], allowed: list[str]) -> bool:
    """Allowed: no Origin, the page's own host, or an origin in ALLOWED_ORIGINS (`*`: any).

    Scheme and host compare without regard to case, as browsers treat them:
    `allowed` is in lower case already (the settings see to it).
    """
    origin = headers.get("origin")
    if origin is None or "*" in allowed:
        return True
    origin = origin.rstrip("/").lower()
    if origin in allowed:
        return True
    # Same origin: the page was served by the host the socket connects to.
    host = headers.get("host", "").lower()
    return bool(origin != "null" and host and urlsplit(origin).netloc == host)
