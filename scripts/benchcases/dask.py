"""ftpool.dask.DaskPool against ftpool.Pool, on local Dask clusters (worker processes on 127.0.0.1).

- ``dask.tiny_tasks``: ``submit`` a batch of no-op tasks, then ``result()`` each, tasks/s (also
  through distributed's own ``Client.submit``, for what DaskPool adds); and
  ``map`` of a no-op over many items (automatic chunks), items/s. DaskPool pays the scheduler's
  per-task cost; ``map`` pays it per chunk.
- ``dask.roundtrip``: ``submit(no-op).result()`` one at a time, microseconds per task: the fixed
  overhead of one task (client -> scheduler -> worker -> client).
- ``dask.payload``: milliseconds per task whose argument is 1 KB, 1 MB or 16 MB of bytes (pickled
  and sent to a worker process over loopback TCP).
- ``dask.check_cancelled``: nanoseconds per ``check_cancelled()`` inside a running task, Pool
  against DaskPool (a cached read, refreshed from the scheduler at most every 5 ms).
- ``dask.cpu_scaling``: 16 pure-Python CPU tasks (~200 ms each, quick ~80 ms) on DaskPool
  clusters of 1 and 2 worker processes (1 thread each), seconds, with Pool on 1 and 2 threads
  beside them.

The clusters start once per bench run (not timed) and stay up for every repeat. Without
``distributed`` this module has no cases and says why on stderr.
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import sys
import time
from typing import Any

from benchlib import Case

import ftpool

# distributed takes seconds to import (a minute on a loaded 2-core machine): find it here, import
# it on the first dask case (_dask), so `bench --list` and the other cases never pay for it.
_MISSING = "" if all(
    importlib.util.find_spec(name) is not None for name in ("distributed", "cloudpickle")
) else "No module named 'distributed' (pip install 'ftpool[dask]')"


@functools.cache
def _dask() -> Any:
    """``ftpool.dask``, imported on first use (once); the task functions below then travel by
    value (the workers need not import this script)."""
    import cloudpickle  # deferred: see _MISSING

    import ftpool.dask

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    return ftpool.dask


TASKS = 16


def noop(x: object = None) -> object:
    return x


def cpu_work(iterations: int) -> int:
    """Pure-Python CPU work on local ints only (as the pool case's)."""
    total = 0
    for i in range(iterations):
        total += i * i % 7
    return total


def checks_ns(count: int) -> float:
    """Nanoseconds per check_cancelled() call in the running task."""
    check = ftpool.check_cancelled
    started = time.perf_counter_ns()
    for _ in range(count):
        check()
    return (time.perf_counter_ns() - started) / count


_clusters: dict[tuple[int, int], tuple[Any, Any]] = {}


def _client(workers: int, threads: int) -> Any:
    """A client of a local cluster of ``workers`` processes x ``threads`` threads (cached)."""
    key = (workers, threads)
    if key not in _clusters:
        import distributed  # deferred: see _MISSING

        cluster = _dask().local_cluster(workers, threads)
        client = distributed.Client(cluster, set_as_default=False)
        client.wait_for_workers(workers, timeout=120)
        client.run(_warm)
        _clusters[key] = (cluster, client)
    return _clusters[key][1]


def _warm() -> None:
    import ftpool.dask.remote  # noqa: F401  (imported before any clock starts)


@atexit.register
def _close_clusters() -> None:
    for cluster, client in _clusters.values():
        client.close()
        cluster.close()
    _clusters.clear()


def _submit_batch(pool: Any, n: int) -> float:
    started = time.perf_counter()
    futures = [pool.submit(noop, i) for i in range(n)]
    for future in futures:
        future.result()
    return n / (time.perf_counter() - started)


def _map_items(pool: Any, n: int) -> float:
    started = time.perf_counter()
    for _ in pool.map(noop, range(n)):
        pass
    return n / (time.perf_counter() - started)


class _RawDask:
    """distributed's own Client.submit, for what DaskPool adds to it."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def submit(self, fn: Any, *args: Any) -> Any:
        return self.client.submit(fn, *args, pure=False)


def _tiny_tasks(quick: bool) -> dict[str, float]:
    n_dask = 200 if quick else 1_000
    n_pool = 5_000 if quick else 20_000
    n_map = 20_000 if quick else 100_000
    client = _client(2, 1)
    with _dask().DaskPool(client) as dpool, ftpool.Pool(max_workers=2) as pool:
        return {
            "DaskPool submit": _submit_batch(dpool, n_dask),
            "distributed Client.submit": _submit_batch(_RawDask(client), n_dask),
            "Pool submit": _submit_batch(pool, n_pool),
            "DaskPool map": _map_items(dpool, n_map),
            "Pool map": _map_items(pool, n_map),
        }


def _roundtrip_us(pool: Any, n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        pool.submit(noop, i).result()
    return (time.perf_counter() - started) / n * 1e6


def _roundtrip(quick: bool) -> dict[str, float]:
    client = _client(2, 1)
    with _dask().DaskPool(client) as dpool, ftpool.Pool(max_workers=2) as pool:
        return {
            "DaskPool": _roundtrip_us(dpool, 50 if quick else 200),
            "distributed Client.submit": _roundtrip_us(_RawDask(client), 50 if quick else 200),
            "Pool": _roundtrip_us(pool, 500 if quick else 3_000),
        }


def _check_cancelled(quick: bool) -> dict[str, float]:
    count = 200_000 if quick else 1_000_000
    with _dask().DaskPool(_client(2, 1)) as dpool, ftpool.Pool(max_workers=1) as pool:
        return {
            "DaskPool": dpool.submit(checks_ns, count).result(),
            "Pool": pool.submit(checks_ns, count).result(),
        }


def _payload(quick: bool) -> dict[str, float]:
    repeats = 5 if quick else 20
    results: dict[str, float] = {}
    with _dask().DaskPool(_client(2, 1)) as dpool:
        for label, size in (("1 KB", 1 << 10), ("1 MB", 1 << 20), ("16 MB", 16 << 20)):
            data = bytes(size)
            started = time.perf_counter()
            for _ in range(repeats):
                dpool.submit(len, data).result()
            results[f"DaskPool {label}"] = (time.perf_counter() - started) / repeats * 1e3
    return results


def _run(pool: Any, iterations: int) -> float:
    started = time.perf_counter()
    for future in [pool.submit(cpu_work, iterations) for _ in range(TASKS)]:
        future.result()
    return time.perf_counter() - started


def _cpu_scaling(quick: bool) -> dict[str, float]:
    # ~80 / ~200 ms per task on one core: well above the scheduler's per-task cost
    iterations = 1_000_000 if quick else 2_500_000
    results: dict[str, float] = {}
    for workers in (1, 2):
        with _dask().DaskPool(_client(workers, 1)) as dpool:
            results[f"DaskPool x{workers}"] = _run(dpool, iterations)
        with ftpool.Pool(max_workers=workers, min_workers=workers) as pool:
            results[f"ftpool Pool x{workers}"] = _run(pool, iterations)
    return results


if _MISSING:
    sys.stderr.write(f"bench: the dask.* cases are skipped: {_MISSING}\n")
    CASES: list[Case] = []
else:
    CASES = [
        Case(
            name="dask.tiny_tasks",
            description="no-op tasks: submit+result (DaskPool 1k, Pool 20k; quick 200/5k) and "
            "map over 100k items (quick 20k), DaskPool on 2 worker processes x 1 thread vs "
            "Pool with 2 threads, per second",
            run=_tiny_tasks,
            unit="per s",
            higher_is_better=True,
            ratios=[
                ("Pool submit", "DaskPool submit"),
                ("distributed Client.submit", "DaskPool submit"),
                ("Pool map", "DaskPool map"),
                ("DaskPool map", "DaskPool submit"),
            ],
            target="(informative: the scheduler's per-task cost; map amortizes it per chunk)",
            repeats=3,
        ),
        Case(
            name="dask.roundtrip",
            description="submit(no-op).result() one at a time: DaskPool (2 processes) vs Pool, "
            "us per task",
            run=_roundtrip,
            unit="us",
            higher_is_better=False,
            ratios=[("DaskPool", "Pool"), ("DaskPool", "distributed Client.submit")],
            target="(informative: one task's fixed overhead)",
            repeats=3,
        ),
        Case(
            name="dask.payload",
            description="submit(len, bytes(N)).result() one at a time on DaskPool (2 processes, "
            "loopback): the argument is pickled and sent to a worker process; ms per task "
            "(Pool passes a reference: no copy)",
            run=_payload,
            unit="ms",
            higher_is_better=False,
            target="(informative: the cost of data per task)",
            repeats=3,
        ),
        Case(
            name="dask.check_cancelled",
            description="check_cancelled() inside a running task (1M calls, quick 200k): "
            "DaskPool (cached cancel record) vs Pool, ns per call",
            run=_check_cancelled,
            unit="ns",
            higher_is_better=False,
            ratios=[("DaskPool", "Pool")],
            target="(informative: no round trip per call)",
            repeats=3,
        ),
        Case(
            name="dask.cpu_scaling",
            description=f"{TASKS} pure-Python CPU tasks on DaskPool with 1 and 2 worker "
            "processes (1 thread each) vs Pool with 1 and 2 threads, seconds",
            run=_cpu_scaling,
            unit="s",
            higher_is_better=False,
            ratios=[
                ("DaskPool x1", "DaskPool x2"),
                ("ftpool Pool x1", "ftpool Pool x2"),
                ("DaskPool x2", "ftpool Pool x2"),
            ],
            target="(informative: time x1 / time x2 is the speedup)",
            kind="scaling",
            repeats=3,
        ),
    ]
