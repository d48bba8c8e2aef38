"""The runtime's settings, read from the environment and `.env`; an app's settings extend them."""

import json
import re
from typing import Annotated, Literal, TypeVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .formats import CURRENT as CURRENT_FORMAT
from .formats import PREVIOUS as PREVIOUS_FORMAT
from .history import HistoryLimits

# The value `.env.example` ships with. It is public, so it may only sign
# tokens on a developer's machine.
PLACEHOLDER_SECRET = "change-me-to-a-random-secret-of-at-least-32-bytes"  # noqa: S105

MIN_SECRET_BYTES = 32
SUPPORTED_BROKERS = ("memory://", "redis://", "rediss://")

# What a browser sends as its Origin: a scheme, `://`, a host (a name, an IPv4
# address, or an IPv6 one in brackets) and a port, if any.
_ORIGIN = re.compile(
    r"[A-Za-z][A-Za-z0-9+.-]*://(\[[0-9A-Fa-f:.]+\]|[^\s/\\\"'\[\],?#@:]+)(:[0-9]{1,5})?"
)

Environment = Literal["development", "staging", "production"]
# One algorithm per deployment, and one kind of key for it: an HMAC secret
# (HS*), or a public key (RS256, ES256) when an identity provider signs the
# tokens. Pinning it is what refuses tokens signed any other way, `none`
# included, and an HS256 token "signed" with the public key.
JwtAlgorithm = Literal["HS256", "HS384", "HS512", "RS256", "ES256"]
# uvicorn's names, `trace` included; read in any case (`INFO` is `info`).
LogLevel = Literal["critical", "error", "warning", "info", "debug", "trace"]
LogFormat = Literal["text", "json"]


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names each one by its variable."""


class RuntimeSettings(BaseSettings):
    """Every knob of the runtime; each field is read from the upper-case variable of its name."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    environment: Environment = "production"
    jwt_secret: SecretStr | None = None
    jwt_algorithm: JwtAlgorithm = "HS256"
    # PEM; `\n` may stand for line breaks, so that a key fits on one line of .env.
    jwt_public_key: str | None = None
    jwt_private_key: SecretStr | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    ws_ping_interval: float = Field(default=30.0, gt=0)
    ws_ping_timeout: float = Field(default=10.0, gt=0)
    ws_max_message_size: int = Field(default=1024 * 1024, ge=64)
    ws_per_message_deflate: bool = False
    shutdown_timeout: int = Field(default=10, ge=1)
    # A socket's outbound queue: in frames, and in characters and bytes of them.
    ws_send_queue_size: int = Field(default=256, ge=1)
    ws_send_queue_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    # Queued frames go out several to a system call where the server offers its
    # transport (uvicorn's websockets-sansio); false: one ASGI send each.
    ws_batched_writes: bool = True
    ws_max_connections: int = Field(default=10_000, ge=1)
    # HTTP at the edge (http_edge.py, under `serve`): a body's size and the seconds it may
    # take; open connections still speaking HTTP (every websocket opens as HTTP), in all
    # (and, with WS_MAX_CONNECTIONS, the cap on all connections) and per client address.
    http_max_body_size: int = Field(default=1024 * 1024, ge=1024)
    http_body_timeout: float = Field(default=30.0, gt=0)
    http_max_connections: int = Field(default=1_000, ge=1)
    http_max_connections_per_address: int = Field(default=64, ge=1)
    # Per caller of the HTTP API (a token's `sub`): requests a minute, and a burst.
    api_rate_limit: float = Field(default=1200, gt=0)
    api_rate_burst: int = Field(default=200, ge=1)
    ws_max_connections_per_user: int = Field(default=20, ge=1)
    # Open sockets per client address (an IPv6 client: its /64): room for a
    # NAT or an office of many users, each under the per-user cap, while one
    # address can hold at most a tenth of WS_MAX_CONNECTIONS (and of the file
    # descriptors a process usually has).
    ws_max_connections_per_address: int = Field(default=1_000, ge=1)
    ws_max_subscriptions: int = Field(default=100, ge=1)
    # Per user, across their sockets and reconnects: frames a minute, and a burst.
    ws_rate_limit: float = Field(default=100, gt=0)
    ws_rate_burst: int = Field(default=20, ge=1)
    # Handshakes a minute, and a burst: per user (a valid token), and per client
    # address (any handshake). Behind a proxy, the address is the proxy's unless
    # uvicorn runs with --proxy-headers.
    ws_connect_rate: float = Field(default=60, gt=0)
    ws_connect_burst: int = Field(default=30, ge=1)
    ws_connect_rate_per_address: float = Field(default=600, gt=0)
    ws_connect_burst_per_address: int = Field(default=200, ge=1)
    # A text frame with more commas, colons, brackets and braces than this
    # (strings included) is refused unread: parsing costs time in proportion.
    ws_max_frame_items: int = Field(default=10_000, ge=16)
    # In the environment, comma-separated (`https://app.example.com,https://example.com`)
    # or the JSON list pydantic-settings users write (`["https://app.example.com"]`).
    allowed_origins: Annotated[list[str], NoDecode] = []
    broker_url: str = "memory://"
    # The format this process writes to Redis; it reads this one and the one
    # before. During a rolling deploy from a runtime that writes the previous one,
    # set that until every process runs this runtime (docs/operations.md).
    redis_format: int = Field(default=CURRENT_FORMAT, ge=PREVIOUS_FORMAT, le=CURRENT_FORMAT)
    # With Redis, a worker that dies is out of every presence list within this.
    presence_ttl: float = Field(default=15.0, ge=1)
    # Per topic (room, chat, live-update resource): the last HISTORY_SIZE
    # messages, kept HISTORY_TTL seconds after the last one, for clients that
    # resume; where the topic stands, HISTORY_META_TTL seconds.
    history_size: int = Field(default=100, ge=1)
    history_ttl: float = Field(default=300.0, gt=0)
    history_meta_ttl: float = Field(default=86400.0, gt=0)
    # With the memory broker, all topics' history together: past it, the topics
    # used least recently are forgotten first (their resumers hear recovered false).
    history_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024 * 1024)
    log_level: LogLevel = "info"
    # `json`: one object a line, for a platform that parses its logs.
    log_format: LogFormat = "text"
    # Behind a proxy (what `serve` gives uvicorn): trust X-Forwarded-For and
    # X-Forwarded-Proto from these addresses (comma-separated, or `*`), and say
    # that the app is served under ROOT_PATH, a prefix the proxy strips.
    proxy_headers: bool = True
    forwarded_allow_ips: str = "127.0.0.1,::1"
    root_path: str = ""

    @property
    def history_limits(self) -> HistoryLimits:
        return HistoryLimits(
            self.history_size, self.history_ttl, self.history_meta_ttl, self.history_max_bytes
        )

    @field_validator(
        "jwt_secret",
        "jwt_audience",
        "jwt_issuer",
        "jwt_public_key",
        "jwt_private_key",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # `JWT_AUDIENCE=` in a .env file means "not set", not "the empty audience".
        return None if value == "" else value

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("root_path")
    @classmethod
    def _root_path_is_a_path(cls, value: str) -> str:
        # `/rt/` and `/rt` are one prefix; `rt` or a URL would prefix nothing a browser asks.
        value = value.strip().rstrip("/")
        if value and (not value.startswith("/") or any(c in value for c in "?#\\ ")):
            raise ValueError(f"{value!r} is not a path prefix: /name, or empty")
        return value

    @field_validator("jwt_public_key", mode="after")
    @classmethod
    def _unescape_key(cls, value: str | None) -> str | None:
        return value.replace("\\n", "\n") if value else value

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().startswith("["):
            try:
                value = json.loads(value)
            except ValueError:
                raise ValueError("starts like a JSON list but is not one") from None
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list):
            value = [o.strip().rstrip("/") if isinstance(o, str) else o for o in value]
            return [origin for origin in value if origin != ""]  # `a,,b` and a trailing comma
        return value

    @field_validator("allowed_origins", mode="after")
    @classmethod
    def _origins_are_origins(cls, value: list[str]) -> list[str]:
        # An entry no browser would send as its Origin would match nothing, silently.
        for origin in value:
            if origin != "*" and not _ORIGIN.fullmatch(origin):
                raise ValueError(f"{origin!r} is not an origin: scheme://host[:port], or *")
        # Scheme and host compare without regard to case, as browsers treat them.
        return [origin.lower() for origin in value]

    @field_validator("jwt_secret")
    @classmethod
    def _secret_is_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"must be at least {MIN_SECRET_BYTES} bytes")
        return value

    @field_validator("broker_url")
    @classmethod
    def _broker_is_supported(cls, value: str) -> str:
        if not value.startswith(SUPPORTED_BROKERS):
            raise ValueError(f"unsupported broker {value!r}; use one of {SUPPORTED_BROKERS}")
        return value

    @model_validator(mode="after")
    def _one_key_for_the_algorithm(self) -> "RuntimeSettings":
        if self.jwt_algorithm.startswith("HS"):
            if self.jwt_secret is None:
                raise ValueError(f"JWT_SECRET: Field required for {self.jwt_algorithm}")
        elif self.jwt_public_key is None:
            raise ValueError(f"JWT_PUBLIC_KEY: Field required for {self.jwt_algorithm}")
        else:
            check_public_key(self.jwt_algorithm, self.jwt_public_key)
        return self

    @model_validator(mode="after")
    def _no_placeholder_outside_development(self) -> "RuntimeSettings":
        if self.environment != "development" and self.uses_placeholder_secret:
            raise ValueError(
                "JWT_SECRET is the public placeholder from .env.example; set a random one: "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        return self

    @property
    def uses_placeholder_secret(self) -> bool:
        secret = self.jwt_secret
        return secret is not None and secret.get_secret_value() == PLACEHOLDER_SECRET


SettingsT = TypeVar("SettingsT", bound=RuntimeSettings)


def check_public_key(algorithm: str, pem: str) -> None:
    """Refuse a public key that cannot verify `algorithm` (RS256: RSA; ES256: EC P-256)."""
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError:
        raise ValueError("JWT_PUBLIC_KEY: not a PEM public key") from None
    wanted = rsa.RSAPublicKey if algorithm == "RS256" else ec.EllipticCurvePublicKey
    if not isinstance(key, wanted):
        raise ValueError(f"JWT_PUBLIC_KEY: not a key for {algorithm}")


def load_settings(settings_class: type[SettingsT]) -> SettingsT:
    """Read the settings, turning pydantic's report into one line per bad variable."""
    try:
        return settings_class()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            message = error["msg"].removeprefix("Value error, ")
            name = "_".join(str(part) for part in error["loc"]).upper()
            problems.append(f"{name}: {message}" if name else message)
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None
