"""The behaviour every pool shares, run against ``ftpool.Pool`` (threads in this process) and
``ftpool.dask.DaskPool`` (a LocalCluster of 2 worker processes): submit/result, exceptions, map
order and chunking, run with handlers, cancel of queued and running tasks, timeout, cancel=
tokens, close/shutdown/terminate, broadcast, stats, and every task ending exactly once.

Where the two differ on purpose (documented in ``ftpool.dask``), the test says so: a DaskPool
``Future.cancel()`` on a running task returns True at once, and ``shutdown(cancel_futures=True)``
leaves alone the tasks the scheduler has already sent to a worker.
"""

from __future__ import annotations

import concurrent.futures as cf
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dask_support import mark_and_spin, mark_then_sleep, spin_until_cancelled

import ftpool
from ftpool import CancelToken, ClosedError, Pool, UnknownHandlerError

KINDS = ["Pool", "DaskPool"]


def square(x: int) -> int:
    return x * x


def add(x: int, y: int) -> int:
    return x + y


def fail_on(x: int) -> int:
    if x == 13:
        raise ValueError(f"bad item {x}")
    return x


def divide(x: int, y: int) -> float:
    return x / y


def sleep_then(seconds: float, value: Any) -> Any:
    time.sleep(seconds)
    return value


def context(_: object = None) -> tuple[int, bool, Any]:
    return ftpool.thread_id(), ftpool.is_main_thread(), ftpool.worker_data()


PoolFactory = Callable[..., Any]


@pytest.fixture(params=KINDS)
def make_pool(request: pytest.FixtureRequest) -> Iterator[PoolFactory]:
    """A factory of pools of the parametrized kind; every pool it made is terminated at the end."""
    made: list[Any] = []
    if request.param == "Pool":

        def factory(**kwargs: Any) -> Any:
            pool = Pool(max_workers=2, **kwargs)
            made.append(pool)
            return pool
    else:
        client = request.getfixturevalue("dask_client")
        from ftpool.dask import DaskPool

        def factory(**kwargs: Any) -> Any:
            pool = DaskPool(client, **kwargs)
            made.append(pool)
            return pool

    factory.kind = request.param  # type: ignore[attr-defined]
    yield factory
    for pool in made:
        pool.terminate(timeout=30)


def capacity(pool: Any) -> int:
    """How many tasks the pool runs at once (threads; on Dask, the cluster's threads)."""
    return int(pool.stats().max_workers)


def occupy(pool: Any, tmp_path: Path, count: int) -> list[cf.Future[Any]]:
    """Start ``count`` tasks that spin until cancelled; return once all of them run."""
    marks = [tmp_path / f"running-{i}-{random.random()}" for i in range(count)]
    futures = [pool.submit(mark_and_spin, str(mark), 60.0) for mark in marks]
    deadline = time.monotonic() + 30
    while not all(mark.exists() for mark in marks):  # another process: a file is the signal
        assert time.monotonic() < deadline, "the blocking tasks did not all start"
        time.sleep(0.01)
    return futures


def test_submit_returns_the_result(make_pool: PoolFactory) -> None:
    pool = make_pool()
    assert pool.submit(pow, 2, 10).result(timeout=30) == 1024
    assert pool.submit(add, 2, y=3).result(timeout=30) == 5
    futures = [pool.submit(square, i) for i in range(50)]
    assert [f.result(timeout=30) for f in futures] == [i * i for i in range(50)]
    assert all(isinstance(f, cf.Future) for f in futures)


def test_an_exception_goes_to_the_future_and_the_pool_goes_on(make_pool: PoolFactory) -> None:
    pool = make_pool()
    failing = pool.submit(divide, 1, 0)
    with pytest.raises(ZeroDivisionError):
        failing.result(timeout=30)
    assert isinstance(failing.exception(), ZeroDivisionError)
    assert pool.submit(divide, 6, 3).result(timeout=30) == 2


def test_map_keeps_input_order(make_pool: PoolFactory) -> None:
    pool = make_pool()
    assert list(pool.map(square, range(1000))) == [i * i for i in range(1000)]
    assert list(pool.map(square, range(100), chunksize=7)) == [i * i for i in range(100)]
    assert list(pool.map(add, range(10), range(100, 105))) == [100, 102, 104, 106, 108]
    assert list(pool.map(square, [])) == []
    assert sorted(pool.imap_unordered(square, range(300))) == [i * i for i in range(300)]


def test_map_raises_an_items_exception_at_that_item(make_pool: PoolFactory) -> None:
    pool = make_pool()
    results = pool.map(fail_on, range(40), chunksize=5)
    seen = [next(results) for _ in range(13)]
    assert seen == list(range(13))
    with pytest.raises(ValueError, match="bad item 13"):
        next(results)


def test_run_calls_the_task_or_a_named_handler(make_pool: PoolFactory) -> None:
    pool = make_pool(task=square, handlers={"neg": lambda x: -x})

    @pool.handler
    def double(x: int) -> int:
        return 2 * x

    @pool.handler("triple")
    def _(x: int) -> int:
        return 3 * x

    assert pool.run(7).result(timeout=30) == 49
    assert pool.run(7, name="neg").result(timeout=30) == -7
    assert pool.run(7, name="double").result(timeout=30) == 14
    assert pool.run(7, name="triple").result(timeout=30) == 21
    with pytest.raises(UnknownHandlerError, match="nope"):
        pool.run(1, name="nope")
    with pytest.raises(KeyError):
        make_pool().run(1)  # no default task


def test_cancel_of_a_queued_task_means_it_never_runs(
    make_pool: PoolFactory, tmp_path: Path
) -> None:
    pool = make_pool()
    blockers = occupy(pool, tmp_path, capacity(pool))
    ran = tmp_path / "queued-ran"
    queued = pool.submit(mark_and_spin, str(ran), 0.0)
    assert queued.cancel() is True
    assert queued.cancelled()
    assert queued.done()
    with pytest.raises(cf.CancelledError):
        queued.result(timeout=0)
    for blocker in blockers:
        blocker.cancel()
    for blocker in blockers:
        with pytest.raises(cf.CancelledError):
            blocker.result(timeout=30)
    # the workers were reused: more work runs (and the queued task never did)
    assert pool.submit(square, 4).result(timeout=30) == 16
    time.sleep(0.2)
    assert not ran.exists()


def test_cancel_of_a_running_task_stops_it_at_its_next_check(
    make_pool: PoolFactory, tmp_path: Path
) -> None:
    pool = make_pool()
    (running,) = occupy(pool, tmp_path, 1)
    started = time.monotonic()
    running.cancel()  # Pool: False (not cancelled yet); DaskPool: True (see the module doc)
    with pytest.raises(ftpool.Cancelled):
        running.result(timeout=30)
    assert running.cancelled()
    assert time.monotonic() - started < 10
    assert pool.submit(square, 5).result(timeout=30) == 25


def test_a_cancel_token_cancels_its_task(make_pool: PoolFactory, tmp_path: Path) -> None:
    pool = make_pool(task=spin_until_cancelled)
    token = CancelToken()
    future = pool.run(60.0, cancel=token)
    token.cancel("enough")
    with pytest.raises(ftpool.Cancelled):
        future.result(timeout=30)
    cancelled = CancelToken()
    cancelled.cancel("before")
    early = pool.run(60.0, cancel=cancelled)
    assert early.cancelled()


def test_timeout_fails_the_future_with_timeout_error(make_pool: PoolFactory) -> None:
    pool = make_pool(task=spin_until_cancelled)
    future = pool.run(60.0, timeout=0.3)
    with pytest.raises(TimeoutError):
        future.result(timeout=30)
    quick = pool.run(0.0, timeout=30)
    assert quick.result(timeout=30) == "not cancelled"
    # Pool fails the future at the deadline and counts it when the task has stopped: wait for it
    deadline = time.monotonic() + 10
    while pool.stats().timed_out != 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    stats = pool.stats()
    assert stats.timed_out == 1
    assert stats.failed == 1
    with pytest.raises(ValueError):
        pool.run(1.0, timeout=-1)
    with pytest.raises(TypeError):
        pool.run(1.0, timeout="1")


def test_close_waits_for_every_task_and_refuses_more(make_pool: PoolFactory) -> None:
    pool = make_pool()
    futures = [pool.submit(sleep_then, 0.05, i) for i in range(8)]
    pool.close()
    assert all(f.done() for f in futures)
    assert [f.result() for f in futures] == list(range(8))
    with pytest.raises(RuntimeError, match="cannot schedule new futures after shutdown"):
        pool.submit(square, 1)
    with pytest.raises(ClosedError):
        pool.map(square, [1])
    pool.close()  # idempotent


def test_with_block_waits_for_the_tasks(make_pool: PoolFactory) -> None:
    with make_pool() as pool:
        futures = [pool.submit(sleep_then, 0.05, i) for i in range(6)]
    assert [f.result(timeout=0) for f in futures] == list(range(6))


def test_shutdown_with_cancel_futures_cancels_what_waits(
    make_pool: PoolFactory, tmp_path: Path
) -> None:
    pool = make_pool()
    n = capacity(pool)
    marks = [tmp_path / f"started-{i}" for i in range(n)]
    running = [pool.submit(mark_then_sleep, str(mark), 2.0, "ran") for mark in marks]
    waiting = [pool.submit(sleep_then, 0.01, "waited") for _ in range(4 * n)]
    deadline = time.monotonic() + 60
    while not all(mark.exists() for mark in marks):  # started (in another process, on Dask)
        assert time.monotonic() < deadline, "the first tasks did not all start"
        time.sleep(0.01)
    pool.shutdown(wait=True, cancel_futures=True)
    assert all(f.done() for f in running + waiting)
    assert [f.result() for f in running] == ["ran"] * n
    outcomes = ["cancelled" if f.cancelled() else f.result() for f in waiting]
    assert set(outcomes) <= {"cancelled", "waited"}
    # Pool cancels every waiting task; Dask keeps those already sent to a worker
    assert outcomes.count("cancelled") >= (4 * n if make_pool.kind == "Pool" else n)  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError):
        pool.submit(square, 1)


def test_terminate_cancels_running_and_waiting_tasks(
    make_pool: PoolFactory, tmp_path: Path
) -> None:
    pool = make_pool()
    running = occupy(pool, tmp_path, capacity(pool))
    waiting = [pool.submit(square, i) for i in range(5)]
    pool.terminate(timeout=30)
    for future in running:
        with pytest.raises(ftpool.Cancelled):
            future.result(timeout=30)
    assert all(f.done() for f in waiting)
    with pytest.raises(RuntimeError):
        pool.submit(square, 1)


def test_broadcast_runs_on_every_worker(make_pool: PoolFactory) -> None:
    pool = make_pool()
    futures = pool.broadcast(add, 1, 2)
    assert futures
    assert [f.result(timeout=30) for f in futures] == [3] * len(futures)


def test_inside_a_task_the_thread_context_is_a_workers(make_pool: PoolFactory) -> None:
    pool = make_pool()
    results = list(pool.map(context, range(20), chunksize=1))
    for tid, is_main, data in results:
        assert tid >= 1
        assert is_main is False
        assert data is None
    assert context() == (0, True, None)  # the caller's thread is not a worker


def test_stats_count_what_ended(make_pool: PoolFactory) -> None:
    pool = make_pool()
    for f in [pool.submit(square, i) for i in range(10)]:
        f.result(timeout=30)
    with pytest.raises(ZeroDivisionError):
        pool.submit(divide, 1, 0).result(timeout=30)
    list(pool.map(square, range(100)))
    stats = pool.stats()
    assert stats.completed == 110
    assert stats.failed == 1
    assert stats.queued == 0
    assert stats.running == 0
    assert stats.run_time.count >= 1
    assert 0.0 <= stats.utilization <= 1.0
    with pytest.raises(AttributeError):
        stats.completed = 0  # type: ignore[misc]


def test_every_task_ends_exactly_once_under_random_cancels(make_pool: PoolFactory) -> None:
    pool = make_pool()
    ends: dict[int, int] = {}
    lock = threading.Lock()
    rng = random.Random(1234)

    def ended(index: int) -> Callable[[cf.Future[Any]], None]:
        def callback(_: cf.Future[Any]) -> None:
            with lock:
                ends[index] = ends.get(index, 0) + 1

        return callback

    futures = []
    for index in range(150):
        future = pool.submit(sleep_then, rng.choice([0.0, 0.001, 0.01]), index)
        future.add_done_callback(ended(index))
        futures.append(future)
        if rng.random() < 0.3:
            rng.choice(futures).cancel()
    pool.close(timeout=60)
    assert all(f.done() for f in futures)
    time.sleep(0.1)  # done-callbacks run right after the state change
    assert ends == dict.fromkeys(range(150), 1)
    for index, future in enumerate(futures):
        if not future.cancelled():
            assert future.result() == index
    stats = pool.stats()
    assert stats.completed + stats.cancelled == 150
