"""min_workers and idle_timeout: min_workers start at once and stay; workers beyond them start on
demand and retire after idle_timeout idle seconds; they start again when work comes."""

from __future__ import annotations

import threading

import pytest

from ftpool import Pool


def occupy(pool: Pool, n: int) -> int:
    """Make n workers exist at once (n tasks that meet at a barrier with this thread) and return
    how many workers the pool had while they were all busy."""
    barrier = threading.Barrier(n + 1, timeout=5)
    gate = threading.Event()
    futures = [pool.submit(lambda: (barrier.wait(), gate.wait(5))) for _ in range(n)]
    barrier.wait()
    workers = pool.stats().workers
    gate.set()
    for future in futures:
        future.result(timeout=5)
    return workers


def test_min_workers_start_at_once() -> None:
    with Pool(max_workers=4, min_workers=3, thread_name_prefix="eager") as pool:
        assert pool.stats().workers == 3
        names = {t.name for t in threading.enumerate() if t.name.startswith("eager_")}
        assert names == {"eager_0", "eager_1", "eager_2"}


def test_workers_beyond_min_retire_after_idle_timeout() -> None:
    exited = threading.Semaphore(0)
    with Pool(max_workers=3, min_workers=1, idle_timeout=0.05) as pool:
        pool.on("worker_exit", lambda _: exited.release())
        assert occupy(pool, 3) == 3
        assert exited.acquire(timeout=5)
        assert exited.acquire(timeout=5)
        assert not exited.acquire(timeout=0.2)  # the min_workers one stays
        assert pool.stats().workers == 1
        # and they come back on demand
        assert occupy(pool, 3) == 3


def test_without_idle_timeout_workers_stay() -> None:
    with Pool(max_workers=2) as pool:
        assert occupy(pool, 2) == 2
        exited = threading.Event()
        pool.on("worker_exit", lambda _: exited.set())
        assert not exited.wait(0.2)
        assert pool.stats().workers == 2


def test_idle_timeout_zero_retires_at_once_and_work_still_runs() -> None:
    with Pool(max_workers=2, idle_timeout=0) as pool:
        for round_ in range(20):
            futures = [pool.submit(abs, -i) for i in range(50)]
            assert [f.result(timeout=5) for f in futures] == list(range(50)), round_
    assert pool.stats().completed == 1000


def test_retiring_workers_never_strand_a_task() -> None:
    # tasks trickle in while workers keep retiring: each must still run
    with Pool(max_workers=2, idle_timeout=0.001) as pool:
        for i in range(200):
            assert pool.submit(abs, -i).result(timeout=5) == i


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"idle_timeout": -1}, "idle_timeout"),
        ({"idle_timeout": -0.5}, "idle_timeout"),
        (
            {"min_workers": 3, "max_workers": 2},
            r"min_workers \(3\) must not exceed max_workers \(2\)",
        ),
        ({"min_workers": -1}, "min_workers"),
    ],
)
def test_bad_bounds_are_value_errors(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Pool(**kwargs)  # type: ignore[arg-type]


def test_bad_types_are_type_errors() -> None:
    with pytest.raises(TypeError):
        Pool(max_workers="2")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Pool(idle_timeout="1")  # type: ignore[arg-type]
