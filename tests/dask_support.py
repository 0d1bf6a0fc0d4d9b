"""The Dask cluster of the DaskPool tests, and task functions they send to it.

The cluster: a ``distributed.LocalCluster`` of 2 worker processes (nannies, so that a killed
worker comes back) with 2 threads each, on 127.0.0.1 only, no dashboard. On a free-threaded build
the worker processes get ``PYTHON_GIL=0`` (the tests check that the GIL stays off in them). A
worker that dies twice while running the same task fails it with ``KilledWorker``
(``allowed-failures=1``: the fault tests stay short).

The task functions live here (not in the test modules) so that the worker processes import them by
name: this directory is on ``sys.path`` there too (spawned workers inherit it).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import ftpool

WORKERS = 2
THREADS_PER_WORKER = 2


def require_distributed() -> Any:
    """Import distributed, or skip with the reason (the noxfile's failed install, if any)."""
    reason = os.environ.get("FTPOOL_DASK_UNAVAILABLE")
    if reason:
        pytest.skip(f"distributed is not installed: {reason}", allow_module_level=True)
    return pytest.importorskip(
        "distributed", reason="distributed is not installed (pip install 'ftpool[dask]')"
    )


def start_cluster() -> tuple[Any, Any]:
    distributed = require_distributed()
    import dask

    from ftpool.dask import local_cluster

    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = local_cluster(WORKERS, THREADS_PER_WORKER)
    client = distributed.Client(cluster, set_as_default=False)
    client.wait_for_workers(WORKERS, timeout=60)
    # distributed starts its callback thread on first use; start it now, outside any test
    warm = client.submit(abs, -1, pure=False)
    warm.add_done_callback(lambda _: None)
    warm.result()
    return cluster, client


def stop_cluster(cluster: Any, client: Any) -> None:
    import distributed
    import distributed.utils

    client.close()
    cluster.close()
    # distributed's process-wide executors (its done-callback thread and its offload thread)
    # would otherwise outlive the session: nothing uses them after this
    executor = distributed.Future._cb_executor
    if executor is not None:
        executor.shutdown(wait=True)
        distributed.Future._cb_executor = None
    distributed.utils._offload_executor.shutdown(wait=True)


# --- task functions (imported by name in the worker processes) ------------------------------------


def context(_: object = None) -> dict[str, Any]:
    """What a task sees of ftpool's thread context, the GIL and its process."""
    import distributed

    return {
        "thread_id": ftpool.thread_id(),
        "is_main_thread": ftpool.is_main_thread(),
        "worker_data": ftpool.worker_data(),
        "gil": sys._is_gil_enabled() if hasattr(sys, "_is_gil_enabled") else True,
        "pid": os.getpid(),
        "worker": distributed.get_worker().address,
    }


def gil_enabled() -> bool:
    return sys._is_gil_enabled() if hasattr(sys, "_is_gil_enabled") else True


def spin_until_cancelled(limit: float) -> str:
    """Call check_cancelled() in a loop for up to ``limit`` s ('not cancelled' if it never
    raised)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        ftpool.check_cancelled()
    return "not cancelled"


def mark_and_spin(path: str, limit: float) -> str:
    """Write ``path`` (the task has started), then spin as :func:`spin_until_cancelled`."""
    Path(path).write_text(str(os.getpid()))
    return spin_until_cancelled(limit)


def mark_then_sleep(path: str, seconds: float, value: object) -> object:
    """Write ``path`` (the task has started), sleep ``seconds``, return ``value``."""
    Path(path).write_text(str(os.getpid()))
    time.sleep(seconds)
    return value


def die_once(marker: str) -> int:
    """The first run kills its own worker process (SIGKILL); the retry returns its pid."""
    path = Path(marker)
    if not path.exists():
        path.write_text("died")
        os.kill(os.getpid(), signal.SIGKILL)
    return os.getpid()


def die_always() -> None:
    """Kill the worker process running it, every time."""
    os.kill(os.getpid(), signal.SIGKILL)


def spin_and_mark_end(path: str, limit: float) -> str:
    """As :func:`mark_and_spin`, and write ``path + '.end'`` however the task ends."""
    try:
        return mark_and_spin(path, limit)
    finally:
        Path(path + ".end").write_text("ended")


def fast_then_slow(path: str, value: int) -> int:
    """Return ``value`` at once the first time; when run again (recomputed), after 3 s."""
    marker = Path(path)
    if marker.exists():
        time.sleep(3.0)
    else:
        marker.write_text("ran")
    return value
