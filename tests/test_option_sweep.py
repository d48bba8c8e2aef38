"""Every combination of the options bakes clean: ruff, ruff format and mypy --strict pass.

The full gates (pytest included) run on a representative set in
test_baked_project.py; this sweep covers all 30 combinations with the static
checks, which is where an option that leaves a dangling import or name shows.
"""

import itertools
from pathlib import Path

import pytest

from .conftest import cookiecutter, run_in

CHANNEL_OPTIONS = ("with_chat", "with_rooms", "with_notifications", "with_live_updates")
BROKERS = ("memory", "redis")
# At least one channel, each broker: 15 x 2.
COMBINATIONS = [
    {**dict(zip(CHANNEL_OPTIONS, switches, strict=True)), "default_broker": broker}
    for switches in itertools.product(("true", "false"), repeat=len(CHANNEL_OPTIONS))
    if "true" in switches
    for broker in BROKERS
]


def label(answers: dict[str, str]) -> str:
    kept = [option[5:] for option in CHANNEL_OPTIONS if answers[option] == "true"]
    return "+".join(kept) + "@" + answers["default_broker"]


@pytest.mark.parametrize("broker", BROKERS)
def test_every_combination_of_channels_bakes_lint_format_and_type_clean(
    broker: str, tmp_path: Path
) -> None:
    # One mypy cache for the sweep: the runtime is the same file for file in
    # every bake, so only each bake's app is checked afresh.
    cache = tmp_path / "mypy-cache"
    combinations = [answers for answers in COMBINATIONS if answers["default_broker"] == broker]
    assert len(combinations) == 15
    for answers in combinations:
        output = tmp_path / label(answers)
        result = cookiecutter(output, **answers)
        assert result.returncode == 0, (label(answers), result.stderr)
        (project,) = output.iterdir()
        for gate in (
            ("ruff", "check", "--no-cache", "."),
            ("ruff", "format", "--check", "--no-cache", "."),
            ("mypy", "--strict", "--cache-dir", str(cache)),
        ):
            outcome = run_in(project, *gate)
            report = outcome.stdout[-3000:] + outcome.stderr[-1000:]
            assert outcome.returncode == 0, f"{label(answers)}: {gate[0]} {gate[1]}:\n{report}"
