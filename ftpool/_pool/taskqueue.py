"""The pool's task queue: a FIFO of tasks waiting to start, without a lock of its own.

It is a ``collections.deque``: ``append`` (producers) and ``popleft`` (workers) are single C calls
that each run in the deque's own per-object critical section on 3.13t (its internal mutex, not a
lock shared by the pool), and ``len()`` is an atomic load. So many producers and workers use one
queue without any Python-level lock, and each operation is atomic: a task is popped by exactly one
thread. Tasks start in the order they were appended (FIFO).

A queued task can be taken out by exactly one of: a worker's ``popleft``, a canceller's
:meth:`TaskQueue.take`, or a shutdown's :meth:`TaskQueue.drain`; whoever takes it owns ending it.
"""

from __future__ import annotations

import collections
from typing import Protocol

__all__ = ["QueueOwner", "TaskQueue"]


class QueueOwner[T](Protocol):
    """What a queue needs from the pool that owns it: someone to account for a task that a
    canceller took out of the queue (so that it ends counted, by no worker)."""

    def count_removed(self, task: T, /) -> None:
        """Count ``task``, cancelled before any worker took it, and drop its references."""
        ...


class TaskQueue[T](collections.deque[T]):
    """FIFO of tasks. ``append``/``popleft``/``len`` as ``deque`` (atomic, never block).

    The queue never blocks: waiting for work is the balancer's business (see ``balancer``).
    ``owner`` is the pool core (seen only as a :class:`QueueOwner`), which counts a task that a
    canceller takes out of the queue.
    """

    __slots__ = ("owner",)

    def __init__(self, owner: QueueOwner[T]) -> None:
        super().__init__()
        self.owner = owner

    def take(self, task: T) -> bool:
        """Remove ``task`` if it is still queued; True if this call removed it.

        False means another thread already took it (a worker started it, or a drain removed it),
        so the caller must not end the task itself. O(n), used only for cancellation.
        """
        try:
            self.remove(task)
        except (ValueError, IndexError):  # not there; IndexError: "deque mutated during iteration"
            return False
        return True

    def drain(self) -> list[T]:
        """Remove and return every task queued now, oldest first (the caller now owns them)."""
        taken: list[T] = []
        popleft = self.popleft
        while True:
            try:
                taken.append(popleft())
            except IndexError:
                return taken

    def peek(self) -> T | None:
        """The oldest task without removing it, or None when empty (another thread may take it
        right after)."""
        try:
            return self[0]
        except IndexError:
            return None
