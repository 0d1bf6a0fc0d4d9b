"""Pool's constructor is ThreadPoolExecutor's: the same positional parameters in the same order,
everything ftpool adds keyword-only, and named threads by default."""

from __future__ import annotations

import concurrent.futures as cf
import inspect
import math
import threading

import pytest

from ftpool import Pool


def test_positional_parameters_are_thread_pool_executors() -> None:
    ours = inspect.signature(Pool).parameters
    theirs = inspect.signature(cf.ThreadPoolExecutor).parameters
    positional = [n for n, p in ours.items() if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert positional == list(theirs)  # max_workers, thread_name_prefix, initializer, initargs
    keyword_only = [n for n, p in ours.items() if p.kind is p.KEYWORD_ONLY]
    assert keyword_only == [
        "task", "handlers", "min_workers", "idle_timeout", "max_queue", "balancer",
    ]
    assert ours["thread_name_prefix"].default == "ftpool"  # named threads by default


def test_pool_8_is_thread_pool_executor_8() -> None:
    with Pool(8) as pool:
        assert pool.max_workers == 8
        assert pool.submit(pow, 2, 10).result() == 1024


def test_every_positional_parameter_as_thread_pool_executor() -> None:
    seen: list[tuple[str, int]] = []
    lock = threading.Lock()

    def init(tag: str, n: int) -> None:
        with lock:
            seen.append((tag, n))

    with Pool(2, "mine", init, ("hello", 7)) as pool:
        name = pool.submit(lambda: threading.current_thread().name).result()
    assert name.startswith("mine_")
    assert seen
    assert all(s == ("hello", 7) for s in seen)


def test_threads_are_named_by_default() -> None:
    with Pool(1) as pool:
        name = pool.submit(lambda: threading.current_thread().name).result()
    assert name.startswith("ftpool_")


def test_empty_prefix_still_names_threads() -> None:
    with Pool(1, "") as pool:
        name = pool.submit(lambda: threading.current_thread().name).result()
    assert name.startswith("ftpool-")


def test_a_callable_first_argument_says_to_use_task() -> None:
    with pytest.raises(TypeError, match=r"Pool\(task=fn\)"):
        Pool(abs)  # type: ignore[arg-type]


def test_ftpool_parameters_are_keyword_only() -> None:
    with pytest.raises(TypeError, match="positional argument"):
        Pool(1, "p", None, (), abs)  # type: ignore[misc]


def test_task_is_keyword_and_run_uses_it() -> None:
    with Pool(2, task=lambda x: x * 3) as pool:
        assert pool.run(5).result() == 15


@pytest.mark.parametrize("method", ["close", "terminate"])
def test_close_and_terminate_accept_inf(method: str) -> None:
    pool = Pool(1)
    assert pool.submit(int, "3").result() == 3
    getattr(pool, method)(timeout=math.inf)  # forever: never OverflowError
    getattr(pool, method)(timeout=math.inf)  # idempotent


@pytest.mark.parametrize("method", ["close", "terminate"])
@pytest.mark.parametrize(
    ("bad", "error"),
    [(-1, ValueError), (math.nan, ValueError), ("1", TypeError), (True, TypeError)],
)
def test_close_and_terminate_reject_bad_timeouts_and_change_nothing(
    method: str, bad: object, error: type[Exception]
) -> None:
    with Pool(1) as pool:
        with pytest.raises(error, match=f"Pool.{method}"):
            getattr(pool, method)(timeout=bad)
        assert pool.submit(int, "4").result() == 4  # the rejected call did not close the pool


@pytest.mark.parametrize(
    ("bad", "error"),
    [(-1, ValueError), (math.nan, ValueError), ("1", TypeError), (False, TypeError)],
)
@pytest.mark.parametrize("method", ["map", "imap_unordered"])
def test_map_timeouts_use_the_one_validator(method: str, bad: object, error: type) -> None:
    with Pool(1) as pool:
        with pytest.raises(error, match=f"Pool.{method}: timeout"):
            getattr(pool, method)(abs, [1], timeout=bad)
        assert list(getattr(pool, method)(abs, [-1, -2], timeout=math.inf)) in ([1, 2], [2, 1])


def test_run_timeout_inf_is_no_timeout() -> None:
    with Pool(1, task=lambda x: x + 1) as pool:
        assert pool.run(1, timeout=math.inf).result() == 2
        assert pool.stats().timed_out == 0


def test_idle_timeout_inf_never_retires() -> None:
    with Pool(1, idle_timeout=math.inf) as pool:
        assert pool.submit(int, "1").result() == 1
