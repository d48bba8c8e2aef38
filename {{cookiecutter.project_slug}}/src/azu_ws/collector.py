"""The garbage collector, set for thousands of sockets.

A broadcast to N sockets makes a few objects per recipient (a future, a loop
handle, a batch list) that are still alive when the next young collection
runs. They are promoted, and full collections, which walk every object of
every connection, follow every few broadcasts. Measured with `bench/` at
5,000 sockets, CPython's default young threshold of 700 cost about 40% of
fan-out throughput, and a threshold of 10,000 won it back. Almost everything
here is freed by reference counting; cycles wait a little longer, that is all.
"""

import gc

YOUNG_THRESHOLD = 10_000


def settle_for_many_sockets() -> None:
    """Call once start-up is done."""
    # What start-up made lives as long as the process: no collection need walk it again.
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_THRESHOLD), middle, old)
