"""Prometheus metrics at `GET /metrics`, with labels no client can multiply, added up across
workers (docs/ARCHITECTURE.md, Metrics)."""

import functools
import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
    multiprocess,
)

from . import close_codes

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

KNOWN_CLOSE_CODES = frozenset(
    {1000, 1001, 1005, 1006, 1012}
    | {value for name, value in vars(close_codes).items() if name.startswith("WS_")}
)

CONNECTIONS_OPEN = Gauge(
    "azu_ws_connections_open",
    "Websocket connections open now, by channel.",
    ["channel"],
    multiprocess_mode="livesum",
)
MESSAGES_RECEIVED = Counter(
    "azu_ws_messages_received_total",
    "Frames received from clients, by channel and message type (binary, invalid).",
    ["channel", "type"],
)
MESSAGES_SENT = Counter(
    "azu_ws_messages_sent_total",
    "Messages channels sent, by channel and type; a broadcast counts once.",
    ["channel", "type"],
)
FRAMES_DELIVERED = Counter(
    "azu_ws_frames_delivered_total",
    "Frames written to sockets, by channel: a broadcast counts once per recipient.",
    ["channel"],
)
ERRORS = Counter(
    "azu_ws_errors_total", "Error messages sent to clients, by code.", ["channel", "code"]
)
CLOSES = Counter(
    "azu_ws_closes_total", "Connections ended, by channel and close code.", ["channel", "code"]
)
CONNECTIONS_BY_WIRE = Counter(
    "azu_ws_connections_total",
    "Sockets accepted, by how their frames are written: batched onto the server's "
    "transport, or one ASGI send each.",
    ["wire"],
)
SLOW_CONSUMERS = Counter(
    "azu_ws_slow_consumer_disconnects_total",
    "Sockets dropped for not reading their queue (4008), by channel.",
    ["channel"],
)
WRITE_FAULTS = Counter(
    "azu_ws_write_faults_total",
    "Writes to a socket that failed for a reason other than the peer leaving (a bug, or a "
    "server that changed under the runtime): each closed that socket with 1011.",
    ["channel"],
)
RATE_LIMITED = Counter(
    "azu_ws_rate_limited_total", "Frames refused by the rate limit, by channel.", ["channel"]
)
HANDSHAKE_REFUSALS = Counter(
    "azu_ws_handshake_refusals_total",
    "Connections refused before any channel code ran (or by `authorize`), by reason.",
    ["channel", "reason"],
)
HISTORY_BYTES = Gauge(
    "azu_ws_history_bytes",
    "Bytes of topic history kept in memory (the memory broker; Redis keeps its own), "
    "bounded by HISTORY_MAX_BYTES per process.",
    multiprocess_mode="livesum",
)
BROKER_RECONNECTS = Counter(
    "azu_ws_broker_reconnects_total", "Times the broker lost Redis and tried again."
)


def close_code_label(code: int) -> str:
    return str(code) if code in KNOWN_CLOSE_CODES else "other"


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus's text format, summed over workers in multiprocess mode."""
    if os.environ.get(MULTIPROCESS_DIR):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def forget_this_process() -> None:
    """At a worker's shutdown: its open-connection gauge leaves the sum."""
    if os.environ.get(MULTIPROCESS_DIR):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


@functools.lru_cache(maxsize=1024)
def counter_for(counter: Counter, *labels: str) -> Counter:
    """`counter.labels(*labels)`, looked up once: the counters counted on every
    frame spent more on finding their labels' child than on counting."""
    return counter.labels(*labels)
