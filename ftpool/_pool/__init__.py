"""The worker pool (the seed's pool, Piscina's features, a ``concurrent.futures.Executor``).

A small public façade over a private core, laid out as Piscina's ``src/`` is:

- ``pool``: ``Pool``, the façade users see (argument checks, the Executor surface);
- ``core``: ``PoolCore``, the workers, the lifecycle (close, terminate, shutdown) and the events;
- ``worker``: a worker thread's loop;
- ``task``: ``Task``/``ChunkTask`` and ``PoolFuture`` (what a submitted call becomes);
- ``taskqueue``: the FIFO of tasks waiting for a worker;
- ``balancer``: which idle worker gets the next task (least-busy, round-robin);
- ``timer``: the one thread per pool that enforces ``timeout=``;
- ``map``: ``map``/``imap_unordered`` with automatic chunking;
- ``stats``: per-worker counters and the frozen ``PoolStats``.
"""

from __future__ import annotations

from .core import PoolBrokenError, PoolClosedError
from .pool import Pool, UnknownHandlerError
from .stats import PoolStats, TimingSummary
from .task import PoolFuture

__all__ = [
    "Pool",
    "PoolBrokenError",
    "PoolClosedError",
    "PoolFuture",
    "PoolStats",
    "TimingSummary",
    "UnknownHandlerError",
]
