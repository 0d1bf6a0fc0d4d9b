"""Deterministic regression tests for races that the stress run (tests/stress) found.

Each test forces the interleaving that the stress rounds hit by chance, so it fails every time on
the code before the fix.
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time

import pytest

import ftpool
from ftpool import Pool
from ftpool._context import current_state


def _cooperative(started: threading.Event, in_callback: threading.Event,
                 release: threading.Event) -> str:
    """A task that blocks until its token is cancelled; the token's callback (which runs in the
    cancelling thread, inside ``Future.cancel()``) waits until the task has ended."""
    state = current_state()
    assert state is not None
    assert state.task_token is not None
    woken = threading.Event()

    def on_cancel(_reason: object) -> None:
        woken.set()
        in_callback.set()
        release.wait(5)  # hold Future.cancel() here until the future ended cancelled

    state.task_token.add_callback(on_cancel)
    started.set()
    woken.wait(5)
    ftpool.check_cancelled()
    return "not cancelled"


def test_cancel_of_a_running_task_returns_false_even_if_it_stops_at_once() -> None:
    # Found by the stress run: Future.cancel() on a running task returned True when the task
    # stopped (and its future became cancelled) before cancel() read the state back. A True from
    # cancel() must mean that the call never ran (concurrent.futures' contract).
    with Pool(max_workers=1) as pool:
        started, in_callback, release = threading.Event(), threading.Event(), threading.Event()
        future = pool.submit(_cooperative, started, in_callback, release)
        future.add_done_callback(lambda _f: release.set())
        assert started.wait(5)
        assert future.cancel() is False  # it was running: not cancelled *by this call*
        assert future.cancelled()  # it stopped at its check
        assert future.cancel() is True  # already cancelled, as the standard library answers
        with pytest.raises(cf.CancelledError):
            future.result(timeout=5)


@pytest.mark.parametrize("outcome", ["result", "exception"])
def test_stats_read_after_result_count_the_task(outcome: str) -> None:
    # Found by the parallel-threads run (test_utilization_of_a_busy_pool read 0.0): the worker
    # counted a task (completed/failed, busy time, timing samples) only after its future had woken
    # the waiters and run the done-callbacks, so stats() read right after result() missed it.
    def task() -> str:
        time.sleep(0.05)
        if outcome == "exception":
            raise ValueError("failed on purpose")
        return "done"

    with Pool(max_workers=1) as pool:
        gate = threading.Event()
        future = pool.submit(task)
        # a done-callback runs in the worker thread as the future ends: hold the worker there
        future.add_done_callback(lambda _f: gate.wait(5))
        assert cf.wait([future], timeout=5).done
        stats = pool.stats()
        gate.set()
    assert (stats.completed, stats.failed) == ((1, 0) if outcome == "result" else (0, 1))
    assert stats.running == 0
    assert stats.run_time.count == stats.wait_time.count == 1
    assert stats.run_time.max >= 0.04
    assert stats.utilization > 0


def test_map_learns_chunk_run_times_before_the_chunk_is_consumed() -> None:
    # The same race: a chunk's run time (which the adaptive chunk size learns from) was stored
    # after its future ended, so map() could read 0.0 and double the chunk size for slow items.
    from ftpool._pool.task import ChunkTask

    with Pool(max_workers=1) as pool:
        gate = threading.Event()
        chunk = ChunkTask(time.sleep, [0.02, 0.02], star=False)
        chunk.future.add_done_callback(lambda _f: gate.wait(5))
        pool._core.push(chunk)
        assert cf.wait([chunk.future], timeout=5).done
        elapsed = chunk.elapsed
        gate.set()
    assert elapsed >= 0.03


def test_a_retiring_worker_comes_back_for_work_queued_as_the_pool_shuts_down() -> None:
    # Found by the stress run (Pool(max_workers=1, idle_timeout=0.0) dropped with tasks queued):
    # a worker retiring after idle_timeout left the pool; a submit that still counted it started
    # no worker; then the pool shut down, and the worker, seeing the task, left anyway because no
    # worker may start during a shutdown. The task never ran and its future never ended.
    from ftpool._pool.task import Task

    pool = Pool(max_workers=1, idle_timeout=0.0)
    core = pool._core
    balancer = core.balancer
    original = balancer.has_shared_work
    in_window, release = threading.Event(), threading.Event()

    def has_shared_work() -> bool:  # called by the retiring worker after it left the pool
        in_window.set()
        release.wait(5)
        return original()

    balancer.has_shared_work = has_shared_work  # type: ignore[method-assign]
    try:
        assert pool.submit(abs, -1).result(timeout=5) == 1  # starts the worker; it idles
        assert in_window.wait(5)  # it timed out idle and is leaving
        task = Task(abs, (-2,), {})
        balancer.push(task)  # what a submit that still counted the worker did: no new worker
        pool.shutdown(wait=False)
        release.set()
        assert task.future.result(timeout=5) == 2
    finally:
        release.set()
        pool.shutdown(wait=True)


@pytest.mark.parametrize("target_left", [True, False])
def test_a_wake_up_token_taken_after_close_does_not_end_the_channel_early(
    target_left: bool,
) -> None:
    # Found by the stress run (Channel(0), consumers that are Workers terminated mid-stream, then
    # close): 239 items stayed queued while every receiver got EndOfChannel. terminate() queues a
    # wake-up token for a worker blocked in receive(); items sent after it queue behind it; a
    # receiver that took that token once the channel was closed took it for the close token and
    # raised EndOfChannel with the items still queued.
    from ftpool._context import ThreadState
    from ftpool._wakeup import Wait

    channel: ftpool.Channel[int] = ftpool.Channel()
    state = ThreadState(thread_id=99)
    state.stop.cancel("terminate()")
    wait = Wait(state, channel)  # type: ignore[arg-type]  # a terminated Worker blocked in receive()
    wait.stopped = True
    channel._wake_blocked(wait)  # type: ignore[attr-defined]  # what terminate() does
    if target_left:
        wait.handle = object()  # it left with an item: its wake-up finds nothing to release
        channel._wake_blocked(wait)  # type: ignore[attr-defined]
    for i in range(5):
        channel.send(i)
    channel.close()
    assert channel.stats().queued == 5
    assert list(channel) == [0, 1, 2, 3, 4]
    with pytest.raises(ftpool.EndOfChannel):
        channel.receive_nowait()
