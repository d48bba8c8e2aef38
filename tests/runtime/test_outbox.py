"""A socket's outbound queue: bounded, in order, and whoever waits for room is always woken."""

import asyncio

import pytest
from azu_ws.outbox import Outbox, OutboxFull


def test_it_keeps_order_and_refuses_past_its_size() -> None:
    outbox: Outbox[str] = Outbox(2)
    outbox.put_nowait("a")
    outbox.put_nowait("b")
    with pytest.raises(OutboxFull):
        outbox.put_nowait("c")
    assert outbox.take(10) == ["a", "b"]
    assert outbox.empty()


def test_a_take_is_bounded_and_leaves_the_rest_in_order() -> None:
    outbox: Outbox[str] = Outbox(8)
    for item in "abcde":
        outbox.put_nowait(item)
    assert [outbox.take(2), outbox.take(2), outbox.take(2), outbox.take(2)] == [
        ["a", "b"],
        ["c", "d"],
        ["e"],
        [],
    ]


def test_it_is_full_once_its_frames_weigh_its_size_in_bytes_and_one_always_fits() -> None:
    outbox: Outbox[str | bytes] = Outbox(100, max_bytes=10)
    outbox.put_nowait("abcdef")
    outbox.put_nowait(b"ghij")  # 10 in all: full, though only two of a hundred frames
    with pytest.raises(OutboxFull):
        outbox.put_nowait("k")
    outbox.take(1)
    outbox.put_nowait("klmnop")
    outbox.clear()
    outbox.put_nowait("x" * 1000)  # larger than the whole bound, into an empty queue
    with pytest.raises(OutboxFull):
        outbox.put_nowait("y")


async def waiting_scenario() -> tuple[list[str], list[str]]:
    outbox: Outbox[str] = Outbox(1)
    outbox.put_nowait("first")
    quitter = asyncio.create_task(outbox.wait_for_room())
    patient = asyncio.create_task(outbox.wait_for_room())
    await asyncio.sleep(0)
    quitter.cancel()  # one waiter gives up: the other must still be woken
    await asyncio.sleep(0)
    taken = outbox.take(1)
    await asyncio.wait_for(patient, 1)
    outbox.put_nowait("second")
    return taken, outbox.take(1)


def test_a_wait_for_room_ends_when_an_item_is_taken() -> None:
    assert asyncio.run(waiting_scenario()) == (["first"], ["second"])


async def clearing_scenario() -> bool:
    outbox: Outbox[str] = Outbox(1)
    outbox.put_nowait("stale")
    waiting = asyncio.create_task(outbox.wait_for_room())
    await asyncio.sleep(0)
    outbox.clear()  # a socket closing drops its queue: room at once
    await asyncio.wait_for(waiting, 1)
    return outbox.full()


def test_clearing_makes_room_for_a_waiting_putter() -> None:
    assert asyncio.run(clearing_scenario()) is False
