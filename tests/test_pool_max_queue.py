"""max_queue: submit/run raise QueueFull when N tasks wait; map and imap_unordered keep at most
N chunks in flight instead (backpressure)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator

import pytest

from ftpool import Pool, QueueFull


def block_workers(pool: Pool, n: int, gate: threading.Event) -> None:
    """Occupy n workers until ``gate`` is set; return once all n are running."""
    started = threading.Barrier(n + 1, timeout=5)
    for _ in range(n):
        pool.submit(lambda: (started.wait(), gate.wait(5)))
    started.wait()


def test_submit_and_run_raise_queue_full() -> None:
    gate = threading.Event()
    with Pool(task=lambda x: x, max_workers=1, max_queue=3) as pool:
        block_workers(pool, 1, gate)
        queued = [pool.submit(abs, -1), pool.run(2), pool.submit(abs, -3)]
        assert pool.stats().queued == 3
        with pytest.raises(QueueFull, match="max_queue=3"):
            pool.submit(abs, 1)
        with pytest.raises(QueueFull):
            pool.run(1)
        # a cancel frees a slot
        assert queued[0].cancel()
        extra = pool.submit(abs, -5)
        with pytest.raises(QueueFull):
            pool.submit(abs, 1)
        gate.set()
        assert extra.result(timeout=5) == 5
        assert queued[1].result(timeout=5) == 2
        assert queued[2].result(timeout=5) == 3


def test_auto_max_queue_is_max_workers_squared() -> None:
    gate = threading.Event()
    with Pool(max_workers=2, max_queue="auto") as pool:
        block_workers(pool, 2, gate)
        for _ in range(4):
            pool.submit(abs, 1)
        with pytest.raises(QueueFull):
            pool.submit(abs, 1)
        gate.set()


@pytest.mark.parametrize("bad", [0, -1])
def test_bad_max_queue_is_a_value_error(bad: int) -> None:
    with pytest.raises(ValueError, match="max_queue"):
        Pool(max_workers=1, max_queue=bad)


def test_map_keeps_at_most_n_chunks_in_flight() -> None:
    produced = 0
    consumed = 0
    peak = 0
    lock = threading.Lock()

    def source() -> Iterator[int]:
        nonlocal produced, peak
        for i in itertools.count():
            with lock:
                produced += 1
                peak = max(peak, produced - consumed)
            yield i

    with Pool(max_workers=2, max_queue=4) as pool:
        results = pool.map(abs, source(), chunksize=10)  # an endless input: read lazily
        for value in itertools.islice(results, 1000):
            with lock:
                consumed += 1
            assert value == consumed - 1
        results.close()  # type: ignore[attr-defined]
    assert peak <= 4 * 10 + 10  # at most 4 chunks in flight (+ the one being read)


def test_imap_unordered_backpressure_on_endless_input() -> None:
    with Pool(max_workers=2, max_queue=2) as pool:
        results = pool.imap_unordered(abs, itertools.count(), chunksize=5)
        taken = list(itertools.islice(results, 100))
        results.close()  # type: ignore[attr-defined]
    assert len(taken) == 100
    assert len(set(taken)) == 100


def test_map_with_max_queue_adapts_chunks_for_unknown_length() -> None:
    with Pool(max_workers=2, max_queue=4) as pool:
        assert list(pool.map(abs, (-i for i in range(20_000)))) == list(range(20_000))
