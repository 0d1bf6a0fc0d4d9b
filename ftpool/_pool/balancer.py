"""Balancers: where a pool's tasks wait, which worker runs each one, and how idle workers sleep and
wake. A pool has one; pick it with ``Pool(balancer=...)``.

* ``"least-busy"`` (:class:`LeastBusy`, the default, as Piscina): one shared FIFO queue; the first
  idle worker takes the next task. A submit wakes one sleeping worker, if any.
* ``"round-robin"`` (:class:`RoundRobin`, the seed article's pool): tasks are dealt to the workers
  in turn, each worker with its own FIFO queue, whether or not it is busy.

Every worker also has a private queue (``PoolWorker.private``) for tasks pinned to it
(``broadcast``; round-robin deals into it). A worker takes the oldest of its private head and the
shared head, so FIFO start order holds across both.

Sleeping and waking, without a lock shared by the pool. A worker with nothing to do *parks*: it
sets ``parked`` under its own ``lock`` and then blocks on its ``inbox`` (a ``SimpleQueue`` of wake
tokens). A waker flips ``parked`` back under the same lock and puts one token, so each park gets
exactly one token from a claim (``wake_all`` at shutdown adds extra ones; a spare token only makes
a worker look for work once more). Least-busy's submit path is lock-free:

    submitter:  shared.append(task);   then pop ``idle`` and claim a parked worker
    worker:     parked = True; idle.append(self);   then re-check ``shared`` before blocking

Each deque operation is a critical section on 3.13t (a compare-and-swap, a full barrier) and
``len(deque)`` is a sequentially consistent load, so this is Dekker's pattern: either the submitter
sees the worker in ``idle`` and wakes it, or the worker's re-check sees the task. No task waits
while a worker sleeps. Pinned pushes take the target worker's own lock instead (never a pool-wide
one), which also orders them against that worker's exit (``exited``).
"""

from __future__ import annotations

import collections
import itertools
import queue
from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

from .taskqueue import QueueOwner, TaskQueue

if TYPE_CHECKING:
    from .task import Task
    from .worker import PoolWorker

__all__ = ["BALANCERS", "Balancer", "LeastBusy", "RoundRobin", "make_balancer"]


class Balancer:
    """Base class and the parts common to every balancer (private queues, parking, waking).

    The pool core calls ``attach``/``detach`` under its lock when a worker joins or leaves; every
    other method may be called from any thread without a pool-wide lock.
    """

    #: The name given to ``Pool(balancer=...)``.
    name: ClassVar[str] = ""
    #: True when the pool should start a new worker (up to ``max_workers``) before each push,
    #: rather than only when no idle worker could be woken.
    grow_before_push: ClassVar[bool] = False

    def __init__(self, owner: QueueOwner[Task]) -> None:
        self.owner = owner  # the pool core, as the owner of the queues (nothing more)
        self.workers: tuple[PoolWorker, ...] = ()  # replaced (never mutated) under the core lock

    # --- membership (core lock held) -------------------------------------------------------------

    def attach(self, worker: PoolWorker) -> None:
        """A new worker joins (before its thread starts)."""
        self.workers = (*self.workers, worker)

    def detach(self, worker: PoolWorker) -> None:
        """A worker leaves (its private queue is empty and ``exited`` is set)."""
        self.workers = tuple(w for w in self.workers if w is not worker)

    # --- placing tasks ---------------------------------------------------------------------------

    def push(self, task: Task) -> bool:
        """Queue ``task``; True when a worker was woken for it (or it was dealt to one), False
        when it waits for whichever worker becomes free (the pool may then start one)."""
        raise NotImplementedError

    def push_to(self, worker: PoolWorker, task: Task) -> bool:
        """Queue ``task`` on ``worker``'s private queue and wake it if parked. False (nothing
        queued) when the worker has exited."""
        with worker.lock:
            if worker.exited:
                return False
            task.queue = worker.private
            worker.private.append(task)
            woke = worker.parked
            worker.parked = False
        if woke:
            worker.inbox.put(None)
        return True

    # --- taking tasks (the worker thread) --------------------------------------------------------

    def next_task(self, worker: PoolWorker) -> Task | None:
        """The next task for ``worker``, or None; never blocks."""
        private = worker.private
        if private:
            try:
                return private.popleft()
            except IndexError:
                pass
        return None

    def has_work(self, worker: PoolWorker) -> bool:
        """True when ``next_task(worker)`` could return a task now."""
        return bool(worker.private)

    def has_shared_work(self) -> bool:
        """True when a task waits that any worker could take (used by a retiring worker)."""
        return False

    def park(self, worker: PoolWorker, timeout: float | None) -> bool:
        """Block ``worker`` (its own thread) until it is woken or ``timeout`` seconds pass (None:
        forever). True when woken (or work was seen before sleeping), False on timeout."""
        with worker.lock:
            if worker.private:
                return True
            worker.parked = True
        self._announce_idle(worker)
        if self.has_work(worker):  # the re-check of the Dekker pattern (module docstring)
            if self._unpark(worker):
                return True
            worker.inbox.get()  # a waker claimed us first: take its token
            return True
        try:
            worker.inbox.get(timeout=timeout)
        except queue.Empty:
            if self._unpark(worker):
                return False
            worker.inbox.get()  # claimed just as the timeout ran out: take that token
        return True

    def _announce_idle(self, worker: PoolWorker) -> None:
        """Make ``worker`` findable by pushes that do not target it (least-busy)."""

    @staticmethod
    def _unpark(worker: PoolWorker) -> bool:
        """The worker takes itself out of the parked state; False when a waker already did (a
        token is then on its way)."""
        with worker.lock:
            if not worker.parked:
                return False
            worker.parked = False
            return True

    @staticmethod
    def claim(worker: PoolWorker) -> bool:
        """Wake ``worker`` if it is parked; True if this call woke it. Exactly one claim wins."""
        with worker.lock:
            if not worker.parked:
                return False
            worker.parked = False
        worker.inbox.put(None)
        return True

    @staticmethod
    def wake_all(workers: Iterable[PoolWorker]) -> None:
        """Give every worker a wake token, parked or not (at shutdown, so that each one looks at
        the pool's state again). Takes no lock: safe from a weakref callback."""
        for worker in workers:
            worker.inbox.put(None)

    # --- bookkeeping -----------------------------------------------------------------------------

    def queued(self) -> int:
        """How many tasks wait to start (a lock-free sum of queue lengths)."""
        return sum(len(w.private) for w in self.workers)

    def drain(self) -> list[Task]:
        """Take every waiting task out of every queue (the caller now ends each one)."""
        taken: list[Task] = []
        for worker in self.workers:
            taken += worker.private.drain()
        return taken


class LeastBusy(Balancer):
    """One shared FIFO; the first idle worker takes the next task (Piscina's dispatch).

    A push wakes the most recently parked worker (LIFO), so surplus workers stay asleep long
    enough for ``idle_timeout`` to retire them. A worker's private (pinned) tasks and the shared
    ones start in the order they were queued.
    """

    name = "least-busy"

    def __init__(self, owner: QueueOwner[Task]) -> None:
        super().__init__(owner)
        self.shared: TaskQueue[Task] = TaskQueue(owner)
        # Parked workers, most recent last. May hold stale entries (a worker that woke by itself
        # or exited); ``claim`` skips them.
        self._idle: collections.deque[PoolWorker] = collections.deque()

    def push(self, task: Task) -> bool:
        shared = self.shared
        task.queue = shared
        shared.append(task)
        idle = self._idle
        claim = self.claim
        while idle:
            try:
                worker = idle.pop()
            except IndexError:
                break
            if claim(worker):
                return True
        return False

    def next_task(self, worker: PoolWorker) -> Task | None:
        shared = self.shared
        private = worker.private
        if private:
            mine = private.peek()
            other = shared.peek()
            if mine is not None and (other is None or mine.enqueued <= other.enqueued):
                try:
                    return private.popleft()
                except IndexError:
                    pass
        if shared:
            try:
                return shared.popleft()
            except IndexError:
                pass
        if private:
            try:
                return private.popleft()
            except IndexError:
                pass
        return None

    def has_work(self, worker: PoolWorker) -> bool:
        return bool(self.shared) or bool(worker.private)

    def has_shared_work(self) -> bool:
        return bool(self.shared)

    def _announce_idle(self, worker: PoolWorker) -> None:
        self._idle.append(worker)

    def detach(self, worker: PoolWorker) -> None:
        super().detach(worker)
        # drop its stale idle entries (they would be skipped anyway)
        while True:
            try:
                self._idle.remove(worker)
            except (ValueError, IndexError):
                break

    def queued(self) -> int:
        return len(self.shared) + super().queued()

    def drain(self) -> list[Task]:
        return self.shared.drain() + super().drain()


class RoundRobin(Balancer):
    """The seed's pool: tasks are dealt to the workers in turn, each worker with its own queue.

    The dealing counter is an ``itertools.count``, whose ``next()`` is a lock-free atomic
    increment on 3.13t, so concurrent submitters never deal the same turn twice. A busy worker
    still gets its turn (that is the seed's behaviour; ``"least-busy"`` avoids the wait). The pool
    starts workers up to ``max_workers`` before dealing, so task i goes to worker i % max_workers
    once they all exist.
    """

    name = "round-robin"
    grow_before_push = True

    def __init__(self, owner: QueueOwner[Task]) -> None:
        super().__init__(owner)
        self._turn = itertools.count()

    def push(self, task: Task) -> bool:
        workers = self.workers
        for _ in range(len(workers)):
            worker = workers[next(self._turn) % len(workers)]
            if self.push_to(worker, task):
                return True
            # that worker is exiting: deal the task to the next one
        return False  # no worker takes tasks (none yet, or all are exiting)


BALANCERS: dict[str, type[Balancer]] = {cls.name: cls for cls in (LeastBusy, RoundRobin)}


def make_balancer(name: object, owner: QueueOwner[Task]) -> Balancer:
    """A new balancer by name for the pool core ``owner``; ``ValueError`` listing the known names
    for anything else."""
    cls = BALANCERS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(
            f"unknown balancer {name!r}; use one of: {', '.join(map(repr, BALANCERS))}"
        )
    return cls(owner)
