"""Atomics.wait / Atomics.notify: results, ordering, timeouts, the check-then-sleep race, bad input
and waking up on terminate/cancel."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from ftpool import Atomics, Cancelled, CancelToken, SharedArray, SharedBuffer, Terminated
from ftpool import _atomics as atomics_module
from ftpool._context import ThreadState, new_thread_id, set_state

LONG = 10.0  # a timeout no passing test reaches


def _queued(a: SharedArray, index: int) -> int:
    """How many threads wait on element `index` now (reads the wait queue under its lock)."""
    queue = a.buffer._waitq
    if queue is None:
        return 0
    with queue.lock:
        return len(queue.waiters.get(a.offset + index * a.itemsize, ()))


@pytest.fixture
def until_queued(monkeypatch: pytest.MonkeyPatch) -> Callable[[SharedArray, int, int], None]:
    """``until_queued(a, index, count)`` blocks until `count` threads are asleep on that element.

    Every new waiter releases a semaphore (it is made under the queue's lock, right before it
    enqueues itself and sleeps, atomically with releasing that lock). The helper re-counts the
    queue, which takes the queue's lock, after each release: no polling.
    """
    created = threading.Semaphore(0)
    real_waiter = atomics_module._Waiter

    def counting_waiter(lock: threading.Lock) -> atomics_module._Waiter:
        waiter = real_waiter(lock)
        created.release()
        return waiter

    monkeypatch.setattr(atomics_module, "_Waiter", counting_waiter)

    def until_queued(a: SharedArray, index: int, count: int) -> None:
        while _queued(a, index) < count:
            assert created.acquire(timeout=LONG), f"{count} waiters never queued"

    return until_queued


@contextmanager
def _waiters(count: int, wait: Callable[[int], str]) -> Iterator[list[str | BaseException]]:
    """Start `count` threads running wait(i) and join them on exit; yields their results."""
    results: list[str | BaseException] = []
    lock = threading.Lock()

    def body(i: int) -> None:
        try:
            result: str | BaseException = wait(i)
        except BaseException as exc:
            result = exc
        with lock:
            results.append(result)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    try:
        yield results
    finally:
        for thread in threads:
            thread.join(LONG)


def test_wait_returns_not_equal_at_once_when_the_value_differs() -> None:
    a = SharedArray("i", 2)
    Atomics.store(a, 1, 5)
    start = time.monotonic()
    assert Atomics.wait(a, 1, 4) == "not-equal"
    assert Atomics.wait(a, 1, 4, timeout=LONG) == "not-equal"
    assert time.monotonic() - start < 1.0


def test_wait_times_out() -> None:
    a = SharedArray("q", 1)
    start = time.monotonic()
    assert Atomics.wait(a, 0, 0, timeout=0.05) == "timed-out"
    assert time.monotonic() - start >= 0.05
    assert Atomics.wait(a, 0, 0, timeout=0) == "timed-out"
    assert _queued(a, 0) == 0  # the timed-out waiters left the queue


def test_notify_wakes_a_waiter_which_returns_ok(
    until_queued: Callable[[SharedArray, int, int], None]
) -> None:
    a = SharedArray("i", 1)
    with _waiters(1, lambda _: Atomics.wait(a, 0, 0)) as results:
        until_queued(a, 0, 1)
        assert Atomics.notify(a, 0) == 1
    assert results == ["ok"]
    assert _queued(a, 0) == 0


def test_notify_without_waiters_returns_zero() -> None:
    a = SharedArray("i", 3)
    assert Atomics.notify(a, 0) == 0
    assert Atomics.notify(a, 2, 5) == 0
    Atomics.wait(a, 1, 0, timeout=0.001)  # makes the queue; still nobody waits
    assert Atomics.notify(a, 1) == 0


def test_notify_count_wakes_that_many_oldest_first(
    until_queued: Callable[[SharedArray, int, int], None],
) -> None:
    a = SharedArray("i", 1)
    results: dict[int, str] = {}

    def wait(i: int) -> None:
        results[i] = Atomics.wait(a, 0, 0, timeout=LONG)

    # Start the waiters one after the other so that their order in the queue is known.
    threads = [threading.Thread(target=wait, args=(i,)) for i in range(3)]
    try:
        for i, thread in enumerate(threads):
            thread.start()
            until_queued(a, 0, i + 1)
        assert Atomics.notify(a, 0, 0) == 0
        assert Atomics.notify(a, 0, 1) == 1
        threads[0].join(LONG)
        assert results == {0: "ok"}  # the oldest one, and only it
        assert _queued(a, 0) == 2
        assert Atomics.notify(a, 0, 5) == 2
    finally:
        for thread in threads:
            thread.join(LONG)
    assert results == {0: "ok", 1: "ok", 2: "ok"}


def test_notify_all_wakes_everyone_on_that_element_only(
    until_queued: Callable[[SharedArray, int, int], None]
) -> None:
    buf = SharedBuffer(16)
    a = SharedArray("i", buf)
    with (
        _waiters(3, lambda _: Atomics.wait(a, 2, 0, timeout=LONG)) as on_two,
        _waiters(1, lambda _: Atomics.wait(a, 1, 0, timeout=LONG)) as on_one,
    ):
        until_queued(a, 2, 3)
        until_queued(a, 1, 1)
        assert Atomics.notify(a, 2) == 3
        assert _queued(a, 1) == 1  # a different element is untouched
        assert Atomics.notify(a, 1, None) == 1
    assert on_two == ["ok"] * 3
    assert on_one == ["ok"]


def test_waiters_are_keyed_by_byte_offset_across_views(
    until_queued: Callable[[SharedArray, int, int], None]
) -> None:
    buf = SharedBuffer(16)
    whole = SharedArray("i", buf)
    tail = SharedArray("i", buf, 8)  # element 0 of `tail` is element 2 of `whole`
    as_int64 = SharedArray("q", buf)  # element 1 starts at byte 8 too
    with _waiters(1, lambda _: Atomics.wait(tail, 0, 0, timeout=LONG)) as results:
        until_queued(whole, 2, 1)
        assert Atomics.notify(whole, 1) == 0
        assert Atomics.notify(as_int64, 1) == 1
    assert results == ["ok"]


def test_a_notify_between_the_check_and_the_sleep_is_not_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Force the race: the notifier stores and notifies right after the waiter checked the value.

    The waiter checks under the queue's lock and enqueues itself before sleeping; the notifier's
    notify takes the same lock, so it waits until the waiter sleeps and then wakes it. A wait queue
    that checked outside the lock would miss that notify and time out.
    """
    a = SharedArray("i", 1)
    stored = threading.Event()
    notified: list[int] = []
    notifier: list[threading.Thread] = []
    real_waiter = atomics_module._Waiter

    def notify() -> None:
        Atomics.store(a, 0, 1)
        stored.set()
        notified.append(Atomics.notify(a, 0))

    def hooked_waiter(lock: threading.Lock) -> atomics_module._Waiter:
        # Runs after the value check, under the queue lock, before the waiter sleeps.
        thread = threading.Thread(target=notify)
        notifier.append(thread)
        thread.start()
        assert stored.wait(LONG)  # the value changed after the check: the waiter must still wake
        return real_waiter(lock)

    monkeypatch.setattr(atomics_module, "_Waiter", hooked_waiter)
    try:
        start = time.monotonic()
        assert Atomics.wait(a, 0, 0, timeout=LONG) == "ok"
        assert time.monotonic() - start < LONG / 2
    finally:
        for thread in notifier:
            thread.join(LONG)
    assert notified == [1]


def test_store_then_notify_never_loses_a_wakeup_under_stress() -> None:
    """Many rounds of wait racing store+notify: each ends in "ok" or "not-equal", never timeout."""
    rounds = 200
    a = SharedArray("i", 1)  # round k: holds 2k until the producer stores 2k+1 and notifies
    go = SharedArray("i", 1)  # the round the producer opened (k+1)
    done = SharedArray("i", 1)  # the rounds the waiter finished

    def until(flag: SharedArray, value: int) -> None:
        while (seen := Atomics.load(flag, 0)) != value:
            Atomics.wait(flag, 0, seen, timeout=LONG)

    results: list[str] = []

    def waiter() -> None:
        for k in range(rounds):
            until(go, k + 1)
            results.append(Atomics.wait(a, 0, 2 * k, timeout=LONG))  # races with the store below
            Atomics.store(done, 0, k + 1)
            Atomics.notify(done, 0)

    thread = threading.Thread(target=waiter)
    thread.start()
    try:
        for k in range(rounds):
            Atomics.store(go, 0, k + 1)
            Atomics.notify(go, 0)
            Atomics.store(a, 0, 2 * k + 1)
            Atomics.notify(a, 0)
            until(done, k + 1)
            Atomics.store(a, 0, 2 * k + 2)
    finally:
        thread.join(LONG * 2)
    assert len(results) == rounds
    assert set(results) <= {"ok", "not-equal"}


def test_wait_accepts_int64_and_the_full_range() -> None:
    a = SharedArray("q", 1)
    Atomics.store(a, 0, -(2**63))
    assert Atomics.wait(a, 0, 2**63 - 1) == "not-equal"
    assert Atomics.wait(a, 0, -(2**63), timeout=0) == "timed-out"


@pytest.mark.parametrize("typecode", ["b", "B", "h", "H", "I", "Q"])
def test_wait_and_notify_only_on_int32_and_int64(typecode: str) -> None:
    a = SharedArray(typecode, 2)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="only, as in JavaScript"):
        Atomics.wait(a, 0, 0, timeout=0)
    with pytest.raises(TypeError, match="only, as in JavaScript"):
        Atomics.notify(a, 0)


@pytest.mark.parametrize("timeout", [-1, -0.001, float("nan")])
def test_wait_rejects_a_negative_timeout(timeout: float) -> None:
    with pytest.raises(ValueError, match="timeout must be a number of seconds >= 0"):
        Atomics.wait(SharedArray("i", 1), 0, 0, timeout=timeout)


@pytest.mark.parametrize("timeout", ["1", [1], True])
def test_wait_rejects_a_non_number_timeout(timeout: object) -> None:
    with pytest.raises(TypeError, match="timeout must be a number"):
        Atomics.wait(SharedArray("i", 1), 0, 0, timeout=timeout)  # type: ignore[arg-type]


def test_infinite_timeout_means_forever(
    until_queued: Callable[[SharedArray, int, int], None]
) -> None:
    a = SharedArray("i", 1)
    with _waiters(1, lambda _: Atomics.wait(a, 0, 0, timeout=float("inf"))) as results:
        until_queued(a, 0, 1)
        assert Atomics.notify(a, 0) == 1
    assert results == ["ok"]


def test_bad_index_expected_and_count() -> None:
    a = SharedArray("i", 2)
    with pytest.raises(IndexError):
        Atomics.wait(a, 2, 0, timeout=0)
    with pytest.raises(IndexError):
        Atomics.notify(a, -3)
    with pytest.raises(OverflowError):
        Atomics.wait(a, 0, 2**31, timeout=0)
    with pytest.raises(TypeError):
        Atomics.wait(a, 0, 0.0, timeout=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="count must be >= 0"):
        Atomics.notify(a, 0, -1)
    with pytest.raises(TypeError):
        Atomics.notify(a, 0, 1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="SharedArray"):
        Atomics.wait([0], 0, 0)  # type: ignore[arg-type]


def _in_worker_state(body: Callable[[ThreadState], str]) -> tuple[ThreadState, Callable[[], str]]:
    state = ThreadState(thread_id=new_thread_id())

    def run() -> str:
        set_state(state)
        try:
            return body(state)
        finally:
            set_state(None)

    return state, run


def test_terminate_wakes_a_waiting_worker_with_terminated(
    until_queued: Callable[[SharedArray, int, int], None]
) -> None:
    a = SharedArray("i", 1)
    state, run = _in_worker_state(lambda _: Atomics.wait(a, 0, 0, timeout=LONG))
    with _waiters(1, lambda _: run()) as results:
        until_queued(a, 0, 1)
        state.stop.cancel("terminate")
    assert len(results) == 1
    assert isinstance(results[0], Terminated)
    assert _queued(a, 0) == 0
    assert Atomics.notify(a, 0) == 0  # the terminated waiter is gone from the queue


def test_cancelling_the_task_wakes_a_waiting_task_with_cancelled(
    until_queued: Callable[[SharedArray, int, int], None]
) -> None:
    a = SharedArray("q", 1)
    token = CancelToken()

    def body(state: ThreadState) -> str:
        state.task_token = token
        return Atomics.wait(a, 0, 0, timeout=LONG)

    _, run = _in_worker_state(body)
    with _waiters(1, lambda _: run()) as results:
        until_queued(a, 0, 1)
        token.cancel("stop")
    assert len(results) == 1
    assert isinstance(results[0], Cancelled)
    assert token._callbacks is None or token._callbacks == []


def test_an_already_terminated_worker_does_not_wait() -> None:
    a = SharedArray("i", 1)
    state, run = _in_worker_state(lambda _: Atomics.wait(a, 0, 0, timeout=LONG))
    state.stop.cancel()
    with _waiters(1, lambda _: run()) as results:
        pass
    assert isinstance(results[0], Terminated)


def test_notified_waiter_forgets_its_cancel_callbacks(
    until_queued: Callable[[SharedArray, int, int], None]
) -> None:
    a = SharedArray("i", 1)
    state, run = _in_worker_state(lambda _: Atomics.wait(a, 0, 0, timeout=LONG))
    with _waiters(1, lambda _: run()) as results:
        until_queued(a, 0, 1)
        assert Atomics.notify(a, 0) == 1
    assert results == ["ok"]
    assert state.stop._callbacks == []
