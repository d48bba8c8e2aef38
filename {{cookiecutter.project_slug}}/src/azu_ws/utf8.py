"""JSON that can leave the process: Python's JSON parser accepts a lone surrogate (`"\\ud800"`),
which UTF-8 cannot encode, so no socket could be sent it and no store should keep it."""

import json

# An error names where the bad string is; a key longer than this is shortened there.
MAX_QUOTED_KEY = 32


def utf8_json(value: object) -> bytes:
    """`value` as compact JSON in UTF-8; ValueError, naming where, if a string in it (a key
    too) holds a lone surrogate. Checking a request body or a payload with it refuses, before
    anything is stored or sent, what would fail later for every reader."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode()
    except UnicodeEncodeError:
        where = _lone_surrogate_in(value, "") or "a string"
        raise ValueError(f"{where} must be UTF-8 text, without a lone surrogate") from None


def _lone_surrogate_in(value: object, path: str) -> str | None:
    """The first place in `value` holding a string UTF-8 cannot encode (only on the error path)."""
    if isinstance(value, str):
        return None if _encodes(value) else path or "the value"
    if isinstance(value, dict):
        for key, item in value.items():
            name = key if len(str(key)) <= MAX_QUOTED_KEY else f"{str(key)[:MAX_QUOTED_KEY]}..."
            named = f"{path}.{name}" if path else str(name)
            if isinstance(key, str) and not _encodes(key):
                return f"a key in {path or 'the object'}"
            if (found := _lone_surrogate_in(item, named)) is not None:
                return found
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            if (found := _lone_surrogate_in(item, f"{path}[{index}]")) is not None:
                return found
    return None


def _encodes(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
