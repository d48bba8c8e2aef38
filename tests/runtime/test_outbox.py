"""A socket's outbound queue: bounded, in order, and its waiting putters are always woken."""

import asyncio

import pytest
from azu_ws.outbox import Outbox, OutboxFull


def test_it_keeps_order_and_refuses_past_its_size() -> None:
    outbox: Outbox[str] = Outbox(2)
    outbox.put_nowait("a")
    outbox.put_nowait("b")
    with pytest.raises(OutboxFull):
        outbox.put_nowait("c")
    assert [outbox.get_nowait(), outbox.get_nowait()] == ["a", "b"]
    assert outbox.empty()


def test_it_is_full_once_its_frames_weigh_its_size_in_bytes_and_one_always_fits() -> None:
    outbox: Outbox[str | bytes] = Outbox(100, max_bytes=10)
    outbox.put_nowait("abcdef")
    outbox.put_nowait(b"ghij")  # 10 in all: full, though only two of a hundred frames
    with pytest.raises(OutboxFull):
        outbox.put_nowait("k")
    outbox.get_nowait()
    outbox.put_nowait("klmnop")
    outbox.clear()
    outbox.put_nowait("x" * 1000)  # larger than the whole bound, into an empty queue
    with pytest.raises(OutboxFull):
        outbox.put_nowait("y")


async def waiting_scenario() -> list[str]:
    outbox: Outbox[str] = Outbox(1)
    outbox.put_nowait("first")
    quitter = asyncio.create_task(outbox.put("given up"))
    patient = asyncio.create_task(outbox.put("second"))
    await asyncio.sleep(0)
    quitter.cancel()  # one putter gives up: the other must still get in
    await asyncio.sleep(0)
    reader = asyncio.create_task(collect(outbox, 2))
    await asyncio.wait_for(patient, 1)
    return await asyncio.wait_for(reader, 1)


async def collect(outbox: Outbox[str], count: int) -> list[str]:
    return [await outbox.get() for _ in range(count)]


def test_a_putter_waits_for_room_and_a_reader_for_an_item() -> None:
    assert asyncio.run(waiting_scenario()) == ["first", "second"]


async def clearing_scenario() -> tuple[bool, str]:
    outbox: Outbox[str] = Outbox(1)
    outbox.put_nowait("stale")
    putter = asyncio.create_task(outbox.put("fresh"))
    await asyncio.sleep(0)
    outbox.clear()  # a socket dropping its queue makes room at once
    await asyncio.wait_for(putter, 1)
    return outbox.full(), await outbox.get()


def test_clearing_makes_room_for_a_waiting_putter() -> None:
    assert asyncio.run(clearing_scenario()) == (True, "fresh")


async def quiet_scenario() -> tuple[bool, list[str], bool]:
    outbox: Outbox[str] = Outbox(4)
    reader = asyncio.create_task(outbox.get())
    await asyncio.sleep(0)
    outbox.put_quietly("taken by whoever put it")
    await asyncio.sleep(0)
    still_waiting = outbox.reader_waiting and not reader.done()
    taken = [outbox.get_nowait()]
    outbox.put_quietly("left to the reader")
    outbox.wake_reader()
    taken.append(await asyncio.wait_for(reader, 1))
    return still_waiting, taken, outbox.reader_waiting


def test_a_quiet_put_leaves_the_reader_waiting_until_it_is_woken() -> None:
    assert asyncio.run(quiet_scenario()) == (
        True,
        ["taken by whoever put it", "left to the reader"],
        False,
    )
