"""The HTTP API for server-side publishing; each router here is mounted by the app."""

from fastapi import APIRouter

from .notifications import router as notifications_router
from .rooms import router as rooms_router
from .updates import router as updates_router
from .users import router as users_router

# What the runtime guards as the API: a bearer token before a body is read, a rate per caller.
API_PREFIX = "/api/"

ROUTERS: list[APIRouter] = [
    notifications_router,
    rooms_router,
    updates_router,
    users_router,
]
