"""The tables of docs/protocol.md say what the code says: each message type, each way, with
its fields, and each error code. Add a field, a message or a code and forget the docs, and
this fails, naming it.
"""

import re
from collections.abc import Iterable
from pathlib import Path
from typing import get_args

from azu_ws import Channel
from pydantic import BaseModel

from {{ cookiecutter.package_name }}.channels import CHANNELS

PROTOCOL = (Path(__file__).resolve().parents[1] / "docs" / "protocol.md").read_text()
NOT_FIELDS = {"type", "ref"}  # every message has a type; ref is on every one


def table(heading: str) -> dict[str, set[str]]:
    """type -> the fields a table lists for it (backquoted names outside parentheses)."""
    section = PROTOCOL.split("## Messages", 1)[1].split(heading, 1)[1].split("\n\n", 2)[1]
    rows: dict[str, set[str]] = {}
    for line in section.splitlines()[2:]:  # after the header and its rule
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        fields = re.sub(r"\([^)]*\)", "", cells[1])
        for kind in re.findall(r"`([a-z_]+)`", cells[0]):
            rows[kind] = set(re.findall(r"`([a-z_]+)`", fields))
    return rows


def described(models: Iterable[type[BaseModel]]) -> dict[str, set[str]]:
    """type -> the fields its models have; one type may be several channels' models, one
    adding fields to another's."""
    fields: dict[str, set[str]] = {}
    for model in models:
        (message_type,) = get_args(model.model_fields["type"].annotation)  # a one-value Literal
        fields.setdefault(message_type, set()).update(set(model.model_fields) - NOT_FIELDS)
    return fields


def test_the_client_to_server_table_matches_what_the_channels_accept() -> None:
    accepted = {model for channel in CHANNELS for model in channel.accepts}
    assert table("Client to server:") == described(accepted)


def test_the_server_to_client_table_matches_what_the_channels_send() -> None:
    sent = {model for channel in CHANNELS for model in channel.sends}
    assert table("Server to client:") == described(sent)


def test_the_error_code_table_lists_the_runtimes_codes_and_each_channels_own() -> None:
    section = PROTOCOL.split("| `code` | when |", 1)[1].split("\n\n", 1)[0]
    listed = re.findall(r"^\| `([a-z_]+)` \|", section, re.MULTILINE)
    own = [code for channel in CHANNELS for code in channel.error_codes]
    assert sorted(listed) == sorted({*Channel.all_error_codes, *own})
