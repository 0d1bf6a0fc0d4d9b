"""``Pool.map_async``: results in input order as an async iterator, lazy reading of plain and
async inputs with a bounded window, early close (aclose, async with, break, a cancelled
consumer, an item's exception) cancelling what is in flight, the pool terminated or closed under
it, and bad input raised by the call."""

from __future__ import annotations

import asyncio
import gc
import itertools
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import ftpool
from ftpool import Cancelled, Pool

WAIT = 10.0


def slow_square(x: int) -> int:
    time.sleep(0.001 * (x % 3))  # later items often finish first: the order must still hold
    return x * x


def fail_on(bad: int) -> Any:
    def fn(x: int) -> int:
        if x == bad:
            raise ValueError(f"item {x}")
        return x

    return fn


async def collect(iterator: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in iterator]


async def consume_into(
    iterator: AsyncIterator[Any], got: list[Any], at_3: Any = None
) -> None:
    async for x in iterator:
        got.append(x)
        if x == 3 and at_3 is not None:
            at_3()


@pytest.mark.parametrize("chunksize", [None, 1, 7])
def test_results_come_in_input_order(chunksize: int | None) -> None:
    with Pool(max_workers=2) as pool:
        got = asyncio.run(collect(pool.map_async(slow_square, range(200), chunksize=chunksize)))
    assert got == [x * x for x in range(200)]


def test_empty_input() -> None:
    with Pool(max_workers=2) as pool:
        assert asyncio.run(collect(pool.map_async(abs, []))) == []


def test_async_iterable_input() -> None:
    async def numbers() -> AsyncIterator[int]:
        for i in range(50):
            if i % 10 == 0:
                await asyncio.sleep(0)
            yield i

    with Pool(max_workers=2) as pool:
        got = asyncio.run(collect(pool.map_async(lambda x: -x, numbers(), chunksize=4)))
    assert got == [-i for i in range(50)]


def test_input_is_read_lazily_with_a_bounded_window() -> None:
    read = 0

    def endless() -> Iterator[int]:
        nonlocal read
        for i in itertools.count():
            read = i + 1
            yield i

    async def main(pool: Pool) -> list[int]:
        got = []
        results = pool.map_async(abs, endless(), buffersize=6)
        async for x in results:
            got.append(x)
            # never more than the window (6 items) ahead of what was consumed
            assert read <= len(got) + 6
            if len(got) == 40:
                break
        await results.aclose()
        return got

    with Pool(max_workers=2) as pool:
        assert asyncio.run(main(pool)) == list(range(40))
    assert read <= 40 + 6


def test_a_slow_consumer_holds_back_the_workers() -> None:
    calls = 0
    lock = threading.Lock()

    def count(x: int) -> int:
        nonlocal calls
        with lock:
            calls += 1
        return x

    async def main(pool: Pool) -> int:
        results = pool.map_async(count, range(10_000), chunksize=1, buffersize=4)
        async with results:
            assert await anext(results) == 0
            await asyncio.sleep(0.05)  # the consumer dawdles: the workers must not run ahead
            with lock:
                return calls

    with Pool(max_workers=2) as pool:
        assert asyncio.run(main(pool)) <= 1 + 4


def test_max_queue_bounds_the_chunks_in_flight() -> None:
    calls = 0
    lock = threading.Lock()

    def count(x: int) -> int:
        nonlocal calls
        with lock:
            calls += 1
        return x

    async def main(pool: Pool) -> int:
        async with pool.map_async(count, itertools.count(), chunksize=1) as results:
            assert await anext(results) == 0
            await asyncio.sleep(0.05)  # the consumer dawdles: 2 chunks in flight at most
            with lock:
                return calls

    with Pool(max_workers=2, max_queue=2) as pool:
        assert asyncio.run(main(pool)) <= 1 + 2


def test_the_default_window_is_bounded_and_chunks_fit_in_it() -> None:
    read = 0

    def endless() -> Iterator[int]:
        nonlocal read
        for i in itertools.count():
            read = i + 1
            yield i

    async def main(pool: Pool) -> None:
        async with pool.map_async(abs, endless()) as results:
            async for x in results:
                if x == 100:
                    break
        async with pool.map_async(abs, range(100), chunksize=1000, buffersize=10) as results:
            assert [x async for x in results] == list(range(100))  # chunks clamped to 10

    with Pool(max_workers=2) as pool:
        asyncio.run(main(pool))
    assert read <= 101 + 4096 * 2


def test_an_item_exception_is_raised_at_its_place_and_cancels_the_rest() -> None:
    async def main(pool: Pool) -> list[int]:
        got: list[int] = []
        results = pool.map_async(fail_on(5), range(100), chunksize=1, buffersize=4)
        with pytest.raises(ValueError, match="item 5"):
            await consume_into(results, got)
        return got

    with Pool(max_workers=2) as pool:
        assert asyncio.run(main(pool)) == [0, 1, 2, 3, 4]


def _blocked_map(pool: Pool, release: threading.Event, started: threading.Event) -> Any:
    """Item 0 returns at once; the others run until ``release`` or their cancellation."""

    def wait_then(x: int) -> int:
        if x == 0:
            return x
        started.set()
        while not release.is_set():
            ftpool.check_cancelled()
            time.sleep(0.0005)
        return x

    return pool.map_async(wait_then, range(1000), chunksize=1, buffersize=4)


@pytest.mark.parametrize("how", ["aclose", "async with", "break", "cancelled consumer"])
def test_closing_early_cancels_what_is_in_flight(how: str) -> None:
    release, started = threading.Event(), threading.Event()

    async def main(pool: Pool) -> Any:
        results = _blocked_map(pool, release, started)
        if how == "aclose":
            assert await anext(results) == 0
            assert await asyncio.to_thread(started.wait, WAIT)
            await results.aclose()
        elif how == "async with":
            async with results:
                assert await anext(results) == 0
                assert await asyncio.to_thread(started.wait, WAIT)
        elif how == "break":
            async for x in results:
                assert x == 0
                assert await asyncio.to_thread(started.wait, WAIT)
                break
            inflight = list(results._inflight)  # type: ignore[attr-defined]
            del results  # dropped: its finalizer cancels the rest of its window
            gc.collect()
            assert inflight
            return inflight
        else:
            consumer = asyncio.create_task(collect(results))
            await asyncio.sleep(0)
            assert await asyncio.to_thread(started.wait, WAIT)
            consumer.cancel()
            with pytest.raises(asyncio.CancelledError):
                await consumer
        with pytest.raises(StopAsyncIteration):
            await anext(results)  # closed: nothing more comes
        return None

    pool = Pool(max_workers=2)
    try:
        inflight = asyncio.run(main(pool))
        if inflight is not None:
            assert all(task.cancelled for task in inflight)
        pool.close(timeout=WAIT)  # the items in flight stop through their cancellation alone
    finally:
        release.set()
        pool.shutdown()
    stats = pool.stats()
    # at most the window was ever submitted; the items after 0 were all cancelled
    assert stats.completed <= 1
    assert 1 <= stats.cancelled <= 4 + 1


def test_timeout_around_the_loop_stops_the_work() -> None:
    release, started = threading.Event(), threading.Event()

    async def main(pool: Pool) -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await collect(_blocked_map(pool, release, started))

    with Pool(max_workers=2) as pool:
        asyncio.run(main(pool))
        assert pool.stats().cancelled >= 1
    assert pool.stats().completed <= 1  # item 0 returns at once; the others were cancelled


def test_terminate_under_map_async_raises_cancelled() -> None:
    release, started = threading.Event(), threading.Event()

    async def main(pool: Pool) -> None:
        consumer = asyncio.create_task(collect(_blocked_map(pool, release, started)))
        await asyncio.sleep(0)
        assert await asyncio.to_thread(started.wait, WAIT)
        await asyncio.to_thread(pool.terminate, WAIT)
        with pytest.raises(Cancelled):
            await asyncio.wait_for(consumer, WAIT)

    pool = Pool(max_workers=2)
    asyncio.run(main(pool))


def test_pool_shut_down_before_the_input_was_submitted() -> None:
    async def main(pool: Pool) -> list[int]:
        got: list[int] = []
        results = pool.map_async(abs, range(100), chunksize=1, buffersize=2)
        with pytest.raises(RuntimeError, match="cannot schedule new futures"):
            await consume_into(results, got, at_3=lambda: pool.shutdown(wait=False))
        return got

    pool = Pool(max_workers=1)
    got = asyncio.run(main(pool))
    pool.shutdown()
    assert got[:4] == [0, 1, 2, 3]


def test_bad_input_is_raised_by_the_call() -> None:
    with Pool(max_workers=1) as pool:
        with pytest.raises(TypeError, match="callable"):
            pool.map_async(42, range(3))  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="iterable"):
            pool.map_async(abs, 42)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="chunksize"):
            pool.map_async(abs, range(3), chunksize=0)
        with pytest.raises(ValueError, match="buffersize"):
            pool.map_async(abs, range(3), buffersize=0)
        with pytest.raises(TypeError, match="buffersize"):
            pool.map_async(abs, range(3), buffersize=1.5)  # type: ignore[arg-type]
        assert pool.stats().completed <= 1  # item 0 returns at once; the others were cancelled
    with pytest.raises(RuntimeError, match="cannot schedule new futures"):
        pool.map_async(abs, range(3))


def test_many_loops_map_over_one_pool() -> None:
    from thread_helpers import run_threads

    results: dict[int, list[int]] = {}
    with Pool(max_workers=2) as pool:

        def body(i: int) -> None:
            results[i] = asyncio.run(collect(pool.map_async(lambda x: x + i, range(300))))

        run_threads(6, body)
    assert results == {i: [x + i for x in range(300)] for i in range(6)}


def test_two_consumers_at_once_are_refused() -> None:
    release = threading.Event()

    async def main(pool: Pool) -> list[int]:
        results = pool.map_async(lambda x: release.wait(WAIT) and x, range(4), chunksize=1)
        first = asyncio.create_task(anext(results))
        await asyncio.sleep(0.01)
        with pytest.raises(RuntimeError, match="one task at a time"):
            await anext(results)
        release.set()
        return [await first, *[x async for x in results]]

    with Pool(max_workers=2) as pool:
        assert asyncio.run(main(pool)) == [0, 1, 2, 3]
