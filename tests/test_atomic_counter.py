"""AtomicCounter: its operations, wrap-around, bad input, and exact totals under contention."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from thread_helpers import run_threads

from ftpool import AtomicCounter, Atomics

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def test_operations_and_their_results() -> None:
    counter = AtomicCounter()
    assert counter.load() == 0
    assert counter.add() == 0  # the old value, as Atomics.add
    assert counter.add(5) == 1
    assert counter.sub() == 6
    assert counter.sub(10) == 5
    assert counter.add(-5) == -5
    assert counter.load() == -10
    assert counter.add_and_get() == -9  # the new value
    assert counter.add_and_get(4) == -5
    assert counter.sub_and_get() == -6
    assert counter.sub_and_get(4) == -10
    assert counter.store(7) == 7  # the value, as Atomics.store
    assert counter.load() == 7
    assert counter.exchange(8) == 7
    assert counter.compare_exchange(8, 9) == 8  # equal: exchanged
    assert counter.compare_exchange(8, 10) == 9  # not equal: unchanged
    assert counter.compare_exchange(expected=9, replacement=11) == 9  # Atomics' parameter names
    assert counter.load() == 11
    counter.store(9)
    assert int(counter) == 9
    assert repr(counter) == "AtomicCounter(9)"


def test_initial_value_and_its_shared_array() -> None:
    counter = AtomicCounter(-42)
    assert counter.load() == -42
    assert counter.array.typecode == "q"
    assert len(counter.array) == 1
    assert Atomics.add(counter.array, 0, 2) == -42
    assert counter.load() == -40


def test_add_and_sub_wrap_around_at_the_int64_limits() -> None:
    counter = AtomicCounter(INT64_MAX)
    assert counter.add_and_get() == INT64_MIN
    assert counter.sub_and_get() == INT64_MAX
    assert counter.add_and_get(2) == INT64_MIN + 1
    assert counter.sub_and_get(3) == INT64_MAX - 1
    counter.store(INT64_MIN)
    assert counter.sub_and_get(INT64_MAX) == 1
    assert counter.add_and_get(INT64_MAX) == INT64_MIN
    assert counter.load() == INT64_MIN
    # add/sub return the old value and wrap the same way
    assert counter.sub() == INT64_MIN
    assert counter.load() == INT64_MAX
    assert counter.add(1) == INT64_MAX
    assert counter.load() == INT64_MIN


@pytest.mark.parametrize("bad", [INT64_MAX + 1, INT64_MIN - 1, 2**100])
def test_out_of_range_raises_overflow_error_and_writes_nothing(bad: int) -> None:
    counter = AtomicCounter(3)
    calls: list[Callable[[], object]] = [
        lambda: counter.add(bad), lambda: counter.sub(bad), lambda: counter.store(bad),
        lambda: counter.add_and_get(bad), lambda: counter.sub_and_get(bad),
        lambda: counter.exchange(bad), lambda: counter.compare_exchange(3, bad),
        lambda: counter.compare_exchange(bad, 4), lambda: counter.wait(bad, 0),
    ]
    for call in calls:
        with pytest.raises(OverflowError, match="int64"):
            call()
    assert counter.load() == 3
    with pytest.raises(OverflowError):
        AtomicCounter(bad)


@pytest.mark.parametrize("bad", [1.0, "1", None, [1]])
def test_non_int_raises_type_error_and_writes_nothing(bad: object) -> None:
    counter = AtomicCounter(3)
    calls: list[Callable[[], object]] = [
        lambda: counter.add(bad),  # type: ignore[arg-type]
        lambda: counter.sub(bad),  # type: ignore[arg-type]
        lambda: counter.add_and_get(bad),  # type: ignore[arg-type]
        lambda: counter.sub_and_get(bad),  # type: ignore[arg-type]
        lambda: counter.store(bad),  # type: ignore[arg-type]
        lambda: counter.exchange(bad),  # type: ignore[arg-type]
        lambda: counter.compare_exchange(3, bad),  # type: ignore[arg-type]
        lambda: counter.compare_exchange(bad, 4),  # type: ignore[arg-type]
    ]
    for call in calls:
        with pytest.raises(TypeError, match="must be an int"):
            call()
    assert counter.load() == 3
    with pytest.raises(TypeError):
        AtomicCounter(bad)  # type: ignore[arg-type]


def test_bool_counts_as_an_int() -> None:
    counter = AtomicCounter(True)
    assert counter.add(True) == 1
    assert counter.sub(False) == 2
    assert counter.add_and_get(True) == 3
    assert counter.sub_and_get(True) == 2


def test_wait_and_notify_on_the_counter() -> None:
    counter = AtomicCounter(1)
    assert counter.wait(0) == "not-equal"
    assert counter.wait(1, timeout=0.01) == "timed-out"
    assert counter.notify() == 0
    results: list[str] = []
    waiting = threading.Event()

    def waiter() -> None:
        waiting.set()
        results.append(counter.wait(1, timeout=10))

    thread = threading.Thread(target=waiter)
    thread.start()
    waiting.wait()
    # The waiter may not be asleep yet: store first; then it either sees 2 or gets the notify.
    counter.store(2)
    woken = counter.notify()
    thread.join()
    assert results in (["ok"], ["not-equal"])
    assert woken == (1 if results == ["ok"] else 0)


# --- contention: N threads x M operations give exactly N x M -------------------------------------

THREADS, OPS, ROUNDS = 4, 2000, 10


def test_concurrent_add_is_exact() -> None:
    for _ in range(ROUNDS):
        counter = AtomicCounter()

        def work(_: int, counter: AtomicCounter = counter) -> None:
            add = counter.add
            for _ in range(OPS):
                add()

        run_threads(THREADS, work)
        assert counter.load() == THREADS * OPS


def test_concurrent_add_and_sub_of_other_amounts_are_exact() -> None:
    for _ in range(ROUNDS // 2):
        counter = AtomicCounter(0)

        def work(i: int, counter: AtomicCounter = counter) -> None:
            for _ in range(OPS):
                counter.add(3)
                counter.sub(1 + i % 2)  # threads 0, 2 subtract 1; threads 1, 3 subtract 2

        run_threads(THREADS, work)
        assert counter.load() == THREADS * OPS * 3 - OPS * (1 + 2 + 1 + 2)


def test_concurrent_sub_is_exact() -> None:
    for _ in range(ROUNDS):
        counter = AtomicCounter(THREADS * OPS)

        def work(_: int, counter: AtomicCounter = counter) -> None:
            sub = counter.sub
            for _ in range(OPS):
                sub()

        run_threads(THREADS, work)
        assert counter.load() == 0


def test_add_results_are_unique_and_contiguous() -> None:
    counter = AtomicCounter()
    results: list[list[int]] = [[] for _ in range(THREADS)]

    def work(i: int) -> None:
        mine = results[i]
        for _ in range(OPS):
            mine.append(counter.add())

    run_threads(THREADS, work)
    # add() returns the old value: every thread saw a distinct one, none skipped
    assert sorted(v for values in results for v in values) == list(range(THREADS * OPS))


def test_add_and_get_results_are_unique_and_contiguous() -> None:
    counter = AtomicCounter()
    results: list[list[int]] = [[] for _ in range(THREADS)]

    def work(i: int) -> None:
        mine = results[i]
        for _ in range(OPS):
            mine.append(counter.add_and_get())

    run_threads(THREADS, work)
    assert sorted(v for values in results for v in values) == list(range(1, THREADS * OPS + 1))


def test_atomic_counter_and_atomics_agree_on_results() -> None:
    """One meaning per method name: the same call returns the same thing on either class."""
    counter = AtomicCounter(5)
    array = counter.array
    assert counter.add(2) == 5
    assert Atomics.add(array, 0, 2) == 7
    assert counter.sub(1) == 9
    assert Atomics.sub(array, 0, 1) == 8
    assert counter.store(3) == 3
    assert Atomics.store(array, 0, 4) == 4
    assert counter.exchange(6) == 4
    assert Atomics.exchange(array, 0, 7) == 6
    assert counter.compare_exchange(7, 8) == 7
    assert Atomics.compare_exchange(array, 0, expected=8, replacement=9) == 8
    assert counter.load() == Atomics.load(array, 0) == 9


def test_concurrent_compare_exchange_loops_are_exact() -> None:
    for _ in range(ROUNDS):
        counter = AtomicCounter()

        def work(_: int, counter: AtomicCounter = counter) -> None:
            for _ in range(OPS // 2):
                old = counter.load()
                while (seen := counter.compare_exchange(old, old + 1)) != old:
                    old = seen

        run_threads(THREADS, work)
        assert counter.load() == THREADS * (OPS // 2)


def test_counters_are_independent() -> None:
    counters = [AtomicCounter() for _ in range(THREADS)]

    def work(i: int) -> None:
        for _ in range(OPS):
            counters[i].add()
            counters[(i + 1) % THREADS].add(2)

    run_threads(THREADS, work)
    assert [c.load() for c in counters] == [3 * OPS] * THREADS


def test_wait_result_and_typecode_are_exported_for_annotations() -> None:
    import typing

    import ftpool

    assert set(typing.get_args(ftpool.WaitResult)) == {"ok", "not-equal", "timed-out"}
    assert set(typing.get_args(ftpool.Typecode)) == set("bBhHiIqQ")
    assert {"WaitResult", "Typecode"} <= set(ftpool.__all__)
    result: ftpool.WaitResult = AtomicCounter(1).wait(0)
    assert result == "not-equal"
    typecode: ftpool.Typecode = ftpool.SharedArray("q", 1).typecode
    assert typecode == "q"


def test_another_thread_sees_the_value_not_the_initial_one() -> None:
    """Each thread gets its own operation functions at its first use; the value is shared."""
    counter = AtomicCounter(5)
    counter.add(10)
    seen: list[int] = []

    def other() -> None:
        seen.append(counter.load())
        seen.append(counter.add(1))

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert seen == [15, 15]
    assert counter.load() == 16


def test_operations_through_the_class_and_hoisted_across_threads() -> None:
    counter = AtomicCounter()
    assert AtomicCounter.add(counter, 2) == 0
    assert AtomicCounter.load(counter) == 2
    add = counter.add  # the main thread's function, used by another thread: still exact
    thread = threading.Thread(target=lambda: [add() for _ in range(1000)])
    thread.start()
    for _ in range(1000):
        counter.add()
    thread.join()
    assert counter.load() == 2002
    assert counter.add.__doc__ == AtomicCounter.add.__doc__


def test_a_counter_made_by_a_thread_that_exited_keeps_working() -> None:
    made: list[AtomicCounter] = []
    thread = threading.Thread(target=lambda: made.append(AtomicCounter(7)))
    thread.start()
    thread.join()
    counter = made[0]
    assert counter.add_and_get(1) == 8
    assert counter.wait(0) == "not-equal"
