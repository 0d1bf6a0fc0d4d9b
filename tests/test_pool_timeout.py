"""run(timeout=): counted from the moment the task starts, not from queueing; on expiry the
future fails with TimeoutError at once and the task is cancelled cooperatively. One timer thread
per pool, ended with the pool."""

from __future__ import annotations

import gc
import itertools
import threading
import time

import pytest

import ftpool
from ftpool import Pool


def spin(seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ftpool.check_cancelled()
    return "finished"


_prefixes = itertools.count()


def unique(prefix: str) -> str:
    """A thread name prefix no other pool uses (tests may run at the same time)."""
    return f"{prefix}{next(_prefixes)}"


def timer_threads(prefix: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"{prefix}_timer"]


def test_timeout_counts_from_the_start_not_from_queueing() -> None:
    with Pool(task=lambda x: x, max_workers=1) as pool:
        gate = threading.Event()
        blocker = pool.submit(gate.wait, 5)
        queued = pool.run("ok", timeout=0.5)
        time.sleep(0.7)  # it waits longer than its timeout, but has not started yet
        gate.set()
        assert blocker.result(timeout=5) is True
        assert queued.result(timeout=5) == "ok"


def test_expiry_fails_the_future_and_stops_a_checking_task() -> None:
    with Pool(task=spin, max_workers=1) as pool:
        started = time.monotonic()
        future = pool.run(10.0, timeout=0.1)
        with pytest.raises(TimeoutError, match=r"timeout of 0\.1 s"):
            future.result(timeout=5)
        assert time.monotonic() - started < 5
        # the worker is reused once the task stopped at its check
        assert pool.submit(ftpool.thread_id).result(timeout=5) > 0
    stats = pool.stats()
    assert stats.timed_out == 1
    assert stats.failed == 1
    assert stats.workers == 0


def test_expiry_fails_the_future_even_if_the_task_never_checks() -> None:
    gate = threading.Event()
    with Pool(task=lambda _: gate.wait(5), max_workers=1) as pool:
        future = pool.run(timeout=0.05)
        with pytest.raises(TimeoutError):
            future.result(timeout=2)  # well before the task itself ends
        assert future.done()
        assert not gate.is_set()
        gate.set()
    assert pool.stats().timed_out == 1


def test_tasks_that_finish_in_time_are_not_touched() -> None:
    with Pool(task=lambda x: x * 2, max_workers=2) as pool:
        futures = [pool.run(i, timeout=5) for i in range(200)]
        assert [f.result(timeout=5) for f in futures] == [2 * i for i in range(200)]
    assert pool.stats().timed_out == 0


def test_timeout_zero_expires_at_start() -> None:
    with Pool(task=spin, max_workers=1) as pool, pytest.raises(TimeoutError):
        pool.run(10.0, timeout=0).result(timeout=5)


def test_many_timeouts_one_timer_thread_ended_with_the_pool() -> None:
    prefix = unique("tmo")
    with Pool(task=spin, max_workers=2, thread_name_prefix=prefix) as pool:
        futures = [pool.run(10.0, timeout=0.02 + 0.01 * (i % 3)) for i in range(12)]
        for future in futures:
            with pytest.raises(TimeoutError):
                future.result(timeout=5)
        assert len(timer_threads(prefix)) == 1
        threads = timer_threads(prefix)
    for thread in threads:
        thread.join(5)
        assert not thread.is_alive()


def test_no_timer_thread_without_timeouts() -> None:
    prefix = unique("notmo")
    with Pool(task=lambda x: x, max_workers=1, thread_name_prefix=prefix) as pool:
        pool.run(1).result(timeout=5)
        assert timer_threads(prefix) == []


def test_an_earlier_deadline_wakes_the_timer() -> None:
    with Pool(task=spin, max_workers=2) as pool:
        late = pool.run(10.0, timeout=3)
        early = pool.run(10.0, timeout=0.05)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            early.result(timeout=2.5)
        assert time.monotonic() - started < 2.5
        late.cancel()
        with pytest.raises(ftpool.Cancelled):
            late.result(timeout=5)


def test_timer_thread_ends_when_all_workers_retired_and_comes_back() -> None:
    exited = threading.Semaphore(0)
    prefix = unique("tmr")
    with Pool(task=spin, max_workers=1, idle_timeout=0.01, thread_name_prefix=prefix) as pool:
        pool.on("worker_exit", lambda _: exited.release())
        with pytest.raises(TimeoutError):
            pool.run(10.0, timeout=0.01).result(timeout=5)
        assert exited.acquire(timeout=5)  # the only worker retired
        for thread in timer_threads(prefix):
            thread.join(5)  # and the timer thread ended with it
        assert timer_threads(prefix) == []
        with pytest.raises(TimeoutError):
            pool.run(10.0, timeout=0.01).result(timeout=5)


def test_dropped_pool_leaves_no_timer_thread() -> None:
    prefix = unique("tmrdrop")
    pool = Pool(task=spin, max_workers=1, thread_name_prefix=prefix)
    with pytest.raises(TimeoutError):
        pool.run(10.0, timeout=0.01).result(timeout=5)
    threads = [t for t in threading.enumerate() if t.name.startswith(f"{prefix}_")]
    assert len(threads) == 2
    del pool
    gc.collect()
    for thread in threads:
        thread.join(5)
        assert not thread.is_alive()
