"""`python -m tests.runtime.testapp serve|types|token`: the runtime's command line."""

from azu_ws import run_cli

if __name__ == "__main__":
    run_cli(__package__ or "tests.runtime.testapp")
