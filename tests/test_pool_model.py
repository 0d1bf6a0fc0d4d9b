"""Model-based test of Pool (hypothesis stateful testing): random sequences of submit, cancel
(of queued and of running tasks), finishing running tasks (with a result or an exception) and
close, checked against a model of which tasks run, which wait, and how each one ended.

Every task blocks on its own gate, so the test decides when each one ends and the pool's state is
determined: with ``"least-busy"`` the first ``max_workers`` live tasks (FIFO) run; with
``"round-robin"`` task ``i`` is dealt to worker ``i % max_workers`` and the head of each worker's
queue runs. After each step the test waits until the tasks the model says run have started, then
compares every future and ``stats()`` with the model.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import ftpool
from ftpool import Pool, PoolFuture

WAIT = 10.0


@dataclass(eq=False)
class Gated:
    """One task: it sets ``started``, waits for ``gate``, then raises if ``fail``, stops if its
    token was cancelled, or returns its index."""

    index: int
    started: threading.Event = field(default_factory=threading.Event)
    gate: threading.Event = field(default_factory=threading.Event)
    fail: bool = False

    def __call__(self) -> int:
        self.started.set()
        self.gate.wait(WAIT)
        if self.fail:
            raise ValueError(self.index)
        ftpool.check_cancelled()
        return self.index


@dataclass(eq=False)
class Expected:
    task: Gated
    future: PoolFuture[int]
    lane: int  # the queue it waits in: 0 for least-busy, its worker for round-robin
    outcome: str = ""  # "" while live; then "result", "exception" or "cancelled"
    cancel_requested: bool = False


class PoolModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.pool: Pool | None = None
        self.workers = 1
        self.round_robin = False
        self.tasks: list[Expected] = []
        self.lanes: list[deque[Expected]] = []  # live tasks per queue, in FIFO order
        self.closed = False

    @initialize(workers=st.integers(1, 3), balancer=st.sampled_from(["least-busy", "round-robin"]))
    def make(self, workers: int, balancer: str) -> None:
        self.pool = Pool(max_workers=workers, balancer=balancer)
        self.workers = workers
        self.round_robin = balancer == "round-robin"
        self.lanes = [deque() for _ in range(workers if self.round_robin else 1)]

    # --- the model ------------------------------------------------------------------------------

    def running(self) -> list[Expected]:
        if self.round_robin:
            return [lane[0] for lane in self.lanes if lane]
        return list(self.lanes[0])[: self.workers]

    def queued(self) -> list[Expected]:
        if self.round_robin:
            return [t for lane in self.lanes for t in list(lane)[1:]]
        return list(self.lanes[0])[self.workers :]

    def live(self) -> list[Expected]:
        return [t for lane in self.lanes for t in lane]

    def settle(self) -> None:
        """Wait until the tasks that the model says run have started."""
        for expected in self.running():
            assert expected.task.started.wait(WAIT), f"task {expected.task.index} never started"

    def end(self, expected: Expected, outcome: str) -> None:
        expected.outcome = outcome
        self.lanes[expected.lane].remove(expected)

    # --- rules ----------------------------------------------------------------------------------

    @rule(fail=st.booleans())
    @precondition(lambda self: not self.closed)
    def submit(self, fail: bool) -> None:
        assert self.pool is not None
        index = len(self.tasks)
        task = Gated(index, fail=fail)
        future = self.pool.submit(task)
        expected = Expected(task, future, index % self.workers if self.round_robin else 0)
        self.tasks.append(expected)
        self.lanes[expected.lane].append(expected)
        self.settle()

    @rule(data=st.data())
    @precondition(lambda self: self.tasks)
    def cancel(self, data: st.DataObject) -> None:
        expected = data.draw(st.sampled_from(self.tasks))
        returned = expected.future.cancel()
        if expected.outcome:
            assert returned == (expected.outcome == "cancelled")
        elif expected in self.running():
            assert returned is False  # running: asked to stop at its next check
            expected.cancel_requested = True
        else:
            assert returned is True  # queued: removed, never runs
            assert expected.future.cancelled()
            self.end(expected, "cancelled")
            assert not expected.task.started.is_set()
        self.settle()

    @rule(data=st.data())
    @precondition(lambda self: self.running())
    def finish(self, data: st.DataObject) -> None:
        expected = data.draw(st.sampled_from(self.running()))
        expected.task.gate.set()
        done = expected.future.exception if expected.task.fail else expected.future.result
        if expected.task.fail:
            outcome = "exception"
        elif expected.cancel_requested:
            outcome = "cancelled"
            with pytest.raises(ftpool.Cancelled):
                done(WAIT)
        else:
            outcome = "result"
        if outcome != "cancelled":
            done(WAIT)
        self.end(expected, outcome)
        self.settle()

    @rule()
    @precondition(lambda self: not self.closed)
    def close(self) -> None:
        assert self.pool is not None
        for expected in self.live():
            expected.task.gate.set()  # the queued ones run at once, as close() lets them
        self.pool.close(timeout=WAIT)
        for expected in self.live():
            if expected.task.fail:
                outcome = "exception"
            elif expected.cancel_requested:
                outcome = "cancelled"
            else:
                outcome = "result"
            self.end(expected, outcome)
        self.closed = True
        with pytest.raises(RuntimeError, match="after shutdown"):
            self.pool.submit(abs, 1)

    @rule()
    @precondition(lambda self: self.closed)
    def submit_after_close(self) -> None:
        assert self.pool is not None
        before = self.pool.stats()
        with pytest.raises(RuntimeError, match="after shutdown"):
            self.pool.submit(abs, 1)
        after = self.pool.stats()
        assert (after.completed, after.failed, after.cancelled, after.queued) == (
            before.completed, before.failed, before.cancelled, before.queued)

    # --- after every step -----------------------------------------------------------------------

    @invariant()
    def futures_agree(self) -> None:
        for expected in self.tasks:
            future = expected.future
            if not expected.outcome:
                assert not future.done(), f"task {expected.task.index} ended early"
                assert expected.task.started.is_set() == (expected in self.running())
                continue
            assert future.done()
            if expected.outcome == "cancelled":
                assert future.cancelled()
            elif expected.outcome == "exception":
                assert isinstance(future.exception(), ValueError)
            else:
                assert future.result() == expected.task.index

    @invariant()
    def stats_agree(self) -> None:
        if self.pool is None:
            return
        stats = self.pool.stats()
        ended = [t.outcome for t in self.tasks]
        assert (stats.completed, stats.failed, stats.cancelled) == (
            ended.count("result"), ended.count("exception"), ended.count("cancelled"))
        assert (stats.running, stats.queued) == (len(self.running()), len(self.queued()))

    def teardown(self) -> None:
        if self.pool is not None:
            for expected in self.tasks:
                expected.task.gate.set()
            self.pool.close(timeout=WAIT)


# database=None: no .hypothesis directory in the work tree
PoolModel.TestCase.settings = settings(
    max_examples=60, stateful_step_count=25, deadline=None, database=None
)
test_pool_against_its_model = PoolModel.TestCase
