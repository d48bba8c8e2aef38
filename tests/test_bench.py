"""The benchmark's machinery works: a tiny run fills every row of its table (no timing)."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NUMBER = r"[\d,.]+"
RANGE = rf"{NUMBER} to {NUMBER}"
ROW = re.compile(
    rf"^\| (?P<measure>[^|]+) \| (?P<ratio>{NUMBER}) \| (?P<app>{NUMBER}) \| (?P<base>{NUMBER}) "
    rf"\| {RANGE} \| {RANGE} \|$"
)


def test_a_smoke_run_writes_a_table_with_every_measure_for_both_servers(tmp_path: Path) -> None:
    output = tmp_path / "results.md"
    command = [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--rounds", "1"]
    result = subprocess.run(
        [*command, "--output", str(output)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = [ROW.match(line) for line in output.read_text().splitlines() if line.startswith("| ")]
    measures = {row["measure"] for row in rows if row}
    assert measures == {
        "fan-out, N=10: deliveries/s",
        "fan-out, N=10: connect s",
        "fan-out, N=10: client CPU",
        "fan-out, N=20: deliveries/s",
        "fan-out, N=20: connect s",
        "fan-out, N=20: client CPU",
        "latency at 200 deliveries/s, N=10: p50 ms",
        "latency at 200 deliveries/s, N=10: p99 ms",
        "idle memory per connection, N=20, bytes",
    }
    for row in filter(None, rows):
        if "deliveries" in row["measure"]:
            assert float(row["app"].replace(",", "")) > 0
            assert float(row["base"].replace(",", "")) > 0
