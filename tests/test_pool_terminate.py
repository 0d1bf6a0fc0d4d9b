"""terminate(): cancel every queued task, ask running tasks to stop through their cancel token,
and join the workers. Threads are never killed."""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time

import pytest

import ftpool
from ftpool import Cancelled, Pool


def spin(started: threading.Event) -> str:
    started.set()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ftpool.check_cancelled()
    return "not stopped"


def test_terminate_cancels_queued_and_stops_running_tasks() -> None:
    pool = Pool(max_workers=2)
    started = [threading.Event(), threading.Event()]
    running = [pool.submit(spin, event) for event in started]
    queued = [pool.submit(abs, -i) for i in range(10)]
    for event in started:
        assert event.wait(5)
    begin = time.monotonic()
    pool.terminate()
    assert time.monotonic() - begin < 5
    for future in running:
        with pytest.raises(Cancelled, match="terminated"):
            future.result(timeout=0)
    assert all(f.cancelled() for f in queued)
    stats = pool.stats()
    assert stats.cancelled == 12
    assert stats.workers == 0


def test_terminate_waits_for_a_task_that_never_checks() -> None:
    gate = threading.Event()
    pool = Pool(max_workers=1)
    started = threading.Event()
    future = pool.submit(lambda: (started.set(), gate.wait(5), "done")[2])
    assert started.wait(5)
    with pytest.raises(TimeoutError, match="asked to"):
        pool.terminate(timeout=0.05)
    gate.set()
    pool.terminate()
    assert future.result(timeout=0) == "done"


def test_terminate_is_idempotent_and_refuses_new_work() -> None:
    pool = Pool(max_workers=1)
    pool.submit(abs, 1).result(timeout=5)
    pool.terminate()
    pool.terminate()
    pool.close()
    with pytest.raises(RuntimeError):
        pool.submit(abs, 1)


def test_terminate_after_close_keeps_results() -> None:
    pool = Pool(max_workers=1)
    future = pool.submit(abs, -3)
    pool.close()
    pool.terminate()
    assert future.result(timeout=0) == 3


def test_terminate_cancels_map_chunks() -> None:
    started = threading.Event()

    def item(x: int) -> int:
        started.set()
        time.sleep(0.001)
        ftpool.check_cancelled()
        return x

    pool = Pool(max_workers=2)
    results = pool.map(item, range(10_000), chunksize=100)
    assert started.wait(5)
    pool.terminate()
    with pytest.raises(cf.CancelledError):
        list(results)


def test_terminate_with_round_robin() -> None:
    pool = Pool(max_workers=2, min_workers=2, balancer="round-robin")
    started = [threading.Event(), threading.Event()]
    running = [pool.submit(spin, event) for event in started]
    queued = [pool.submit(abs, i) for i in range(6)]
    for event in started:
        assert event.wait(5)
    pool.terminate()
    assert all(f.cancelled() for f in running + queued)
