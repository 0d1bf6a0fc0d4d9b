"""Cancellation: Future.cancel() on queued and running tasks, run(cancel=token), and
check_cancelled() inside tasks. A cancelled running task stops at its next check and its worker
is reused, never killed."""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time

import pytest

import ftpool
from ftpool import Cancelled, CancelToken, Pool
from ftpool._pool.task import Task


def spin_until_cancelled(started: threading.Event) -> str:
    started.set()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ftpool.check_cancelled()
    return "never cancelled"


def test_cancel_a_queued_task_removes_it() -> None:
    ran: list[int] = []
    with Pool(max_workers=1) as pool:
        gate = threading.Event()
        started = threading.Event()
        blocker = pool.submit(lambda: (started.set(), gate.wait(5)))
        assert started.wait(5)
        queued = pool.submit(ran.append, 1)
        assert pool.stats().queued == 1
        assert queued.cancel() is True
        assert queued.cancelled()
        assert queued.done()
        assert pool.stats().queued == 0
        gate.set()
        blocker.result(timeout=5)
    assert ran == []
    with pytest.raises(cf.CancelledError):
        queued.result()
    assert pool.stats().cancelled == 1


def test_cancel_a_running_task_stops_it_at_its_next_check() -> None:
    with Pool(max_workers=1) as pool:
        started = threading.Event()
        future = pool.submit(spin_until_cancelled, started)
        assert started.wait(5)
        worker_id = pool.submit(ftpool.thread_id)  # queued behind it, same worker
        assert future.cancel() is False  # as the stdlib: not cancelled *yet*
        with pytest.raises(Cancelled) as caught:
            future.result(timeout=5)
        assert caught.value.reason == "Future.cancel() was called"
        assert isinstance(caught.value, cf.CancelledError)
        assert future.cancelled()
        assert future.cancel() is True  # already cancelled, as the stdlib
        # the worker was reused, not killed
        assert worker_id.result(timeout=5) > 0
        assert pool.stats().workers == 1
    stats = pool.stats()
    assert stats.cancelled == 1
    assert stats.completed == 1


def test_a_running_task_that_never_checks_runs_to_its_end() -> None:
    with Pool(max_workers=1) as pool:
        started = threading.Event()
        gate = threading.Event()

        def ignores_tokens() -> str:
            started.set()
            gate.wait(5)
            return "done"

        future = pool.submit(ignores_tokens)
        assert started.wait(5)
        assert future.cancel() is False
        gate.set()
        assert future.result(timeout=5) == "done"
        assert not future.cancelled()


def test_cancel_token_cancels_a_queued_task() -> None:
    ran: list[int] = []
    with Pool(task=ran.append, max_workers=1) as pool:
        gate = threading.Event()
        blocker = pool.submit(gate.wait, 5)
        token = CancelToken()
        future = pool.run(1, cancel=token)
        token.cancel("user said stop")
        assert future.cancelled()
        with pytest.raises(Cancelled, match="user said stop"):
            future.result()
        gate.set()
        blocker.result(timeout=5)
    assert ran == []


def test_cancel_token_stops_a_running_task() -> None:
    started = threading.Event()
    with Pool(task=lambda _: spin_until_cancelled(started), max_workers=1) as pool:
        token = CancelToken()
        future = pool.run(cancel=token)
        assert started.wait(5)
        token.cancel("enough")
        with pytest.raises(Cancelled) as caught:
            future.result(timeout=5)
        assert caught.value.reason == "enough"


def test_an_already_cancelled_token_gives_a_cancelled_future() -> None:
    ran: list[object] = []
    token = CancelToken()
    token.cancel("before")
    with Pool(task=ran.append, max_workers=1) as pool:
        future = pool.run(1, cancel=token)
        assert future.cancelled()
    assert ran == []
    assert pool.stats().cancelled == 1


def test_one_token_for_several_tasks() -> None:
    started = threading.Event()
    with Pool(task=lambda _: spin_until_cancelled(started), max_workers=1) as pool:
        token = CancelToken()
        futures = [pool.run(cancel=token) for _ in range(4)]
        assert started.wait(5)
        token.cancel()
        for future in futures:
            with pytest.raises(cf.CancelledError):
                future.result(timeout=5)


def test_finished_tasks_unlink_from_the_callers_token() -> None:
    token = CancelToken()
    with Pool(task=lambda x: x, max_workers=2) as pool:
        for future in [pool.run(i, cancel=token) for i in range(50)]:
            future.result(timeout=5)
    assert token._callbacks == []  # nothing left behind on the caller's token


def test_cancelling_one_future_leaves_the_callers_token_alone() -> None:
    token = CancelToken()
    with Pool(task=lambda x: x, max_workers=1) as pool:
        gate = threading.Event()
        pool.submit(gate.wait, 5)
        first = pool.run(1, cancel=token)
        second = pool.run(2, cancel=token)
        assert first.cancel()
        gate.set()
        assert second.result(timeout=5) == 2
    assert not token.cancelled


def test_the_task_is_a_working_cancel_token() -> None:
    # Task sets CancelToken's fields itself (see _pool.task.Task.__init__); check the protocol.
    task = Task(print, (), {})
    seen: list[object] = []
    assert task.add_callback(seen.append)
    assert not task.cancelled
    task.raise_if_cancelled()
    assert task.cancel("why") is True
    assert task.cancel("again") is False
    assert task.cancelled
    assert task.reason == "why"
    assert seen == ["why"]
    with pytest.raises(Cancelled, match="why"):
        task.raise_if_cancelled()
    assert task.add_callback(seen.append) is False
    assert task.future.cancelled()


def test_task_token_is_cleared_between_tasks() -> None:
    # a cancelled task must not leave its token installed for the next task on the worker
    started = threading.Event()
    with Pool(max_workers=1) as pool:
        first = pool.submit(spin_until_cancelled, started)
        assert started.wait(5)
        first.cancel()
        second = pool.submit(lambda: (ftpool.check_cancelled(), "ok")[1])
        assert second.result(timeout=5) == "ok"
        with pytest.raises(cf.CancelledError):
            first.result(timeout=5)


@pytest.mark.parametrize("round_", range(20))
def test_cancel_races_end_every_task_exactly_once(round_: int) -> None:
    outcomes: dict[str, int] = {"result": 0, "exception": 0, "cancelled": 0}
    lock = threading.Lock()

    def record(future: cf.Future[int]) -> None:
        kind = (
            "cancelled" if future.cancelled()
            else "exception" if future.exception() is not None
            else "result"
        )
        with lock:
            outcomes[kind] += 1

    def work(i: int) -> int:
        for _ in range(i % 7):
            ftpool.check_cancelled()
        if i % 11 == 0:
            raise ValueError(i)
        return i

    n = 300
    with Pool(max_workers=2) as pool:
        futures = [pool.submit(work, i) for i in range(n)]
        for future in futures:
            future.add_done_callback(record)
        for future in futures[round_ % 3 :: 3]:
            future.cancel()
    assert sum(outcomes.values()) == n
    stats = pool.stats()
    assert stats.completed + stats.failed + stats.cancelled == n
    assert stats.cancelled == outcomes["cancelled"]
    assert stats.failed == outcomes["exception"]
    assert stats.completed == outcomes["result"]
