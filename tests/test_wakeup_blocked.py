"""Every blocking ftpool wait is woken by whoever may stop the waiting thread or task.

Blocking calls: ``Channel.receive`` (unbounded and bounded), ``for item in channel``, ``send`` on a
full bounded channel, ``MessagePort.receive``, ``BroadcastChannel.receive``, ``Worker.receive``
(the creator's side), ``Worker.join``, ``select`` and ``Atomics.wait``. Who wakes them:

* in a pool task: ``Future.cancel()`` (the wait raises ``Cancelled``, the future ends cancelled),
  the task's ``timeout=`` (the future fails with ``TimeoutError`` promptly) and
  ``Pool.terminate(timeout=...)`` (returns in time: the wait raises ``Terminated``);
* in a Worker: ``Worker.terminate()`` (the wait raises ``Terminated``, exit code 1);
* a task's deadline (``ThreadState.task_deadline``) by itself, even with no timer thread at all.

Each case runs several times (the stop may come before or while the call blocks: both must end the
same way), and once more with more busy threads than cores.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import wait as wait_futures
from contextlib import contextmanager
from typing import Any

import pytest

import ftpool
from ftpool import (
    Atomics,
    BroadcastChannel,
    Cancelled,
    Channel,
    MessageChannel,
    Pool,
    SharedArray,
    Terminated,
    Worker,
    select,
)
from ftpool._context import ThreadState, set_state

REPEATS = 4
_names = itertools.count()

Blocker = tuple[Callable[[], object], Callable[[], None]]  # (the blocking call, clean-up)


def _channel_receive(capacity: int) -> Blocker:
    channel: Channel[int] = Channel(capacity)
    return channel.receive, channel.close


def _channel_iterate() -> Blocker:
    channel: Channel[int] = Channel()
    return (lambda: next(iter(channel))), channel.close


def _bounded_send() -> Blocker:
    channel: Channel[int] = Channel(1)
    channel.send(0)  # full
    return (lambda: channel.send(1)), channel.close


def _port_receive() -> Blocker:
    mine, _other = MessageChannel()
    return mine.receive, mine.close


def _broadcast_receive() -> Blocker:
    name = f"wakeup-{next(_names)}"
    listener = BroadcastChannel(name)
    return listener.receive, listener.close


def _select() -> Blocker:
    one: Channel[int] = Channel()
    two: Channel[int] = Channel(2)
    two_ports = MessageChannel()

    def close() -> None:
        one.close()
        two.close()
        two_ports.port1.close()

    return (lambda: select(one, two, two_ports.port1)), close


def _worker_receive() -> Blocker:
    release = threading.Event()
    worker = Worker(release.wait)  # posts nothing while the creator waits for it

    def close() -> None:
        release.set()
        worker.join()

    return worker.receive, close


def _worker_join() -> Blocker:
    release = threading.Event()
    worker = Worker(release.wait)

    def close() -> None:
        release.set()
        worker.join()

    return worker.join, close


def _atomics_wait() -> Blocker:
    array = SharedArray("i", 1)
    return (lambda: Atomics.wait(array, 0, 0)), lambda: None


BLOCKERS: dict[str, Callable[[], Blocker]] = {
    "Channel().receive": lambda: _channel_receive(0),
    "Channel(4).receive": lambda: _channel_receive(4),
    "iter(Channel())": _channel_iterate,
    "Channel(1).send (full)": _bounded_send,
    "MessagePort.receive": _port_receive,
    "BroadcastChannel.receive": _broadcast_receive,
    "Worker.receive": _worker_receive,
    "Worker.join": _worker_join,
    "select": _select,
    "Atomics.wait": _atomics_wait,
}


class Outcome:
    """What the blocked call inside the task or worker raised (or returned)."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.ended = threading.Event()
        self.raised: BaseException | None = None
        self.returned: object = None

    def run(self, block: Callable[[], object]) -> object:
        self.started.set()
        try:
            self.returned = block()
        except BaseException as exc:
            self.raised = exc
            raise
        finally:
            self.ended.set()
        return self.returned

    def wait_started(self) -> None:
        assert self.started.wait(10)
        # Usually blocked by now; if not, the call sees the stop on entry: the same outcome.
        time.sleep(0.01)


@contextmanager
def busy_threads(count: int) -> Iterator[None]:
    """``count`` threads spinning in pure Python until the block ends (an oversubscribed CPU)."""
    stop = threading.Event()

    def spin() -> None:
        n = 0
        while not stop.is_set():
            n += 1

    threads = [threading.Thread(target=spin, name=f"busy-{i}") for i in range(count)]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join()


def _oversubscribed() -> int:
    return 2 * (os.cpu_count() or 2)


def _pool() -> Pool:
    return Pool(max_workers=2, task=lambda job: job())


@pytest.mark.parametrize("blocker", list(BLOCKERS))
def test_future_cancel_wakes_a_task_blocked_in_a_wait(blocker: str) -> None:
    with _pool() as pool:
        for _ in range(REPEATS):
            block, close = BLOCKERS[blocker]()
            outcome = Outcome()
            future = pool.run(lambda o=outcome, b=block: o.run(b))
            outcome.wait_started()
            started = time.monotonic()
            future.cancel()
            wait_futures([future], timeout=10)
            assert future.cancelled(), future
            assert time.monotonic() - started < 5
            assert isinstance(outcome.raised, Cancelled), outcome.raised
            close()


@pytest.mark.parametrize("blocker", ["Channel().receive", "Channel(1).send (full)", "select",
                                     "Atomics.wait", "MessagePort.receive"])
def test_a_cancel_token_wakes_a_task_blocked_in_a_wait(blocker: str) -> None:
    with _pool() as pool:
        for _ in range(REPEATS):
            block, close = BLOCKERS[blocker]()
            outcome = Outcome()
            token = ftpool.CancelToken()
            future = pool.run(lambda o=outcome, b=block: o.run(b), cancel=token)
            outcome.wait_started()
            token.cancel("the caller gave up")
            wait_futures([future], timeout=10)
            assert future.cancelled(), future
            assert isinstance(outcome.raised, Cancelled), outcome.raised
            assert outcome.raised.reason == "the caller gave up"  # type: ignore[attr-defined]
            close()


@pytest.mark.parametrize("blocker", list(BLOCKERS))
def test_task_timeout_wakes_a_task_blocked_in_a_wait(blocker: str) -> None:
    with _pool() as pool:
        for _ in range(REPEATS):
            block, close = BLOCKERS[blocker]()
            outcome = Outcome()
            started = time.monotonic()
            future = pool.run(lambda o=outcome, b=block: o.run(b), timeout=0.05)
            with pytest.raises(TimeoutError):
                future.result(timeout=10)
            assert outcome.ended.wait(10)
            assert time.monotonic() - started < 5
            assert isinstance(outcome.raised, TimeoutError), outcome.raised
            close()


@pytest.mark.parametrize("blocker", list(BLOCKERS))
def test_pool_terminate_wakes_a_task_blocked_in_a_wait(blocker: str) -> None:
    for _ in range(REPEATS):
        block, close = BLOCKERS[blocker]()
        pool = _pool()
        outcome = Outcome()
        future = pool.run(lambda o=outcome, b=block: o.run(b))
        outcome.wait_started()
        pool.terminate(timeout=5)  # raised TimeoutError while a task sat in ch.receive()
        assert future.done()
        assert isinstance(outcome.raised, Terminated), outcome.raised
        assert future.cancelled()  # stopped by its token, as check_cancelled() would have it
        assert pool.stats().cancelled == 1
        close()


@pytest.mark.parametrize("blocker", list(BLOCKERS))
def test_worker_terminate_wakes_a_worker_blocked_in_a_wait(blocker: str) -> None:
    for _ in range(REPEATS):
        block, close = BLOCKERS[blocker]()
        outcome = Outcome()
        worker = Worker(outcome.run, block)
        outcome.wait_started()
        assert worker.terminate(timeout=5) == 1
        assert isinstance(outcome.raised, Terminated), outcome.raised
        close()


@pytest.mark.single_thread  # spins more threads than cores: timing-sensitive with 4 copies
@pytest.mark.parametrize("blocker", ["Channel().receive", "Channel(1).send (full)", "select",
                                     "Atomics.wait", "MessagePort.receive"])
def test_wakeups_hold_with_more_busy_threads_than_cores(blocker: str) -> None:
    with busy_threads(_oversubscribed()), Pool(max_workers=4, task=lambda job: job()) as pool:
        for _ in range(REPEATS):
            outcomes = [Outcome() for _ in range(3)]
            blockers = [BLOCKERS[blocker]() for _ in range(3)]
            cancelled = pool.run(lambda o=outcomes[0], b=blockers[0][0]: o.run(b))
            timed = pool.run(lambda o=outcomes[1], b=blockers[1][0]: o.run(b), timeout=0.05)
            worker = Worker(outcomes[2].run, blockers[2][0])
            outcomes[0].wait_started()
            cancelled.cancel()
            with pytest.raises(TimeoutError):
                timed.result(timeout=20)
            assert worker.terminate(timeout=20) == 1
            wait_futures([cancelled], timeout=20)
            assert cancelled.cancelled()
            assert isinstance(outcomes[0].raised, Cancelled)
            assert outcomes[1].ended.wait(20)
            assert isinstance(outcomes[1].raised, TimeoutError)
            assert isinstance(outcomes[2].raised, Terminated)
            for _, close in blockers:
                close()


@pytest.mark.parametrize("blocker", list(BLOCKERS))
def test_a_task_deadline_bounds_a_wait_without_any_timer(blocker: str) -> None:
    # The pool's timer may run late under load; the wait compares the clock with the task's
    # deadline itself. Here there is no timer at all: only ThreadState.task_deadline.
    block, close = BLOCKERS[blocker]()
    outcome = Outcome()

    def task() -> None:
        set_state(ThreadState(thread_id=0, task_token=ftpool.CancelToken(),
                              task_deadline=time.monotonic() + 0.05))
        try:
            outcome.run(block)
        except TimeoutError:
            pass
        finally:
            set_state(None)

    thread = threading.Thread(target=task)
    started = time.monotonic()
    thread.start()
    thread.join(10)
    assert not thread.is_alive()
    assert 0.04 <= time.monotonic() - started < 5
    assert isinstance(outcome.raised, TimeoutError), outcome.raised
    close()


def test_a_stopped_receiver_takes_no_item_and_a_woken_wait_leaves_no_registration() -> None:
    # A cancelled task's wait raises without taking an item: the next receiver gets it.
    for capacity in (0, 3):
        channel: Channel[int] = Channel(capacity)
        with _pool() as pool:
            outcome = Outcome()
            future = pool.run(lambda o=outcome, ch=channel: o.run(ch.receive))
            outcome.wait_started()
            future.cancel()
            wait_futures([future], timeout=10)
            channel.send(5)
            assert channel.receive(timeout=5) == 5
            assert channel.stats().waiting_receivers == 0
            # the same worker thread blocks again (a new task), and receives normally
            second = pool.submit(channel.receive, timeout=5)
            time.sleep(0.01)
            channel.send(6)
            assert second.result(timeout=10) == 6


def test_a_cancelled_token_seen_on_entry_raises_without_blocking() -> None:
    channel: Channel[int] = Channel()
    token = ftpool.CancelToken()
    token.cancel("before")
    set_state(ThreadState(thread_id=0, task_token=token))
    try:
        with pytest.raises(Cancelled):
            channel.receive()
        with pytest.raises(Cancelled):
            select(channel)
        channel.send(1)
        assert channel.receive() == 1  # a wait that does not block is not stopped
    finally:
        set_state(None)


@pytest.mark.parametrize(
    "call",
    [
        lambda: Channel[int]().receive(timeout=0.01),
        lambda: Channel[int](1).receive(timeout=0.01),
        lambda: select(Channel[int](), timeout=0.01),
        lambda: MessageChannel().port1.receive(timeout=0.01),
    ],
)
def test_a_plain_timeout_still_raises_timeout_error_in_a_task(call: Callable[[], Any]) -> None:
    # Inside a task (a registered wait), the call's own timeout expires as before.
    with _pool() as pool:
        future = pool.run(call)
        with pytest.raises(TimeoutError, match="timed out after"):
            future.result(timeout=10)


def test_math_inf_means_forever_everywhere() -> None:
    inf = math.inf
    channel: Channel[int] = Channel()
    bounded: Channel[int] = Channel(2)
    one, two = MessageChannel()
    channel.send(1)
    bounded.send(2, timeout=inf)
    two.post_message(3)
    assert channel.receive(timeout=inf) == 1
    assert bounded.receive(timeout=inf) == 2
    assert one.receive(timeout=inf) == 3
    channel.send(4, timeout=inf)
    assert select(channel, timeout=inf) == (channel, 4)
    # an item that comes later, while the call waits with timeout=math.inf
    timer = threading.Timer(0.02, channel.send, (5,))
    timer.start()
    assert channel.receive(timeout=inf) == 5
    timer.join()
    one.close()
    assert one.wait_closed(timeout=inf)
    worker = Worker(lambda: None)
    assert worker.join(timeout=inf) == 0
    assert Worker(lambda: None).terminate(timeout=inf) in (0, 1)
    array = SharedArray("i", 1)
    assert Atomics.wait(array, 0, 1, timeout=inf) == "not-equal"
