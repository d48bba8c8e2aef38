"""The garbage collector, set for thousands of sockets (docs/ARCHITECTURE.md, Defences)."""

import gc

YOUNG_THRESHOLD = 10_000


def settle_for_many_sockets() -> None:
    """Call once start-up is done."""
    # What start-up made lives as long as the process: no collection need walk it again.
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_THRESHOLD), middle, old)
