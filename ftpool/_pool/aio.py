"""The pool's asyncio side: tasks that run in the submitter's ``contextvars`` context, and
``Pool.map_async``.

Work submitted from async code (an event loop runs in the submitting thread) runs in a copy of
the submitter's context, as ``asyncio.to_thread`` does: :class:`ContextTask` (``submit``/``run``)
and :class:`ContextChunkTask` (``map_async``) carry that copy and enter it in the worker.

:class:`MapAsyncIterator` is ``map`` for a coroutine: results in input order, as an async
iterator. It reads its input lazily (a plain or an async iterable) with a bounded window: at most
``buffersize`` items read and not yet yielded (and at most ``max_queue`` chunks in flight), so an
endless input works and a slow consumer holds back the reading. Chunks are sized as ``map`` sizes
them for input of unknown length (adaptive), at most half a window per worker. Closing it
early (``aclose()``, the end of ``async with``, ``break`` once the iterator is dropped, the
consuming task cancelled, an item's exception reaching the consumer) cancels the chunks in
flight: queued ones never start, running ones stop at their next item.
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .._aio import copy_context
from .map import MAX_ADAPTIVE_CHUNK, TARGET_CHUNK_SECONDS
from .task import ChunkResult, ChunkTask, Task

if TYPE_CHECKING:
    import contextvars

    from .core import PoolCore

__all__ = ["ContextChunkTask", "ContextTask", "MapAsyncIterator", "context_task"]

MAP_ASYNC_CLOSED_REASON = "the map_async() iterator was closed before this chunk was consumed"


class ContextTask(Task):
    """A task that runs its call inside ``context`` (a copy of the submitter's context)."""

    __slots__ = ("context",)

    def __init__(
        self,
        context: contextvars.Context,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        super().__init__(fn, args, kwargs)
        self.context = context

    def execute(self) -> Any:
        return self.context.run(self.fn, *self.args, **self.kwargs)  # type: ignore[arg-type]


def context_task(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Task:
    """A task for ``fn(*args, **kwargs)`` that runs in a copy of the caller's context (``submit``
    and ``run`` called from async code)."""
    return ContextTask(copy_context(), fn, args, kwargs)


class ContextChunkTask(ChunkTask):
    """A ``map_async`` chunk that runs inside its own copy of the submitter's context (a context
    can be entered by one thread at a time, so every chunk gets a copy)."""

    __slots__ = ("context",)

    def __init__(
        self, context: contextvars.Context, fn: Callable[..., Any], items: list[Any]
    ) -> None:
        super().__init__(fn, items, False)
        self.context = context

    def execute(self) -> ChunkResult:
        return self.context.run(ChunkTask.execute, self)


#: ``map_async``'s default window: this many items read ahead per worker.
WINDOW_PER_WORKER = 4096


class _ChunkSizer:
    """``map_async``'s chunk sizes: fixed, or adaptive (from 1, doubling while a chunk runs
    under ``TARGET_CHUNK_SECONDS``, halving over 4x that), never above ``cap``."""

    __slots__ = ("adaptive", "cap", "size")

    def __init__(self, fixed: int | None, cap: int) -> None:
        self.adaptive = fixed is None
        self.cap = cap
        self.size = 1 if fixed is None else min(fixed, cap)

    def learn(self, task: ChunkTask) -> None:
        if not self.adaptive or task.size < self.size // 2:  # ignore a short last chunk
            return
        if task.elapsed < TARGET_CHUNK_SECONDS:
            self.size = min(self.size * 2, self.cap)
        elif task.elapsed > 4 * TARGET_CHUNK_SECONDS:
            self.size = max(1, self.size // 2)


class MapAsyncIterator[T](AsyncIterator[T]):
    """What ``Pool.map_async`` returns: ``async for result in it`` (see the module docstring).

    ``__anext__`` never blocks the event loop on the workers: it awaits the oldest chunk. It
    raises an item's exception when that item's result is reached (the chunks in flight are
    cancelled then), :class:`~ftpool.Cancelled` when the pool cancelled a chunk
    (``terminate()``), and the pool's closed error if the pool was shut down before all the input
    was submitted. Also an async context manager: ``async with pool.map_async(...) as results:``
    closes it at the end of the block.
    """

    def __init__(
        self,
        core: PoolCore,
        fn: Callable[[Any], T],
        *,
        iterable: Iterable[Any] | AsyncIterable[Any],
        chunksize: int | None,
        buffersize: int | None,
        context: contextvars.Context,
    ) -> None:
        self._core = core
        self._fn = fn
        self._sync_source: Iterator[Any] | None = None
        self._async_source: AsyncIterator[Any] | None = None
        if isinstance(iterable, AsyncIterable):
            self._async_source = aiter(iterable)
        else:
            self._sync_source = iter(iterable)
        workers = core.max_workers
        window = WINDOW_PER_WORKER * workers if buffersize is None else buffersize
        self._window = window  # items read and not yet yielded, at most
        # about two chunks per worker fit in the window, so the workers stay busy while the
        # consumer reads one chunk
        cap = min(MAX_ADAPTIVE_CHUNK, max(1, window // (2 * workers)))
        self._sizer = _ChunkSizer(chunksize, cap if chunksize is None else window)
        self._max_chunks = core.max_queue  # backpressure instead of QueueFull (None: no limit)
        self._held = 0  # items read and not yet yielded (in flight, or done and not yet taken)
        self._context = context
        self._inflight: collections.deque[ChunkTask] = collections.deque()  # oldest first
        self._results: collections.deque[Any] = collections.deque()  # of the chunk consumed
        self._error: BaseException | None = None  # raised after the results before it
        self._exhausted = False  # the input has been read to its end
        self._closed = False
        self._busy = False  # an __anext__ is running (guards against two consumers at once)

    def __aiter__(self) -> MapAsyncIterator[T]:
        return self

    async def __anext__(self) -> T:
        """The next result in input order; ``StopAsyncIteration`` after the last one (or once
        closed). One consumer at a time: a second ``__anext__`` while one is waiting raises
        ``RuntimeError`` (as an async generator does)."""
        if self._busy:
            raise RuntimeError(
                "map_async(): __anext__() called while another call is waiting for a result; "
                "consume the iterator from one task at a time"
            )
        self._busy = True
        try:
            return await self._next()
        finally:
            self._busy = False

    async def _next(self) -> T:
        while True:
            if self._results:
                self._held -= 1
                return self._results.popleft()  # type: ignore[no-any-return]
            error = self._error
            if error is not None:
                self._error = None
                self._close()
                raise error
            if self._closed:
                raise StopAsyncIteration
            try:
                await self._fill()
                if not self._inflight:
                    self._closed = True
                    raise StopAsyncIteration
                task = self._inflight[0]
                results, error = await task.future
            except BaseException:
                # cancelled while waiting, the pool closed or cancelled the chunk, the input
                # raised: nothing more is taken from this iterator
                self._close()
                raise
            self._inflight.popleft()
            self._sizer.learn(task)
            self._held -= task.size - len(results)  # the items after an exception never ran
            del task
            self._results.extend(results)
            self._error = error

    async def _fill(self) -> None:
        """Read and submit chunks until the window is full (``buffersize`` items held, or
        ``max_queue`` chunks in flight) or the input is exhausted."""
        inflight = self._inflight
        core = self._core
        max_chunks = self._max_chunks
        while not self._exhausted and (max_chunks is None or len(inflight) < max_chunks):
            count = min(self._sizer.size, self._window - self._held)
            if count <= 0:
                return
            items = await self._read(count)
            if len(items) < count:
                self._exhausted = True
            if not items or self._closed:  # (closed while an async input was awaited)
                return
            task = ContextChunkTask(self._context.copy(), self._fn, items)
            core.check_open()
            core.push(task)
            inflight.append(task)
            self._held += len(items)

    async def _read(self, count: int) -> list[Any]:
        source = self._sync_source
        if source is not None:
            items = []
            for item in source:
                items.append(item)
                if len(items) >= count:
                    break
            return items
        asource = self._async_source
        assert asource is not None
        items = []
        while len(items) < count:
            try:
                items.append(await anext(asource))
            except StopAsyncIteration:
                break
        return items

    def _close(self) -> None:
        self._closed = True
        self._results.clear()
        self._held = 0
        inflight, self._inflight = self._inflight, collections.deque()
        for task in inflight:
            task.cancel(MAP_ASYNC_CLOSED_REASON)

    async def aclose(self) -> None:
        """Stop: cancel the chunks in flight (queued ones never start, running ones stop at
        their next item) and read no more input. Never blocks; idempotent. An async input is
        closed too (its ``aclose()`` awaited) if it has one."""
        self._close()
        source, self._async_source = self._async_source, None
        self._sync_source = None
        close = getattr(source, "aclose", None)
        if close is not None:
            await close()

    async def __aenter__(self) -> MapAsyncIterator[T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the iterator (:meth:`aclose`)."""
        await self.aclose()

    def __del__(self) -> None:
        # Dropped without being exhausted or closed (``break`` out of ``async for``): the work
        # in flight is no longer wanted. Task.cancel never blocks and takes only leaf locks.
        if not getattr(self, "_closed", True) and self._inflight:
            self._close()
