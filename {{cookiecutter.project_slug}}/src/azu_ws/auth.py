"""JSON Web Tokens: minting, verifying, and finding the token in a handshake. python-jose is
called here only, with its known gaps guarded (`verify_token`)."""

import functools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from jose import JWTError, jwk, jwt
from jose.backends.base import Key
from jose.utils import base64url_decode
from starlette.requests import HTTPConnection

from .settings import RuntimeSettings

# Browsers cannot set headers on a websocket handshake, so they offer two
# subprotocols: this marker, then the token. The server echoes the marker.
BEARER_SUBPROTOCOL = "bearer"
MAX_USER_ID_LENGTH = 128
# Longer tokens are refused before any parsing: ours are a few hundred bytes.
MAX_TOKEN_BYTES = 4096
# Clock skew tolerated on `iat` between the token's issuer and this server.
IAT_LEEWAY_SECONDS = 30


class AuthenticationError(Exception):
    """The handshake carried no usable token; `reason` is safe to show the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class VerifierFailed(Exception):
    """The server could not check a token (an import or a file it could not open, under
    descriptor or memory pressure): not the token's fault, so never a refusal of it."""


@dataclass(frozen=True, slots=True)
class User:
    """Who is on the other end of a socket, as the token says (never as the client says)."""

    id: str
    claims: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


def create_token(
    subject: str,
    settings: RuntimeSettings,
    *,
    ttl_seconds: int = 3600,
    extra_claims: Mapping[str, Any] | None = None,
) -> str:
    """Sign a token for `subject` that expires after `ttl_seconds`."""
    now = int(time.time())
    claims: dict[str, Any] = {**(extra_claims or {}), "sub": subject, "iat": now}
    claims["exp"] = now + ttl_seconds
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    return jwt.encode(claims, _signing_key(settings), algorithm=settings.jwt_algorithm)


def _signing_key(settings: RuntimeSettings) -> str:
    if settings.jwt_algorithm.startswith("HS"):
        assert settings.jwt_secret is not None  # the settings refuse HS* without one
        return settings.jwt_secret.get_secret_value()
    if settings.jwt_private_key is None:
        raise AuthenticationError(f"JWT_PRIVATE_KEY is needed to sign {settings.jwt_algorithm}")
    return settings.jwt_private_key.get_secret_value().replace("\\n", "\n")


def _verification_key(settings: RuntimeSettings) -> str:
    if settings.jwt_algorithm.startswith("HS"):
        assert settings.jwt_secret is not None
        return settings.jwt_secret.get_secret_value()
    assert settings.jwt_public_key is not None  # the settings refuse RS/ES without one
    return settings.jwt_public_key


@functools.lru_cache(maxsize=4)
def _prepared_key(algorithm: str, key: str) -> Key:
    return jwk.construct(key, algorithm)


def prepare(settings: RuntimeSettings) -> None:
    """Build the verification key and check a signature once, at start-up: no import or key
    parsing is then left for a handshake, where a failure would look like a bad token."""
    _prepared_key(settings.jwt_algorithm, _verification_key(settings)).verify(b"", b"\0" * 64)


def _check_signature_failure(token: str, key: Key) -> None:
    """python-jose reports any exception raised while checking a signature as a bad
    signature. Check it again, directly: a bad signature answers False (or raises
    InvalidSignature), so any other exception is the server's (VerifierFailed)."""
    signing_input, _, encoded = token.rpartition(".")
    try:
        signature = base64url_decode(encoded.encode())
    except Exception:  # malformed: the client's fault, as jose said
        return
    try:
        if isinstance(getattr(key, "prepared_key", None), ec.EllipticCurvePublicKey):
            _verify_ecdsa(key, signing_input.encode(), signature)
        else:
            key.verify(signing_input.encode(), signature)
    except InvalidSignature:
        return
    except Exception as exc:
        raise VerifierFailed(f"could not check a token's signature: {exc!r}") from exc


def _verify_ecdsa(key: Key, message: bytes, signature: bytes) -> None:
    """ES256 as python-jose checks it, but without its `except Exception: return False`,
    which hides the server's own failures: raise InvalidSignature for a bad one."""
    public_key: ec.EllipticCurvePublicKey = key.prepared_key  # type: ignore[attr-defined]
    size = (public_key.key_size + 7) // 8
    if len(signature) != 2 * size:
        raise InvalidSignature
    r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
    public_key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))


def verify_token(token: str, settings: RuntimeSettings) -> User:
    """Return the token's user, or raise AuthenticationError if it is not one we signed.

    python-jose is called here only, with exactly one algorithm and its one
    key. It does not refuse an unknown `crit` header or an `iat` in the
    future, so those are checked here too, as is the size. It takes any
    failure to check a signature for a bad one: that is told apart here too,
    and raised as VerifierFailed.
    """
    if len(token) > MAX_TOKEN_BYTES:
        raise AuthenticationError("token too large")
    try:
        header = jwt.get_unverified_header(token)
    except JWTError:
        raise AuthenticationError("invalid token") from None
    if header.get("alg") != settings.jwt_algorithm or "crit" in header:
        raise AuthenticationError("invalid token")
    key = _prepared_key(settings.jwt_algorithm, _verification_key(settings))
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[settings.jwt_algorithm],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={
                "require_exp": True,
                "require_sub": True,
                # python-jose accepts a token without `aud`/`iss` even when one
                # is configured, unless the claim is also required.
                "require_aud": settings.jwt_audience is not None,
                "require_iss": settings.jwt_issuer is not None,
            },
        )
    except JWTError as exc:
        if "signature verification failed" in str(exc).lower():
            _check_signature_failure(token, key)
        raise AuthenticationError(_describe(exc)) from None
    # python-jose takes any string int() can parse as a time; a socket's expiry
    # must be a number, or it would never come.
    if any(not _is_number(claims.get(name, 0)) for name in ("exp", "iat", "nbf")):
        raise AuthenticationError("invalid token")
    if claims.get("iat", 0) > time.time() + IAT_LEEWAY_SECONDS:
        raise AuthenticationError("invalid token")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not 0 < len(subject) <= MAX_USER_ID_LENGTH:
        raise AuthenticationError("invalid token subject")
    if not subject.isprintable():  # a line break in a user id would forge log lines
        raise AuthenticationError("invalid token subject")
    return User(id=subject, claims=claims)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _describe(exc: JWTError) -> str:
    text = str(exc).lower()
    if "expired" in text:
        return "token expired"
    return "invalid token"


def token_from_handshake(connection: HTTPConnection) -> str | None:
    """The token from the Authorization header, the subprotocols, or `?token=`, in that order."""
    header = connection.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    offered: Sequence[str] = connection.scope.get("subprotocols", [])
    if BEARER_SUBPROTOCOL in offered:
        position = offered.index(BEARER_SUBPROTOCOL)
        if position + 1 < len(offered):
            return offered[position + 1]
    return connection.query_params.get("token") or None


def authenticate(connection: HTTPConnection, settings: RuntimeSettings) -> User:
    """Verify the handshake's token; raise AuthenticationError when there is none or it is bad."""
    token = token_from_handshake(connection)
    if token is None:
        raise AuthenticationError("missing token")
    return verify_token(token, settings)
