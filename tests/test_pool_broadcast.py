"""Pool.broadcast(fn, *args): runs once on every current worker (the seed's "end" message)."""

from __future__ import annotations

import threading

import pytest

import ftpool
from ftpool import Pool


def test_broadcast_runs_once_on_every_worker() -> None:
    with Pool(max_workers=4, min_workers=4) as pool:
        futures = pool.broadcast(ftpool.thread_id)
        ids = [f.result(timeout=5) for f in futures]
    assert len(ids) == 4
    assert len(set(ids)) == 4


def test_broadcast_passes_arguments() -> None:
    seen: list[tuple[int, str]] = []
    lock = threading.Lock()

    def note(n: int, word: str) -> None:
        with lock:
            seen.append((n, word))

    with Pool(max_workers=3, min_workers=3) as pool:
        for future in pool.broadcast(note, 7, "end"):
            future.result(timeout=5)
    assert seen == [(7, "end")] * 3


def test_broadcast_runs_after_tasks_queued_before_it() -> None:
    # the seed's use: "end" reaches each consumer after its data
    order: list[tuple[int, str]] = []
    lock = threading.Lock()

    def consume(item: str) -> None:
        with lock:
            order.append((ftpool.thread_id(), item))

    with Pool(max_workers=2, min_workers=2, balancer="round-robin") as pool:
        for i in range(10):
            pool.submit(consume, f"data{i}")
        pool.broadcast(consume, "end")
    by_worker: dict[int, list[str]] = {}
    for worker, item in order:
        by_worker.setdefault(worker, []).append(item)
    assert len(by_worker) == 2
    for items in by_worker.values():
        assert items[-1] == "end"
        assert len(items) == 6


def test_broadcast_on_a_pool_without_workers_starts_one() -> None:
    with Pool(max_workers=3) as pool:
        futures = pool.broadcast(ftpool.thread_id)
        assert len(futures) == 1
        assert futures[0].result(timeout=5) > 0


def test_broadcast_futures_can_be_cancelled_while_waiting() -> None:
    gate = threading.Event()
    with Pool(max_workers=1, min_workers=1) as pool:
        pool.submit(gate.wait, 5)
        (future,) = pool.broadcast(ftpool.thread_id)
        assert future.cancel()
        gate.set()
    assert future.cancelled()


def test_broadcast_bad_input_and_closed_pool() -> None:
    pool = Pool(max_workers=1)
    with pytest.raises(TypeError):
        pool.broadcast(42)  # type: ignore[arg-type]
    pool.close()
    with pytest.raises(RuntimeError):
        pool.broadcast(print)
