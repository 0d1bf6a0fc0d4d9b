"""Pool.run (Piscina's run): the default task, named handlers, the thread context inside tasks,
and its argument errors, raised by run itself."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import ftpool
from ftpool import Pool, PoolFuture, UnknownHandlerError


def double(x: int) -> int:
    return 2 * x


def test_run_calls_the_default_task_with_its_argument() -> None:
    with Pool(task=double, max_workers=2) as pool:
        future = pool.run(21)
        assert isinstance(future, PoolFuture)
        assert future.result(timeout=5) == 42
        assert pool.run().exception(timeout=5) is not None  # double(None) raises TypeError


def test_run_named_handlers_from_the_constructor() -> None:
    with Pool(handlers={"double": double, "neg": lambda x: -x}, max_workers=1) as pool:
        assert pool.run(4, name="double").result(timeout=5) == 8
        assert pool.run(4, name="neg").result(timeout=5) == -4


def test_handler_decorator_both_forms() -> None:
    with Pool(max_workers=1) as pool:

        @pool.handler
        def square(x: int) -> int:
            return x * x

        @pool.handler("cube")
        def third_power(x: int) -> int:
            return x**3

        assert square(3) == 9  # the decorator returns the function unchanged
        assert pool.run(3, name="square").result(timeout=5) == 9
        assert pool.run(3, name="cube").result(timeout=5) == 27
        assert set(pool.handlers) == {"square", "cube"}


def test_unknown_handler_raises_at_run_naming_the_known_ones() -> None:
    with Pool(handlers={"alpha": double, "beta": double}, max_workers=1) as pool:
        with pytest.raises(UnknownHandlerError) as caught:
            pool.run(1, name="gamma")
        assert isinstance(caught.value, KeyError)
        message = str(caught.value)
        assert "'gamma'" in message
        assert "'alpha'" in message
        assert "'beta'" in message
        assert pool.stats().queued == 0  # nothing was queued


def test_run_without_a_default_task_says_how_to_fix() -> None:
    with Pool(max_workers=1) as pool, pytest.raises(UnknownHandlerError, match=r"Pool\(task=fn\)"):
        pool.run(1)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"task": 3}, TypeError),
        ({"handlers": {"x": 3}}, TypeError),
        ({"handlers": {"": double}}, TypeError),
        ({"handlers": {1: double}}, TypeError),
    ],
)
def test_bad_task_or_handlers_are_refused_at_construction(
    kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        Pool(max_workers=1, **kwargs)


def test_handler_decorator_refuses_non_callables() -> None:
    with Pool(max_workers=1) as pool, pytest.raises(TypeError):
        pool.handler("x")(3)  # type: ignore[arg-type]


@pytest.mark.parametrize("timeout", [-1, -0.001, float("nan")])
def test_negative_timeout_is_a_value_error(timeout: float) -> None:
    with Pool(task=double, max_workers=1) as pool, pytest.raises(ValueError, match="timeout"):
        pool.run(1, timeout=timeout)


def test_bad_cancel_argument_is_a_type_error() -> None:
    with Pool(task=double, max_workers=1) as pool, pytest.raises(TypeError, match="CancelToken"):
        pool.run(1, cancel=object())  # type: ignore[arg-type]


def test_thread_context_inside_pool_tasks() -> None:
    def context(_: object) -> tuple[bool, int, str]:
        return ftpool.is_main_thread(), ftpool.thread_id(), threading.current_thread().name

    with Pool(task=context, max_workers=3, min_workers=3) as pool:
        barrier = threading.Barrier(3, timeout=5)
        # three tasks that can only finish together: one per worker
        futures = [pool.submit(lambda: (barrier.wait(), context(None))[1]) for _ in range(3)]
        results = [f.result(timeout=5) for f in futures]
    assert ftpool.is_main_thread()
    assert ftpool.thread_id() == 0
    assert all(main is False for main, _, _ in results)
    ids = [tid for _, tid, _ in results]
    assert len(set(ids)) == 3
    assert all(tid > 0 for tid in ids)


def test_thread_ids_are_unique_across_pools() -> None:
    with Pool(max_workers=1) as a, Pool(max_workers=1) as b:
        first = a.submit(ftpool.thread_id).result(timeout=5)
        second = b.submit(ftpool.thread_id).result(timeout=5)
    assert first != second


def test_check_cancelled_outside_a_cancelled_task_returns() -> None:
    with Pool(task=lambda _: ftpool.check_cancelled(), max_workers=1) as pool:
        assert pool.run().result(timeout=5) is None


def test_run_after_close_raises() -> None:
    pool = Pool(task=double, max_workers=1)
    pool.close()
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.run(1)
