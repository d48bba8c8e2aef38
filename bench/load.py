"""The load generator: N clients in one chat, some of them sending; prints one JSON line.

    python bench/load.py fanout URL --clients N --senders 10 --messages M --tokens FILE
    python bench/load.py idle URL --clients N --tokens FILE --hold SECONDS
    python bench/load.py latency URL --clients N --rate R --seconds S --tokens FILE
    ... --socketio: speak Socket.IO (Engine.IO 4) to a python-socketio server


Clients are picows connections (a C-accelerated client), so that one
process can receive what the server sends; the result reports this
process's own CPU use to show it was not the bottleneck.

fanout: every client waits for its first frame (the server's greeting), then
each sender keeps WINDOW messages in flight (a sender sends again when its own
message comes back), so that no server's queue overflows, and every client
counts frames until it has received every message. deliveries/s is frames
received by all clients over the time from the first send to the last frame.
idle: connect, wait for each greeting, and stay connected for the server's
memory to be read; print when ready, then hold.
latency: one client sends R messages a second, each carrying its send time;
every client notes how long each took to arrive (one clock: one process).

With --socketio the same chat message travels as a Socket.IO event
(`42["message",{...}]`); the namespace's connect acknowledgement is the
greeting, and the client answers Engine.IO pings.
"""

import argparse
import asyncio
import json
import re
import resource
import sys
import time
from pathlib import Path

from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

WINDOW = 8
# Where a latency probe's send time is, in each server's JSON (with or without spaces).
SENT_AT = re.compile(rb'"content": ?"([0-9.]+)"')


class Client(WSListener):
    """Counts text frames; a sender also sends its next message when one of its own returns."""

    def __init__(self, expected: int, greeted: asyncio.Event, socketio: bool) -> None:
        self.socketio = socketio
        self.expected = expected
        self.received = -1  # the greeting is not a delivery
        self.greeted = greeted
        self.done = asyncio.get_running_loop().create_future()
        self.transport: WSTransport | None = None
        self.to_send = 0
        self.marker = b""
        self.first_send = 0.0
        self.latencies: list[float] | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type != WSMsgType.TEXT:
            return
        payload = frame.get_payload_as_bytes()
        if self.socketio and not self.socketio_counts(transport, payload):
            return
        self.received += 1
        if self.received == 0:
            self.greeted.set()
            return
        if self.latencies is not None:
            # The send time, found without decoding the whole frame: parsing every
            # field of 100 frames a message would make this process the one timed.
            sent = SENT_AT.search(payload)
            if sent is None:
                raise ValueError(f"no send time in {payload[:200]!r}")
            self.latencies.append(time.perf_counter() - float(sent[1]))
            return
        if self.to_send and self.marker and self.marker in payload:
            self.send_one()
        if self.received >= self.expected and not self.done.done():
            self.done.set_result(time.perf_counter())

    def socketio_counts(self, transport: WSTransport, payload: bytes) -> bool:
        """Answer Engine.IO's handshake and pings; True for what the plain dialect would count:
        the namespace's connect acknowledgement (the greeting) and events."""
        if payload.startswith(b"0"):  # Engine.IO open: connect to the default namespace
            transport.send(WSMsgType.TEXT, b"40")
        elif payload == b"2":  # ping
            transport.send(WSMsgType.TEXT, b"3")
        return payload.startswith((b"40", b"42"))

    def encode(self, message: dict[str, str]) -> bytes:
        if self.socketio:
            return b"42" + json.dumps(["message", message]).encode()
        return json.dumps(message).encode()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError(f"disconnected after {self.received} frames"))

    def send_one(self) -> None:
        if self.to_send and self.transport is not None:
            self.to_send -= 1
            message = {"type": "message", "content": f"{self.marker.decode()} {self.to_send}"}
            self.transport.send(WSMsgType.TEXT, self.encode(message))


async def connect_all(url: str, tokens: list[str], expected: int, socketio: bool) -> list[Client]:
    clients: list[Client] = []
    for token in tokens:
        greeted = asyncio.Event()
        _, client = await ws_connect(
            lambda greeted=greeted: Client(expected, greeted, socketio),
            url,
            extra_headers={"Authorization": f"Bearer {token}"},
            max_frame_size=1 << 20,
        )
        await asyncio.wait_for(greeted.wait(), 10)
        assert isinstance(client, Client)
        clients.append(client)
    return clients


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def fanout(
    url: str, tokens: list[str], socketio: bool, senders: int, messages: int
) -> dict[str, float]:
    expected = senders * messages
    started = time.perf_counter()
    clients = await connect_all(url, tokens, expected, socketio)
    connect_seconds = time.perf_counter() - started
    cpu_before, start = cpu_seconds(), time.perf_counter()
    for number, client in enumerate(clients[:senders]):
        client.marker = f"s{number}-".encode()
        client.to_send = messages
        for _ in range(WINDOW):
            client.send_one()
    finished = await asyncio.wait_for(asyncio.gather(*(c.done for c in clients)), 600)
    elapsed = max(finished) - start
    cpu = cpu_seconds() - cpu_before
    for client in clients:
        if client.transport is not None:
            client.transport.disconnect()
    return {
        "deliveries_per_second": len(clients) * expected / elapsed,
        "seconds": elapsed,
        "client_cpu": cpu / elapsed,
        "connect_seconds": connect_seconds,
    }


async def latency(
    url: str, tokens: list[str], socketio: bool, rate: float, seconds: float
) -> dict[str, float]:
    clients = await connect_all(url, tokens, 1 << 30, socketio)
    for client in clients:
        client.latencies = []
    sender, interval = clients[0], 1 / rate
    assert sender.transport is not None
    start = time.perf_counter()
    for number in range(int(rate * seconds)):
        # Paced against the start, so that a late wake-up does not slow the rate.
        await asyncio.sleep(max(0.0, start + number * interval - time.perf_counter()))
        message = {"type": "message", "content": repr(time.perf_counter())}
        sender.transport.send(WSMsgType.TEXT, sender.encode(message))
    await asyncio.sleep(1)  # the last ones arrive
    samples = sorted(value for client in clients for value in client.latencies or [])
    for client in clients:
        client.done.cancel()
        if client.transport is not None:
            client.transport.disconnect()
    return {
        "p50_ms": 1000 * samples[len(samples) // 2],
        "p99_ms": 1000 * samples[int(len(samples) * 0.99)],
        "samples": len(samples),
    }


async def idle(url: str, tokens: list[str], socketio: bool, hold: float) -> None:
    clients = await connect_all(url, tokens, 1 << 30, socketio)
    print(json.dumps({"ready": len(clients)}), flush=True)
    await asyncio.sleep(hold)
    for client in clients:
        client.done.cancel()  # nobody waits for these to finish: no error to report
        if client.transport is not None:
            client.transport.disconnect()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["fanout", "idle", "latency"])
    parser.add_argument("url")
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--senders", type=int, default=10)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--tokens", type=Path, required=True)
    parser.add_argument("--hold", type=float, default=60)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--socketio", action="store_true", help="speak Socket.IO")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    tokens = args.tokens.read_text().split()[: args.clients]
    if len(tokens) < args.clients:
        sys.exit(f"{args.tokens} has {len(tokens)} tokens; {args.clients} needed")
    if args.mode == "fanout":
        result = asyncio.run(fanout(args.url, tokens, args.socketio, args.senders, args.messages))
        print(json.dumps(result), flush=True)
    elif args.mode == "latency":
        result = asyncio.run(latency(args.url, tokens, args.socketio, args.rate, args.seconds))
        print(json.dumps(result), flush=True)
    else:
        asyncio.run(idle(args.url, tokens, args.socketio, args.hold))


if __name__ == "__main__":
    main()
