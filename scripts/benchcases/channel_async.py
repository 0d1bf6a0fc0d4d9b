"""Channels awaited from coroutines: receive_async throughput against an asyncio.Queue fed with
call_soon_threadsafe (the usual way to hand items from a thread to a loop), and how soon an awaited
receive_async runs again after a thread sends (the wake-up latency).

Each case runs ftpool and its peer in the same call, so the ratio compares numbers measured at
the same moment on the same (noisy, shared) machine.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time

from benchlib import Case, quantile

import ftpool

_END = object()


def _async_receive(quick: bool) -> dict[str, float]:
    n = 20_000 if quick else 200_000

    channel: ftpool.Channel[int] = ftpool.Channel()

    def channel_producer() -> None:
        send = channel.send
        for i in range(n):
            send(i)
        channel.close()

    async def channel_consumer() -> float:
        thread = threading.Thread(target=channel_producer, name="bench-producer")
        started = time.perf_counter()
        thread.start()
        count = 0
        async for _ in channel:
            count += 1
        elapsed = time.perf_counter() - started
        thread.join()
        assert count == n
        return elapsed

    async def queue_consumer() -> float:
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[object] = asyncio.Queue()

        def producer() -> None:
            call = loop.call_soon_threadsafe
            put = items.put_nowait
            for i in range(n):
                call(put, i)
            call(put, _END)

        thread = threading.Thread(target=producer, name="bench-producer")
        started = time.perf_counter()
        thread.start()
        count = 0
        while await items.get() is not _END:
            count += 1
        elapsed = time.perf_counter() - started
        thread.join()
        assert count == n
        return elapsed

    return {
        "ftpool receive_async": n / asyncio.run(channel_consumer()),
        "asyncio.Queue + call_soon_threadsafe": n / asyncio.run(queue_consumer()),
    }


def _async_wakeup(quick: bool) -> dict[str, float]:
    samples = 40 if quick else 200
    gap = 0.002  # long enough for the coroutine to be waiting again before the next send

    channel: ftpool.Channel[float] = ftpool.Channel()

    def sender() -> None:
        for _ in range(samples):
            time.sleep(gap)
            channel.send(time.perf_counter())

    async def receiver() -> list[float]:
        thread = threading.Thread(target=sender, name="bench-sender")
        thread.start()
        latencies = []
        for _ in range(samples):
            sent_at = await channel.receive_async()
            latencies.append(time.perf_counter() - sent_at)
        thread.join()
        return latencies

    async def queue_receiver() -> list[float]:
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[float] = asyncio.Queue()

        def queue_sender() -> None:
            for _ in range(samples):
                time.sleep(gap)
                loop.call_soon_threadsafe(items.put_nowait, time.perf_counter())

        thread = threading.Thread(target=queue_sender, name="bench-sender")
        thread.start()
        latencies = []
        for _ in range(samples):
            sent_at = await items.get()
            latencies.append(time.perf_counter() - sent_at)
        thread.join()
        return latencies

    ours = asyncio.run(receiver())
    peer = asyncio.run(queue_receiver())
    return {
        "ftpool receive_async p50": statistics.median(ours) * 1e3,
        "ftpool receive_async p99": quantile(ours, 0.99) * 1e3,
        "asyncio.Queue p50": statistics.median(peer) * 1e3,
        "asyncio.Queue p99": quantile(peer, 0.99) * 1e3,
    }


CASES = [
    Case(
        name="async.receive",
        description="1 producer thread -> a coroutine: Channel() send / async for vs an "
        "asyncio.Queue fed with loop.call_soon_threadsafe(put_nowait), items/s",
        run=_async_receive,
        unit="items/s",
        higher_is_better=True,
        ratios=[("ftpool receive_async", "asyncio.Queue + call_soon_threadsafe")],
        target="ftpool receive_async / asyncio.Queue + call_soon_threadsafe >= 1",
    ),
    Case(
        name="async.wakeup",
        description="a thread sends -> the coroutine awaiting receive_async runs again, p50/p99 "
        "ms, vs the same through an asyncio.Queue and call_soon_threadsafe",
        run=_async_wakeup,
        unit="ms",
        higher_is_better=False,
        ratios=[("ftpool receive_async p50", "asyncio.Queue p50")],
        target="ftpool receive_async p50 < 0.2 ms",
    ),
]
