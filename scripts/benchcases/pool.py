"""ftpool.Pool against the standard library's executors, side by side in every repeat.

- ``pool.map_tiny``: ``map`` of a no-op over many items (tiny tasks: the cost is all overhead);
  Pool chunks automatically, ThreadPoolExecutor makes one future per item. items/s.
- ``pool.submit``: ``submit`` a batch of no-op tasks, then ``result()`` each. tasks/s.
- ``pool.roundtrip``: ``submit(...).result()`` one at a time: the latency of handing one task to
  an idle worker and getting its result back (a thread wake-up each way). microseconds.
- ``pool.cpu_scaling``: the same pure-Python CPU work on 1 and 2 workers (seconds): the speedup of
  2 workers over 1, and 2-worker times against ThreadPoolExecutor and ProcessPoolExecutor.
- ``pool.idle_memory``: resident memory per idle worker, from the VmRSS delta over 50 workers
  (``/proc/self/status``) in a fresh interpreter, Pool against ThreadPoolExecutor. KiB/worker.

Workers are started before the clock starts (``min_workers``, or a barrier that makes them all
exist), so every timing is the work and its dispatch, not thread or process start-up.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

from benchlib import Case

import ftpool

WORKERS = 2


def noop(x: object = None) -> object:
    return x


def cpu_work(iterations: int) -> int:
    """Pure-Python CPU work on local ints only (no shared object to contend on)."""
    total = 0
    for i in range(iterations):
        total += i * i % 7
    return total


def _prime(executor: Executor, n: int) -> None:
    """Make n thread workers exist at once: n tasks that can only finish together."""
    barrier = threading.Barrier(n, timeout=30)
    for future in [executor.submit(barrier.wait) for _ in range(n)]:
        future.result()


def _pool(n: int = WORKERS) -> ftpool.Pool:
    return ftpool.Pool(max_workers=n, min_workers=n)


def _tpe(n: int = WORKERS) -> ThreadPoolExecutor:
    executor = ThreadPoolExecutor(max_workers=n)
    _prime(executor, n)
    return executor


# --- map of tiny tasks ----------------------------------------------------------------------------


def _map_tiny(quick: bool) -> dict[str, float]:
    n_pool = 20_000 if quick else 100_000
    # ThreadPoolExecutor.map makes a future per item (~20-60k items/s): fewer items keep the
    # case short; both are reported as items per second.
    n_tpe = 5_000 if quick else 20_000
    results: dict[str, float] = {}
    with _pool() as pool:
        started = time.perf_counter()
        for _ in pool.map(noop, range(n_pool)):
            pass
        results["ftpool Pool.map"] = n_pool / (time.perf_counter() - started)
    with _tpe() as tpe:
        started = time.perf_counter()
        for _ in tpe.map(noop, range(n_tpe)):
            pass
        results["ThreadPoolExecutor.map"] = n_tpe / (time.perf_counter() - started)
    return results


# --- submit + result ------------------------------------------------------------------------------


def _submit_batch(executor: Executor, n: int) -> float:
    started = time.perf_counter()
    futures = [executor.submit(noop, i) for i in range(n)]
    for future in futures:
        future.result()
    return n / (time.perf_counter() - started)


def _submit(quick: bool) -> dict[str, float]:
    n = 5_000 if quick else 20_000
    with _pool() as pool, _tpe() as tpe:
        return {
            "ftpool Pool": _submit_batch(pool, n),
            "ThreadPoolExecutor": _submit_batch(tpe, n),
        }


def _roundtrip_us(executor: Executor, n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        executor.submit(noop, i).result()
    return (time.perf_counter() - started) / n * 1e6


def _roundtrip(quick: bool) -> dict[str, float]:
    n = 500 if quick else 3_000
    with _pool() as pool, _tpe() as tpe:
        return {
            "ftpool Pool": _roundtrip_us(pool, n),
            "ThreadPoolExecutor": _roundtrip_us(tpe, n),
        }


# --- CPU-bound scaling ----------------------------------------------------------------------------


def _run_tasks(executor: Executor, tasks: int, iterations: int) -> float:
    started = time.perf_counter()
    futures = [executor.submit(cpu_work, iterations) for _ in range(tasks)]
    for future in futures:
        future.result()
    return time.perf_counter() - started


def _cpu_scaling(quick: bool) -> dict[str, float]:
    tasks = 16
    iterations = 100_000 if quick else 250_000  # ~8 / ~20 ms per task on one core
    results: dict[str, float] = {}
    for n in (1, WORKERS):
        with _pool(n) as pool:
            results[f"ftpool Pool x{n}"] = _run_tasks(pool, tasks, iterations)
    with _tpe(WORKERS) as tpe:
        results[f"ThreadPoolExecutor x{WORKERS}"] = _run_tasks(tpe, tasks, iterations)
    with ProcessPoolExecutor(max_workers=WORKERS) as ppe:
        for future in [ppe.submit(noop, i) for i in range(WORKERS)]:
            future.result()  # the processes exist before the clock starts
        results[f"ProcessPoolExecutor x{WORKERS}"] = _run_tasks(ppe, tasks, iterations)
    return results


# --- memory per idle worker -----------------------------------------------------------------------

# Measured in a fresh interpreter each time: in this process, glibc's cache of the stacks of
# threads that already ended (earlier cases) would hand out stacks that are resident already.
_MEMORY_SCRIPT = """
import sys, threading
from concurrent.futures import ThreadPoolExecutor
import ftpool

def rss_kib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")

kind, n = sys.argv[1], int(sys.argv[2])
before = rss_kib()
if kind == "pool":
    executor = ftpool.Pool(max_workers=n, min_workers=n)
else:
    executor = ThreadPoolExecutor(max_workers=n)
    barrier = threading.Barrier(n, timeout=30)
    for future in [executor.submit(barrier.wait) for _ in range(n)]:
        future.result()
after = rss_kib()
executor.shutdown()
print((after - before) / n)
"""


def _idle_kib_per_worker(kind: str, n: int) -> float:
    done = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT, kind, str(n)],
        capture_output=True, text=True, check=True, timeout=60,
    )
    return float(done.stdout)


def _idle_memory(quick: bool) -> dict[str, float]:
    n = 20 if quick else 50
    return {
        "ftpool Pool": _idle_kib_per_worker("pool", n),
        "ThreadPoolExecutor": _idle_kib_per_worker("tpe", n),
    }


CASES = [
    Case(
        name="pool.map_tiny",
        description=f"map(no-op) over 100k items (20k quick) on {WORKERS} workers: Pool.map "
        "(automatic chunks) vs ThreadPoolExecutor.map (over 20k items), items/s",
        run=_map_tiny,
        unit="items/s",
        higher_is_better=True,
        ratios=[("ftpool Pool.map", "ThreadPoolExecutor.map")],
        target="3.13t GIL off: ftpool Pool.map / ThreadPoolExecutor.map >= 10",
    ),
    Case(
        name="pool.submit",
        description=f"submit 20k no-op tasks, then result() each, {WORKERS} workers, tasks/s",
        run=_submit,
        unit="tasks/s",
        higher_is_better=True,
        ratios=[("ftpool Pool", "ThreadPoolExecutor")],
        target="3.13t GIL off: ftpool Pool / ThreadPoolExecutor >= 1.5",
    ),
    Case(
        name="pool.roundtrip",
        description="submit(no-op).result() one at a time to an idle worker, us per task",
        run=_roundtrip,
        unit="us",
        higher_is_better=False,
        ratios=[("ftpool Pool", "ThreadPoolExecutor")],
        target="(informative: dominated by two thread wake-ups)",
    ),
    Case(
        name="pool.cpu_scaling",
        description=f"16 pure-Python CPU tasks on 1 and {WORKERS} Pool workers vs "
        f"ThreadPoolExecutor and ProcessPoolExecutor with {WORKERS}, seconds",
        run=_cpu_scaling,
        unit="s",
        higher_is_better=False,
        # time x1 / time x2 is the speedup; a peer's time / ftpool's time above 1 means ftpool
        # was faster
        ratios=[
            ("ftpool Pool x1", f"ftpool Pool x{WORKERS}"),
            (f"ThreadPoolExecutor x{WORKERS}", f"ftpool Pool x{WORKERS}"),
            (f"ProcessPoolExecutor x{WORKERS}", f"ftpool Pool x{WORKERS}"),
        ],
        target=f"3.13t GIL off: ftpool Pool x1 / ftpool Pool x{WORKERS} (speedup) >= 1.7",
    ),
    Case(
        name="pool.idle_memory",
        description="resident memory per idle worker (VmRSS delta over 50 workers, 20 quick, "
        "in a fresh interpreter), KiB",
        run=_idle_memory,
        unit="KiB/worker",
        higher_is_better=False,
        ratios=[("ftpool Pool", "ThreadPoolExecutor")],
        target="(informative)",
    ),
]
