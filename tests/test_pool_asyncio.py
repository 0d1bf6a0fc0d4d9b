"""Awaiting pool futures from coroutines: ``await pool.submit(...)`` / ``await pool.run(...)``,
cancellation in both directions (the awaiting task cancelled -> the pool task dequeued or its
token cancelled; the pool terminated or shut down under an awaiting coroutine -> the coroutine
gets the error, no hang), a loop closed while awaiting, and many loops in many threads awaiting
one pool at once."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
from thread_helpers import run_threads

import ftpool
from ftpool import Cancelled, Pool

WAIT = 10.0  # generous bound for things that happen at once on an idle machine


def spin_until_cancelled(started: threading.Event | None = None) -> str:
    """A long task that stops only through its cancel token."""
    if started is not None:
        started.set()
    while True:
        ftpool.check_cancelled()
        time.sleep(0.0005)


def boom(message: str) -> None:
    raise ValueError(message)


def test_await_submit_and_run_give_the_result() -> None:
    async def main(pool: Pool) -> list[Any]:
        return [
            await pool.submit(sum, [1, 2, 3]),
            await pool.submit(pow, 2, exp=10),
            await pool.run(7),
            await pool.run(3, name="neg"),
        ]

    with Pool(task=lambda x: x * x, handlers={"neg": lambda x: -x}, max_workers=2) as pool:
        assert asyncio.run(main(pool)) == [6, 1024, 49, -3]


def test_await_raises_the_task_exception() -> None:
    async def main(pool: Pool) -> None:
        with pytest.raises(ValueError, match="bad input"):
            await pool.submit(boom, "bad input")

    with Pool(max_workers=1) as pool:
        asyncio.run(main(pool))


def test_await_a_finished_future_returns_at_once() -> None:
    async def main(pool: Pool) -> tuple[int, int]:
        done = pool.submit(abs, -4)
        failed = pool.submit(boom, "x")
        concurrent.futures.wait([done, failed])
        with pytest.raises(ValueError):
            await failed
        return await done, await done  # awaiting twice is fine

    with Pool(max_workers=1) as pool:
        assert asyncio.run(main(pool)) == (4, 4)


def test_gather_wait_and_wrap_future_accept_pool_futures() -> None:
    async def main(pool: Pool) -> None:
        assert await asyncio.gather(*(pool.submit(abs, -i) for i in range(50))) == list(
            range(50)
        )
        done, _ = await asyncio.wait([asyncio.ensure_future(pool.submit(abs, -1))])
        assert done.pop().result() == 1
        assert await asyncio.wrap_future(pool.submit(abs, -2)) == 2
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(_await(pool.submit(abs, -i))) for i in range(5)]
        assert [t.result() for t in tasks] == [0, 1, 2, 3, 4]

    with Pool(max_workers=2) as pool:
        asyncio.run(main(pool))


async def _await(awaitable: Any) -> Any:
    return await awaitable


def test_awaiting_without_a_running_loop_is_a_clear_error() -> None:
    release = threading.Event()
    with Pool(max_workers=1) as pool:
        future = pool.submit(release.wait, WAIT)
        steps = future.__await__()
        with pytest.raises(RuntimeError, match="no asyncio event loop running"):
            next(steps)
        release.set()
        assert future.result(WAIT) is True  # the failed await did not disturb the task


def test_the_loop_is_not_blocked_while_the_pool_works() -> None:
    # While a task runs, the loop keeps running other coroutines (the wait is not a blocking
    # result() call in the loop's thread).
    async def main(pool: Pool) -> int:
        release = threading.Event()
        future = pool.submit(release.wait, WAIT)
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while ticks < 20:
                ticks += 1
                await asyncio.sleep(0)
            release.set()  # only reached if the loop ran while the task was blocked

        ticking = asyncio.create_task(ticker())
        assert await future is True
        await ticking
        return ticks

    with Pool(max_workers=1) as pool:
        assert asyncio.run(main(pool)) == 20


# --- the awaiting task cancelled -> the pool task cancelled --------------------------------------


@pytest.mark.parametrize("repeat", range(3))
def test_cancelling_the_awaiting_task_dequeues_a_queued_task(repeat: int) -> None:
    ran: list[int] = []
    release = threading.Event()

    async def main(pool: Pool) -> concurrent.futures.Future[Any]:
        pool.submit(release.wait, WAIT)  # occupies the only worker
        queued = pool.submit(ran.append, 1)
        waiting = asyncio.create_task(_await(queued))
        await asyncio.sleep(0.01)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert queued.cancelled()  # dequeued at once, while the worker is still busy
        return queued

    with Pool(max_workers=1) as pool:
        queued = asyncio.run(main(pool))
        release.set()
    assert ran == []
    with pytest.raises(Cancelled):
        queued.result()
    assert pool.stats().cancelled == 1


@pytest.mark.parametrize("repeat", range(3))
def test_cancelling_the_awaiting_task_stops_a_running_task(repeat: int) -> None:
    started = threading.Event()

    async def main(pool: Pool) -> concurrent.futures.Future[Any]:
        running = pool.submit(spin_until_cancelled, started)
        waiting = asyncio.create_task(_await(running))
        await asyncio.sleep(0)  # let it start awaiting (a task cancelled before it ran never did)
        assert await asyncio.to_thread(started.wait, WAIT)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        return running

    with Pool(max_workers=1) as pool:
        running = asyncio.run(main(pool))
        concurrent.futures.wait([running], timeout=WAIT)
        assert running.cancelled()  # it stopped at its next check_cancelled()
        # the worker was reused, not lost
        assert pool.submit(abs, -1).result(WAIT) == 1


def test_wait_for_timeout_stops_the_work() -> None:
    started = threading.Event()

    async def main(pool: Pool) -> concurrent.futures.Future[Any]:
        future = pool.run(started, name="spin")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(future, 0.05)
        return future

    with Pool(handlers={"spin": spin_until_cancelled}, max_workers=1) as pool:
        future = asyncio.run(main(pool))
        concurrent.futures.wait([future], timeout=WAIT)
        assert future.cancelled()
        assert pool.stats().cancelled == 1


def test_asyncio_timeout_stops_queued_and_running_work() -> None:
    started = threading.Event()

    async def main(pool: Pool) -> list[concurrent.futures.Future[Any]]:
        # all of them spin: a queued one may start while the cancellations are delivered one
        # task step after another, and must then stop too
        futures = [pool.submit(spin_until_cancelled, started) for _ in range(4)]
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await asyncio.gather(*futures)
        return futures

    with Pool(max_workers=1) as pool:
        futures = asyncio.run(main(pool))
        concurrent.futures.wait(futures, timeout=WAIT)
        assert all(f.cancelled() for f in futures)


def test_shield_keeps_the_work_running() -> None:
    release = threading.Event()

    async def main(pool: Pool) -> concurrent.futures.Future[Any]:
        future = pool.submit(release.wait, WAIT)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.shield(future), 0.02)
        release.set()
        assert await future is True
        return future

    with Pool(max_workers=1) as pool:
        assert not asyncio.run(main(pool)).cancelled()


# --- the pool ends the task under an awaiting coroutine ------------------------------------------


@pytest.mark.parametrize("repeat", range(3))
def test_terminate_under_awaiting_coroutines_raises_cancelled_in_them(repeat: int) -> None:
    started = threading.Event()

    async def main(pool: Pool) -> list[BaseException | Any]:
        running = pool.submit(spin_until_cancelled, started)
        queued = pool.submit(abs, -1)
        waiters = [asyncio.create_task(_await(f)) for f in (running, queued)]
        assert await asyncio.to_thread(started.wait, WAIT)
        await asyncio.to_thread(pool.terminate, WAIT)
        return await asyncio.gather(*waiters, return_exceptions=True)

    pool = Pool(max_workers=1)
    outcomes = asyncio.run(asyncio.wait_for(main(pool), WAIT))
    assert [type(o) for o in outcomes] == [Cancelled, Cancelled]
    assert all("terminated" in str(o) for o in outcomes)


def test_shutdown_cancel_futures_under_an_awaiting_coroutine() -> None:
    release = threading.Event()

    async def main(pool: Pool) -> None:
        blocker = pool.submit(release.wait, WAIT)
        queued = pool.submit(abs, -1)
        waiting = asyncio.create_task(_await(queued))
        await asyncio.sleep(0)
        pool.shutdown(wait=False, cancel_futures=True)
        with pytest.raises(Cancelled):
            await asyncio.wait_for(waiting, WAIT)
        release.set()
        assert await blocker is True  # running work finishes

    pool = Pool(max_workers=1)
    asyncio.run(main(pool))
    pool.shutdown()


def test_cancel_token_and_timeout_under_an_awaiting_coroutine() -> None:
    async def main(pool: Pool) -> None:
        token = ftpool.CancelToken()
        cancelled = pool.run(None, name="spin", cancel=token)
        waiting = asyncio.create_task(_await(cancelled))
        await asyncio.sleep(0.01)
        token.cancel("stop it")
        with pytest.raises(Cancelled, match="stop it"):
            await asyncio.wait_for(waiting, WAIT)
        with pytest.raises(TimeoutError, match="timeout"):
            await asyncio.wait_for(pool.run(None, name="spin", timeout=0.02), WAIT)

    with Pool(handlers={"spin": spin_until_cancelled}, max_workers=1) as pool:
        asyncio.run(main(pool))


def test_submit_to_a_closed_pool_raises_at_the_call() -> None:
    async def main(pool: Pool) -> None:
        with pytest.raises(RuntimeError, match="cannot schedule new futures"):
            await pool.submit(abs, 1)

    pool = Pool(max_workers=1)
    pool.shutdown()
    asyncio.run(main(pool))


# --- loops closed, loops in many threads ---------------------------------------------------------


def test_a_loop_closed_while_awaiting_is_dropped_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The loop is closed with a coroutine still awaiting a running task (no asyncio.run to
    # cancel it). When the task ends, the worker finds the loop closed: it drops the wake-up
    # without raising or logging, and the pool goes on and closes normally.
    release = threading.Event()
    caplog.set_level(logging.ERROR, logger="concurrent.futures")
    with Pool(max_workers=1) as pool:
        future = pool.submit(release.wait, WAIT)
        loop = asyncio.new_event_loop()
        task = loop.create_task(_await(future))
        loop.run_until_complete(asyncio.sleep(0.01))
        assert not task.done()
        loop.close()
        release.set()
        assert future.result(WAIT) is True
        assert pool.submit(abs, -3).result(WAIT) == 3
        assert not task.done()  # nobody ran the closed loop again
    assert [r.getMessage() for r in caplog.records if r.name == "concurrent.futures"] == []
    task._log_destroy_pending = False  # type: ignore[attr-defined] # abandoned on purpose


@pytest.mark.parametrize("repeat", range(2))
def test_many_loops_in_many_threads_await_one_pool(repeat: int) -> None:
    threads, per_loop = 8, 60
    release = threading.Event()
    with Pool(max_workers=2) as pool:
        shared = pool.submit(release.wait, WAIT)  # every loop awaits this one future too
        results: dict[int, list[int]] = {}

        async def main(i: int) -> list[int]:
            futures = [pool.submit(lambda k=k: i * 1000 + k) for k in range(per_loop)]
            got = await asyncio.gather(*futures)
            assert await shared is True
            return got

        def body(i: int) -> None:
            if i == 0:
                release.set()
            results[i] = asyncio.run(main(i))

        run_threads(threads, body)
    assert results == {
        i: [i * 1000 + k for k in range(per_loop)] for i in range(threads)
    }


def test_many_loops_cancel_their_own_tasks_only() -> None:
    # Loops in several threads await their own running tasks; each cancels its own: every task
    # ends cancelled, the workers are reused.
    count = 4
    started = [threading.Event() for _ in range(count)]
    with Pool(max_workers=count) as pool:
        futures = [pool.submit(spin_until_cancelled, e) for e in started]

        def body(i: int) -> None:
            async def main() -> None:
                waiting = asyncio.create_task(_await(futures[i]))
                await asyncio.sleep(0)  # let it start awaiting
                assert await asyncio.to_thread(started[i].wait, WAIT)
                waiting.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await waiting

            asyncio.run(main())

        run_threads(count, body)
        concurrent.futures.wait(futures, timeout=WAIT)
        assert all(f.cancelled() for f in futures)
        assert pool.submit(abs, -1).result(WAIT) == 1


def test_import_ftpool_imports_neither_asyncio_nor_the_bridge() -> None:
    code = (
        "import sys, ftpool\n"
        "names = ('asyncio', 'contextvars', 'ftpool._aio', 'ftpool._pool.aio')\n"
        "with ftpool.Pool(max_workers=1) as pool:\n"
        "    assert pool.submit(abs, -1).result() == 1\n"
        "print(sorted(n for n in names if n in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
