"""Pool.stats(): a frozen PoolStats with counts, queue and worker state, utilization and bounded
run-time / wait-time summaries."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest

import ftpool
from ftpool import Pool, PoolStats, TimingSummary
from ftpool._pool.stats import SAMPLES_PER_WORKER, WorkerCounters


def test_a_fresh_pool() -> None:
    with Pool(max_workers=3, min_workers=1) as pool:
        stats = pool.stats()
    assert isinstance(stats, PoolStats)
    assert (stats.max_workers, stats.min_workers) == (3, 1)
    assert stats.queued == stats.running == stats.completed == stats.failed == 0
    assert stats.run_time == TimingSummary()
    assert 0.0 <= stats.utilization <= 1.0


def test_stats_are_frozen() -> None:
    with Pool(max_workers=1) as pool:
        stats = pool.stats()
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.completed = 5  # type: ignore[misc]


def test_counts_by_outcome() -> None:
    gate = threading.Event()
    started = threading.Event()

    def spin() -> None:
        started.set()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ftpool.check_cancelled()

    slow_gate = threading.Event()
    with Pool(max_workers=1, handlers={"slow": lambda _: slow_gate.wait(5)}) as pool:
        for i in range(5):
            pool.submit(abs, i)
        pool.submit(lambda: 1 / 0)
        blocker = pool.submit(lambda: (started.set(), gate.wait(5)))
        assert started.wait(5)
        queued = [pool.submit(abs, 1) for _ in range(3)]
        stats = pool.stats()
        assert stats.running == 1
        assert stats.queued == 3
        assert stats.workers == 1
        assert stats.idle_workers == 0
        queued[0].cancel()
        gate.set()
        blocker.result(timeout=5)
        started.clear()
        looping = pool.submit(spin)
        assert started.wait(5)
        looping.cancel()
        with pytest.raises(TimeoutError):
            pool.run(name="slow", timeout=0.01).result(timeout=5)
        slow_gate.set()
    stats = pool.stats()
    assert stats.completed == 5 + 1 + 2
    assert stats.failed == 2
    assert stats.cancelled == 2
    assert stats.timed_out == 1
    assert stats.running == 0
    assert stats.queued == 0


def test_run_and_wait_time_summaries() -> None:
    with Pool(max_workers=1) as pool:
        gate = threading.Event()
        pool.submit(gate.wait, 5)
        waiting = [pool.submit(time.sleep, 0.01) for _ in range(5)]
        time.sleep(0.05)
        gate.set()
        for future in waiting:
            future.result(timeout=5)
        stats = pool.stats()
    run, wait = stats.run_time, stats.wait_time
    assert run.count == wait.count == 6
    assert run.min <= run.p50 <= run.p90 <= run.p99 <= run.max
    assert run.p50 >= 0.009
    assert wait.max >= 0.05  # the five waited behind the gate
    assert wait.min <= wait.mean <= wait.max


def test_utilization_of_a_busy_pool() -> None:
    with Pool(max_workers=1) as pool:
        pool.submit(time.sleep, 0.2).result(timeout=5)
        assert pool.stats().utilization > 0.3  # busy 0.2 s of the pool's life so far


def test_summary_percentiles() -> None:
    summary = TimingSummary.of(float(i) for i in range(1, 101))
    assert summary.count == 100
    assert (summary.min, summary.max) == (1.0, 100.0)
    assert summary.mean == 50.5
    assert (summary.p50, summary.p90, summary.p99) == (50.0, 90.0, 99.0)
    assert TimingSummary.of([]) == TimingSummary()
    assert TimingSummary.of([3.0]).p99 == 3.0


def test_samples_are_bounded_per_worker() -> None:
    counters = WorkerCounters()
    for i in range(SAMPLES_PER_WORKER * 3):
        counters.add_sample(float(i), 0.0)
    assert len(counters.run_times()) == SAMPLES_PER_WORKER
    assert min(counters.run_times()) == SAMPLES_PER_WORKER * 2  # the last ones are kept
    with Pool(max_workers=1) as pool:
        for future in [pool.submit(abs, i) for i in range(SAMPLES_PER_WORKER + 100)]:
            future.result(timeout=5)
        assert pool.stats().run_time.count == SAMPLES_PER_WORKER


def test_counts_of_retired_workers_are_kept() -> None:
    exited = threading.Semaphore(0)
    with Pool(max_workers=2, idle_timeout=0.01) as pool:
        pool.on("worker_exit", lambda _: exited.release())
        barrier = threading.Barrier(2, timeout=5)
        for future in [pool.submit(barrier.wait) for _ in range(2)]:
            future.result(timeout=5)
        assert exited.acquire(timeout=5)
        assert exited.acquire(timeout=5)
        stats = pool.stats()
    assert stats.workers == 0
    assert stats.completed == 2
    assert stats.run_time.count == 2


def test_stats_while_many_tasks_run() -> None:
    # stats() never blocks the workers and never returns nonsense mid-flight
    with Pool(max_workers=2) as pool:
        futures = [pool.submit(abs, i) for i in range(20_000)]
        for _ in range(20):
            stats = pool.stats()
            assert stats.queued >= 0
            assert 0 <= stats.running <= 2
            assert stats.completed + stats.queued + stats.running <= 20_000
        for future in futures:
            future.result(timeout=10)
    assert pool.stats().completed == 20_000
