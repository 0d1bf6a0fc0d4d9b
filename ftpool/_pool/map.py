"""``Pool.map`` and ``Pool.imap_unordered``: many calls of one function, batched into chunks.

Tiny tasks are cheap when the per-task costs (a future, a queue operation, a wakeup, a result
hand-off) are paid per *chunk* of items, not per item: a worker applies the function to a whole
chunk with C-level ``map`` and hands back one list. The chunk size:

* ``chunksize=None`` and an input of known length ``n``: ``ceil(n / (4 * max_workers))``, about
  four chunks per worker (multiprocessing's rule), so the load still balances;
* ``chunksize=None`` and an input read lazily whose length is unknown: adaptive, starting at 1
  item and doubling while a chunk runs under :data:`TARGET_CHUNK_SECONDS`, halving when it runs
  over 4x that;
* ``chunksize=k``: ``k`` items per chunk (``chunksize=1`` is one task per item, like
  ``ThreadPoolExecutor``).

How much is read ahead (the *window*):

* ``map`` without ``buffersize`` (and without ``max_queue``) reads the whole input and submits it
  at the call, as the standard library does.
* ``map(..., buffersize=N)`` (Python 3.14's signature) reads the input lazily: at most ``N``
  items are read and not yet returned to the caller (submitted, running, done and waiting to be
  yielded), so an endless input works and memory stays flat however long the input is. A chunk
  then holds at most ``max(1, N // (2 * max_workers))`` items, so that several chunks keep the
  workers busy while the caller reads.
* ``imap_unordered`` always reads lazily, with a window of :data:`UNORDERED_WINDOW_PER_WORKER`
  items per worker unless ``buffersize`` says otherwise.
* ``max_queue=M`` on the pool also bounds both to ``M`` chunks in flight (backpressure instead of
  ``QueueFull``).

Results are handed over one by one: the iterator pops each result from its chunk's list as it
yields it, so a yielded result is no longer referenced by the pool (only the results in flight
are held, never the whole output).

Closing the returned iterator early (or dropping it after the first ``next()``, or a
``TimeoutError``, or an item's exception reaching the caller) cancels the chunks still in
flight: waiting ones never start, running ones stop at their next item.
"""

from __future__ import annotations

import itertools
import queue
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from .._timeouts import check_timeout
from .task import ChunkResult, ChunkTask

if TYPE_CHECKING:
    from .core import PoolCore

__all__ = ["MapIterator", "auto_chunksize", "imap_unordered", "map_ordered"]

#: The run time that the adaptive chunk size aims at for each chunk (seconds).
TARGET_CHUNK_SECONDS = 0.002
#: The largest adaptive chunk.
MAX_ADAPTIVE_CHUNK = 1 << 16
#: ``imap_unordered``'s default window: this many items read ahead per worker.
UNORDERED_WINDOW_PER_WORKER = 4096

MAP_CLOSED_REASON = "the map() result iterator was closed before this chunk was consumed"

_monotonic = time.monotonic


def auto_chunksize(count: int, workers: int) -> int:
    """About four chunks per worker for ``count`` items: ``ceil(count / (4 * workers))``, >= 1."""
    return max(1, -(-count // (4 * workers)))


def window_chunk_cap(buffersize: int, workers: int) -> int:
    """The largest chunk under an item window of ``buffersize``: about two chunks per worker fit
    in the window, so the workers stay busy while the caller reads one chunk."""
    return max(1, buffersize // (2 * workers))


class _Sizer:
    """Chunk sizes: fixed, or adaptive from the measured run time of finished chunks."""

    __slots__ = ("adaptive", "cap", "size")

    def __init__(self, fixed: int | None, cap: int) -> None:
        self.adaptive = fixed is None
        self.cap = cap
        self.size = 1 if fixed is None else fixed

    def learn(self, task: ChunkTask) -> None:
        if not self.adaptive or task.size < self.size // 2:  # ignore a short last chunk
            return
        if task.elapsed < TARGET_CHUNK_SECONDS:
            self.size = min(self.size * 2, self.cap)
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


class MapIterator(Iterator[Any]):
    """The iterator that ``map`` (``ordered``) and ``imap_unordered`` return.

    One ``map`` call: the source, the chunks in flight, the sizing, and the results of the chunk
    being yielded, kept reversed in ``_results`` so that each ``next()`` pops (releases) one.

    ``close()`` cancels the chunks still in flight, also before the first ``next()``; exhausting
    it, an exception, a timeout or dropping it after the first ``next()`` does too (dropped
    before, its work runs, as with the standard library's ``map``).
    """

    __slots__ = (
        "__weakref__",
        "_chunk_limit",
        "_core",
        "_deadline",
        "_done",
        "_error",
        "_fn",
        "_inflight",
        "_inflight_items",
        "_item_limit",
        "_results",
        "_sizer",
        "_source",
        "_star",
        "_started",
        "_timeout",
    )

    def __init__(
        self,
        core: PoolCore,
        fn: Callable[..., Any],
        iterables: tuple[Iterable[Any], ...],
        *,
        timeout: float | None,
        chunksize: int | None,
        buffersize: int | None,
        ordered: bool,
    ) -> None:
        # (set first: __del__ and close() read them even when this __init__ raises)
        self._inflight: dict[Future[Any], ChunkTask] = {}
        self._results: list[Any] = []
        self._error: BaseException | None = None
        self._source: Iterator[Any] | None = None
        self._started = False
        self._core = core
        self._fn = fn
        self._timeout = timeout
        self._deadline = None if timeout is None else _monotonic() + timeout
        source, self._star, count = _source(iterables)
        workers = core.max_workers
        if not ordered and buffersize is None:
            buffersize = UNORDERED_WINDOW_PER_WORKER * workers
        self._item_limit = buffersize  # None: no bound on the items read ahead
        self._chunk_limit = core.max_queue  # None: no bound on the chunks in flight
        if buffersize is None and core.max_queue is None:
            items = list(source)  # read at the call, as Executor.map does
            count = len(items)
            source = iter(items)
            del items
        cap = MAX_ADAPTIVE_CHUNK if buffersize is None else window_chunk_cap(buffersize, workers)
        if chunksize is None and count is not None:
            chunksize = min(auto_chunksize(count, workers), cap)
        # (an explicit chunksize is kept; _fill() still never reads past the item window)
        self._sizer = _Sizer(chunksize, cap)
        self._source = source
        self._inflight_items = 0
        # chunks in completion order (imap_unordered); map takes the oldest instead
        self._done: queue.SimpleQueue[Future[Any]] | None = (
            None if ordered else queue.SimpleQueue()
        )
        self._fill()

    # --- reading the input and submitting chunks ------------------------------------------------

    def _fill(self) -> None:
        """Submit chunks until a window is full or the source is exhausted. On an error (the
        pool shut down meanwhile, or the input raised), cancel what is in flight and raise."""
        source = self._source
        if source is None:
            return
        inflight = self._inflight
        core = self._core
        sizer = self._sizer
        chunk_limit = self._chunk_limit
        item_limit = self._item_limit
        done = self._done
        try:
            while chunk_limit is None or len(inflight) < chunk_limit:
                size = sizer.size
                if item_limit is not None:
                    room = item_limit - self._inflight_items - len(self._results)
                    if room < 1:
                        return
                    size = min(size, room)
                items = list(itertools.islice(source, size))
                if not items:
                    self._source = None  # exhausted: drop it (and what it holds)
                    return
                task = ChunkTask(self._fn, items, self._star)
                del items
                core.check_open()
                core.push(task)
                future = task.future
                inflight[future] = task
                self._inflight_items += task.size
                if done is not None:
                    future.add_done_callback(done.put)
        except BaseException:
            self._stop()
            raise

    # --- handing results over -------------------------------------------------------------------

    def __next__(self) -> Any:
        try:
            return self._results.pop()  # releases the result as it is handed over
        except IndexError:
            return self._next_chunk()

    def _next_chunk(self) -> Any:
        """The first result of the next chunk (the current one is used up): raise the error
        that ended the previous chunk, refill the window, then wait for a chunk."""
        self._started = True
        while True:
            error = self._error
            if error is not None:
                self._error = None
                self._stop()
                raise error
            self._fill()
            if not self._inflight:
                self._stop()
                raise StopIteration
            try:
                future = self._take()
            except BaseException:
                self._stop()
                raise
            task = self._inflight.pop(future)
            self._inflight_items -= task.size
            if self._source is not None:
                self._sizer.learn(task)
            del task
            try:
                outcome: ChunkResult = future.result()
            except BaseException:  # the chunk was cancelled (terminate, shutdown)
                self._stop()
                raise
            del future  # the caller holds no future: the chunk's list is only ours now
            results, self._error = outcome
            del outcome
            if results:
                results.reverse()
                self._results = results
                return results.pop()

    def _take(self) -> Future[Any]:
        """The next finished chunk's future (the oldest for map; the first done for
        imap_unordered), waiting up to the call's deadline."""
        deadline = self._deadline
        done = self._done
        if done is None:
            future = next(iter(self._inflight))
            remaining = None if deadline is None else max(0.0, deadline - _monotonic())
            if remaining is not None and not future.done():
                # Future.wait semantics without raising inside result(): a timeout ends the map
                with future._condition:
                    if not future.done():
                        future._condition.wait(remaining)
                if not future.done():
                    raise TimeoutError(
                        f"map() timed out: a result was not ready within {self._timeout} s "
                        "of the call; the chunks still in flight are cancelled"
                    )
            return future
        try:
            if deadline is None:
                return done.get()
            return done.get(timeout=max(0.0, deadline - _monotonic()))
        except queue.Empty:
            raise TimeoutError(
                f"imap_unordered() timed out: no result within {self._timeout} s of the call; "
                "the chunks still in flight are cancelled"
            ) from None

    # --- stopping -------------------------------------------------------------------------------

    def _stop(self) -> None:
        """Cancel every chunk still in flight (waiting ones never start, running ones stop at
        their next item) and drop the input and any result not yet handed over."""
        inflight, self._inflight = self._inflight, {}
        self._inflight_items = 0
        self._source = None
        self._results = []
        for task in inflight.values():
            task.cancel(MAP_CLOSED_REASON)
        done = self._done
        if done is not None:  # finished chunks nobody will read: drop their results now
            while not done.empty():
                done.get_nowait()

    def close(self) -> None:
        """Stop: cancel what is in flight (waiting chunks never start, running ones stop at
        their next item); later ``next()`` calls raise ``StopIteration``. Idempotent."""
        self._error = None
        self._stop()

    def __del__(self) -> None:
        # Dropped after the first next() and before it was used up: cancel the chunks nobody
        # will read, as the standard library's result generator does in its ``finally``. An
        # iterator dropped before any next() lets its work run, as there (a generator that
        # never started runs no ``finally``): ``pool.map(fn, items)`` for the side effects.
        if self._started and self._inflight:
            self._stop()


def check_map_arguments(
    fn: object, timeout: object, chunksize: object, buffersize: object, where: str
) -> float | None:
    """Check the arguments of a pool's ``map``/``imap_unordered`` (``where`` names the call) and
    return the timeout in seconds (None: no limit). ``TypeError`` for a non-callable or a
    non-int ``chunksize``/``buffersize``, ``ValueError`` for one below 1 or a bad timeout."""
    if not callable(fn):
        raise TypeError(f"map() needs a callable, got {type(fn).__name__}")
    seconds = check_timeout(timeout, where)
    for value, what, meaning in (
        (chunksize, "chunksize", "must be >= 1 (or None: automatic)"),
        (buffersize, "buffersize", "must be None or > 0 (the most items read ahead)"),
    ):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{what} must be an int, got {value!r}")
        if value < 1:
            raise ValueError(f"{what} {meaning}, got {value}")
    return seconds


def map_ordered(
    core: PoolCore,
    fn: Callable[..., Any],
    iterables: tuple[Iterable[Any], ...],
    *,
    timeout: float | None,
    chunksize: int | None,
    buffersize: int | None,
) -> MapIterator:
    """Submit the chunks (all now; or a first window, see the module docstring) and return an
    iterator of the results in input order."""
    return MapIterator(
        core, fn, iterables,
        timeout=timeout, chunksize=chunksize, buffersize=buffersize, ordered=True,
    )


def imap_unordered(
    core: PoolCore,
    fn: Callable[..., Any],
    iterable: Iterable[Any],
    *,
    chunksize: int | None,
    timeout: float | None,
    buffersize: int | None,
) -> MapIterator:
    """Like :func:`map_ordered` for one iterable, read lazily, yielding each chunk's results as
    soon as that chunk is done (completion order between chunks, input order within one)."""
    return MapIterator(
        core, fn, (iterable,),
        timeout=timeout, chunksize=chunksize, buffersize=buffersize, ordered=False,
    )
