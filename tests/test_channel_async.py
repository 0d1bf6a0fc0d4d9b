"""Awaiting channels and ports from coroutines: ``receive_async``, ``send_async``, ``async for`` on
Channel, MessagePort, BroadcastChannel and Worker (the creator's side).

The loop is woken by the sending (or closing) thread with ``call_soon_threadsafe``: no polling and
no helper thread per waiting coroutine (the thread-leak check of conftest would see one). Close and
``EndOfChannel`` behave as in the blocking API; a cancelled receive loses no message; a loop
closed with a coroutine still waiting does not break senders or other receivers.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from typing import Any

import pytest
from messaging_helpers import captured_excepthook

from ftpool import (
    BroadcastChannel,
    Channel,
    ClosedError,
    EndOfChannel,
    MessageChannel,
    Worker,
    parent_port,
)


def _later(delay: float, fn: Any, *args: Any) -> threading.Timer:
    timer = threading.Timer(delay, fn, args)
    timer.start()
    return timer


@pytest.mark.parametrize("capacity", [0, 3])
def test_receive_async_takes_a_queued_item_or_waits_for_a_thread_to_send(capacity: int) -> None:
    channel: Channel[int] = Channel(capacity)
    channel.send(1)

    async def main() -> list[int]:
        got = [await channel.receive_async()]
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        tick_task = asyncio.create_task(ticker())
        timer = _later(0.05, channel.send, 2)
        got.append(await channel.receive_async(timeout=10))
        tick_task.cancel()
        timer.join()
        assert ticks >= 5  # the loop kept running while the coroutine waited
        return got

    assert asyncio.run(main()) == [1, 2]
    assert channel.stats().waiting_receivers == 0


def test_send_async_waits_for_room_without_blocking_the_loop() -> None:
    channel: Channel[int] = Channel(2)

    async def main() -> None:
        await channel.send_async(1)
        await channel.send_async(2)
        other_ran = asyncio.Event()

        async def other() -> None:
            other_ran.set()

        receiver = _later(0.05, channel.receive)
        task = asyncio.create_task(other())
        await channel.send_async(3, timeout=10)  # full: waits until the thread receives
        await task
        assert other_ran.is_set()
        receiver.join()
        with pytest.raises(TimeoutError, match="send_async"):
            await channel.send_async(4, timeout=0.01)

    asyncio.run(main())
    assert channel.receive_many(5) == [2, 3]


@pytest.mark.parametrize("capacity", [0, 2])
def test_async_for_ends_at_close_and_close_wakes_waiters(capacity: int) -> None:
    channel: Channel[int] = Channel(capacity)

    def produce() -> None:
        for i in range(10):
            channel.send(i)
        channel.close()

    async def main() -> list[int]:
        thread = threading.Thread(target=produce)
        thread.start()
        got = [item async for item in channel]
        thread.join()
        with pytest.raises(EndOfChannel):
            await channel.receive_async()
        return got

    assert asyncio.run(main()) == list(range(10))

    full: Channel[int] = Channel(1)
    full.send(0)
    empty: Channel[int] = Channel()

    async def blocked() -> None:
        closer = _later(0.02, lambda: (empty.close(), full.close()))
        with pytest.raises(EndOfChannel):
            await empty.receive_async()
        with pytest.raises(ClosedError):
            await full.send_async(1)
        closer.join()

    asyncio.run(blocked())


def test_bad_timeouts_are_rejected_before_anything_happens() -> None:
    channel: Channel[int] = Channel(1)
    channel.send(5)

    async def main() -> None:
        with pytest.raises(ValueError, match="receive_async"):
            await channel.receive_async(timeout=-1)
        with pytest.raises(TypeError, match="send_async"):
            await channel.send_async(1, timeout="1")  # type: ignore[arg-type]
        with pytest.raises(TimeoutError, match="timed out"):
            await Channel[int]().receive_async(timeout=0.01)

    asyncio.run(main())
    assert channel.receive_nowait() == 5


@pytest.mark.parametrize("capacity", [0, 4])
def test_a_cancelled_receive_async_loses_no_message(capacity: int) -> None:
    channel: Channel[int] = Channel(capacity)

    async def main() -> None:
        for i in range(200):
            task = asyncio.create_task(channel.receive_async())
            await asyncio.sleep(0)  # it is waiting now
            sender = threading.Thread(target=channel.send, args=(i,))
            sender.start()  # the send and the cancel race
            if i % 3:
                await asyncio.sleep(0)
            task.cancel()
            try:
                got = await task
            except asyncio.CancelledError:
                got = await channel.receive_async(timeout=10)  # it stayed queued
            sender.join()
            assert got == i
            assert len(channel) == 0

    asyncio.run(main())
    assert channel.stats().waiting_receivers == 0


def test_a_woken_but_cancelled_coroutine_passes_its_wake_up_on() -> None:
    # Two coroutines wait; one send wakes the first, which is cancelled before it runs: the
    # second must get the item.
    channel: Channel[int] = Channel()

    async def main() -> int:
        first = asyncio.create_task(channel.receive_async())
        await asyncio.sleep(0)
        second = asyncio.create_task(channel.receive_async(timeout=10))
        await asyncio.sleep(0)
        channel.send(42)  # wakes `first` (call_soon_threadsafe: it has not run yet)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        return await second

    assert asyncio.run(main()) == 42


def test_ports_broadcast_and_workers_receive_async() -> None:
    one, two = MessageChannel()
    name = f"async-{time.monotonic_ns()}"
    poster, listener = BroadcastChannel(name), BroadcastChannel(name)

    def worker_main() -> None:
        port = parent_port()
        assert port is not None
        for i in range(3):
            port.post_message(i)

    async def main() -> None:
        timer = _later(0.02, one.post_message, "hello")
        assert await two.receive_async(timeout=10) == "hello"
        timer.join()
        one.post_messages(["a", "b"])
        one.close()
        assert [m async for m in two] == ["a", "b"]
        with pytest.raises(EndOfChannel, match="MessageChannel is closed"):
            await two.receive_async()

        poster.post_message("x")
        assert await listener.receive_async(timeout=10) == "x"
        poster.post_message("y")
        listener.close()
        assert [m async for m in listener] == ["y"]

        worker = Worker(worker_main)
        assert [m async for m in worker] == [0, 1, 2]
        with pytest.raises(EndOfChannel):
            await worker.receive_async()
        assert worker.join(10) == 0

    asyncio.run(main())
    poster.close()


def test_many_loops_in_many_threads_share_one_channel() -> None:
    channel: Channel[int] = Channel(16)
    total = 2000
    got: list[list[int]] = [[] for _ in range(4)]

    async def consume(index: int) -> None:
        async for item in channel:
            got[index].append(item)

    async def produce(start: int) -> None:
        for i in range(start, start + total // 2):
            await channel.send_async(i)

    threads = [threading.Thread(target=asyncio.run, args=(consume(i),)) for i in range(4)]
    producers = [threading.Thread(target=asyncio.run, args=(produce(s),)) for s in (0, total // 2)]
    for thread in threads + producers:
        thread.start()
    for thread in producers:
        thread.join(30)
    channel.close()
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive()
    assert Counter(x for part in got for x in part) == Counter(range(total))


@pytest.mark.single_thread  # swaps threading.excepthook
def test_a_loop_closed_with_a_waiting_coroutine_is_reported_and_breaks_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    channel: Channel[int] = Channel()
    loop = asyncio.new_event_loop()
    task = loop.create_task(channel.receive_async())
    loop.run_until_complete(asyncio.sleep(0.01))  # the coroutine now waits
    assert channel.stats().waiting_receivers == 1
    loop.close()  # without cancelling it: it can never resume

    got: list[int] = []
    receiver = threading.Thread(target=lambda: got.append(channel.receive(timeout=10)))
    receiver.start()
    while channel.stats().waiting_receivers < 2:
        time.sleep(0.001)
    with captured_excepthook(monkeypatch) as reported:
        channel.send(7)  # no error for the sender; the wake-up goes on to the blocked thread
    receiver.join(10)
    assert got == [7]
    assert channel.stats().waiting_receivers == 0
    assert len(reported) == 1  # reported, never silent
    assert "event loop was closed while it waited" in str(reported[0])
    del task


async def _echo_async() -> None:
    port = parent_port()
    assert port is not None
    async for message in port:  # a coroutine Worker: its own loop, woken by the creator's posts
        port.post_message(message * 2)


def test_a_coroutine_worker_iterates_its_parent_port_and_terminate_ends_it() -> None:
    worker = Worker(_echo_async)
    worker.post_messages([1, 2, 3])
    assert [worker.receive(timeout=10) for _ in range(3)] == [2, 4, 6]
    assert worker.terminate(timeout=10) == 1  # cancels the main task awaiting receive_async

    worker = Worker(_echo_async)
    worker.post_message(5)
    assert worker.receive(timeout=10) == 10
    worker._port._close_sending()  # the creator is done: async for ends, the worker returns
    assert worker.join(10) == 0
