"""The benchmark: the baked default app against a bare Starlette endpoint, side by side.

    python3 scripts/dev.py bench [--rounds 3] [--output bench/results.md]

Bakes the default project, serves it with `python -m realtime_app serve` (one
uvicorn worker, as its README runs it), and serves `bench/baseline.py` with
the same uvicorn options. Each round runs every scenario against both, in
alternating order, so that drift of the machine hits both; the table shows
medians and the ratios app/baseline. The load generator (`bench/load.py`,
picows) runs in its own process and reports its CPU use: near 100% would
mean it, not the server, was the limit.

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
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
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
    messages: int  # per sender


FANOUT = [
    Scenario("fan-out, N=100", 100, 200),
    Scenario("fan-out, N=1000", 1000, 40),
    Scenario("fan-out, N=5000", 5000, 10),
]
IDLE_CLIENTS = 2000
# Paced: 50 messages a second to 100 clients is 5,000 deliveries a second.
LATENCY = Scenario("latency at 5,000 deliveries/s, N=100", 100, 50)
# --smoke: the same machinery at a tiny size, for the template's tests (no timing is judged).
SMOKE_FANOUT = [Scenario("fan-out, N=10", 10, 20), Scenario("fan-out, N=20", 20, 10)]
SMOKE_IDLE_CLIENTS = 20
SMOKE_LATENCY = Scenario("latency at 200 deliveries/s, N=10", 10, 20)


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
        f"from {PACKAGE}.auth import create_token\n"
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


@dataclass
class Server:
    kind: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/chat"

    def rss(self) -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        (line,) = [line for line in status.splitlines() if line.startswith("VmRSS:")]
        return int(line.split()[1]) * 1024


@contextlib.contextmanager
def serving(kind: str, project: Path, workdir: Path) -> Iterator[Server]:
    port = free_port()
    if kind == "app":
        command = [sys.executable, "-m", PACKAGE, "serve", "--port", str(port)]
        env = {
            **os.environ,
            "PYTHONPATH": str(project / "src"),
            "JWT_SECRET": SECRET,
            "ENVIRONMENT": "production",
            "DATABASE_URL": f"sqlite:///{workdir}/bench.db",
            "WS_RATE_LIMIT": "1000000000",
            "WS_RATE_BURST": "1000000",
            "WS_MAX_CONNECTIONS": "100000",
        }
    else:
        command = [sys.executable, "-m", "uvicorn", "baseline:app", "--port", str(port)]
        command += UVICORN_OPTIONS
        env = {**os.environ, "PYTHONPATH": str(BENCH)}
    log = (workdir / f"{kind}.log").open("wb")
    process = subprocess.Popen(command, env=env, cwd=workdir, stdout=log, stderr=log)
    try:
        wait_for_port(port, process)
        yield Server(kind, port, process)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"the server exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.1)
    sys.exit("the server did not listen within 30 s")


def load(*args: str) -> subprocess.Popen[str]:
    command = [sys.executable, str(BENCH / "load.py"), *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)


def run_load(server: Server, mode: str, *options: str) -> dict[str, float]:
    """Run the load generator to the end; its one-line JSON result."""
    process = load(mode, server.url, *options)
    output, _ = process.communicate(timeout=900)
    if process.returncode != 0:
        sys.exit(f"the load generator failed against {server.kind}")
    result: dict[str, float] = json.loads(output.splitlines()[-1])
    return result


def run_fanout(server: Server, scenario: Scenario, tokens: Path) -> dict[str, float]:
    clients, messages = str(scenario.clients), str(scenario.messages)
    return run_load(
        server, "fanout", "--clients", clients, "--messages", messages, "--tokens", str(tokens)
    )


def run_latency(server: Server, scenario: Scenario, tokens: Path) -> dict[str, float]:
    """`scenario.messages` is the sender's rate here, per second, for 5 seconds."""
    clients, rate = str(scenario.clients), str(scenario.messages)
    options = ("--clients", clients, "--rate", rate, "--seconds", "5", "--tokens", str(tokens))
    return run_load(server, "latency", *options)


def run_idle(server: Server, tokens: Path, clients: int) -> dict[str, float]:
    time.sleep(1)  # let start-up allocations settle
    before = server.rss()
    process = load("idle", server.url, "--clients", str(clients), "--tokens", str(tokens))
    assert process.stdout is not None
    ready = json.loads(process.stdout.readline())
    time.sleep(2)
    after = server.rss()
    process.terminate()
    process.wait(timeout=30)
    return {"bytes_per_connection": (after - before) / ready["ready"]}


def measure(
    kind: str, project: Path, workdir: Path, tokens: Path, *, smoke: bool
) -> dict[str, float]:
    results: dict[str, float] = {}
    with serving(kind, project, workdir) as server:
        for scenario in SMOKE_FANOUT if smoke else FANOUT:
            outcome = run_fanout(server, scenario, tokens)
            results[f"{scenario.name}: deliveries/s"] = outcome["deliveries_per_second"]
            results[f"{scenario.name}: connect s"] = outcome["connect_seconds"]
            results[f"{scenario.name}: client CPU"] = outcome["client_cpu"]
        paced = SMOKE_LATENCY if smoke else LATENCY
        timing = run_latency(server, paced, tokens)
        results[f"{paced.name}: p50 ms"] = timing["p50_ms"]
        results[f"{paced.name}: p99 ms"] = timing["p99_ms"]
    with serving(kind, project, workdir) as server:
        clients = SMOKE_IDLE_CLIENTS if smoke else IDLE_CLIENTS
        results[f"idle memory per connection, N={clients}, bytes"] = run_idle(
            server, tokens, clients
        )["bytes_per_connection"]
    return results


def versions() -> str:
    names = ("uvicorn", "starlette", "fastapi", "pydantic", "websockets", "uvloop", "picows")
    return ", ".join(f"{name} {metadata.version(name)}" for name in names)


def table(samples: dict[str, list[dict[str, float]]]) -> str:
    """Medians and their ratio, with each side's range over the rounds: the noise to read
    the ratio against."""
    rounds = len(samples["app"])
    lines = [
        f"Benchmark of {datetime.date.today().isoformat()}: {platform.platform()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; {versions()}; "
        f"median of {rounds} rounds, with the range of the rounds.",
        "",
        "| measure | ratio app/baseline | app | bare Starlette | app range | baseline range |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in samples["app"][0]:
        app = [run[name] for run in samples["app"]]
        base = [run[name] for run in samples["baseline"]]
        app_median, base_median = statistics.median(app), statistics.median(base)
        ratio = app_median / base_median if base_median else float("nan")
        lines.append(
            f"| {name} | {ratio:.2f} | {app_median:,.2f} | {base_median:,.2f} "
            f"| {min(app):,.2f} to {max(app):,.2f} | {min(base):,.2f} to {max(base):,.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=BENCH / "results.md")
    parser.add_argument("--smoke", action="store_true", help="a tiny run, to check the machinery")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by the servers
    samples: dict[str, list[dict[str, float]]] = {"app": [], "baseline": []}
    with tempfile.TemporaryDirectory(prefix="azu-bench-") as scratch:
        workdir = Path(scratch)
        project = bake(workdir / "bake")
        tokens = workdir / "tokens.txt"
        mint_tokens(project, max(IDLE_CLIENTS, *(s.clients for s in FANOUT)), tokens)
        for round_number in range(args.rounds):
            order = ["app", "baseline"] if round_number % 2 == 0 else ["baseline", "app"]
            for kind in order:
                print(f"round {round_number + 1}/{args.rounds}: {kind} ...", flush=True)
                samples[kind].append(measure(kind, project, workdir, tokens, smoke=args.smoke))
    report = table(samples)
    print(report)
    args.output.write_text(report)
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
