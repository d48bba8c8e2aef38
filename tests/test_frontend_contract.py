"""What a front end relies on, checked with the front end's own tools: the AsyncAPI document
against the official AsyncAPI 3.0 schema, the TypeScript types with the TypeScript compiler.

Both tools come from the npm registry (`@asyncapi/specs`, `typescript`): scripts/dev.py
installs them into .venv/node once. Where npm is missing these tests skip, saying so;
under CI=true they fail, since a skipped test is not a passed one.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from .conftest import ROOT, Bake, package_of, python_in

NODE_MODULES = ROOT / ".venv" / "node" / "node_modules"
ASYNCAPI_SCHEMA = NODE_MODULES / "@asyncapi" / "specs" / "schemas" / "3.0.0-without-$id.json"
TSC = NODE_MODULES / "typescript" / "bin" / "tsc"
CHANNEL_OPTIONS = ("with_chat", "with_rooms", "with_notifications", "with_live_updates")

PRINT_DOCUMENT = """
import json, sys
from starlette.testclient import TestClient
from {package}.app import create_app
from {package}.config import Settings
settings = Settings(_env_file=None, environment="development", jwt_secret="x" * 32,
                    database_url="sqlite:///" + sys.argv[1])
with TestClient(create_app(settings)) as client:
    print(json.dumps(client.get("/asyncapi.json").json()))
"""


def need(path: Path, what: str) -> Path:
    if not path.exists():
        reason = f"{what} is not installed ({path}): npm is needed, see scripts/dev.py"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must check it")
        pytest.skip(reason)
    return path


def asyncapi_document(project: Path, scratch: Path) -> dict[str, Any]:
    script = PRINT_DOCUMENT.format(package=package_of(project))
    document: dict[str, Any] = json.loads(python_in(project, "-c", script, str(scratch / "app.db")))
    return document


@pytest.mark.parametrize(
    "answers",
    [{}, {"with_chat": "false", "with_notifications": "false"}],
    ids=["every-channel", "rooms-and-live-updates"],
)
def test_the_asyncapi_document_is_valid_against_the_official_asyncapi_3_schema(
    bake: Bake, tmp_path: Path, answers: dict[str, str]
) -> None:
    schema = json.loads(need(ASYNCAPI_SCHEMA, "@asyncapi/specs").read_text())
    project = bake(**answers)
    document = asyncapi_document(project, tmp_path)
    wanted = {option[5:] for option in CHANNEL_OPTIONS if answers.get(option) != "false"}
    assert set(document["channels"]) == wanted
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(document), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])
    # The schema is not vacuous: an operation must be `send` or `receive`.
    broken = json.loads(json.dumps(document))
    broken["operations"]["chat_send" if "chat" in wanted else "rooms_send"]["action"] = "emit"
    assert list(jsonschema.Draft7Validator(schema).iter_errors(broken))


USAGE = """
import { AzuSocket, trackMembers } from "./azu-ws";
import type { Channels } from "./messages";

const chat = new AzuSocket<Channels["/ws/chat"]>("/ws/chat", { getToken: async () => "t" });
chat.on("message", (m) => {
  const text: string = m.content;
  const author: string = m.user;
  return text + author;
});
chat.send({ type: "message", content: "hello" });
chat.request({ type: "ping" }).then((reply) => reply.type);
// @ts-expect-error: a chat does not take subscriptions
chat.send({ type: "subscribe", resource: "post", id: 1 });
// @ts-expect-error: content is required
chat.send({ type: "message" });
// @ts-expect-error: no such server message on the chat
chat.on("joined", () => undefined);

const room = new AzuSocket<Channels["/ws/rooms/{room_id}"]>("/ws/rooms/lobby");
trackMembers(room, (members: string[]) => members.length);
room.on("user_left", (m) => m.room.length);

const untyped = new AzuSocket("/ws/chat"); // without the types: any message
untyped.on("message", (m) => m.type);

const updates = new AzuSocket<Channels["/ws/live_updates"]>("/ws/live_updates");
updates.subscribe("post", 42);
updates.on("update", (m) => m.data);
"""


def test_the_typescript_types_compile_and_catch_a_wrong_message(bake: Bake, tmp_path: Path) -> None:
    tsc = need(TSC, "typescript")
    node = shutil.which("node")
    assert node is not None, "node comes with npm"
    project = bake()
    package = package_of(project)
    python_in(project, "-m", package, "types", "--output", str(tmp_path / "messages.d.ts"))
    shutil.copy(project / "src" / "azu_ws" / "static" / "azu-ws.d.ts", tmp_path)
    (tmp_path / "usage.ts").write_text(USAGE)
    compile_ = [node, str(tsc), "--noEmit", "--strict", "--target", "es2022"]
    compile_ += ["--module", "es2022", "--moduleResolution", "bundler", "usage.ts"]
    result = subprocess.run(
        compile_, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:]
    # And the compiler does refuse a message the server would refuse.
    (tmp_path / "usage.ts").write_text(USAGE.replace("// @ts-expect-error: content", "// content"))
    result = subprocess.run(
        compile_, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode != 0
    assert "content" in result.stdout
