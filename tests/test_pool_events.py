"""pool.on(event, cb): "drain", "worker_create", "worker_exit", "error"."""

from __future__ import annotations

import threading

import pytest

import ftpool
from ftpool import Pool


def test_worker_create_and_exit_give_thread_ids() -> None:
    created: list[int] = []
    exited: list[int] = []
    pool = Pool(max_workers=2)
    pool.on("worker_create", created.append)
    pool.on("worker_exit", exited.append)
    barrier = threading.Barrier(2, timeout=5)

    def meet() -> int:
        barrier.wait()
        return ftpool.thread_id()

    futures = [pool.submit(meet) for _ in range(2)]
    ids = {future.result(timeout=5) for future in futures}
    pool.close()
    assert set(created) == ids
    assert sorted(exited) == sorted(created)


def test_worker_create_after_the_constructor_sees_only_later_workers() -> None:
    """As Piscina's workerCreate: the min_workers that the constructor starts were announced
    before it returned, so a listener added afterwards counts only the workers started on
    demand, every time (repeated: it raced the new threads before)."""
    for _ in range(50):
        created: list[int] = []
        pool = Pool(max_workers=3, min_workers=2)
        pool.on("worker_create", created.append)
        barrier = threading.Barrier(3, timeout=5)
        futures = [pool.submit(barrier.wait) for _ in range(3)]  # needs a third worker
        for future in futures:
            future.result(timeout=5)
        pool.close()
        assert len(created) == 1
        assert pool.stats().workers == 0


def test_drain_fires_when_the_queue_empties() -> None:
    drained = threading.Event()
    gate = threading.Event()
    with Pool(max_workers=1) as pool:
        pool.submit(gate.wait, 5)
        for _ in range(5):
            pool.submit(abs, 1)
        pool.on("drain", drained.set)
        assert not drained.is_set()
        gate.set()
        assert drained.wait(5)
        assert pool.stats().queued == 0


def test_off_removes_a_listener() -> None:
    calls: list[int] = []
    with Pool(max_workers=1) as pool:
        pool.on("worker_create", calls.append)
        assert pool.off("worker_create", calls.append) is True
        assert pool.off("worker_create", calls.append) is False
        pool.submit(abs, 1).result(timeout=5)
    assert calls == []


def test_drain_listener_can_be_removed() -> None:
    calls: list[None] = []

    def on_drain() -> None:
        calls.append(None)

    with Pool(max_workers=1) as pool:
        pool.on("drain", on_drain)
        pool.submit(abs, 1).result(timeout=5)
        pool.off("drain", on_drain)
        count = len(calls)
        for future in [pool.submit(abs, 1) for _ in range(10)]:
            future.result(timeout=5)
    assert count >= 1
    assert len(calls) == count


def test_error_event_gets_the_initializer_exception() -> None:
    errors: list[BaseException] = []
    failed = threading.Event()

    def on_error(exc: BaseException) -> None:
        errors.append(exc)
        failed.set()

    def init() -> None:
        raise OSError("no database")

    pool = Pool(max_workers=1, initializer=init)
    pool.on("error", on_error)
    pool.submit(abs, 1)
    assert failed.wait(5)
    pool.close()
    assert len(errors) == 1
    assert isinstance(errors[0], OSError)


def test_unknown_event_and_bad_callback() -> None:
    with Pool(max_workers=1) as pool:
        with pytest.raises(ValueError, match="drain, worker_create, worker_exit, error"):
            pool.on("message", print)
        with pytest.raises(TypeError):
            pool.on("drain", 42)  # type: ignore[arg-type]


@pytest.mark.single_thread  # swaps threading.excepthook, which is process-wide
def test_a_raising_listener_is_reported_and_the_pool_goes_on() -> None:
    reported: list[BaseException] = []
    original = threading.excepthook
    threading.excepthook = lambda args: reported.append(args.exc_value)  # type: ignore[assignment]
    try:
        with Pool(max_workers=1) as pool:
            pool.on("worker_create", lambda _: 1 / 0)
            assert pool.submit(abs, -2).result(timeout=5) == 2
    finally:
        threading.excepthook = original
    assert len(reported) == 1
    assert isinstance(reported[0], ZeroDivisionError)
