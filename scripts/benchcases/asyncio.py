"""Awaiting the pool from asyncio against the standard library's way, side by side in every repeat.

- ``asyncio.roundtrip``: ``await pool.submit(no-op)`` one at a time from a coroutine, against
  ``await loop.run_in_executor(ThreadPoolExecutor, no-op)``: the latency of handing one task to
  an idle worker and having the loop woken with its result (a thread wake-up each way plus a
  loop wake-up through ``call_soon_threadsafe``). microseconds per task.
- ``asyncio.gather``: ``await asyncio.gather(*(pool.submit(no-op) for ...))`` of a batch, against
  the same with ``run_in_executor``: the throughput of many awaited tasks. tasks/s.
- ``asyncio.wake_latency``: from the instant a task ends in its worker to the awaiting coroutine
  running again (the ``call_soon_threadsafe`` wake-up and the loop's turn), p50 and p99. us.

Both executors have their 2 workers started before the clock starts, and both runs happen in
the same event loop, one after the other (the order alternating between repeats), in every
repeat.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from concurrent.futures import Executor, ThreadPoolExecutor

from benchlib import Case, quantile

import ftpool

WORKERS = 2
_turns = itertools.count()


def noop(x: object = None) -> object:
    return x


def _prime(executor: Executor, n: int) -> None:
    """Make n thread workers exist at once: n tasks that can only finish together."""
    barrier = threading.Barrier(n, timeout=30)
    for future in [executor.submit(barrier.wait) for _ in range(n)]:
        future.result()


async def _roundtrip_pool(pool: ftpool.Pool, n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        await pool.submit(noop, i)
    return (time.perf_counter() - started) / n * 1e6


async def _roundtrip_tpe(tpe: ThreadPoolExecutor, n: int) -> float:
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    for i in range(n):
        await loop.run_in_executor(tpe, noop, i)
    return (time.perf_counter() - started) / n * 1e6


async def _gather_pool(pool: ftpool.Pool, n: int) -> float:
    started = time.perf_counter()
    await asyncio.gather(*(pool.submit(noop, i) for i in range(n)))
    return n / (time.perf_counter() - started)


async def _gather_tpe(tpe: ThreadPoolExecutor, n: int) -> float:
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    await asyncio.gather(*(loop.run_in_executor(tpe, noop, i) for i in range(n)))
    return n / (time.perf_counter() - started)


def _both(n: int, pool_fn: object, tpe_fn: object, pool_name: str,
          tpe_name: str) -> dict[str, float]:
    with ftpool.Pool(max_workers=WORKERS, min_workers=WORKERS) as pool, ThreadPoolExecutor(
        WORKERS
    ) as tpe:
        _prime(tpe, WORKERS)

        async def main() -> dict[str, float]:
            # alternate which goes first, so that neither always runs on a warmer loop
            if next(_turns) % 2:
                theirs = await tpe_fn(tpe, n)  # type: ignore[operator]
                ours = await pool_fn(pool, n)  # type: ignore[operator]
            else:
                ours = await pool_fn(pool, n)  # type: ignore[operator]
                theirs = await tpe_fn(tpe, n)  # type: ignore[operator]
            return {pool_name: ours, tpe_name: theirs}

        return asyncio.run(main())


def _roundtrip(quick: bool) -> dict[str, float]:
    return _both(500 if quick else 3_000, _roundtrip_pool, _roundtrip_tpe,
                 "await Pool.submit", "await run_in_executor(TPE)")


def _gather(quick: bool) -> dict[str, float]:
    return _both(2_000 if quick else 10_000, _gather_pool, _gather_tpe,
                 "gather Pool.submit", "gather run_in_executor(TPE)")


# --- wake latency ---------------------------------------------------------------------------------


def stamp() -> float:
    """The task's last act: the instant it ends (the same clock the coroutine reads)."""
    return time.perf_counter()


async def _wake_pool(pool: ftpool.Pool, n: int) -> list[float]:
    lags = []
    for _ in range(n):
        ended = await pool.submit(stamp)
        lags.append(time.perf_counter() - ended)
    return lags


async def _wake_tpe(tpe: ThreadPoolExecutor, n: int) -> list[float]:
    loop = asyncio.get_running_loop()
    lags = []
    for _ in range(n):
        ended = await loop.run_in_executor(tpe, stamp)
        lags.append(time.perf_counter() - ended)
    return lags


def _wake(quick: bool) -> dict[str, float]:
    n = 300 if quick else 2_000
    with ftpool.Pool(max_workers=WORKERS, min_workers=WORKERS) as pool, ThreadPoolExecutor(
        WORKERS
    ) as tpe:
        _prime(tpe, WORKERS)

        async def main() -> tuple[list[float], list[float]]:
            if next(_turns) % 2:  # alternate which goes first, as _both does
                theirs = await _wake_tpe(tpe, n)
                return await _wake_pool(pool, n), theirs
            return await _wake_pool(pool, n), await _wake_tpe(tpe, n)

        ours, theirs = asyncio.run(main())
    results = {}
    for name, lags in (("await Pool.submit", ours), ("await run_in_executor(TPE)", theirs)):
        results[f"{name} p50"] = quantile(lags, 0.5) * 1e6
        results[f"{name} p99"] = quantile(lags, 0.99) * 1e6
    return results


CASES = [
    Case(
        name="asyncio.roundtrip",
        description="await one no-op task at a time on an idle worker: await pool.submit vs "
        f"await loop.run_in_executor(ThreadPoolExecutor), {WORKERS} workers, us per task",
        run=_roundtrip,
        unit="us",
        higher_is_better=False,
        ratios=[("await Pool.submit", "await run_in_executor(TPE)")],
        target="ftpool / run_in_executor <= 1 (no slower than the peer)",
    ),
    Case(
        name="asyncio.gather",
        description="await asyncio.gather of 10k no-op tasks (2k quick): pool.submit vs "
        f"loop.run_in_executor(ThreadPoolExecutor), {WORKERS} workers, tasks/s",
        run=_gather,
        unit="tasks/s",
        higher_is_better=True,
        ratios=[("gather Pool.submit", "gather run_in_executor(TPE)")],
        target="ftpool / run_in_executor >= 1 (no slower than the peer)",
    ),
    Case(
        name="asyncio.wake_latency",
        description="from the end of a task in a worker to the awaiting coroutine running again "
        "(p50 and p99 of 2k awaits, 300 quick): await pool.submit vs await "
        "loop.run_in_executor(ThreadPoolExecutor), us",
        run=_wake,
        unit="us",
        higher_is_better=False,
        ratios=[
            ("await Pool.submit p50", "await run_in_executor(TPE) p50"),
            ("await Pool.submit p99", "await run_in_executor(TPE) p99"),
        ],
        target="p50 under 200 us; ftpool / run_in_executor <= 1",
    ),
]
