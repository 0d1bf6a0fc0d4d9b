"""Pool.map and imap_unordered hold only the results in flight: a yielded result is released,
``buffersize=`` reads the input lazily with at most that many items read ahead (endless inputs
work), ``map`` without it reads eagerly as the standard library does, and ``imap_unordered`` is
always lazy with a bounded window."""

from __future__ import annotations

import gc
import itertools
import threading
import time
import weakref
from collections.abc import Iterator

import pytest

from ftpool import Pool


class Dummy:
    """A result that can be weakly referenced."""


def make_dummy(_: object) -> Dummy:
    return Dummy()


def _released(ref: weakref.ref[Dummy], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        gc.collect()
        if ref() is None:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)  # only reached on failure: the worker may still be ending its task


@pytest.mark.parametrize("chunksize", [None, 1, 4, 100])
@pytest.mark.parametrize("buffersize", [None, 3])
def test_map_releases_each_result_once_yielded(
    chunksize: int | None, buffersize: int | None
) -> None:
    # CPython's test_free_reference: the result iterator keeps no reference to what it yielded
    with Pool(2) as pool:
        for obj in pool.map(make_dummy, range(10), chunksize=chunksize, buffersize=buffersize):
            ref = weakref.ref(obj)
            del obj
            assert _released(ref)


def test_imap_unordered_releases_each_result_once_yielded() -> None:
    with Pool(2) as pool:
        for obj in pool.imap_unordered(make_dummy, range(50), chunksize=5):
            ref = weakref.ref(obj)
            del obj
            assert _released(ref)


def test_map_without_buffersize_reads_eagerly() -> None:
    read: list[int] = []

    def source() -> Iterator[int]:
        for i in range(100):
            read.append(i)
            yield i

    with Pool(2) as pool:
        results = pool.map(abs, source())
        assert len(read) == 100  # as Executor.map: submitted before iterating
        assert list(results) == list(range(100))


@pytest.mark.parametrize("buffersize", [1, 2, 7, 64])
@pytest.mark.parametrize("chunksize", [None, 1, 5])
def test_buffersize_bounds_what_is_read_ahead(buffersize: int, chunksize: int | None) -> None:
    read = 0
    lock = threading.Lock()

    def source() -> Iterator[int]:
        nonlocal read
        for i in itertools.count():
            with lock:
                read += 1
            yield i

    with Pool(2) as pool:
        results = pool.map(abs, source(), chunksize=chunksize, buffersize=buffersize)
        with lock:
            assert 1 <= read <= buffersize  # the first window is read at the call
        for consumed, value in enumerate(itertools.islice(results, 300), 1):
            assert value == consumed - 1
            with lock:
                assert read - consumed <= buffersize  # never more read ahead than buffersize
        results.close()  # type: ignore[attr-defined]


def test_map_over_an_endless_input_yields() -> None:
    with Pool(2) as pool:
        results = pool.map(lambda x: x * x, itertools.count(), buffersize=8)
        assert next(results) == 0
        assert list(itertools.islice(results, 5)) == [1, 4, 9, 16, 25]
        results.close()  # type: ignore[attr-defined]


def test_map_with_several_endless_inputs_and_buffersize() -> None:
    with Pool(2) as pool:
        results = pool.map(pow, itertools.count(), itertools.repeat(2), buffersize=4)
        assert list(itertools.islice(results, 4)) == [0, 1, 4, 9]
        results.close()  # type: ignore[attr-defined]


def test_dropping_a_lazy_map_cancels_what_is_in_flight() -> None:
    gate = threading.Event()

    def slow(x: int) -> int:
        if x:
            gate.wait(5)
        return x

    with Pool(1) as pool:
        results = pool.map(slow, range(1000), chunksize=1, buffersize=10)
        assert next(results) == 0
        del results  # dropped half-read: the chunks in flight are cancelled
        gc.collect()
        gate.set()
    stats = pool.stats()
    assert stats.completed <= 2
    assert stats.cancelled >= 8


def test_a_map_dropped_unread_still_runs_its_work() -> None:
    # as the standard library: pool.map(fn, items) without reading runs fn on every item
    done: list[int] = []
    with Pool(2) as pool:
        pool.map(done.append, range(100))
        gc.collect()
    assert sorted(done) == list(range(100))


def test_imap_unordered_is_lazy_by_default() -> None:
    read = 0

    def source() -> Iterator[int]:
        nonlocal read
        for i in itertools.count():
            read += 1
            yield i

    with Pool(2) as pool:
        results = pool.imap_unordered(abs, source())
        taken = set(itertools.islice(results, 100))
        results.close()  # type: ignore[attr-defined]
    assert len(taken) == 100
    assert read < 100_000  # a bounded window (4096 items per worker), not the whole input


def test_imap_unordered_buffersize() -> None:
    read = 0
    lock = threading.Lock()

    def source() -> Iterator[int]:
        nonlocal read
        for i in range(1000):
            with lock:
                read += 1
            yield i

    with Pool(2) as pool:
        results = pool.imap_unordered(abs, source(), buffersize=5)
        seen = set()
        for consumed, value in enumerate(results, 1):
            seen.add(value)
            with lock:
                assert read - consumed <= 5
    assert seen == set(range(1000))


def test_lazy_map_error_is_raised_in_place_and_cancels_the_rest() -> None:
    def inverse(x: int) -> float:
        return 1 / (x - 5)

    with Pool(2) as pool:
        results = pool.map(inverse, itertools.count(), buffersize=4)
        assert [next(results) for _ in range(5)] == [1 / (x - 5) for x in range(5)]
        with pytest.raises(ZeroDivisionError):
            next(results)
        with pytest.raises(StopIteration):
            next(results)


def test_lazy_map_timeout() -> None:
    gate = threading.Event()
    with Pool(1) as pool:
        results = pool.map(gate.wait, itertools.repeat(5), buffersize=2, timeout=0.05)
        with pytest.raises(TimeoutError):
            next(results)
        gate.set()


def test_input_error_in_a_lazy_map_reaches_the_caller() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise LookupError("broken input")

    with Pool(2) as pool:
        results = pool.map(abs, source(), buffersize=1)
        assert next(results) == 1
        with pytest.raises(LookupError, match="broken input"):
            list(results)


@pytest.mark.parametrize(
    ("bad", "error", "match"),
    [(0, ValueError, "buffersize must be None or > 0"),
     (-3, ValueError, "buffersize must be None or > 0"),
     (1.5, TypeError, "buffersize must be an int"),
     ("2", TypeError, "buffersize must be an int"),
     (True, TypeError, "buffersize must be an int")],
)
@pytest.mark.parametrize("method", ["map", "imap_unordered"])
def test_bad_buffersize(method: str, bad: object, error: type[Exception], match: str) -> None:
    with Pool(1) as pool:
        with pytest.raises(error, match=match):
            getattr(pool, method)(abs, [1], buffersize=bad)
        assert pool.stats().completed == 0  # nothing was submitted


def test_many_maps_on_threads_with_buffersize() -> None:
    # several consumers at once: each sees its own results in order, nothing lost
    errors: list[BaseException] = []

    with Pool(2) as pool:

        def consume(offset: int) -> None:
            try:
                got = list(pool.map(lambda x: x + offset, range(2000), buffersize=16))
                assert got == [x + offset for x in range(2000)]
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=consume, args=(k,)) for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors
