"""`python -m <package> new-channel NAME`: a working channel to edit, registered, documented in
docs/protocol.md and tested, like Phoenix's `mix phx.gen.channel`."""

import keyword
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from string import Template

NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# Names that would shadow what a channels module or the package already uses,
# or whose topic (the channel's name) is taken: `all` reaches every socket, and
# `control`'s Redis channel, `azu:control`, is the one the Redis broker keeps
# subscribed and ignores (its IDLE_CHANNEL; the hub's orders use `hub:control`).
RESERVED = {"channel", "channels", "core", "messages", "api", "static", "test", "all", "control"}

CHANNEL = Template('''"""`/ws/$name`: say here what this channel is for.

A client sends `post`; everyone on the channel gets `posted`, signed with
the user of the token. Change the models and `on_message` to what this
channel is for. Made by

    python -m $package new-channel $name
"""

from datetime import datetime
from typing import Annotated, Literal

from azu_ws import Channel, ClientMessage, Connected, Ping, Pong, Published, utc_now
from pydantic import Field, StringConstraints

TOPIC = "$name"


class ${Name}Post(ClientMessage):
    """What a client sends to everyone on /ws/$name."""

    type: Literal["post"]
    text: Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class ${Name}Posted(Published):
    """What everyone on /ws/$name gets: the text, and who sent it."""

    type: Literal["posted"] = "posted"
    user: str
    text: str
    timestamp: datetime = Field(default_factory=utc_now)


${Name}Inbound = Annotated[Ping | ${Name}Post, Field(discriminator="type")]
${Name}Outbound = Connected | Pong | ${Name}Posted


class ${Name}Channel(Channel[${Name}Inbound, ${Name}Outbound]):
    path = "/ws/$name"
    # Error codes of its own, for `raise ClientError(code, message)` in a hook:
    # error_codes = ErrorCodes(no_such_thing="what it means, in one line")

    async def on_connect(self) -> None:
        # Back from a drop with ?since=epoch:offset of the last `posted`, the
        # client hears `recovered` in the greeting, then the missed ones.
        joined_at = await self.join(TOPIC, since=self.since)
        hello = "Connected to /ws/$name"
        await self.push(Connected(message=hello, user=self.user.id, **joined_at.greeting))

    async def on_message(self, message: ${Name}Inbound) -> None:
        match message:
            case Ping():
                await self.reply(message, Pong())
            case ${Name}Post(text=text):
                # The author is who the token says, never what the client claims.
                await self.broadcast(TOPIC, ${Name}Posted(user=self.user.id, text=text))
''')

TEST = Template('''"""The $name channel as its users see it (written by `new-channel`)."""

from azu_ws import Connected, Ping, Pong
from azu_ws.testing import Join

from $package.channels.$name import ${Name}Channel, ${Name}Post, ${Name}Posted


def test_a_post_reaches_everyone_on_the_channel_signed_by_the_token(join: Join) -> None:
    with join(${Name}Channel, "alice") as alice, join(${Name}Channel, "bob") as bob:
        for client in (alice, bob):  # the greeting comes once the socket has joined
            client.expect(Connected)
        alice.send(${Name}Post(type="post", text="hello"))
        for client in (alice, bob):
            posted = client.expect(${Name}Posted)
            assert (posted.user, posted.text) == ("alice", "hello")


def test_a_ping_is_answered_with_its_ref(join: Join) -> None:
    with join(${Name}Channel) as alice:
        alice.expect(Connected)
        alice.request(Ping(type="ping"), Pong)


def test_a_bad_post_is_a_typed_error_and_the_socket_stays_open(join: Join) -> None:
    with join(${Name}Channel) as alice:
        alice.expect(Connected)
        alice.send_raw('{"type": "post", "text": ""}')
        error = alice.expect_error("invalid_message")
        assert [field.field for field in error.fields or []] == ["text"]
        alice.expect_quiet()
''')


def camel_case(name: str) -> str:
    """`live_scores` -> `LiveScores`: class names here, type names in messages.d.ts."""
    return "".join(part.capitalize() for part in name.split("_"))


class ScaffoldError(ValueError):
    """The channel cannot be written as asked; the message says why."""


@dataclass(frozen=True)
class NewChannel:
    name: str
    root: Path  # the project: where src/ and tests/ are
    package: str  # the app's package, in src/

    @property
    def class_prefix(self) -> str:
        return camel_case(self.name)

    @property
    def channels(self) -> Path:
        return self.root / "src" / self.package / "channels"

    @property
    def module(self) -> Path:
        return self.channels / f"{self.name}.py"

    @property
    def test(self) -> Path:
        return self.root / "tests" / f"test_{self.name}.py"

    @property
    def registry(self) -> Path:
        return self.channels / "__init__.py"

    @property
    def protocol(self) -> Path:
        """The page with the message tables."""
        return self.root / "docs" / "protocol.md"

    def check(self) -> None:
        if not self.registry.exists() or not (self.root / "tests").is_dir():
            raise ScaffoldError(f"run this from the project's root: {self.registry} is not there")
        if not NAME.match(self.name) or self.name in RESERVED or keyword.iskeyword(self.name):
            raise ScaffoldError(
                f"{self.name!r} is not a channel name: use lower case letters, digits and _, "
                f"starting with a letter, at most 32 (and none of {sorted(RESERVED)})"
            )
        for path in (self.module, self.test):
            if path.exists():
                raise ScaffoldError(f"{path} exists already: nothing was written")
        quoted = f'"/ws/{self.name}"'
        if any(quoted in module.read_text() for module in self.channels.glob("*.py")):
            raise ScaffoldError(f"a channel already serves /ws/{self.name}")
        if f"{self.class_prefix}Channel" in self.registry.read_text():
            raise ScaffoldError(f"CHANNELS already has a {self.class_prefix}Channel")

    def write(self) -> list[Path]:
        self.check()
        values = {
            "name": self.name,
            "Name": self.class_prefix,
            "package": self.package,
        }
        # Everything is worked out before anything is written: a registry this
        # cannot edit leaves the project as it was.
        contents = {
            self.module: CHANNEL.substitute(values),
            self.registry: register(self.registry.read_text(), self.name, values["Name"]),
            self.test: TEST.substitute(values),
        }
        if self.protocol.exists():
            contents[self.protocol] = document(self.protocol.read_text(), self.name)
        for path, text in contents.items():
            path.write_text(text)
        written = list(contents)
        tidy([path for path in written if path.suffix == ".py"])
        return written


def register(source: str, name: str, prefix: str) -> str:
    """`channels/__init__.py` with the new channel imported (in sorted place) and listed."""
    lines = source.splitlines()
    imports = [i for i, line in enumerate(lines) if line.startswith("from .")]
    new_import = f"from .{name} import {prefix}Channel"
    position = next(
        (i for i in imports if lines[i].split()[1] > f".{name}"),
        imports[-1] + 1 if imports else 0,
    )
    lines.insert(position, new_import)
    closing = [i for i, line in enumerate(lines) if line == "]"]
    if not closing or "(" in lines[position - 1]:
        raise ScaffoldError(
            "channels/__init__.py is not laid out as generated (one import a line, CHANNELS "
            "one class a line, closed by ] alone): add the channel to it by hand"
        )
    lines.insert(closing[-1], f"    {prefix}Channel,")
    return "\n".join(lines) + "\n"


# The new channel's rows in the message tables, and the rows they go before.
TABLE_ROWS = (
    ("| `auth` |", "| `post` | `text` (1 to 1000 characters) | {name} |"),
    (
        "| `pong` |",
        "| `connected` | `message`, `user`, `timestamp`; `epoch`, `offset`, `recovered` |",
    ),
    (
        "| `error` |",
        "| `posted` | `user` (from the token), `text`, `timestamp`, `offset`, `epoch` |",
    ),
)


def document(page: str, name: str) -> str:
    """The page with the new messages in its tables. A table without the row to insert
    before (a page rewritten by hand) is left as it is."""
    lines = page.splitlines()
    for before, row in TABLE_ROWS:
        kind = row.split(" | ")[0] + " |"
        listed = [index for index, line in enumerate(lines) if line.startswith(kind)]
        if listed and "{name}" in row:  # another generated channel's: name this one too
            lines[listed[0]] = lines[listed[0]].removesuffix(" |") + f", {name} |"
        elif not listed:
            position = next((i for i, line in enumerate(lines) if line.startswith(before)), None)
            if position is not None:
                lines.insert(position, row.format(name=name))
    return "\n".join(lines) + "\n"


def tidy(paths: list[Path]) -> None:
    """ruff format the new files where ruff is installed (a long name makes long lines)."""
    command = [sys.executable, "-m", "ruff", "format", "--quiet", *map(str, paths)]
    subprocess.run(command, check=False, capture_output=True)  # noqa: S603 - our own files


def new_channel(name: str, root: Path, package: str) -> list[Path]:
    """Write the channel `name` into the app `package`, its registration and its test; the
    paths written."""
    return NewChannel(name, root, package).write()
