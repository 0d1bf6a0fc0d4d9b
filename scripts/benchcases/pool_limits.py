"""The pool's bounds under pressure: memory of a lazy ``map`` and how late a timeout ends a task.

- ``pool.map_memory``: the tracemalloc peak of ``map``-ping a no-op over N small items (ints)
  with ``buffersize=`` (the input read lazily, at most ``buffersize`` items ahead) at two sizes,
  next to the eager ``map`` (the input read whole at the call, as ``Executor.map`` does) at the
  same sizes. With ``buffersize`` the peak must stay flat as N grows; the eager peak grows with
  N. MiB.
- ``pool.timeout_lateness``: on an oversubscribed machine (a pool of spinning workers keeps every
  core busy, and the measured pool has twice as many workers as cores), tasks started with
  ``run(timeout=...)`` never finish by themselves; the lateness is the time from the task's
  deadline (``ThreadState.task_deadline``) to the moment its future ended, p50 and p99, for a task
  spinning on ``check_cancelled()`` and for tasks blocked in a wait (:data:`BLOCKING_WAITS`). ms.
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
import time
import tracemalloc
from collections.abc import Callable

from benchlib import Case, quantile

import ftpool
from ftpool._context import current_state

WORKERS = 2
BUFFERSIZE = 10_000


def noop(x: object) -> object:
    return x


# --- memory of map: lazy with buffersize vs eager -------------------------------------------------


def _map_peak_mib(items: int, buffersize: int | None) -> float:
    """The tracemalloc peak (MiB) of consuming ``pool.map(noop, range(items), ...)``."""
    with ftpool.Pool(WORKERS, min_workers=WORKERS) as pool:
        gc.collect()
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            for _ in pool.map(noop, range(items), buffersize=buffersize):
                pass
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    return (peak - base) / (1 << 20)


def _sizes(quick: bool) -> tuple[int, int]:
    """N and 10 N: 1M and 10M items (100k and 1M quick)."""
    return (100_000, 1_000_000) if quick else (1_000_000, 10_000_000)


LAZY_N = f"buffersize={BUFFERSIZE}, N items"
LAZY_10N = f"buffersize={BUFFERSIZE}, 10 N items"
EAGER_N = "eager, N items"
EAGER_10N = "eager, 10 N items"


def _map_memory(quick: bool) -> dict[str, float]:
    small, large = _sizes(quick)
    return {
        LAZY_N: _map_peak_mib(small, BUFFERSIZE),
        LAZY_10N: _map_peak_mib(large, BUFFERSIZE),
        EAGER_N: _map_peak_mib(small, None),
        EAGER_10N: _map_peak_mib(large, None),
    }


# --- timeout lateness on an oversubscribed machine ----------------------------------------------


def spin_until_cancelled() -> None:
    """A cooperative task that never ends by itself."""
    check = ftpool.check_cancelled
    while True:
        check()


def _atomics_wait() -> Callable[[], None]:
    """A task blocked in ``Atomics.wait`` on an element nobody notifies."""
    flag = ftpool.SharedArray("i", 1)

    def blocked() -> None:
        ftpool.Atomics.wait(flag, 0, 0)

    return blocked


#: Blocking waits measured by ``pool.timeout_lateness``: a name and a factory that returns the
#: body of a task blocked in that wait until its cancellation wakes it (e.g. a receive on a channel
#: nobody sends to). Add more here; each one gives a p50 and a p99 metric.
BLOCKING_WAITS: dict[str, Callable[[], Callable[[], None]]] = {
    "Atomics.wait": _atomics_wait,
}

TIMEOUT = 0.01


def _lateness_ms(body: Callable[[], None], tasks: int, workers: int) -> list[float]:
    """Run ``tasks`` tasks of ``body`` with ``timeout=TIMEOUT`` on ``workers`` workers; return
    each one's lateness (its future's end minus its deadline), ms."""
    deadlines: dict[int, float] = {}
    ended: dict[int, float] = {}
    monotonic = time.monotonic

    def task(i: int) -> None:
        state = current_state()
        assert state is not None
        assert state.task_deadline is not None
        deadlines[i] = state.task_deadline
        body()

    def on_end(i: int) -> Callable[[object], None]:
        def record(_: object) -> None:
            ended[i] = monotonic()

        return record

    with ftpool.Pool(workers, min_workers=workers, task=task) as pool:
        futures = []
        for i in range(tasks):
            future = pool.run(i, timeout=TIMEOUT)
            future.add_done_callback(on_end(i))
            futures.append(future)
        for future in futures:
            with contextlib.suppress(TimeoutError, ftpool.Cancelled):
                future.result(timeout=60)
    return [(ended[i] - deadlines[i]) * 1e3 for i in range(tasks) if i in deadlines]


def _timeout_lateness(
    quick: bool, waits: dict[str, Callable[[], Callable[[], None]]] | None = None
) -> dict[str, float]:
    waits = BLOCKING_WAITS if waits is None else waits
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    tasks = 60 if quick else 300
    stop = threading.Event()

    def burn() -> None:
        while not stop.is_set():
            pass

    bodies: dict[str, Callable[[], None]] = {"spinning on check_cancelled()": spin_until_cancelled}
    for name, make in waits.items():
        bodies[f"blocked in {name}"] = make()
    results: dict[str, float] = {}
    with ftpool.Pool(cores, "bench-burner", min_workers=cores) as burner:
        burning = [burner.submit(burn) for _ in range(cores)]
        try:
            for name, body in bodies.items():
                late = _lateness_ms(body, tasks, 2 * cores)
                results[f"{name} p50"] = quantile(late, 0.5)
                results[f"{name} p99"] = quantile(late, 0.99)
        finally:
            stop.set()
        for future in burning:
            future.result()
    return results


CASES = [
    Case(
        name="pool.map_memory",
        description=f"tracemalloc peak of map(no-op) over N and 10 N ints (N = 1M; 100k quick) "
        f"on {WORKERS} workers: buffersize={BUFFERSIZE} (lazy) vs eager, MiB",
        run=_map_memory,
        unit="MiB",
        higher_is_better=False,
        # flatness (about 1 with buffersize), and how much the eager map holds instead
        ratios=[(LAZY_10N, LAZY_N), (EAGER_10N, EAGER_N), (EAGER_10N, LAZY_10N)],
        target=f"{LAZY_10N} / {LAZY_N} ~ 1 (flat as the input grows)",
        # tracemalloc peaks barely move between runs, and one run with 10M items traced takes
        # about 40 s here: one repeat (after the runner's warm-up)
        repeats=1,
    ),
    Case(
        name="pool.timeout_lateness",
        description=f"run(timeout={TIMEOUT}) on a pool of 2x cores workers while a pool of "
        "spinning workers holds every core: ms from the deadline to the future's end",
        run=_timeout_lateness,
        unit="ms",
        higher_is_better=False,
        target="(informative: p99 stays within a scheduler time slice or two)",
    ),
]
