"""The versions of what crosses processes through Redis: a process reads its own and the one
before, and writes the one REDIS_FORMAT names (docs/ARCHITECTURE.md, Rolling deploys)."""

import logging

logger = logging.getLogger(__name__)

# 1: what azu_ws 0.2.0 writes, unversioned. 2: every record says its version;
# the pub/sub header is JSON and names its publish; history entries keep their
# sender, so that a replay honours `broadcast_from`.
CURRENT = 2
PREVIOUS = CURRENT - 1
READABLE = (PREVIOUS, CURRENT)


class UnknownFormat(ValueError):
    """A record written in a format this runtime does not read (a newer runtime's)."""

    def __init__(self, version: object, where: str) -> None:
        super().__init__(
            f"{where} written in format {version!r}; this runtime reads {PREVIOUS} and {CURRENT}:"
            f" set REDIS_FORMAT={CURRENT} on the newer processes until every one runs it"
        )


def version_of(record: dict[str, object]) -> int:
    """The format a JSON record was written in: its `v`, or 1 (unversioned)."""
    version = record.get("v", 1)
    return version if isinstance(version, int) else -1


def check(version: int, where: str) -> None:
    """Raise UnknownFormat unless this runtime reads `version`."""
    if version not in READABLE:
        raise UnknownFormat(version, where)
