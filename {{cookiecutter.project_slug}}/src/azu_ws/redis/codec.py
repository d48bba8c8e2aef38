"""The broker's wire formats: the pub/sub envelope (formats 1 and 2) and history entries
(docs/ARCHITECTURE.md, Rolling deploys)."""

import json
from dataclasses import dataclass

from ..formats import CURRENT, UnknownFormat, check
from ..frames import Envelope, Frame, Position


@dataclass(frozen=True, slots=True)
class Relayed:
    """A pub/sub message as read: the envelope, the process that must skip it (it was
    delivered there directly), and its publish's id (format 2; '' in format 1)."""

    envelope: Envelope
    skip: str = ""
    publish_id: str = ""


def header(
    frame: Frame, exclude: str | None, skip: str, publish_id: str, version: int
) -> tuple[bytes, bytes]:
    """The envelope's header in `version`, around the place of its position (RECORD fills it)."""
    kind = "t" if isinstance(frame, str) else "b"
    if version == 1:  # `t` or `b`, the process to skip, a space, the sender, a space, the position
        return f"{kind}{skip} {exclude or ''} ".encode(), b""
    fields = {"k": kind, "s": skip, "x": exclude or "", "i": publish_id}
    return b"2" + json.dumps(fields, separators=(",", ":"))[:-1].encode() + b',"p":"', b'"}'


def encode(
    envelope: Envelope, *, skip: str = "", publish_id: str = "", version: int = CURRENT
) -> bytes:
    """The pub/sub message of `envelope` in `version`: its header line, then the frame."""
    frame, position = envelope.frame, envelope.position
    before, after = header(frame, envelope.exclude, skip, publish_id, version)
    if position is not None:
        head = before + f"{position.epoch}:{position.offset}".encode() + after
    elif version == 1:
        head = before[:-1]  # no position: no second space
    else:
        head = before.removesuffix(b',"p":"') + b"}"
    data = frame.encode() if isinstance(frame, str) else frame
    return head + b"\n" + data


def decode(topic: str, message: bytes) -> Relayed:
    """A pub/sub message of format 1 or 2; UnknownFormat for another, ValueError if broken."""
    newline = message.index(b"\n")
    head, data = message[:newline], message[newline + 1 :]
    if head[:1] in (b"t", b"b"):  # format 1, unversioned
        skip, _, rest = head[1:].decode().partition(" ")
        exclude, _, where = rest.partition(" ")
        kind, publish_id = head[:1].decode(), ""
    elif head[:2] == b"2{":
        fields = json.loads(head[1:])
        kind, skip, exclude = fields["k"], fields["s"], fields["x"]
        where, publish_id = fields.get("p", ""), fields["i"]
    else:
        raise UnknownFormat(head[:1].decode(errors="replace"), "a pub/sub message")
    position = Position.parse(where) if where else None
    frame: Frame = data.decode() if kind == "t" else data
    return Relayed(Envelope(topic, frame, exclude or None, position), skip, publish_id)


def kept_entry(topic: str, epoch: str, entry_id: bytes, fields: list[bytes]) -> Envelope:
    """A history stream entry of format 1 (`f`) or 2 (`f`, `x` its sender, `v`)."""
    values = dict(zip(fields[::2], fields[1::2], strict=True))
    check(int(values.get(b"v", b"1")), "a history entry")
    sender = values.get(b"x", b"").decode() or None
    offset = int(entry_id.split(b"-")[1])
    return Envelope(topic, values[b"f"].decode(), sender, Position(epoch, offset))
