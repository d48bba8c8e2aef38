"""The benchmark: the baked default app against a bare Starlette endpoint and python-socketio.

    python3 scripts/dev.py bench [--rounds 5] [--output bench/results.md]

Bakes the default project, serves it with `python -m realtime_app serve` (one
uvicorn worker, as its README runs it), and serves `bench/baseline.py` and
`bench/socketio_server.py` with the same uvicorn options. Each round runs
every scenario against each server, in an order that rotates, so that drift
of the machine hits all of them; the table shows medians, their ranges and
the ratios of the app's to the others'. Then, where redis-server is
installed, the app with the Redis broker is served by two workers and by
one, the same way. The load generator (`bench/load.py`, picows) runs in its
own process and reports its CPU use: near 100% would mean it, not the
server, was the limit.

The app is measured doing what it always does (JWT at connect, typed
validation of each frame, bounded queues, metrics); only its rate limit is
lifted, since the senders send as fast as they can.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
PACKAGE = "realtime_app"
SECRET = "a-secret-only-for-the-benchmark-0123456789abcdef"  # noqa: S105 - local only
UVICORN_OPTIONS = ("--ws", "websockets-sansio", "--log-level", "warning")


@dataclass(frozen=True)
class Scenario:
    name: str
    clients: int
    messages: int  # per sender; for latency, the sender's rate a second
    seconds: int = 0  # for latency: how long


FANOUT = [
    Scenario("fan-out, N=100", 100, 200),
    Scenario("fan-out, N=1000", 1000, 40),
    Scenario("fan-out, N=5000", 5000, 10),
]
IDLE_CLIENTS = 2000
# Paced: 50 messages a second to 100 clients is 5,000 deliveries a second.
# p99 of 20 s at 5,000 a second is the 1,000th worst delivery: a single stall
# of the machine moves it less than in a shorter run.
LATENCY = Scenario("latency at 5,000 deliveries/s, N=100", 100, 50, seconds=20)
# A server that used no CPU for this long is done with the last scenario.
QUIET_SECONDS = 0.5
# --smoke: the same machinery at a tiny size, for the template's tests (no timing is judged).
SMOKE_FANOUT = [Scenario("fan-out, N=10", 10, 20), Scenario("fan-out, N=20", 20, 10)]
SMOKE_IDLE_CLIENTS = 20
SMOKE_LATENCY = Scenario("latency at 200 deliveries/s, N=10", 10, 20, seconds=2)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def bake(output: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--no-input", "--output-dir", output, ROOT],
        check=True,
        capture_output=True,
    )
    return output / "realtime-app"


def mint_tokens(project: Path, count: int, path: Path) -> None:
    script = (
        "import sys\n"
        "from azu_ws.auth import create_token\n"
        f"from {PACKAGE}.config import Settings\n"
        f"settings = Settings(_env_file=None, jwt_secret={SECRET!r})\n"
        "print('\\n'.join(create_token(f'user{n}', settings) for n in range(int(sys.argv[1]))))\n"
    )
    tokens = subprocess.run(
        [sys.executable, "-c", script, str(count)],
        env={**os.environ, "PYTHONPATH": str(project / "src")},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path.write_text(tokens)


@dataclass(frozen=True)
class Target:
    """A server under test: what serves it, and where its chat is."""

    name: str
    kind: str  # "app", "baseline" or "socketio"
    path: str = "/ws/chat"
    workers: int = 1
    redis: bool = False


APP = Target("app", "app")
BASELINE = Target("bare Starlette", "baseline")
SOCKETIO = Target("python-socketio", "socketio", "/socket.io/?EIO=4&transport=websocket")
REDIS_ONE = Target("one worker", "app", redis=True)
REDIS_TWO = Target("two workers", "app", workers=2, redis=True)
REDIS_FANOUT = FANOUT[1:]  # where a second worker could matter


@dataclass
class Server:
    target: Target
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{self.target.path}"

    def rss(self) -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        (line,) = [line for line in status.splitlines() if line.startswith("VmRSS:")]
        return int(line.split()[1]) * 1024

    def cpu_ticks(self) -> int:
        """CPU time used so far by the server and its workers, in clock ticks (Linux)."""
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return sum(_cpu_ticks(process) for process in [str(pid), *children])

    def settle(self) -> None:
        """Until the server has used no CPU for a while (10 s at most): what the last
        scenario left it to do (closing thousands of sockets) is not the next one's to time."""
        deadline = time.monotonic() + 10
        before = self.cpu_ticks()
        while time.monotonic() < deadline:
            time.sleep(QUIET_SECONDS)
            now = self.cpu_ticks()
            if now == before:
                return
            before = now


def _cpu_ticks(pid: str) -> int:
    with contextlib.suppress(OSError):  # a worker that just exited
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime, stime
    return 0


@contextlib.contextmanager
def serving(target: Target, project: Path, workdir: Path, redis_url: str) -> Iterator[Server]:
    port = free_port()
    if target.kind == "app":
        command = [sys.executable, "-m", PACKAGE, "serve", "--port", str(port)]
        command += ["--workers", str(target.workers)]
        env = {
            **os.environ,
            "PYTHONPATH": str(project / "src"),
            "JWT_SECRET": SECRET,
            "ENVIRONMENT": "production",
            "DATABASE_URL": f"sqlite:///{workdir}/bench.db",
            "BROKER_URL": redis_url if target.redis else "memory://",
            "WS_RATE_LIMIT": "1000000000",
            "WS_RATE_BURST": "1000000",
            "WS_MAX_CONNECTIONS": "100000",
            # Thousands of handshakes from one address in seconds: a load
            # generator, which the limits on connection attempts would refuse.
            "WS_CONNECT_RATE": "1000000000",
            "WS_CONNECT_BURST": "1000000",
            "WS_CONNECT_RATE_PER_ADDRESS": "1000000000",
            "WS_CONNECT_BURST_PER_ADDRESS": "1000000",
            # and its thousands of open sockets, which the per-address cap would.
            "WS_MAX_CONNECTIONS_PER_ADDRESS": "1000000",
        }
    else:
        module = "baseline" if target.kind == "baseline" else "socketio_server"
        command = [sys.executable, "-m", "uvicorn", f"{module}:app", "--port", str(port)]
        command += UVICORN_OPTIONS
        env = {**os.environ, "PYTHONPATH": str(BENCH)}
    log = (workdir / f"{target.kind}.log").open("ab")
    process = subprocess.Popen(command, env=env, cwd=workdir, stdout=log, stderr=log)
    try:
        wait_until_serving(port, process)
        yield Server(target, port, process)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def wait_until_serving(port: int, process: subprocess.Popen[bytes]) -> None:
    """Until an HTTP request gets an answer, whatever its status: with several workers,
    the port listens before a worker is there to accept."""
    request = b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
    wait_for_answer("the server", port, process, request, b"HTTP/1.1")


def wait_for_answer(
    what: str, port: int, process: subprocess.Popen[bytes], request: bytes, answer: bytes
) -> None:
    """Until `request` on `port` gets a reply that starts with `answer` (30 s at most)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{what} exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as s:
            s.sendall(request)
            if s.recv(16).startswith(answer):
                return
        time.sleep(0.1)
    sys.exit(f"{what} did not answer within 30 s")


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[str | None]:
    """A throwaway redis-server's URL, or None where redis-server is not installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    port = free_port()
    command = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--dir",
        str(workdir),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_answer("redis-server", port, process, b"PING\r\n", b"+PONG")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=30)


def load(*args: str) -> subprocess.Popen[str]:
    command = [sys.executable, str(BENCH / "load.py"), *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)


def load_options(server: Server, tokens: Path, clients: int) -> tuple[str, ...]:
    dialect = ("--socketio",) if server.target.kind == "socketio" else ()
    return (server.url, "--clients", str(clients), "--tokens", str(tokens), *dialect)


def run_load(server: Server, mode: str, *options: str) -> dict[str, float]:
    """Run the load generator to the end, on a quiet server; its one-line JSON result."""
    server.settle()
    process = load(mode, *options)
    output, _ = process.communicate(timeout=900)
    if process.returncode != 0:
        sys.exit(f"the load generator failed against {server.target.name}")
    result: dict[str, float] = json.loads(output.splitlines()[-1])
    return result


def run_fanout(server: Server, scenario: Scenario, tokens: Path) -> dict[str, float]:
    options = load_options(server, tokens, scenario.clients)
    return run_load(server, "fanout", *options, "--messages", str(scenario.messages))


def run_latency(server: Server, scenario: Scenario, tokens: Path) -> dict[str, float]:
    options = load_options(server, tokens, scenario.clients)
    rate, seconds = str(scenario.messages), str(scenario.seconds)
    return run_load(server, "latency", *options, "--rate", rate, "--seconds", seconds)


def run_idle(server: Server, tokens: Path, clients: int) -> dict[str, float]:
    time.sleep(1)  # let start-up allocations settle
    before = server.rss()
    process = load("idle", *load_options(server, tokens, clients))
    assert process.stdout is not None
    ready = json.loads(process.stdout.readline())
    time.sleep(2)
    after = server.rss()
    process.terminate()
    process.wait(timeout=30)
    return {"bytes_per_connection": (after - before) / ready["ready"]}


def measure_fanout(server: Server, scenarios: list[Scenario], tokens: Path) -> dict[str, float]:
    results: dict[str, float] = {}
    for scenario in scenarios:
        outcome = run_fanout(server, scenario, tokens)
        results[f"{scenario.name}: deliveries/s"] = outcome["deliveries_per_second"]
        results[f"{scenario.name}: connect s"] = outcome["connect_seconds"]
        results[f"{scenario.name}: client CPU"] = outcome["client_cpu"]
    return results


def measure(
    target: Target, project: Path, workdir: Path, tokens: Path, *, smoke: bool
) -> dict[str, float]:
    with serving(target, project, workdir, "") as server:
        results = measure_fanout(server, SMOKE_FANOUT if smoke else FANOUT, tokens)
        paced = SMOKE_LATENCY if smoke else LATENCY
        timing = run_latency(server, paced, tokens)
        results[f"{paced.name}: p50 ms"] = timing["p50_ms"]
        results[f"{paced.name}: p99 ms"] = timing["p99_ms"]
    with serving(target, project, workdir, "") as server:
        clients = SMOKE_IDLE_CLIENTS if smoke else IDLE_CLIENTS
        results[f"idle memory per connection, N={clients}, bytes"] = run_idle(
            server, tokens, clients
        )["bytes_per_connection"]
    return results


def versions() -> str:
    names = ("uvicorn", "starlette", "fastapi", "pydantic", "websockets", "uvloop", "picows")
    return ", ".join(f"{name} {metadata.version(name)}" for name in names)


def table(samples: dict[Target, list[dict[str, float]]], heading: str) -> str:
    """Medians, and the ratio of the first target's to each other's, with each target's
    range over the rounds: the noise to read the ratios against."""
    first, *others = samples
    names = [target.name for target in samples]
    lines = [
        heading,
        "",
        "| measure | "
        + " | ".join(f"ratio {first.name} / {other.name}" for other in others)
        + " | "
        + " | ".join(names)
        + " | "
        + " | ".join(f"{name} range" for name in names)
        + " |",
        "| --- |" + " ---: |" * (len(others) + 2 * len(names)),
    ]
    for measure_name in samples[first][0]:
        runs = {target: [run[measure_name] for run in samples[target]] for target in samples}
        medians = {target: statistics.median(values) for target, values in runs.items()}
        ratios = [
            f"{medians[first] / medians[other]:.2f}" if medians[other] else "nan"
            for other in others
        ]
        values = [f"{medians[target]:,.2f}" for target in samples]
        ranges = [f"{min(v):,.2f} to {max(v):,.2f}" for v in runs.values()]
        lines.append(f"| {measure_name} | " + " | ".join([*ratios, *values, *ranges]) + " |")
    return "\n".join(lines) + "\n"


def machine() -> str:
    return (
        f"Benchmark of {datetime.date.today().isoformat()}: {platform.platform()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; {versions()}"
    )


def rounds_of(
    targets: list[Target], rounds: int, run: Callable[[Target], dict[str, float]]
) -> dict[Target, list[dict[str, float]]]:
    """Each target once a round, in an order that rotates, so that drift hits all of them."""
    samples: dict[Target, list[dict[str, float]]] = {target: [] for target in targets}
    for number in range(rounds):
        shift = number % len(targets)
        for target in targets[shift:] + targets[:shift]:
            print(f"round {number + 1}/{rounds}: {target.name} ...", flush=True)
            samples[target].append(run(target))
    return samples


@dataclass(frozen=True)
class Bench:
    """One benchmark run: the bake, its tokens, and how big and how long."""

    project: Path
    workdir: Path
    tokens: Path
    rounds: int
    smoke: bool

    def compare_servers(self) -> str:
        def one(target: Target) -> dict[str, float]:
            return measure(target, self.project, self.workdir, self.tokens, smoke=self.smoke)

        samples = rounds_of([APP, BASELINE, SOCKETIO], self.rounds, one)
        return table(samples, f"{machine()}; median of {self.rounds} rounds, with their range.")

    def compare_workers(self) -> str:
        """The app with the Redis broker: two workers against one."""
        scenarios = SMOKE_FANOUT if self.smoke else REDIS_FANOUT
        with redis_server(self.workdir) as redis_url:
            if redis_url is None:
                return "With Redis: not measured, redis-server is not installed.\n"

            def one(target: Target) -> dict[str, float]:
                with serving(target, self.project, self.workdir, redis_url) as server:
                    return measure_fanout(server, scenarios, self.tokens)

            samples = rounds_of([REDIS_TWO, REDIS_ONE], self.rounds, one)
        return table(samples, "The app with Redis (`BROKER_URL=redis://...`), two workers and one:")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--output", type=Path, default=BENCH / "results.md")
    parser.add_argument("--smoke", action="store_true", help="a tiny run, to check the machinery")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by the servers
    with tempfile.TemporaryDirectory(prefix="azu-bench-") as scratch:
        workdir = Path(scratch)
        project = bake(workdir / "bake")
        tokens = workdir / "tokens.txt"
        mint_tokens(project, max(IDLE_CLIENTS, *(s.clients for s in FANOUT)), tokens)
        bench = Bench(project, workdir, tokens, args.rounds, args.smoke)
        report = bench.compare_servers() + "\n" + bench.compare_workers()
    print(report)
    args.output.write_text(report)
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
