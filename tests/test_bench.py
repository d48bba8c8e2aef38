"""The benchmark's machinery works: a tiny run fills every row of its tables (no timing)."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NUMBER = r"[\d,.]+"
RANGE = rf"{NUMBER} to {NUMBER}"
# app / bare, app / socketio; three medians; three ranges.
SERVERS_ROW = re.compile(
    rf"^\| (?P<measure>[^|]+) \| {NUMBER} \| {NUMBER} "
    rf"\| (?P<app>{NUMBER}) \| (?P<bare>{NUMBER}) \| (?P<socketio>{NUMBER}) "
    rf"\| {RANGE} \| {RANGE} \| {RANGE} \|$"
)
# two / one; two medians; two ranges.
WORKERS_ROW = re.compile(
    rf"^\| (?P<measure>[^|]+) \| {NUMBER} \| (?P<two>{NUMBER}) \| (?P<one>{NUMBER}) "
    rf"\| {RANGE} \| {RANGE} \|$"
)
FANOUT_MEASURES = {
    f"fan-out, N={n}: {what}"
    for n in (10, 20)
    for what in ("deliveries/s", "connect s", "client CPU")
}


def rows(text: str, pattern: re.Pattern[str]) -> dict[str, dict[str, float]]:
    found = {}
    for line in text.splitlines():
        if match := pattern.match(line):
            values = match.groupdict()
            measure = values.pop("measure")
            found[measure] = {key: float(value.replace(",", "")) for key, value in values.items()}
    return found


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> str:
    output = tmp_path_factory.mktemp("bench") / "results.md"
    command = [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--rounds", "1"]
    result = subprocess.run(
        [*command, "--output", str(output)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return output.read_text()


def test_the_app_the_bare_endpoint_and_python_socketio_are_all_measured(report: str) -> None:
    servers = rows(report, SERVERS_ROW)
    assert set(servers) == FANOUT_MEASURES | {
        "latency at 200 deliveries/s, N=10: p50 ms",
        "latency at 200 deliveries/s, N=10: p99 ms",
        "idle memory per connection, N=20, bytes",
    }
    for measure, values in servers.items():
        if "deliveries/s" in measure or "bytes" in measure:
            assert all(value > 0 for value in values.values()), (measure, values)


def test_two_redis_workers_are_measured_against_one(report: str) -> None:
    if shutil.which("redis-server") is None:
        reason = "redis-server is not installed (Debian: apt-get install redis-server)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must measure two Redis workers")
        assert "not measured, redis-server is not installed" in report
        pytest.skip(reason)
    workers = rows(report, WORKERS_ROW)
    assert set(workers) == FANOUT_MEASURES
    for measure, values in workers.items():
        if "deliveries/s" in measure:
            assert all(value > 0 for value in values.values()), (measure, values)
