"""What the runtime and the channels' lifespans hang on `app.state`, read back typed."""

from collections.abc import Callable
from typing import TypeVar

from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.requests import HTTPConnection, Request

T = TypeVar("T")


class MissingState(LookupError):
    """`app.state` has no such name: the lifespan that makes it has not run (a TestClient
    used without `with`), or the channel whose lifespan makes it is not in the app."""


def state_of(holder: Starlette | HTTPConnection | State, name: str, kind: type[T]) -> T:
    """`app.state.<name>`, checked to be a `kind`: from the app, a request or socket, or a
    channel's `self.state`. Raises MissingState when it is not there, TypeError when it is
    something else."""
    if isinstance(holder, HTTPConnection):
        holder = holder.app
    state = holder if isinstance(holder, State) else holder.state
    try:
        value = getattr(state, name)
    except AttributeError:
        raise MissingState(
            f"app.state has no {name!r}: it is made in a lifespan, which runs when the app "
            "starts (`with TestClient(app)`), and only for the channels the app was built with"
        ) from None
    if not isinstance(value, kind):
        raise TypeError(f"app.state.{name} is {type(value).__name__}, expected {kind.__name__}")
    return value


def app_state(name: str, kind: type[T]) -> Callable[[Request], T]:
    """A FastAPI dependency: `app.state.<name>`, checked as `state_of` does.

    `NotifierDep = Annotated[Notifier, Depends(app_state("notifier", Notifier))]`
    """

    def dependency(request: Request) -> T:
        return state_of(request, name, kind)

    dependency.__name__ = f"app_state_{name}"
    return dependency
