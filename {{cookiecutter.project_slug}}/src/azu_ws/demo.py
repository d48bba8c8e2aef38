"""The demo page at `/` (static/, no build step): a panel per channel, built from
`/asyncapi.json`, every URL under ROOT_PATH; in development only, tokens on request
(`POST /dev/token`)."""

import html
import ipaddress
import logging
from pathlib import Path
from string import Template
from typing import Annotated

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .auth import create_token
from .settings import RuntimeSettings

logger = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"


class DevTokenRequest(BaseModel):
    """No `scopes`: the page only opens sockets. A token for the HTTP API comes from
    `python -m <package> token NAME --scope S`, as the app's own scopes are its business."""

    model_config = ConfigDict(extra="forbid")

    user: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")]
    ttl_seconds: Annotated[int, Field(ge=10, le=24 * 3600)] = 900


class DevToken(BaseModel):
    token: str
    user: str
    expires_in: int


def mount_demo(app: FastAPI, settings: RuntimeSettings, package: str) -> None:
    """The page at `/`, titled as the app, naming `package` in its hints; its files at `/static`."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    page = Template((STATIC / "index.html").read_text(encoding="utf-8"))
    names = {"title": html.escape(app.title), "package": html.escape(package)}

    @app.get("/", include_in_schema=False)
    async def demo_page(request: Request) -> HTMLResponse:
        # The prefix a proxy strips (uvicorn's --root-path), for the page's own URLs.
        root = str(request.scope.get("root_path", "")).rstrip("/")
        return HTMLResponse(page.safe_substitute(names, root=html.escape(root)))

    if settings.environment == "development":
        logger.warning(
            "ENVIRONMENT=development: POST /dev/token signs a token for any user name, "
            "for clients on this machine; never let others reach a development server"
        )
        app.include_router(_dev_token_router(settings))


def _from_this_machine(request: Request) -> bool:
    """Whether the request came over loopback (as uvicorn says; with --proxy-headers,
    the address the trusted proxy forwarded), addressed to this machine by name: a
    page of another site whose name was made to point here (DNS rebinding) is not."""
    client = request.client.host if request.client else ""
    return _is_loopback(client) and _is_loopback(request.url.hostname or "")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _dev_token_router(settings: RuntimeSettings) -> APIRouter:
    router = APIRouter(prefix="/dev", tags=["development only"])

    @router.post("/token")
    async def dev_token(body: DevTokenRequest, request: Request) -> DevToken:
        """A token for any user, with no password: ENVIRONMENT=development, from this
        machine only."""
        if not _from_this_machine(request):
            raise HTTPException(403, "development tokens are for clients on this machine only")
        token = create_token(body.user, settings, ttl_seconds=body.ttl_seconds)
        return DevToken(token=token, user=body.user, expires_in=body.ttl_seconds)

    return router
