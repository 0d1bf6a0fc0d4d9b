"""Pool.map and imap_unordered: results, automatic and explicit chunking, errors, timeouts, early
close, and bad input."""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import threading
import time

import pytest

import ftpool
from ftpool import Pool
from ftpool._pool.map import auto_chunksize


@pytest.mark.parametrize("chunksize", [None, 1, 3, 1000])
@pytest.mark.parametrize("balancer", ["least-busy", "round-robin"])
def test_map_results_in_order(chunksize: int | None, balancer: str) -> None:
    with Pool(max_workers=2, balancer=balancer) as pool:
        assert list(pool.map(abs, range(-500, 500), chunksize=chunksize)) == [
            abs(i) for i in range(-500, 500)
        ]


def test_map_several_iterables_stops_at_the_shortest() -> None:
    with Pool(max_workers=2) as pool:
        assert list(pool.map(pow, [2, 3, 4, 5], [2, 2, 2])) == [4, 9, 16]


def test_map_of_nothing() -> None:
    with Pool(max_workers=2) as pool:
        assert list(pool.map(abs, [])) == []
        assert list(pool.imap_unordered(abs, [])) == []


def test_map_reads_generators_at_the_call() -> None:
    consumed: list[int] = []

    def source() -> itertools.count[int]:
        for i in range(10):
            consumed.append(i)
            yield i

    with Pool(max_workers=2) as pool:
        results = pool.map(abs, source())
        assert consumed == list(range(10))  # as Executor.map: submitted before iterating
        assert list(results) == list(range(10))


def test_auto_chunksize_is_about_four_chunks_per_worker() -> None:
    assert auto_chunksize(100_000, 2) == 12_500
    assert auto_chunksize(7, 2) == 1
    assert auto_chunksize(0, 4) == 1


def test_map_chunks_tiny_tasks() -> None:
    with Pool(max_workers=2) as pool:
        assert sum(pool.map(abs, range(100_000))) == sum(range(100_000))
        stats = pool.stats()
    assert stats.completed == 100_000  # counted per item
    assert stats.run_time.count <= 8  # one sample per chunk: ~4 chunks per worker


def test_an_item_exception_is_raised_at_its_place() -> None:
    def inverse(x: int) -> float:
        return 1 / x

    with Pool(max_workers=2) as pool:
        results = pool.map(inverse, [4, 2, 1, 0, 5], chunksize=10)
        assert next(results) == 0.25
        assert next(results) == 0.5
        assert next(results) == 1.0
        with pytest.raises(ZeroDivisionError):
            next(results)
    stats = pool.stats()
    assert stats.completed == 3
    assert stats.failed == 1
    assert stats.cancelled == 1  # the item after it, in the same chunk, never ran


def test_imap_unordered_yields_everything() -> None:
    with Pool(max_workers=2) as pool:
        assert sorted(pool.imap_unordered(abs, range(-300, 300), chunksize=7)) == sorted(
            abs(i) for i in range(-300, 300)
        )


def test_imap_unordered_yields_fast_chunks_first() -> None:
    gate = threading.Event()

    def item(x: int) -> int:
        if x == 0:
            gate.wait(5)
        return x

    with Pool(max_workers=2) as pool:
        results = pool.imap_unordered(item, range(4), chunksize=1)
        firsts = [next(results) for _ in range(3)]
        assert 0 not in firsts
        gate.set()
        assert next(results) == 0


def test_imap_unordered_item_exception() -> None:
    with Pool(max_workers=2) as pool, pytest.raises(ZeroDivisionError):
        list(pool.imap_unordered(lambda x: 1 / x, [1, 2, 0, 3]))


def test_map_timeout_cancels_the_rest() -> None:
    gate = threading.Event()
    ran: list[int] = []

    def item(x: int) -> int:
        ran.append(x)
        gate.wait(5)
        return x

    with Pool(max_workers=1) as pool:
        results = pool.map(item, range(5), timeout=0.05, chunksize=1)
        with pytest.raises(TimeoutError):
            next(results)
        gate.set()
    assert ran == [0]  # the other chunks were cancelled before they started


def test_imap_unordered_timeout() -> None:
    gate = threading.Event()
    with Pool(max_workers=1) as pool:
        results = pool.imap_unordered(gate.wait, [5], timeout=0.05)
        with pytest.raises(TimeoutError):
            next(results)
        gate.set()


def test_closing_the_iterator_stops_running_chunks() -> None:
    started = threading.Event()

    def item(x: int) -> int:
        started.set()
        time.sleep(0.0005)
        ftpool.check_cancelled()
        return x

    with Pool(max_workers=2) as pool:
        results = pool.map(item, range(100_000), chunksize=50_000)
        assert started.wait(5)
        begin = time.monotonic()
        results.close()  # type: ignore[attr-defined]
    assert time.monotonic() - begin < 5  # 50_000 * 0.5 ms would be 25 s
    assert pool.stats().cancelled >= 2


def test_map_inside_tasks_sees_the_chunk_token() -> None:
    # check_cancelled() inside a mapped function reads the chunk's token
    with Pool(max_workers=2) as pool:
        assert list(pool.map(lambda x: (ftpool.check_cancelled(), x)[1], range(10))) == list(
            range(10)
        )


@pytest.mark.parametrize("method", ["map", "imap_unordered"])
def test_bad_arguments(method: str) -> None:
    with Pool(max_workers=1) as pool:
        call = getattr(pool, method)
        with pytest.raises(TypeError):
            call(42, [1])
        with pytest.raises(ValueError, match="chunksize"):
            call(abs, [1], chunksize=0)
        with pytest.raises(TypeError):
            call(abs, [1], chunksize=1.5)
        with pytest.raises(ValueError, match="timeout"):
            call(abs, [1], timeout=-1)


def test_map_result_is_a_plain_iterator_of_values() -> None:
    with Pool(max_workers=2) as pool:
        results = pool.map(str, range(3))
        assert iter(results) is results
        assert list(results) == ["0", "1", "2"]
        assert all(isinstance(f, cf.Future) for f in [pool.submit(str, 1)])
