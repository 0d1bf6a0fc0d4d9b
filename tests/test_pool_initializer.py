"""initializer/initargs: run once per worker before its first task; a failing initializer breaks
the pool: queued futures and later submits get BrokenPool, with the cause chained."""

from __future__ import annotations

import concurrent.futures as cf
import logging
import threading

import pytest

import ftpool
from ftpool import BrokenPool, Pool


def test_initializer_runs_once_per_worker() -> None:
    calls: list[int] = []
    lock = threading.Lock()

    def init(tag: str) -> None:
        assert tag == "x"
        with lock:
            calls.append(ftpool.thread_id())

    with Pool(max_workers=3, min_workers=3, initializer=init, initargs=("x",)) as pool:
        for future in [pool.submit(abs, i) for i in range(30)]:
            future.result(timeout=5)
        workers = pool.stats().workers
    assert len(calls) == workers == 3
    assert len(set(calls)) == 3


def test_failing_initializer_breaks_the_pool(caplog: pytest.LogCaptureFixture) -> None:
    queued = threading.Event()

    def init() -> None:
        queued.wait(5)  # fail once the five tasks wait
        raise ValueError("bad config")

    caplog.set_level(logging.CRITICAL, logger="concurrent.futures")
    pool = Pool(max_workers=1, initializer=init)
    futures = [pool.submit(abs, i) for i in range(5)]
    queued.set()
    for future in futures:
        with pytest.raises(BrokenPool) as caught:
            future.result(timeout=5)
        assert isinstance(caught.value, cf.BrokenExecutor)
        assert isinstance(caught.value.__cause__, ValueError)
    with pytest.raises(BrokenPool) as later:
        pool.submit(abs, 1)
    assert isinstance(later.value.__cause__, ValueError)
    with pytest.raises(BrokenPool):
        pool.map(abs, [1])
    pool.close()
    assert pool.stats().failed == 5
    assert "Exception in initializer" in caplog.text  # as ThreadPoolExecutor logs it
    assert "broken" in repr(pool)


def test_broken_pool_with_min_workers(caplog: pytest.LogCaptureFixture) -> None:
    def init() -> None:
        raise RuntimeError("nope")

    caplog.set_level(logging.CRITICAL, logger="concurrent.futures")
    pool = Pool(max_workers=2, min_workers=2, initializer=init)
    pool.close()
    with pytest.raises(BrokenPool):
        pool.submit(abs, 1)


def test_initializer_failing_on_one_worker_only(caplog: pytest.LogCaptureFixture) -> None:
    count = 0
    lock = threading.Lock()

    def init() -> None:
        nonlocal count
        with lock:
            count += 1
            if count == 2:
                raise RuntimeError("second worker fails")

    caplog.set_level(logging.CRITICAL, logger="concurrent.futures")
    pool = Pool(max_workers=2, initializer=init)
    gate, started = threading.Event(), threading.Event()

    def hold() -> bool:
        started.set()
        return gate.wait(5)

    first = pool.submit(hold)
    assert started.wait(5)  # worker 1 runs it (else the failing initializer would fail it too)
    second = pool.submit(abs, 1)  # accepted; it starts worker 2, whose initializer fails
    with pytest.raises(BrokenPool):
        second.result(timeout=5)
    gate.set()
    assert first.result(timeout=5) is True  # the running task still finished
    pool.close()


def test_the_submit_that_starts_a_failing_worker_gets_a_future(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The initializer fails at once, racing the submit that started its worker: that submit
    passed the open-pool check, so it is accepted (as with ThreadPoolExecutor) and its future
    fails with BrokenPool; only a later submit raises. Repeated to meet the race both ways."""
    caplog.set_level(logging.CRITICAL, logger="concurrent.futures")

    def init() -> None:
        raise OSError("no database")

    for _ in range(300):
        pool = Pool(max_workers=1, initializer=init)
        future = pool.submit(abs, 1)
        with pytest.raises(BrokenPool) as caught:
            future.result(timeout=5)
        assert isinstance(caught.value.__cause__, OSError)
        pool.close()
        with pytest.raises(BrokenPool):
            pool.submit(abs, 1)
        assert pool.stats().failed == 1
