"""The pool's timeout timer: ONE thread per pool (started on the first task with ``timeout=``)
that fails the tasks whose time ran out.

A worker runs one task at a time, so at most one deadline per worker is live: each worker holds
its own ``deadline`` slot (``(monotonic deadline, task)`` or None) and the timer scans the slots of
the workers that armed one. That is at most ``max_workers`` entries, never a growing heap of
finished tasks to skip, and ending a task clears its slot with a plain store (no lock). Arming
takes the timer's lock (only tasks that use ``timeout=`` pay for it) and wakes the thread only
when the new deadline is earlier than the one it sleeps towards.

The thread sleeps on a Condition (``deadline_changed``) until the earliest deadline, never polls,
and ends with the pool's workers: the pool core calls :meth:`TimeoutTimer.stop` when its last
worker is gone (at shutdown, or when idle workers all retired; the next timed task starts a new
thread), so a pool that is dropped or closed leaves no timer thread behind.
"""

from __future__ import annotations

import math
import threading
import time
from typing import TYPE_CHECKING

from .._events import report

if TYPE_CHECKING:
    from .task import Task
    from .worker import PoolWorker

__all__ = ["TimeoutTimer"]


class TimeoutTimer:
    """Fails running tasks with ``TimeoutError`` when their ``timeout=`` expires (see module).

    The thread starts with the first :meth:`arm` and ends at :meth:`stop` (the pool calls it when
    its last worker is gone); a later :meth:`arm` starts a new one. Each thread serves one
    *generation*: :meth:`stop` moves to the next, so an ending thread never serves again.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        # guards _armed, _fired, _next_wake, _generation, _running and _thread
        self._lock = threading.Lock()
        # announces: a deadline earlier than _next_wake was armed, or stop() was called
        self._deadline_changed = threading.Condition(self._lock)
        self._armed: set[PoolWorker] = set()
        self._fired: set[Task] = set()  # armed tasks already expired (never fired twice)
        self._next_wake = math.inf
        self._generation = 0
        self._running = False
        self._thread: threading.Thread | None = None

    def arm(self, worker: PoolWorker, deadline: float, task: Task) -> None:
        """Called by ``worker`` as ``task`` starts: expire it at ``deadline`` (monotonic clock)
        unless it ended before. The worker clears ``worker.deadline`` when the task ends."""
        with self._lock:
            worker.deadline = (deadline, task)
            self._armed.add(worker)
            if not self._running:
                self._running = True
                self._generation += 1
                self._next_wake = math.inf
                self._thread = threading.Thread(
                    target=self._run, args=(self._generation,), name=f"{self._name}_timer"
                )
                self._thread.start()
            elif deadline < self._next_wake:
                self._deadline_changed.notify()

    def stop(self, *, join: bool = True) -> None:
        """End the thread (idempotent). With ``join``, wait for it (unless called from it)."""
        with self._lock:
            if self._running:
                self._running = False
                self._generation += 1
                self._armed.clear()
                self._fired.clear()
                self._deadline_changed.notify()
            thread = self._thread
        if join and thread is not None and thread is not threading.current_thread():
            thread.join()

    @property
    def thread(self) -> threading.Thread | None:
        """The latest timer thread, if one was started."""
        return self._thread

    def _run(self, generation: int) -> None:
        try:
            self._serve(generation)
        except BaseException as exc:  # a bug here must not go unnoticed
            report(exc, f"pool timer {self._name}")

    def _serve(self, generation: int) -> None:
        lock = self._lock
        while True:
            expired: list[Task] = []
            with lock:
                while True:
                    if self._generation != generation:
                        return
                    now = time.monotonic()
                    earliest = math.inf
                    fired = self._fired
                    for worker in list(self._armed):
                        slot = worker.deadline
                        if slot is None:
                            self._armed.discard(worker)
                            continue
                        deadline, task = slot
                        if task in fired:
                            continue
                        if deadline <= now:
                            expired.append(task)
                        elif deadline < earliest:
                            earliest = deadline
                    if fired:
                        fired &= {s[1] for w in self._armed if (s := w.deadline) is not None}
                    if expired:
                        fired.update(expired)
                        break
                    self._next_wake = earliest
                    self._deadline_changed.wait(None if earliest == math.inf else earliest - now)
                    self._next_wake = -math.inf  # scanning: arm() need not notify
            for task in expired:  # outside the lock: ending a future runs callbacks
                task.expire()
