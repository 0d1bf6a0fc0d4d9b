"""The pool's statistics: lock-free single-writer counters, bounded timing samples, and the frozen
:class:`PoolStats` / :class:`TimingSummary` records that ``Pool.stats()`` returns.

Why single-writer counters and not ``AtomicCounter``: ``x += 1`` on an int shared by several threads
is a read-modify-write that loses updates under 3.13t, so a shared counter needs either a lock (a
global lock per task, which the pool's hot path avoids) or an atomic. ``AtomicCounter`` is built on
the ``atomics`` package, which imports cffi and thereby switches the GIL back on under 3.13t, and
using the pool must not do that. So every counter here has exactly ONE writer thread: each worker
owns a :class:`WorkerCounters` and is the only thread that writes it; ``stats()`` reads them all and
sums. A reader may see a counter one update behind, never a lost or torn update. The few counts
that other threads produce (a task cancelled while it still waits in the queue, futures failed by a
broken pool) are rare, not per-task, and kept by the pool core under its lock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["SAMPLES_PER_WORKER", "PoolStats", "TimingSummary", "WorkerCounters"]

#: How many recent run-time and wait-time samples each worker keeps (a ring; older ones drop out).
SAMPLES_PER_WORKER = 512


@dataclass(frozen=True, slots=True)
class TimingSummary:
    """A summary of timing samples, in seconds: how many, mean, min, max and the p50/p90/p99
    percentiles (nearest rank). All zero when ``count`` is 0.

    The samples are bounded: each worker keeps its last :data:`SAMPLES_PER_WORKER` ones, so the
    summary describes recent tasks; ``count`` is the number of samples summarized, not of tasks.
    """

    count: int = 0
    mean: float = 0.0
    min: float = 0.0
    max: float = 0.0
    p50: float = 0.0
    p90: float = 0.0
    p99: float = 0.0

    @classmethod
    def of(cls, samples: Iterable[float]) -> TimingSummary:
        """Summarize ``samples`` (any iterable of floats). Never raises on an empty one."""
        values = sorted(samples)
        n = len(values)
        if n == 0:
            return cls()

        def rank(p: float) -> float:
            return values[max(0, math.ceil(p * n) - 1)]

        return cls(
            count=n,
            mean=math.fsum(values) / n,
            min=values[0],
            max=values[-1],
            p50=rank(0.50),
            p90=rank(0.90),
            p99=rank(0.99),
        )


@dataclass(frozen=True, slots=True)
class PoolStats:
    """A snapshot of a pool, from ``Pool.stats()``. Read without stopping the pool, so the fields
    may be a few updates apart from each other; each one alone is exact at some recent instant.

    * ``workers``: worker threads alive; ``idle_workers``: those waiting for a task;
      ``max_workers``/``min_workers``: the pool's bounds.
    * ``queued``: tasks waiting to start; ``running``: tasks running now.
    * ``completed`` (returned a result), ``failed`` (raised, timed out or failed by a broken pool),
      ``cancelled`` (cancelled while queued, or stopped by their cancel token), ``timed_out``
      (the part of ``failed`` that exceeded ``timeout=``). ``map``/``imap_unordered`` count
      their items one by one.
    * ``utilization``: the share of the pool's capacity spent running tasks since it was created,
      ``busy time of all workers / (elapsed time * max_workers)``, from 0.0 to 1.0 (Piscina's).
    * ``run_time``: how long tasks ran; ``wait_time``: how long they waited in the queue before
      starting (seconds, recent samples, see :class:`TimingSummary`). A ``map`` chunk gives one
      sample of each: its wait, and its run time divided by its number of items.
    """

    workers: int
    idle_workers: int
    max_workers: int
    min_workers: int
    queued: int
    running: int
    completed: int
    failed: int
    cancelled: int
    timed_out: int
    utilization: float
    run_time: TimingSummary
    wait_time: TimingSummary


class WorkerCounters:
    """What one worker has done. Exactly one thread writes it (its worker; or, for the totals of
    retired workers and of tasks ended outside any worker, the pool core under its lock); any
    thread may read it for ``stats()``.

    ``busy`` is the total run time in seconds; ``running_since`` the ``perf_counter()`` at which
    the current task started (0.0 between tasks), so that ``utilization`` includes it. Timing
    samples go to two rings of :data:`SAMPLES_PER_WORKER` slots, written in place by the worker
    (``run_ring[samples % SAMPLES_PER_WORKER]``; inlined in the worker loop, no call per task):
    ``samples`` counts every sample ever written, so the valid part is the first
    ``min(samples, SAMPLES_PER_WORKER)`` slots.
    """

    __slots__ = (
        "busy",
        "cancelled",
        "completed",
        "failed",
        "run_ring",
        "running_since",
        "samples",
        "timed_out",
        "wait_ring",
    )

    def __init__(self) -> None:
        self.completed = 0
        self.failed = 0
        self.cancelled = 0
        self.timed_out = 0
        self.busy = 0.0
        self.running_since = 0.0
        self.samples = 0
        self.run_ring = [0.0] * SAMPLES_PER_WORKER
        self.wait_ring = [0.0] * SAMPLES_PER_WORKER

    def add_sample(self, run_time: float, wait_time: float) -> None:
        """Record one task's run and wait time (what the worker loop does inline)."""
        index = self.samples % SAMPLES_PER_WORKER
        self.run_ring[index] = run_time
        self.wait_ring[index] = wait_time
        self.samples += 1

    def run_times(self) -> list[float]:
        """A copy of the run-time samples held now."""
        return self.run_ring[: min(self.samples, SAMPLES_PER_WORKER)]

    def wait_times(self) -> list[float]:
        """A copy of the wait-time samples held now."""
        return self.wait_ring[: min(self.samples, SAMPLES_PER_WORKER)]

    def absorb(self, other: WorkerCounters) -> None:
        """Add ``other``'s totals and samples to this one (for a retired worker; the caller makes
        sure that this object has a single writer, e.g. by holding the pool core's lock)."""
        self.completed += other.completed
        self.failed += other.failed
        self.cancelled += other.cancelled
        self.timed_out += other.timed_out
        self.busy += other.busy
        for run_time, wait_time in zip(other.run_times(), other.wait_times(), strict=True):
            self.add_sample(run_time, wait_time)
