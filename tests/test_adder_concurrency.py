"""Adder under threads: exact totals, threads that exit (their additions stay counted, their cells
are reused), and sum_then_reset/reset racing with add (each add counted exactly once)."""

from __future__ import annotations

import threading

from thread_helpers import run_threads

from ftpool import Adder

THREADS, OPS, ROUNDS = 6, 3000, 8


def test_concurrent_adds_are_exact() -> None:
    for _ in range(ROUNDS):
        adder = Adder()

        def work(i: int, adder: Adder = adder) -> None:
            add = adder.add
            for k in range(OPS):
                add(1 if k % 3 else i - 2)  # ones, and some other amounts, some negative

        run_threads(THREADS, work)
        want = sum(OPS - len(range(0, OPS, 3)) + len(range(0, OPS, 3)) * (i - 2)
                   for i in range(THREADS))
        assert adder.sum() == want


def test_concurrent_adds_through_the_instance_are_exact() -> None:
    adder = Adder()

    def work(_: int) -> None:
        for _ in range(OPS):
            adder.add()

    run_threads(THREADS, work)
    assert adder.sum() == THREADS * OPS


def test_threads_that_exit_keep_counting_and_give_their_cells_back() -> None:
    adder = Adder()
    adder.add(1000)
    total = 1000
    for generation in range(10):
        threads = [threading.Thread(target=lambda n=n: [adder.add(n) for _ in range(50)])
                   for n in range(1, 5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        total += 50 * (1 + 2 + 3 + 4)
        assert adder.sum() == total, generation  # the dead threads' cells still count
    # 41 threads used it, at most 5 at once (main + 4): cells are reused, not one per thread.
    assert len(adder._core.cells) <= 8


def test_a_hoisted_add_handed_to_another_thread_still_counts() -> None:
    adder = Adder()
    add = adder.add  # the main thread's cell
    thread = threading.Thread(target=lambda: [add(2) for _ in range(100)])
    thread.start()
    for _ in range(100):
        add()
    thread.join()
    assert adder.sum() == 300


def _harvest_round() -> None:
    adder = Adder()
    done = threading.Event()
    harvested: list[int] = []

    def harvest() -> None:
        while not done.is_set():
            harvested.append(adder.sum_then_reset())
        harvested.append(adder.sum_then_reset())

    harvesters = [threading.Thread(target=harvest) for _ in range(2)]
    for thread in harvesters:
        thread.start()

    def work(i: int) -> None:
        add = adder.add
        for _ in range(OPS):
            add(i + 1)

    try:
        run_threads(THREADS - 2, work)
    finally:
        done.set()
        for thread in harvesters:
            thread.join()
    want = OPS * sum(range(1, THREADS - 1))
    assert sum(harvested) + adder.sum() == want
    assert all(value >= 0 for value in harvested)


def test_sum_then_reset_racing_with_add_counts_every_add_exactly_once() -> None:
    for _ in range(ROUNDS):
        _harvest_round()


def _reset_round() -> None:
    adder = Adder()
    done = threading.Event()
    seen: list[int] = []

    def resetter() -> None:
        while not done.is_set():
            adder.reset()
            seen.append(adder.sum())

    thread = threading.Thread(target=resetter)
    thread.start()

    def work(_: int) -> None:
        add = adder.add
        for _ in range(OPS):
            add(7)

    try:
        run_threads(THREADS - 1, work)
    finally:
        done.set()
        thread.join()
    # Every add is 7: a total that is not a multiple of 7 would be a split add.
    limit = 7 * OPS * (THREADS - 1)
    assert all(0 <= value <= limit and value % 7 == 0 for value in seen)
    final = adder.sum()
    assert final % 7 == 0
    assert 0 <= final <= limit
    adder.reset()
    assert adder.sum() == 0


def test_reset_racing_with_add_discards_or_keeps_each_add_wholly() -> None:
    for _ in range(ROUNDS):
        _reset_round()


def test_sum_while_adding_is_monotonic_for_positive_adds() -> None:
    """Not a snapshot, but each reading lies between the adds done before it and those done
    after: with only positive adds and no reset, successive sums never go down."""
    adder = Adder()
    done = threading.Event()
    readings: list[int] = []

    def reader() -> None:
        while not done.is_set():
            readings.append(adder.sum())

    thread = threading.Thread(target=reader)
    thread.start()

    def work(_: int) -> None:
        add = adder.add
        for _ in range(OPS):
            add()

    try:
        run_threads(THREADS - 1, work)
    finally:
        done.set()
        thread.join()
    assert readings == sorted(readings)
    assert all(0 <= r <= (THREADS - 1) * OPS for r in readings)
    assert adder.sum() == (THREADS - 1) * OPS
