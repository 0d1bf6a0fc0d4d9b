"""CPU-bound scaling: the same pure-Python work on 1 .. 2 x cores workers, per library.

What it answers: does adding workers make CPU-bound Python faster? On the GIL build (and on 3.13t
with ``PYTHON_GIL=1``) threads take turns, so only processes scale; on 3.13t with the GIL off,
threads -- and so ``ftpool.Pool`` -- should scale like processes do.

Each repeat runs a FIXED total amount of work, split into equal tasks, with every worker count for
every library, and returns the wall time of each as ``"<library> x<workers>"`` (seconds). So:

- speedup(library, n) = time(library x1) / time(library xn), taken per repeat (same moment, same
  machine load), and the report shows the median of those ratios;
- efficiency = speedup / n. At n > cores it cannot exceed cores / n.

The libraries: ``ftpool Pool`` (when ``ftpool.Pool`` exists), ``ThreadPoolExecutor``,
``ProcessPoolExecutor`` (the platform's default start method) and ``threads`` (plain
``threading.Thread``s, each taking every n-th task: no queue at all, the floor for any thread pool).
Each thread library's process CPU time is recorded too (``"<library> cpu x<workers>"``): on a
loaded machine wall times stretch with the load, the CPU time a library spends on the same work
does not, so Pool's CPU time against plain threads' measures its overhead.
The executors are created and their workers started *before* the clock starts (a barrier makes all
n thread workers exist; the process pool is primed with n tiny tasks), so the time is the work and
its dispatch, not the start-up of processes. Executors are shut down after each measurement.

Workloads (both pure Python, no C call that would release the GIL):
- ``count``: the seed article's ``for (let i = 0; i < countTo; i++) {}``, as ``for _ in range(n)``.
- ``mandelbrot``: one image of the Mandelbrot set in floats; task k renders rows k, k+T, k+2T, ...
  so that the tasks cost about the same although rows do not.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

from benchlib import Case

import ftpool
from ftpool._runtime import usable_cores

CORES = usable_cores()
BARRIER_TIMEOUT = 30.0  # seconds for n workers to exist at once; a broken pool fails the case

# --- workloads (module level: ProcessPoolExecutor pickles them by name) ---------------------------


def count(iterations: int) -> int:
    """The seed's counting loop: pure bytecode, no allocation, no shared object."""
    for _ in range(iterations):
        pass
    return iterations


def mandelbrot_rows(width: int, height: int, max_iter: int, first: int, step: int) -> int:
    """Render rows first, first+step, ... of a width x height view of the Mandelbrot set; return how
    many of their points are inside (a checksum: every library must return the same total)."""
    inside = 0
    for y in range(first, height, step):
        ci = -1.2 + 2.4 * y / height
        for x in range(width):
            cr = -2.0 + 2.6 * x / width
            zr = zi = 0.0
            for _ in range(max_iter):
                zr2 = zr * zr
                zi2 = zi * zi
                if zr2 + zi2 > 4.0:
                    break
                zi = 2.0 * zr * zi + ci
                zr = zr2 - zi2 + cr
            else:
                inside += 1
    return inside


def _noop(_: int) -> int:
    return 0


# --- the plan: worker counts, tasks, work sizes ---------------------------------------------------


def worker_counts(cores: int) -> list[int]:
    """1, the powers of two below ``cores``, ``cores`` and ``2 * cores``."""
    counts = {1, cores, 2 * cores}
    power = 2
    while power < cores:
        counts.add(power)
        power *= 2
    return sorted(counts)


def task_count(counts: Sequence[int], at_least: int = 8) -> int:
    """A multiple of every worker count (so static partitions are even), at least ``at_least``."""
    lcm = math.lcm(*counts)
    return lcm * max(1, math.ceil(at_least / lcm))


COUNTS = worker_counts(CORES)
TASKS = task_count(COUNTS)
# Total work per measurement, the same on every interpreter (about 0.25 s serial full, 0.07 s
# quick, on a 2020s x86 core at ~60M loop iterations/s).
COUNT_TOTAL = {False: 16_000_000, True: 4_000_000}
MANDEL = {False: (256, 256, 100), True: (128, 128, 100)}  # width, height, max_iter


def count_tasks(quick: bool) -> tuple[Callable[..., int], list[tuple[Any, ...]]]:
    per_task = COUNT_TOTAL[quick] // TASKS
    return count, [(per_task,) for _ in range(TASKS)]


def mandelbrot_tasks(quick: bool) -> tuple[Callable[..., int], list[tuple[Any, ...]]]:
    width, height, max_iter = MANDEL[quick]
    return mandelbrot_rows, [(width, height, max_iter, k, TASKS) for k in range(TASKS)]


# --- the libraries ------------------------------------------------------------------------------


Timing = tuple[float, float, int]  # wall seconds, this process's CPU seconds, checksum


def _threads(n: int, fn: Callable[..., int], tasks: list[tuple[Any, ...]]) -> Timing:
    """n plain threads, thread i running tasks i, i+n, ...: no queue, no futures."""
    totals = [0] * n

    def body(index: int) -> None:
        totals[index] = sum(fn(*args) for args in tasks[index::n])

    workers = [threading.Thread(target=body, args=(i,), name=f"bench-scaling-{i}")
               for i in range(n)]
    started, cpu = time.perf_counter(), time.process_time()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - started, time.process_time() - cpu, sum(totals)


def _run_executor(executor: Executor, fn: Callable[..., int],
                  tasks: list[tuple[Any, ...]]) -> Timing:
    started, cpu = time.perf_counter(), time.process_time()
    futures = [executor.submit(fn, *args) for args in tasks]
    total = sum(future.result() for future in futures)
    return time.perf_counter() - started, time.process_time() - cpu, total


def _prime_threads(executor: Executor, n: int) -> None:
    """Make n worker threads exist: n tasks that can only finish together."""
    barrier = threading.Barrier(n, timeout=BARRIER_TIMEOUT)
    for future in [executor.submit(barrier.wait) for _ in range(n)]:
        future.result()


def _thread_executor(make: Callable[[int], Executor]) -> Callable[..., Timing]:
    def measure(n: int, fn: Callable[..., int], tasks: list[tuple[Any, ...]]) -> Timing:
        with make(n) as executor:
            _prime_threads(executor, n)
            return _run_executor(executor, fn, tasks)

    return measure


def _processes(n: int, fn: Callable[..., int], tasks: list[tuple[Any, ...]]) -> Timing:
    with ProcessPoolExecutor(max_workers=n) as executor:
        for future in [executor.submit(_noop, i) for i in range(n)]:
            future.result()  # the workers are started (with "fork", all n at the first submit)
        return _run_executor(executor, fn, tasks)


def libraries() -> dict[str, Callable[..., Timing]]:
    """Every library measured, by the name used in the metrics ("<name> x<workers>")."""
    found: dict[str, Callable[..., Timing]] = {}
    pool = getattr(ftpool, "Pool", None)
    if pool is not None:  # measured whenever the ftpool under test has a Pool
        found["ftpool Pool"] = _thread_executor(lambda n: pool(max_workers=n))
    found["ThreadPoolExecutor"] = _thread_executor(lambda n: ThreadPoolExecutor(max_workers=n))
    found["ProcessPoolExecutor"] = _processes
    found["threads"] = _threads
    return found


LIBRARIES = libraries()


def metric(library: str, workers: int) -> str:
    return f"{library} x{workers}"


_ROTATION = itertools.count()


def _scaling(make_tasks: Callable[[bool], tuple[Callable[..., int], list[tuple[Any, ...]]]],
             quick: bool) -> dict[str, float]:
    fn, tasks = make_tasks(quick)
    results: dict[str, float] = {}
    checksums: dict[str, int] = {}
    names = list(LIBRARIES)
    cpu: dict[str, float] = {}
    # One library's worker counts back to back, so that its speedup compares times taken moments
    # apart (on a shared machine the load changes by the second); the library that goes first
    # rotates from repeat to repeat. Plain threads always run right next to the Pool (before it
    # in one repeat, after it in the next), since "threads / Pool" is compared per repeat.
    turn = next(_ROTATION)
    order = [name for name in names if name != "threads"]
    shift = turn % len(order)
    order = order[shift:] + order[:shift]
    if "threads" in names:
        at = order.index("ftpool Pool") + (turn % 2) if "ftpool Pool" in order else len(order)
        order.insert(at, "threads")
    for name in order:
        for workers in COUNTS:
            elapsed, used, checksum = LIBRARIES[name](workers, fn, tasks)
            results[metric(name, workers)] = elapsed
            cpu[metric(f"{name} cpu", workers)] = used
            checksums[metric(name, workers)] = checksum
    if len(set(checksums.values())) != 1:  # the same work everywhere, or the numbers mean nothing
        raise AssertionError(f"libraries computed different results: {checksums}")
    # report in a fixed order, whatever order they ran in; the CPU time of this process (the
    # thread libraries' work, not ProcessPoolExecutor's children) tells overhead from load:
    # a loaded machine stretches wall times but not the CPU time the same work needs
    ordered = {metric(name, n): results[metric(name, n)] for name in names for n in COUNTS}
    ordered.update({metric(f"{name} cpu", n): cpu[metric(f"{name} cpu", n)]
                    for name in names if name != "ProcessPoolExecutor" for n in COUNTS})
    return ordered


def _ratios() -> list[tuple[str, str]]:
    """Speedup at n = cores for every library (time x1 / time xN), and ftpool against its peers
    at n = cores (peer time / ftpool time: above 1 means ftpool was faster)."""
    ratios = [(metric(name, 1), metric(name, CORES)) for name in LIBRARIES]
    if "ftpool Pool" in LIBRARIES:
        ratios += [(metric(peer, CORES), metric("ftpool Pool", CORES))
                   for peer in ("threads", "ThreadPoolExecutor")]
    return ratios


_TARGET = (f"3.13t GIL off: ftpool Pool speedup at {CORES} workers >= {0.85 * CORES:.2f} "
           f"(efficiency >= 85%), threads / ftpool Pool >= 0.95")


def _info(workload: str, quick_size: str, full_size: str) -> dict[str, Any]:
    return {
        "workload": workload,
        "cores": CORES,
        "workers": COUNTS,
        "tasks": TASKS,
        "libraries": list(LIBRARIES),
        "work": {"quick": quick_size, "full": full_size},
        "process_start_method": multiprocessing.get_start_method(),
    }


CASES = [
    Case(
        name="scaling.count",
        description=(f"counting loop, {COUNT_TOTAL[False] // 1_000_000}M iterations in {TASKS} "
                     f"tasks on {', '.join(map(str, COUNTS))} workers, seconds"),
        run=lambda quick: _scaling(count_tasks, quick),
        unit="s",
        higher_is_better=False,
        ratios=_ratios(),
        target=_TARGET,
        kind="scaling",
        info=_info("count", f"{COUNT_TOTAL[True]:,} loop iterations",
                   f"{COUNT_TOTAL[False]:,} loop iterations"),
    ),
    Case(
        name="scaling.mandelbrot",
        description=(f"Mandelbrot {MANDEL[False][0]}x{MANDEL[False][1]} px, {MANDEL[False][2]} "
                     f"iterations max, in {TASKS} tasks on {', '.join(map(str, COUNTS))} "
                     "workers, seconds"),
        run=lambda quick: _scaling(mandelbrot_tasks, quick),
        unit="s",
        higher_is_better=False,
        ratios=_ratios(),
        target=_TARGET,
        kind="scaling",
        info=_info("mandelbrot",
                   "{}x{} px, max {} iterations".format(*MANDEL[True]),
                   "{}x{} px, max {} iterations".format(*MANDEL[False])),
    ),
]
