"""Pool is a drop-in concurrent.futures.Executor: the same code runs against ThreadPoolExecutor
and Pool, with the same results, exceptions and messages for the arguments they share."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import gc
import threading
import time
import weakref
from collections.abc import Callable

import pytest

import ftpool
from ftpool import Pool

EXECUTORS: dict[str, Callable[..., cf.Executor]] = {
    "ThreadPoolExecutor": cf.ThreadPoolExecutor,
    "Pool": Pool,
}


@pytest.fixture(params=list(EXECUTORS))
def make(request: pytest.FixtureRequest) -> Callable[..., cf.Executor]:
    return EXECUTORS[request.param]


def test_pool_is_an_executor() -> None:
    with Pool(max_workers=1) as pool:
        assert isinstance(pool, cf.Executor)
        future = pool.submit(int, "7")
        assert isinstance(future, cf.Future)
        assert future.result() == 7


def test_submit_passes_args_and_kwargs(make: Callable[..., cf.Executor]) -> None:
    with make(max_workers=2) as executor:
        assert executor.submit(pow, 2, 5).result() == 32
        assert executor.submit(int, "ff", base=16).result() == 255
        assert executor.submit(dict, a=1).result() == {"a": 1}


@pytest.mark.parametrize("bad", [0, -1])
def test_max_workers_must_be_positive_same_message(
    make: Callable[..., cf.Executor], bad: int
) -> None:
    with pytest.raises(ValueError, match=r"^max_workers must be greater than 0$"):
        make(max_workers=bad)


def test_initializer_must_be_callable_same_message(make: Callable[..., cf.Executor]) -> None:
    with pytest.raises(TypeError, match=r"^initializer must be a callable$"):
        make(max_workers=1, initializer=42)


def test_submit_after_shutdown_same_error(make: Callable[..., cf.Executor]) -> None:
    executor = make(max_workers=1)
    executor.shutdown()
    with pytest.raises(RuntimeError, match=r"^cannot schedule new futures after shutdown$"):
        executor.submit(print)


def test_submit_after_shutdown_is_also_a_closed_error() -> None:
    pool = Pool(max_workers=1)
    pool.shutdown()
    with pytest.raises(ftpool.ClosedError):
        pool.submit(print)


def test_shutdown_is_idempotent(make: Callable[..., cf.Executor]) -> None:
    executor = make(max_workers=2)
    executor.submit(time.sleep, 0.01)
    executor.shutdown()
    executor.shutdown()
    executor.shutdown(wait=False)


def test_non_callable_is_a_type_error_at_submit() -> None:
    with Pool(max_workers=1) as pool, pytest.raises(TypeError, match="callable"):
        pool.submit(42)  # type: ignore[arg-type]


def test_task_exception_goes_into_the_future(make: Callable[..., cf.Executor]) -> None:
    with make(max_workers=1) as executor:
        future = executor.submit(lambda: 1 / 0)
        assert isinstance(future.exception(), ZeroDivisionError)
        with pytest.raises(ZeroDivisionError):
            future.result()
        # the worker survived its task's exception
        assert executor.submit(lambda: "still here").result() == "still here"


def test_base_exceptions_go_into_the_future_too() -> None:
    def exit_task() -> None:
        raise SystemExit(3)

    with Pool(max_workers=1) as pool:
        future = pool.submit(exit_task)
        assert isinstance(future.exception(), SystemExit)
        assert pool.submit(int, "1").result() == 1


def test_wait_and_as_completed_work_on_pool_futures(make: Callable[..., cf.Executor]) -> None:
    with make(max_workers=2) as executor:
        gate = threading.Event()
        slow = executor.submit(gate.wait, 5)
        fast = [executor.submit(pow, 2, i) for i in range(10)]
        done, not_done = cf.wait(fast, timeout=5)
        assert done == set(fast)
        assert not not_done
        first = cf.wait([slow, fast[0]], return_when=cf.FIRST_COMPLETED, timeout=5)
        assert fast[0] in first.done
        assert sorted(f.result() for f in cf.as_completed(fast, timeout=5)) == [
            2**i for i in range(10)
        ]
        gate.set()
        assert slow.result(timeout=5) is True
        _, pending = cf.wait([slow], timeout=0)
        assert not pending


def test_wait_wakes_when_a_future_is_cancelled() -> None:
    with Pool(max_workers=1) as pool:
        gate = threading.Event()
        blocker = pool.submit(gate.wait, 5)
        queued = pool.submit(int, "1")
        waiter_result: list[set[cf.Future[int]]] = []

        def waiter() -> None:
            done, _ = cf.wait([queued], timeout=5)
            waiter_result.append(done)

        thread = threading.Thread(target=waiter)
        thread.start()
        assert queued.cancel()
        thread.join(5)
        gate.set()
        assert waiter_result == [{queued}]
        blocker.result(timeout=5)


def test_map_is_ordered_and_supports_timeout(make: Callable[..., cf.Executor]) -> None:
    with make(max_workers=2) as executor:
        assert list(executor.map(pow, range(20), [2] * 20)) == [i**2 for i in range(20)]
        gate = threading.Event()
        results = executor.map(gate.wait, [5], timeout=0.05)
        with pytest.raises(TimeoutError):
            next(results)
        gate.set()


def test_context_manager_waits_for_work(make: Callable[..., cf.Executor]) -> None:
    done: list[int] = []
    with make(max_workers=2) as executor:
        for i in range(20):
            executor.submit(lambda i=i: (time.sleep(0.001), done.append(i)))
    assert sorted(done) == list(range(20))


def test_thread_name_prefix_names_the_threads(make: Callable[..., cf.Executor]) -> None:
    with make(max_workers=2, thread_name_prefix="compat") as executor:
        name = executor.submit(lambda: threading.current_thread().name).result()
    assert name.startswith("compat_")


def test_initializer_and_initargs(make: Callable[..., cf.Executor]) -> None:
    local = threading.local()

    def init(value: int) -> None:
        local.value = value

    with make(max_workers=2, initializer=init, initargs=(5,)) as executor:
        assert executor.submit(lambda: local.value).result() == 5


def test_broken_pool_is_a_broken_executor(make: Callable[..., cf.Executor]) -> None:
    def init() -> None:
        raise RuntimeError("no")

    executor = make(max_workers=1, initializer=init)
    try:
        future = executor.submit(int, "1")  # accepted: the pool was not broken yet
        with pytest.raises(cf.BrokenExecutor):
            future.result(timeout=5)
        with pytest.raises(cf.BrokenExecutor):
            executor.submit(int, "1")
    finally:
        executor.shutdown()


def test_asyncio_wrap_future() -> None:
    with Pool(max_workers=1) as pool:

        async def main() -> int:
            return await asyncio.wrap_future(pool.submit(pow, 3, 3))

        assert asyncio.run(main()) == 27


def test_shutdown_cancel_futures(make: Callable[..., cf.Executor]) -> None:
    executor = make(max_workers=1)
    gate = threading.Event()
    running = executor.submit(gate.wait, 5)
    queued = [executor.submit(int, "1") for _ in range(5)]
    executor.shutdown(wait=False, cancel_futures=True)
    gate.set()
    executor.shutdown(wait=True)
    assert running.result() is True
    assert all(f.cancelled() for f in queued)


def _prefix_threads(prefix: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(prefix + "_")]


def test_dropped_pool_does_not_leak_threads() -> None:
    pool = Pool(max_workers=2, thread_name_prefix="dropped")
    future = pool.submit(pow, 2, 8)
    pool.submit(time.sleep, 0.01)
    ref = weakref.ref(pool)
    threads = _prefix_threads("dropped")
    assert threads
    del pool
    gc.collect()
    assert ref() is None
    for thread in threads:
        thread.join(5)
        assert not thread.is_alive()
    assert future.result() == 256


def test_dropped_pool_finishes_its_queue() -> None:
    gate = threading.Event()
    pool = Pool(max_workers=1, thread_name_prefix="dropq")
    blocker = pool.submit(gate.wait, 5)
    queued = [pool.submit(pow, 2, i) for i in range(5)]
    threads = _prefix_threads("dropq")
    del pool
    gc.collect()
    gate.set()
    assert blocker.result(timeout=5) is True
    assert [f.result(timeout=5) for f in queued] == [2**i for i in range(5)]
    for thread in threads:
        thread.join(5)
        assert not thread.is_alive()


def test_default_max_workers_is_the_usable_cores() -> None:
    with Pool() as pool:
        assert pool.max_workers == ftpool.runtime().cores
