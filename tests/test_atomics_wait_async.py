"""Atomics.wait_async / AtomicCounter.wait_async (Node: Atomics.waitAsync): results, one FIFO queue
with blocking waiters, notify's count, cancellation, closed loops, many loops in many threads."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from ftpool import AtomicCounter, Atomics, SharedArray, WaitResult


def _waiters(array: SharedArray, index: int) -> int:
    """How many waiters (threads and coroutines) sit on element ``index`` right now."""
    queue = array.buffer._waitq
    if queue is None:
        return 0
    with queue.lock:
        return len(queue.waiters.get(array.offset + index * array.itemsize, ()))


def _until(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Test-side wait for a state that has no event to wait on (the queue's length)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.001)


async def _until_async(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10.0
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.001)


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def test_not_equal_timed_out_and_ok() -> None:
    array = SharedArray("i", 1)

    async def main() -> list[WaitResult]:
        results: list[WaitResult] = [await Atomics.wait_async(array, 0, 1)]  # not-equal at once
        results.append(await Atomics.wait_async(array, 0, 0, timeout=0))  # only checks
        results.append(await Atomics.wait_async(array, 0, 0, timeout=0.02))
        waiting = asyncio.ensure_future(Atomics.wait_async(array, 0, 0))
        await _until_async(lambda: _waiters(array, 0) == 1, "the waiter")
        notifier = threading.Thread(target=lambda: Atomics.notify(array, 0))
        notifier.start()
        results.append(await waiting)
        notifier.join()
        return results

    assert _run(main()) == ["not-equal", "timed-out", "timed-out", "ok"]


def test_the_timeout_is_not_early_and_leaves_the_queue() -> None:
    array = SharedArray("q", 1)

    async def main() -> tuple[WaitResult, float]:
        start = time.monotonic()
        result = await Atomics.wait_async(array, 0, 0, timeout=0.1)
        return result, time.monotonic() - start

    result, elapsed = _run(main())
    assert result == "timed-out"
    assert elapsed >= 0.09
    assert _waiters(array, 0) == 0
    assert Atomics.notify(array, 0) == 0


def test_math_inf_and_none_wait_forever_until_notified() -> None:
    for timeout in (None, math.inf):
        counter = AtomicCounter(5)

        async def main(counter: AtomicCounter = counter,
                       timeout: float | None = timeout) -> WaitResult:
            waiting = asyncio.ensure_future(counter.wait_async(5, timeout=timeout))
            await _until_async(lambda: _waiters(counter.array, 0) == 1, "the waiter")
            assert counter.notify() == 1
            return await waiting

        assert _run(main()) == "ok"


def test_atomic_counter_wait_async() -> None:
    counter = AtomicCounter(1)

    async def main() -> list[WaitResult]:
        return [await counter.wait_async(0), await counter.wait_async(1, timeout=0.01)]

    assert _run(main()) == ["not-equal", "timed-out"]


def test_the_event_loop_keeps_running_while_a_coroutine_waits() -> None:
    array = SharedArray("i", 1)

    async def main() -> int:
        waiting = asyncio.ensure_future(Atomics.wait_async(array, 0, 0, timeout=5))
        ticks = 0
        for _ in range(20):
            await asyncio.sleep(0)
            ticks += 1
        Atomics.notify(array, 0)
        assert await waiting == "ok"
        return ticks

    assert _run(main()) == 20


def test_notify_counts_async_waiters_and_wakes_only_count() -> None:
    array = SharedArray("i", 1)

    async def main() -> None:
        tasks = [asyncio.ensure_future(Atomics.wait_async(array, 0, 0)) for _ in range(5)]
        await _until_async(lambda: _waiters(array, 0) == 5, "5 waiters")
        assert Atomics.notify(array, 0, 2) == 2
        done, _ = await asyncio.wait(tasks, timeout=0.2)
        assert len(done) == 2
        assert tasks[0] in done  # oldest first
        assert tasks[1] in done
        assert Atomics.notify(array, 0) == 3
        assert await asyncio.gather(*tasks) == ["ok"] * 5

    _run(main())


def test_blocking_and_async_waiters_share_one_fifo_order() -> None:
    array = SharedArray("q", 1)
    order: list[str] = []
    first_in = threading.Event()

    def blocking(name: str) -> None:
        assert Atomics.wait(array, 0, 0, timeout=10) == "ok"
        order.append(name)

    async def main() -> None:
        thread_a = threading.Thread(target=blocking, args=("thread A",))
        thread_a.start()
        await _until_async(lambda: _waiters(array, 0) == 1, "thread A")
        first_in.set()
        coro_b = asyncio.ensure_future(Atomics.wait_async(array, 0, 0))
        await _until_async(lambda: _waiters(array, 0) == 2, "coroutine B")
        thread_c = threading.Thread(target=blocking, args=("thread C",))
        thread_c.start()
        await _until_async(lambda: _waiters(array, 0) == 3, "thread C")

        assert Atomics.notify(array, 0, 1) == 1  # thread A, the oldest
        await asyncio.to_thread(thread_a.join)
        assert not coro_b.done()
        assert Atomics.notify(array, 0, 1) == 1  # coroutine B
        assert await coro_b == "ok"
        order.append("coroutine B")
        assert thread_c.is_alive()
        assert Atomics.notify(array, 0, 1) == 1  # thread C
        await asyncio.to_thread(thread_c.join)

    _run(main())
    assert order == ["thread A", "coroutine B", "thread C"]


def test_a_cancelled_await_leaves_the_queue_and_is_not_counted() -> None:
    array = SharedArray("i", 1)

    async def main() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(Atomics.wait_async(array, 0, 0), 0.02)
        assert _waiters(array, 0) == 0
        assert Atomics.notify(array, 0) == 0

        task = asyncio.ensure_future(Atomics.wait_async(array, 0, 0))
        other = asyncio.ensure_future(Atomics.wait_async(array, 0, 0))
        await _until_async(lambda: _waiters(array, 0) == 2, "2 waiters")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert Atomics.notify(array, 0, 1) == 1  # the cancelled one is skipped: `other` wakes
        assert await other == "ok"

    _run(main())


def test_asyncio_run_ending_with_a_waiter_pending_removes_it() -> None:
    array = SharedArray("i", 1)

    async def main() -> None:
        left = asyncio.ensure_future(Atomics.wait_async(array, 0, 0))  # never awaited
        await _until_async(lambda: _waiters(array, 0) == 1, "the waiter")
        assert not left.done()

    _run(main())  # asyncio.run cancels the task left
    assert _waiters(array, 0) == 0
    assert Atomics.notify(array, 0) == 0


def test_a_closed_loop_does_not_break_notify_and_is_not_counted() -> None:
    array = SharedArray("i", 1)
    loop = asyncio.new_event_loop()
    stranded = loop.create_task(Atomics.wait_async(array, 0, 0))
    loop.run_until_complete(asyncio.sleep(0.01))  # the task registers, then the loop stops
    assert _waiters(array, 0) == 1
    stranded._log_destroy_pending = False  # type: ignore[attr-defined]  # expected: no noise
    loop.close()  # closed with the waiter pending

    async def live() -> WaitResult:
        waiting = asyncio.ensure_future(Atomics.wait_async(array, 0, 0))
        await _until_async(lambda: _waiters(array, 0) == 2, "the live waiter")
        # The stranded waiter is older; notify drops it uncounted and wakes the live one.
        assert Atomics.notify(array, 0, 1) == 1
        return await waiting

    assert _run(live()) == "ok"
    assert _waiters(array, 0) == 0
    assert Atomics.notify(array, 0) == 0
    del stranded


def test_closed_loop_from_another_thread_notify_all_counts_only_live_waiters() -> None:
    array = SharedArray("i", 1)
    registered = threading.Event()
    closed = threading.Event()

    def doomed_loop() -> None:
        loop = asyncio.new_event_loop()
        tasks = [loop.create_task(Atomics.wait_async(array, 0, 0)) for _ in range(3)]
        loop.run_until_complete(asyncio.sleep(0.01))
        assert not any(task.done() for task in tasks)
        for task in tasks:
            task._log_destroy_pending = False  # type: ignore[attr-defined]  # expected: no noise
        registered.set()
        loop.close()
        closed.set()

    thread = threading.Thread(target=doomed_loop)
    thread.start()
    assert registered.wait(10)
    assert closed.wait(10)
    thread.join()
    assert _waiters(array, 0) == 3
    assert Atomics.notify(array, 0) == 0  # none could be woken; none counted; no error
    assert _waiters(array, 0) == 0


@pytest.mark.single_thread  # counts the process's threads
def test_many_loops_in_many_threads_at_once() -> None:
    array = SharedArray("q", 2)
    loops, per_loop = 8, 6
    results: list[list[WaitResult]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def run_loop(i: int) -> None:
        async def main() -> list[WaitResult]:
            index = i % 2
            return list(await asyncio.gather(*(Atomics.wait_async(array, index, 0, timeout=30)
                                               for _ in range(per_loop))))

        try:
            outcome = asyncio.run(main())
        except BaseException as exc:
            errors.append(exc)
            return
        with lock:
            results.append(outcome)

    active_before = threading.active_count()
    threads = [threading.Thread(target=run_loop, args=(i,)) for i in range(loops)]
    for thread in threads:
        thread.start()
    total = loops * per_loop
    _until(lambda: _waiters(array, 0) + _waiters(array, 1) == total, f"{total} waiters")
    # No thread per waiter: only the loop threads themselves.
    assert threading.active_count() <= active_before + loops
    woken = 0
    while woken < total // 2:  # element 0 in ones and twos, racing with nothing
        woken += Atomics.notify(array, 0, 2)
    assert woken == total // 2
    assert Atomics.notify(array, 1) == total // 2
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert sorted(len(r) for r in results) == [per_loop] * loops
    assert all(result == "ok" for outcome in results for result in outcome)


def test_notifiers_in_many_threads_wake_each_waiter_once() -> None:
    array = SharedArray("i", 1)
    waiters = 40
    counts: list[int] = []
    lock = threading.Lock()

    async def main() -> list[WaitResult]:
        tasks = [asyncio.ensure_future(Atomics.wait_async(array, 0, 0, timeout=30))
                 for _ in range(waiters)]
        await _until_async(lambda: _waiters(array, 0) == waiters, "the waiters")

        def notifier() -> None:
            mine = 0
            for _ in range(waiters):
                mine += Atomics.notify(array, 0, 1)
            with lock:
                counts.append(mine)

        threads = [threading.Thread(target=notifier) for _ in range(4)]
        for thread in threads:
            thread.start()
        results = list(await asyncio.gather(*tasks))
        for thread in threads:
            await asyncio.to_thread(thread.join)
        return results

    assert _run(main()) == ["ok"] * waiters
    assert sum(counts) == waiters


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda a: Atomics.wait_async(SharedArray("b", 1), 0, 0), TypeError),
        (lambda a: Atomics.wait_async([0], 0, 0), TypeError),
        (lambda a: Atomics.wait_async(a, 5, 0), IndexError),
        (lambda a: Atomics.wait_async(a, "0", 0), TypeError),
        (lambda a: Atomics.wait_async(a, 0, 2**31), OverflowError),
        (lambda a: Atomics.wait_async(a, 0, 0.5), TypeError),
        (lambda a: Atomics.wait_async(a, 0, 0, timeout=-1), ValueError),
        (lambda a: Atomics.wait_async(a, 0, 0, timeout=math.nan), ValueError),
        (lambda a: Atomics.wait_async(a, 0, 0, timeout="1"), TypeError),
        (lambda a: Atomics.wait_async(a, 0, 0, timeout=True), TypeError),
        (lambda a: AtomicCounter().wait_async(2**63), OverflowError),
        (lambda a: AtomicCounter().wait_async(0, timeout=-0.5), ValueError),
    ],
)
def test_bad_input_raises_at_the_call_and_registers_nothing(
        call: Callable[[SharedArray], object], error: type[Exception]) -> None:
    array = SharedArray("i", 2)
    with pytest.raises(error):
        call(array)
    assert _waiters(array, 0) == 0
    assert Atomics.notify(array, 0) == 0


def test_a_waiter_cancelled_after_notify_took_it_passes_the_wake_up_on() -> None:
    array = SharedArray("i", 1)

    async def main() -> None:
        first = asyncio.ensure_future(Atomics.wait_async(array, 0, 0))
        second = asyncio.ensure_future(Atomics.wait_async(array, 0, 0))
        await _until_async(lambda: _waiters(array, 0) == 2, "2 waiters")
        assert Atomics.notify(array, 0, 1) == 1  # takes `first` (its result not delivered yet)
        first.cancel()  # in the same loop tick: `first` never sees its "ok"
        with pytest.raises(asyncio.CancelledError):
            await first
        assert await asyncio.wait_for(second, 5) == "ok"  # the wake-up went on to `second`
        assert _waiters(array, 0) == 0

    _run(main())


def test_a_waiter_cancelled_after_notify_with_nobody_else_waiting() -> None:
    array = SharedArray("i", 1)

    async def main() -> None:
        only = asyncio.ensure_future(Atomics.wait_async(array, 0, 0))
        await _until_async(lambda: _waiters(array, 0) == 1, "the waiter")
        assert Atomics.notify(array, 0) == 1
        only.cancel()
        with pytest.raises(asyncio.CancelledError):
            await only
        assert _waiters(array, 0) == 0
        assert Atomics.notify(array, 0) == 0

    _run(main())
