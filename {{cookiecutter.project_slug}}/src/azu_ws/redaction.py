"""Tokens kept out of every log line: JWT-shaped strings and `token` query parameters,
wherever they stand and however they are encoded."""

import logging
import re
from urllib.parse import unquote_plus

# One query parameter: its name, then its value up to the next `&`, space or quote.
# Possessive, and no `?` in a name: each character is scanned once, whatever the line.
_QUERY_PARAMETER = re.compile(r"([?&])([^=&?\s\"]*+)=([^&\s\"]*+)")
# Anything shaped like a JSON Web Token, wherever it stands: its header is
# base64url of `{"`, then two more base64url parts after a dot, or a dot
# percent-encoded (`%2E`). It starts after a character that cannot be in a
# token, or after any percent-escape (`Bearer%20`, `%3D`), never inside a run
# of base64url: so each run is scanned from its start only, and the search
# stays linear.
_DOT = r"(?:\.|%2[Ee])"
_JWT = re.compile(
    rf"(?:(?<![\w-])|(?<=%[0-9A-Fa-f]{{2}}))eyJ[\w-]{{4,}}+{_DOT}[\w-]{{4,}}+{_DOT}[\w-]*+",
    re.ASCII,
)
# A line is redacted up to this long; the rest is cut, not searched.
MAX_LINE = 16 * 1024


def redact(text: str) -> str:
    """`text` with every JWT-shaped string, and the value of every `token` query parameter,
    replaced by `[redacted]`.

    Names are compared decoded, as the server reads them: `tok%65n` is `token`.
    By shape, tokens are found where no parameter name says so too:
    `?x=1;token=...`, `?x=1%26token=...`, `?token[]=...`, `?a=Bearer%20...`,
    dots written `%2E`; and in a parameter's value once decoded (`%65yJ...`).
    """
    if len(text) > MAX_LINE:
        text = text[:MAX_LINE] + " [cut]"
    if "eyJ" in text:
        text = _JWT.sub("[redacted]", text)
    if "=" not in text:
        return text
    return _QUERY_PARAMETER.sub(_redact_parameter, text)


def _redact_parameter(match: re.Match[str]) -> str:
    value = match[3]
    if unquote_plus(match[2]).strip().lower() == "token" or (
        "%" in value and _JWT.search(unquote_plus(value))
    ):
        return f"{match[1]}{match[2]}=[redacted]"
    return match[0]


class RedactTokens(logging.Filter):
    """Redact tokens from a record's message and arguments (see `redact`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True
