"""The command line: help on every option, and the name it was called by in its messages."""

import argparse
import os
import subprocess
import sys

import pytest
from azu_ws.cli import command_line, program_name

from .bench import IMPORT_PATH, PACKAGE


def test_every_command_and_option_says_what_it_does() -> None:
    parser = command_line(PACKAGE, "app")
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for name, command in commands.choices.items():
        for action in command._actions:
            if not isinstance(action, argparse._HelpAction):
                assert action.help, f"{name} {action.dest} has no help"
    assert {choice.dest for choice in commands._choices_actions} == set(commands.choices)
    assert all(choice.help for choice in commands._choices_actions)


@pytest.mark.parametrize(
    ("argv0", "expected"),
    [
        ("/srv/app/.venv/bin/my-app", "my-app"),
        (f"/srv/app/src/{PACKAGE}/__main__.py", f"python -m {PACKAGE}"),
        ("-c", f"python -m {PACKAGE}"),
    ],
)
def test_messages_name_the_command_as_it_was_called(
    monkeypatch: pytest.MonkeyPatch, argv0: str, expected: str
) -> None:
    monkeypatch.setattr(sys, "argv", [argv0, "--help"])
    assert program_name(PACKAGE, None) == expected


def test_python_dash_m_still_runs_it() -> None:
    result = subprocess.run(
        [sys.executable, "-m", PACKAGE, "token", "--help"],
        # As a checkout without an install runs it: the runtime from its `src/`.
        env={**os.environ, "PYTHONPATH": IMPORT_PATH},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: python -m {PACKAGE} token ")
