"""``Pool.map`` and ``Pool.imap_unordered``: many calls of one function, batched into chunks.

Tiny tasks are cheap when the per-task costs (a future, a queue operation, a wakeup, a result
hand-off) are paid per *chunk* of items, not per item: a worker applies the function to a whole
chunk with C-level ``map`` and hands back one list. The chunk size:

* ``chunksize=None`` and an input of known length ``n``: ``ceil(n / (4 * max_workers))``, about
  four chunks per worker (multiprocessing's rule), so the load still balances;
* ``chunksize=None`` and input of unknown length (only read lazily, with ``max_queue``): adaptive,
  starting at 1 item and doubling while a chunk runs under :data:`TARGET_CHUNK_SECONDS`, halving
  when it runs over 4x that;
* ``chunksize=k``: ``k`` items per chunk (``chunksize=1`` is one task per item, like
  ``ThreadPoolExecutor``).

Without ``max_queue`` the input is read and submitted at the call, as the standard library does.
With ``max_queue=N`` it is read lazily and at most N chunks are in flight (submitted and not yet
consumed by the caller): backpressure instead of ``QueueFull``.

Closing the returned iterator early (or a ``TimeoutError``, or an item's exception reaching the
caller) cancels the chunks still in flight: waiting ones never start, running ones stop at their
next item.
"""

from __future__ import annotations

import functools
import itertools
import queue
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from .task import ChunkResult, ChunkTask

if TYPE_CHECKING:
    from .core import PoolCore

__all__ = ["MapIterator", "auto_chunksize", "imap_unordered", "map_ordered"]

#: The run time that the adaptive chunk size aims at for each chunk (seconds).
TARGET_CHUNK_SECONDS = 0.002
#: The largest adaptive chunk.
MAX_ADAPTIVE_CHUNK = 1 << 16

MAP_CLOSED_REASON = "the map() result iterator was closed before this chunk was consumed"


def auto_chunksize(count: int, workers: int) -> int:
    """About four chunks per worker for ``count`` items: ``ceil(count / (4 * workers))``, >= 1."""
    return max(1, -(-count // (4 * workers)))


class _Sizer:
    """Chunk sizes: fixed, or adaptive from the measured run time of finished chunks."""

    __slots__ = ("adaptive", "size")

    def __init__(self, fixed: int | None) -> None:
        self.adaptive = fixed is None
        self.size = 1 if fixed is None else fixed

    def learn(self, task: ChunkTask) -> None:
        if not self.adaptive or task.size < self.size // 2:  # ignore a short last chunk
            return
        if task.elapsed < TARGET_CHUNK_SECONDS:
            self.size = min(self.size * 2, MAX_ADAPTIVE_CHUNK)
        elif task.elapsed > 4 * TARGET_CHUNK_SECONDS:
            self.size = max(1, self.size // 2)


def _source(iterables: tuple[Iterable[Any], ...]) -> tuple[Iterator[Any], bool, int | None]:
    """The items (bare values for one iterable, tuples for several), whether to star-call, and
    the count when every iterable has a length."""
    try:
        count: int | None = min(len(it) for it in iterables)  # type: ignore[arg-type]
    except TypeError:
        count = None
    if len(iterables) == 1:
        return iter(iterables[0]), False, count
    return zip(*iterables, strict=False), True, count  # stops at the shortest, as map() does


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


class _MapRun:
    """One ``map``/``imap_unordered`` call: the source, the chunks in flight, the sizing."""

    def __init__(
        self,
        core: PoolCore,
        fn: Callable[..., Any],
        iterables: tuple[Iterable[Any], ...],
        timeout: float | None,
        chunksize: int | None,
    ) -> None:
        self.core = core
        self.fn = fn
        self.deadline = None if timeout is None else time.monotonic() + timeout
        source, self.star, count = _source(iterables)
        self.window = core.max_queue  # None: everything is submitted now
        if self.window is None:
            items = list(source)  # read at the call, as Executor.map does
            count = len(items)
            source = iter(items)
            del items
        self.source = source
        if chunksize is None and count is not None:
            chunksize = auto_chunksize(count, core.max_workers)
        self.sizer = _Sizer(chunksize)
        # chunks submitted and not yet consumed, oldest first (an insertion-ordered set)
        self.inflight: dict[ChunkTask, None] = {}
        self.done: queue.SimpleQueue[ChunkTask] | None = None  # completion order (unordered)

    def fill(self) -> None:
        """Submit chunks until the window is full or the source is exhausted. On an error
        (shutdown meanwhile), cancel what is in flight and raise."""
        limit = self.window if self.window is not None else 1 << 62
        inflight = self.inflight
        core = self.core
        try:
            while len(inflight) < limit:
                items = list(itertools.islice(self.source, self.sizer.size))
                if not items:
                    return
                task = ChunkTask(self.fn, items, self.star)
                core.check_open()
                core.push(task)
                inflight[task] = None
                if self.done is not None:
                    task.future.add_done_callback(functools.partial(_announce, self.done, task))
        except BaseException:
            self.cancel()
            raise

    def refill(self, task: ChunkTask) -> None:
        """``task`` was consumed: learn from its run time and top the window up."""
        if self.window is not None:
            self.sizer.learn(task)
            self.fill()

    def cancel(self) -> None:
        """Cancel every chunk still in flight (waiting ones never start, running ones stop at
        their next item)."""
        inflight, self.inflight = self.inflight, {}
        for task in inflight:
            task.cancel(MAP_CLOSED_REASON)

    def ordered(self) -> Iterator[Any]:
        """Results in input order."""
        try:
            while self.inflight:
                task = next(iter(self.inflight))
                done: ChunkResult = task.future.result(_remaining(self.deadline))
                del self.inflight[task]
                self.refill(task)  # keep the workers busy while the caller consumes
                del task
                results, error = done
                del done
                yield from results
                if error is not None:
                    raise error
        finally:
            self.cancel()

    def unordered(self) -> Iterator[Any]:
        """Results chunk by chunk in completion order."""
        done = self.done
        assert done is not None
        try:
            while self.inflight:
                try:
                    task = done.get(timeout=_remaining(self.deadline))
                except queue.Empty:
                    raise TimeoutError("imap_unordered() timed out waiting for results") from None
                del self.inflight[task]
                result: ChunkResult = task.future.result()
                self.refill(task)
                del task
                results, error = result
                del result
                yield from results
                if error is not None:
                    raise error
        finally:
            self.cancel()


def _announce(done: queue.SimpleQueue[ChunkTask], task: ChunkTask, _: object) -> None:
    done.put(task)


class MapIterator(Iterator[Any]):
    """The iterator that ``map``/``imap_unordered`` return. ``close()`` cancels the chunks still
    in flight even before the first ``next()`` (closing a generator that never started would
    run nothing). Exhausting it, an exception or a timeout cancels them too."""

    __slots__ = ("_results", "_run")

    def __init__(self, run: _MapRun, results: Iterator[Any]) -> None:
        self._run = run
        self._results = results

    def __next__(self) -> Any:
        return next(self._results)

    def close(self) -> None:
        """Stop: cancel what is in flight (waiting chunks never start, running ones stop at
        their next item). Idempotent."""
        close = getattr(self._results, "close", None)
        if close is not None:
            close()
        self._run.cancel()


def map_ordered(
    core: PoolCore,
    fn: Callable[..., Any],
    iterables: tuple[Iterable[Any], ...],
    timeout: float | None,
    chunksize: int | None,
) -> Iterator[Any]:
    """Submit the chunks (all now, or the first ``max_queue`` with backpressure) and return an
    iterator of the results in input order. See the module docstring."""
    run = _MapRun(core, fn, iterables, timeout, chunksize)
    run.fill()
    return MapIterator(run, run.ordered())


def imap_unordered(
    core: PoolCore,
    fn: Callable[..., Any],
    iterable: Iterable[Any],
    chunksize: int | None,
    timeout: float | None,
) -> Iterator[Any]:
    """Like :func:`map_ordered` for one iterable, yielding each chunk's results as soon as that
    chunk is done (completion order between chunks, input order within one)."""
    run = _MapRun(core, fn, (iterable,), timeout, chunksize)
    run.done = queue.SimpleQueue()
    run.fill()
    return MapIterator(run, run.unordered())
