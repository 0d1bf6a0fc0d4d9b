"""``ftpool.Pool``: the seed article's worker pool with Piscina's features, and a drop-in
``concurrent.futures.Executor`` (code written for ``ThreadPoolExecutor`` works unchanged).

This module is the public face only: argument checks, the documented methods, and the handler
registry. The machinery is private: ``core`` (workers, shutdown, stats), ``balancer``
(dispatch, sleeping and waking), ``taskqueue`` (the FIFO), ``worker`` (a worker's
loop), ``task`` (tasks and their futures), ``timer`` (timeouts),
``map`` (chunked ``map``), ``stats`` (counters and ``PoolStats``).
"""

from __future__ import annotations

import concurrent.futures
import itertools
import sys
from collections.abc import AsyncIterable, Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar, overload

from .._context import CancelToken
from .._errors import FtpoolError
from .._events import Listeners
from .._runtime import usable_cores
from .._timeouts import check_timeout
from .core import PoolCore, interpreter_exiting
from .map import check_map_arguments, imap_unordered, map_ordered
from .stats import PoolStats
from .task import PoolFuture, Task

if TYPE_CHECKING:
    from .aio import MapAsyncIterator

__all__ = ["Pool", "UnknownHandlerError"]

P = ParamSpec("P")
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

EVENTS = ("drain", "worker_create", "worker_exit", "error")

_pool_numbers = itertools.count()
# Whether submit()/run() are called from async code: asyncio's C function that returns the loop
# running in this thread, kept here once asyncio has been imported (before that, no loop can run
# and the check is one dict lookup in sys.modules).
# The asyncio side (ftpool._aio, .aio) is imported then too, not by import ftpool.
_modules = sys.modules
_loop_probe: Callable[[], object] | None = None
_context_task: Any = None  # .aio.context_task(fn, args, kwargs), set with _loop_probe


def _find_loop_probe() -> Callable[[], object] | None:
    global _loop_probe, _context_task
    from .._aio import loop_probe  # noqa: PLC0415 - asyncio is imported: its bridge now

    probe = loop_probe()
    if probe is not None:
        from .aio import context_task  # noqa: PLC0415

        _context_task = context_task  # before the probe: a thread that sees it sees this
        _loop_probe = probe
    return probe


class UnknownHandlerError(FtpoolError, KeyError):
    """``Pool.run(name=...)`` named no registered handler (or the pool has no default ``task``).

    An :class:`~ftpool.FtpoolError` and a ``KeyError`` (the name is the missing key), raised by
    ``run`` itself, never later in a worker. The message names the known handlers.
    """

    def __str__(self) -> str:  # KeyError would show the message quoted, as a repr
        return str(self.args[0]) if self.args else ""


def _check_count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, got {value!r}")
    return value


class Pool(concurrent.futures.Executor):
    """A pool of worker threads (Node's worker pool; Piscina's API; a ``concurrent.futures``
    executor). On 3.13t with the GIL off, its workers run Python code in parallel.

    ``Pool(max_workers=None, thread_name_prefix="ftpool", initializer=None, initargs=(), *,
    task=None, handlers=None, min_workers=None, idle_timeout=None, max_queue=None,
    balancer="least-busy")``

    The positional parameters are exactly ``ThreadPoolExecutor``'s, so ``Pool(8)`` is
    ``ThreadPoolExecutor(8)`` with the class name changed; everything ftpool adds is keyword-only.

    * ``max_workers``: at most this many threads (default: the usable cores). 0 or less raises
      ``ValueError("max_workers must be greater than 0")``, as ``ThreadPoolExecutor``.
    * ``min_workers`` (default 0): started at once and never retired. Workers beyond it start on
      demand (a task finds no idle worker) and, with ``idle_timeout`` seconds (default None:
      never), retire after that long idle. ``min_workers > max_workers`` or negative values raise
      ``ValueError``.
    * ``task``: what :meth:`run` calls by default; ``handlers``: ``{name: callable}`` for
      ``run(name=...)`` (more with the :meth:`handler` decorator).
    * ``max_queue``: at most this many tasks wait; ``submit``/``run`` then raise
      :class:`~ftpool.QueueFull`, and ``map``/``imap_unordered`` keep at most this many chunks in
      flight instead. ``"auto"`` means ``max_workers ** 2`` (Piscina's). None: unbounded.
    * ``balancer``: ``"least-busy"`` (the first idle worker takes the next task; Piscina) or
      ``"round-robin"`` (tasks are dealt to the workers in turn, each with its own queue; the
      seed article's pool). Either way tasks start in the order they were queued (per queue).
    * ``initializer(*initargs)`` runs in each worker before its first task. If it raises, the
      pool is broken: queued futures fail with :class:`~ftpool.BrokenPool` (also a
      ``concurrent.futures.BrokenExecutor``; ``__cause__`` is the exception), later submits raise
      it.
    * ``thread_name_prefix``: threads are named ``<prefix>_<n>`` (default ``"ftpool"``; an empty
      prefix gives ``ftpool-<pool number>_<n>``, so threads are always named).

    Closing: :meth:`shutdown`, :meth:`close` and ``with Pool(...) as pool:`` let queued and
    running tasks finish; :meth:`terminate` cancels them. Every submitted task ends exactly once
    (a result, an exception, or cancelled), also when the pool is dropped without shutdown (its
    threads finish the queue and exit) and at interpreter exit (queued work completes first).
    Submitting after any of these raises ``RuntimeError('cannot schedule new futures after
    shutdown')`` (also a :class:`~ftpool.ClosedError`).

    Inside a task: ``ftpool.is_main_thread()`` is False, ``ftpool.thread_id()`` is the worker's
    unique id, and ``ftpool.check_cancelled()`` raises :class:`~ftpool.Cancelled` once the task is
    cancelled (``Future.cancel()``, ``run(cancel=token)``, ``terminate()``) or past its
    ``run(timeout=)`` deadline. A task's exception goes into its future and never ends its
    worker.
    """

    def __init__(
        self,
        max_workers: int | None = None,
        thread_name_prefix: str = "ftpool",
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
        *,
        task: Callable[[Any], Any] | None = None,
        handlers: Mapping[str, Callable[[Any], Any]] | None = None,
        min_workers: int | None = None,
        idle_timeout: float | None = None,
        max_queue: int | Literal["auto"] | None = None,
        balancer: str = "least-busy",
    ) -> None:
        if max_workers is None:
            max_workers = usable_cores()
        if callable(max_workers):
            raise TypeError(
                "max_workers must be an int, got a callable: the first positional parameter is "
                "max_workers, as ThreadPoolExecutor's; pass the default task as Pool(task=fn)"
            )
        max_workers = _check_count(max_workers, "max_workers")
        if max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        min_workers = 0 if min_workers is None else _check_count(min_workers, "min_workers")
        if min_workers < 0:
            raise ValueError(f"min_workers must be >= 0, got {min_workers}")
        if min_workers > max_workers:
            raise ValueError(
                f"min_workers ({min_workers}) must not exceed max_workers ({max_workers}); "
                "lower min_workers or raise max_workers"
            )
        idle_timeout = check_timeout(idle_timeout, "Pool(idle_timeout=...)")
        if max_queue == "auto":
            max_queue = max_workers * max_workers
        elif max_queue is not None:
            max_queue = _check_count(max_queue, "max_queue")
            if max_queue < 1:
                raise ValueError(
                    f"max_queue must be >= 1 (or None for no limit, or 'auto'), got {max_queue}"
                )
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        if not isinstance(initargs, tuple):
            raise TypeError(f"initargs must be a tuple, got {type(initargs).__name__}")
        if task is not None and not callable(task):
            raise TypeError(f"task must be a callable or None, got {type(task).__name__}")
        if not isinstance(thread_name_prefix, str):
            raise TypeError("thread_name_prefix must be a str")
        if handlers is not None and not isinstance(handlers, Mapping):
            raise TypeError(
                f"handlers must be a mapping of name -> callable (e.g. a dict) or None, got "
                f"{type(handlers).__name__}"
            )
        self._handlers: dict[str, Callable[[Any], Any]] = {}
        for name, fn in (handlers or {}).items():
            self._check_handler(name, fn)
            self._handlers[name] = fn
        self._task = task
        self._listeners = Listeners("Pool", EVENTS)
        self._core = PoolCore(
            max_workers=max_workers,
            min_workers=min_workers,
            idle_timeout=idle_timeout,
            max_queue=max_queue,
            balancer=balancer,
            initializer=initializer,
            initargs=initargs,
            name_prefix=thread_name_prefix or f"ftpool-{next(_pool_numbers)}",
            listeners=self._listeners,
        )
        self._core.watch(self)
        self._core.start_workers(min_workers)

    # --- the Executor interface ------------------------------------------------------------------

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> PoolFuture[T]:
        """Schedule ``fn(*args, **kwargs)``; return its future at once (never blocks).

        Raises ``TypeError`` for a non-callable ``fn``, :class:`~ftpool.QueueFull` when
        ``max_queue`` tasks wait, ``RuntimeError`` after shutdown, and
        :class:`~ftpool.BrokenPool` once an initializer failed. The future's ``cancel()`` also
        stops a running task at its next ``check_cancelled()`` (see :class:`PoolFuture`).

        From a coroutine, ``await pool.submit(fn, x)`` gives the result without blocking the
        event loop, and cancelling the awaiting task cancels the pool task (see
        ``PoolFuture.__await__``). Context: called while an asyncio event loop runs in this
        thread (from async code), ``fn`` runs in a copy of the caller's ``contextvars`` context,
        as with ``asyncio.to_thread``; called from sync code it runs in the worker's own
        context, as with ``ThreadPoolExecutor``.
        """
        if not callable(fn):
            raise TypeError(
                f"submit() needs a callable as first argument, got {type(fn).__name__}: "
                "pass the function and its arguments, e.g. pool.submit(fn, x)"
            )
        core = self._core
        if core.shutdown_started:
            core.raise_closed()
        # From async code (a loop runs in this thread) the task runs in a copy of our context.
        probe = _loop_probe
        if probe is None and "asyncio" in _modules:
            probe = _find_loop_probe()
        if probe is None or probe() is None:
            task = Task(fn, args, kwargs)
        else:
            task = _context_task(fn, args, kwargs)
        if core.max_queue is None:
            core.push(task)
        else:
            core.admit(task)
        return task.future

    def map(
        self,
        fn: Callable[..., T],
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int | None = None,
        buffersize: int | None = None,
    ) -> Iterator[T]:
        """``fn`` applied to every item (several iterables: to their items zipped, stopping at
        the shortest), results in input order, as ``Executor.map``.

        The work goes out in chunks (``chunksize=None`` picks the size, see
        ``ftpool._pool.map``), so tiny calls are cheap. Without ``buffersize`` the input is read
        and submitted at the call, as the standard library does (an endless input never
        returns). With ``buffersize=N`` (Python 3.14's signature) it is read lazily: at most
        ``N`` items are read and not yet yielded, so an endless input works and memory stays
        flat. With the pool's ``max_queue=M``, at most ``M`` chunks are in flight too
        (backpressure, never ``QueueFull``). A result the iterator has yielded is no longer
        referenced by the pool.

        ``timeout`` (seconds from this call; None or ``math.inf``: no limit) makes the iterator
        raise ``TimeoutError`` when a result is not ready in time. An item's exception is
        raised when its result is reached; the items after it in its chunk do not run. Any of
        these, closing the iterator (``close()``) or dropping it after its first ``next()``
        cancels the chunks in flight (dropped unread, its work runs, as the standard library's).
        ``TypeError`` for a non-callable or a non-int ``chunksize``/``buffersize``,
        ``ValueError`` for a negative timeout or a ``chunksize``/``buffersize`` below 1,
        ``RuntimeError`` (:class:`~ftpool.ClosedError`) after shutdown.
        """
        seconds = self._check_map(fn, timeout, chunksize, buffersize, "Pool.map")
        return map_ordered(
            self._core, fn, iterables,
            timeout=seconds, chunksize=chunksize, buffersize=buffersize,
        )

    def imap_unordered(
        self,
        fn: Callable[[Any], T],
        iterable: Iterable[Any],
        chunksize: int | None = None,
        *,
        timeout: float | None = None,
        buffersize: int | None = None,
    ) -> Iterator[T]:
        """``fn(item)`` for every item, yielded as each chunk finishes (chunks in completion
        order, items of one chunk in input order).

        Always reads the input lazily with a bounded window: at most ``buffersize`` items read
        and not yet yielded (default: 4096 per worker), so an endless input works. Chunking,
        ``max_queue``, ``timeout``, errors and early close as :meth:`map`."""
        seconds = self._check_map(fn, timeout, chunksize, buffersize, "Pool.imap_unordered")
        return imap_unordered(
            self._core, fn, iterable,
            chunksize=chunksize, timeout=seconds, buffersize=buffersize,
        )

    def map_async(
        self,
        fn: Callable[[Any], T],
        iterable: Iterable[Any] | AsyncIterable[Any],
        *,
        chunksize: int | None = None,
        buffersize: int | None = None,
    ) -> MapAsyncIterator[T]:
        """``fn(item)`` for every item of ``iterable``, as an async iterator of the results in
        input order: ``async for result in pool.map_async(fn, items):``. Returns at once.

        ``iterable`` may be a plain or an async iterable; it is read lazily, from the consuming
        coroutine, with a bounded window: at most ``buffersize`` items read and not yet yielded
        (default: 4096 per worker; with ``max_queue``, also at most that many chunks in
        flight), so an endless input works and a slow consumer holds back the reading. (A plain
        iterable is read in the event loop's thread: give a slow source as an async iterable.)
        ``chunksize=None`` sizes the chunks adaptively, as :meth:`map` does for input of unknown
        length, at most half a window per worker; ``chunksize=1`` submits one task per item.
        Each chunk runs in its own copy of the caller's ``contextvars`` context (taken at this
        call), as :meth:`submit` from async code.

        Waiting for a result never blocks the event loop (the workers wake it with
        ``call_soon_threadsafe``). An item's exception is raised when its result is reached.
        Closing early cancels the chunks in flight (queued ones never start, running ones stop
        at their next item): ``await it.aclose()``, the end of ``async with
        pool.map_async(...) as it:``, the consuming task being cancelled (``asyncio.timeout``
        around the loop stops the work), an item's exception, or ``break`` once the iterator
        is dropped. ``pool.terminate()`` makes it raise :class:`~ftpool.Cancelled`; a pool
        shut down before all the input was submitted makes it raise the closed error
        (``RuntimeError``). For a deadline use ``asyncio.timeout``.

        ``TypeError`` for a non-callable, an input that is not iterable or a non-int size,
        ``ValueError`` for a ``chunksize`` or ``buffersize`` below 1, ``RuntimeError`` after
        shutdown: all raised here, by the call itself.
        """
        if not callable(fn):
            raise TypeError(f"map_async() needs a callable, got {type(fn).__name__}")
        if not isinstance(iterable, (Iterable, AsyncIterable)):
            raise TypeError(
                f"map_async() needs an iterable or an async iterable of inputs, got "
                f"{type(iterable).__name__}"
            )
        for size, what in ((chunksize, "chunksize"), (buffersize, "buffersize")):
            if size is not None and _check_count(size, what) < 1:
                raise ValueError(f"{what} must be >= 1 (or None: automatic), got {size}")
        core = self._core
        core.check_open()
        from .._aio import copy_context  # noqa: PLC0415 - asyncio code only: import ftpool
        from .aio import MapAsyncIterator  # noqa: PLC0415 - does not pay for these

        return MapAsyncIterator(
            core, fn, iterable=iterable, chunksize=chunksize, buffersize=buffersize,
            context=copy_context(),
        )

    def _check_map(
        self, fn: object, timeout: object, chunksize: object, buffersize: object, where: str
    ) -> float | None:
        seconds = check_map_arguments(fn, timeout, chunksize, buffersize, where)
        self._core.check_open()
        return seconds

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """As ``Executor.shutdown``: take no more work; with ``cancel_futures`` cancel the
        tasks that wait; running (and, without ``cancel_futures``, queued) tasks finish. With
        ``wait``, block until every worker has ended. Idempotent; never raises."""
        self._core.shutdown(wait, cancel_futures=cancel_futures)

    def close(self, timeout: float | None = None) -> None:
        """Take no more work, let everything queued and running finish, and wait for the workers
        to end: up to ``timeout`` seconds (None or ``math.inf``: as long as it takes), then
        ``TimeoutError`` (the pool still finishes in the background). A negative or NaN
        ``timeout`` raises ``ValueError``, a non-number ``TypeError``, and the pool stays open.
        Idempotent."""
        timeout = check_timeout(timeout, "Pool.close")
        self._core.shutdown(wait=False)
        if not self._core.join(timeout):
            raise TimeoutError(
                f"the pool's tasks did not finish within {timeout} s; they go on in the "
                "background (call terminate() to cancel them)"
            )

    def terminate(self, timeout: float | None = None) -> None:
        """Cancel every queued task, ask running tasks to stop through their cancel token (they
        end cancelled at their next ``check_cancelled()``; a task that never checks runs to its
        end), then wait for the workers, up to ``timeout`` seconds (None or ``math.inf``: as
        long as it takes; ``TimeoutError`` after it). Bad timeouts as :meth:`close` (the pool
        is left untouched). Threads are never killed. Idempotent."""
        timeout = check_timeout(timeout, "Pool.terminate")
        self._core.shutdown(wait=False, terminate=True)
        if not self._core.join(timeout):
            raise TimeoutError(
                f"running tasks did not stop within {timeout} s; they have been asked to "
                "(they stop at their next check_cancelled())"
            )

    def __enter__(self) -> Pool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> Literal[False]:
        """Close the pool (:meth:`close`): wait for every task to finish."""
        self.close()
        return False

    # --- Piscina's interface ---------------------------------------------------------------------

    def run(
        self,
        arg: Any = None,
        *,
        name: str | None = None,
        cancel: CancelToken | None = None,
        timeout: float | None = None,
    ) -> PoolFuture[Any]:
        """Piscina's ``run``: schedule ``handler(arg)`` and return its future at once.

        The handler is the pool's ``task``, or the one registered under ``name``; an unknown
        ``name`` (or no default ``task``) raises :class:`UnknownHandlerError` (a ``KeyError``)
        here. ``cancel=token``: cancelling the token cancels the task (removed if it waits,
        stopped at its next check if it runs; an already cancelled token gives an already
        cancelled future). ``timeout``: seconds counted from the moment the task *starts*
        (None or ``math.inf``: none); when they pass, the future fails with ``TimeoutError`` and
        the task is cancelled cooperatively. The deadline holds however late the pool's timer
        thread runs: inside the task ``check_cancelled()`` compares the clock with the deadline
        itself (raising :class:`~ftpool.Cancelled` whose ``reason`` is the ``TimeoutError``),
        and a task that returns or raises after its deadline still ends with ``TimeoutError``,
        its result discarded and counted in ``stats().timed_out``. A negative or NaN
        ``timeout`` raises ``ValueError``, a non-number ``TypeError``; other errors as
        :meth:`submit`.

        Awaitable, and run in a copy of the caller's ``contextvars`` when called from async code,
        as :meth:`submit`: ``await asyncio.wait_for(pool.run(x), 1.0)`` cancels the task when
        the second passes (dequeued, or stopped at its next ``check_cancelled()``).
        """
        fn = self._handler_for(name)
        seconds = check_timeout(timeout, "Pool.run")
        if cancel is not None and not isinstance(cancel, CancelToken):
            raise TypeError(f"cancel must be an ftpool.CancelToken or None, got {cancel!r}")
        core = self._core
        if core.shutdown_started or interpreter_exiting():
            core.raise_closed()
        probe = _loop_probe  # as in submit()
        if probe is None and "asyncio" in _modules:
            probe = _find_loop_probe()
        if probe is None or probe() is None:
            task = Task(fn, (arg,), {})
        else:
            task = _context_task(fn, (arg,), {})
        if seconds is not None:
            task.timeout = seconds
        if cancel is not None:
            if not cancel.add_callback(task.cancel_from_link):  # already cancelled: it never runs
                task.future._cancel_once(cancel.reason)
                core.count_removed(task)
                return task.future
            task.linked = cancel
        try:
            core.admit(task)
        except BaseException:
            task.release()
            raise
        return task.future

    @overload
    def handler(self, name_or_fn: str) -> Callable[[F], F]: ...
    @overload
    def handler(self, name_or_fn: F) -> F: ...
    def handler(self, name_or_fn: str | F) -> Any:
        """Register a handler for ``run(name=...)``: ``@pool.handler`` (under the function's
        ``__name__``) or ``@pool.handler("name")``. Returns the function unchanged. Registering a
        name again replaces the handler for later ``run`` calls."""
        if isinstance(name_or_fn, str):
            name = name_or_fn

            def register(fn: F) -> F:
                self._add_handler(name, fn)
                return fn

            return register
        fn = name_or_fn
        if not callable(fn):
            raise TypeError(
                f"handler() takes a name (str) or a function to register, got "
                f"{type(fn).__name__}: use @pool.handler or @pool.handler('name')"
            )
        self._add_handler(getattr(fn, "__name__", None), fn)
        return fn

    def _add_handler(self, name: object, fn: object) -> None:
        self._check_handler(name, fn)
        assert isinstance(name, str)
        assert callable(fn)
        handlers = dict(self._handlers)  # copy-on-write: run() reads it without a lock
        handlers[name] = fn
        self._handlers = handlers

    @staticmethod
    def _check_handler(name: object, fn: object) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"a handler name must be a non-empty str, got {name!r}")
        if not callable(fn):
            raise TypeError(f"handler {name!r} must be callable, got {type(fn).__name__}")

    def _handler_for(self, name: str | None) -> Callable[[Any], Any]:
        if name is None:
            if self._task is None:
                raise UnknownHandlerError(
                    "this pool has no default task: create it with Pool(task=fn), or call "
                    f"run(arg, name=...) with one of: {self._known()}"
                )
            return self._task
        fn = self._handlers.get(name)
        if fn is None:
            raise UnknownHandlerError(f"no handler named {name!r}; known: {self._known()}")
        return fn

    def _known(self) -> str:
        return ", ".join(map(repr, self._handlers)) or "(none registered)"

    @property
    def handlers(self) -> dict[str, Callable[[Any], Any]]:
        """A copy of the registered handlers, by name."""
        return dict(self._handlers)

    def broadcast(self, fn: Callable[..., Any], *args: Any) -> list[PoolFuture[Any]]:
        """Run ``fn(*args)`` once on every worker alive now (the seed's broadcast, e.g. of "end")
        and return their futures, one per worker, at once.

        A pool without any worker yet starts one first, so the call is never a silent no-op
        (use ``min_workers`` to have them all). Each call waits in its worker's own queue: it
        starts after the tasks queued before it. Not limited by ``max_queue``. Errors as
        :meth:`submit`.
        """
        if not callable(fn):
            raise TypeError(f"broadcast() needs a callable, got {type(fn).__name__}")
        core = self._core
        core.check_open()
        core.start_workers(1)
        futures: list[PoolFuture[Any]] = []
        for worker in core.balancer.workers:
            task = Task(fn, args, {})
            if core.balancer.push_to(worker, task):
                futures.append(task.future)
        if not futures:
            core.raise_closed()
        return futures

    # --- events, stats, introspection ------------------------------------------------------------

    def on(self, event: str, callback: Callable[..., object]) -> None:
        """Call ``callback`` on ``event``: ``"drain"`` (no argument; the queue became empty: a
        worker took the last waiting task), ``"worker_create"`` / ``"worker_exit"`` (the worker's
        ``thread_id``), ``"error"`` (an exception raised outside any task, e.g. by the
        initializer). Callbacks run on the worker thread concerned; a raising callback is
        reported and does not disturb the pool. The ``min_workers`` workers that the constructor
        starts are announced before it returns, so a ``"worker_create"`` listener added
        afterwards sees only the workers started later (as with Piscina's ``workerCreate``).
        ``ValueError`` for an unknown event."""
        self._listeners.add(event, callback)
        self._core.drain_listened = self._listeners.has("drain")

    def off(self, event: str, callback: Callable[..., object]) -> bool:
        """Remove a callback added with :meth:`on`; False when it was not registered."""
        removed = self._listeners.remove(event, callback)
        self._core.drain_listened = self._listeners.has("drain")
        return removed

    def stats(self) -> PoolStats:
        """A frozen :class:`~ftpool.PoolStats` snapshot. Never blocks on the workers."""
        return self._core.stats()

    @property
    def max_workers(self) -> int:
        """The most worker threads this pool runs at once."""
        return self._core.max_workers

    @property
    def min_workers(self) -> int:
        """Workers that stay alive even when idle."""
        return self._core.min_workers

    @property
    def balancer(self) -> str:
        """The dispatch policy's name: ``"least-busy"`` or ``"round-robin"``."""
        return self._core.balancer.name

    def __repr__(self) -> str:
        core: PoolCore | None = getattr(self, "_core", None)
        if core is None:  # __init__ raised (repr() from a traceback or a debugger)
            return "<ftpool.Pool (not initialized)>"
        state = "broken" if core.broken else "shut down" if core.shutdown_started else "open"
        return (
            f"<ftpool.Pool {state} workers={core.worker_count}/{core.max_workers} "
            f"balancer={core.balancer.name!r}>"
        )

