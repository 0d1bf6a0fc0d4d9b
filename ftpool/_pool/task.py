"""A pool task and its future.

:class:`Task` is one unit of work waiting in a :class:`~ftpool._pool.taskqueue.TaskQueue`
and, at the same time, its own :class:`~ftpool.CancelToken` (one object per task instead of
two): while it runs, the worker puts it in ``ThreadState.task_token``, so
:func:`~ftpool.check_cancelled` inside the task raises :class:`~ftpool.Cancelled` once it is
cancelled. :class:`ChunkTask` is a batch of ``map`` items run as one task.

:class:`PoolFuture` is a ``concurrent.futures.Future`` (so ``wait``, ``as_completed`` and
``asyncio.wrap_future`` work on it), awaitable from a coroutine (``PoolFuture.__await__``), with one
extension, cancelling a running task:

* ``cancel()`` on a task that still waits removes it from the queue: it never runs, ``cancel()``
  returns True, as in the standard library.
* ``cancel()`` on a running task returns False, as in the standard library (it is not cancelled
  *yet*), and cancels the task's token: the task stops at its next ``check_cancelled()`` and its
  worker goes on with the next task. The future then ends *cancelled*: ``cancelled()`` is True and
  ``result()``/``exception()`` raise :class:`~ftpool.Cancelled` carrying the reason. A task that
  never checks runs to its end and its future gets its result or exception.

Every state change happens under the future's ``_condition`` and only from the states the standard
library allows, through ``*_once`` methods that return False instead of raising when another thread
ended the future first (a timeout, a cancel): a task ends exactly once.
"""

from __future__ import annotations

import _thread
import concurrent.futures
import contextlib
import itertools
import time
from collections.abc import Callable, Generator
from concurrent.futures._base import (
    CANCELLED,
    CANCELLED_AND_NOTIFIED,
    FINISHED,
    PENDING,
    RUNNING,
)
from typing import TYPE_CHECKING, Any, TypeVar

from .._context import CancelToken
from .._errors import Cancelled
from .._immortal import run_copy
from .._timeouts import check_timeout, timed_out

if TYPE_CHECKING:
    from .stats import WorkerCounters
    from .taskqueue import TaskQueue

__all__ = ["ChunkResult", "ChunkTask", "PoolFuture", "Task"]

T = TypeVar("T")

#: The reason given to a task's token by ``Future.cancel()``.
FUTURE_CANCEL_REASON = "Future.cancel() was called"

_perf_counter = time.perf_counter
_allocate_lock = _thread.allocate_lock


class _FutureCondition(_thread.RLock):  # type: ignore[misc]
    """The ``_condition`` of a :class:`PoolFuture`: the re-entrant lock itself, plus ``wait`` and
    ``notify_all`` (all that ``concurrent.futures`` uses of it).

    ``threading.Condition()`` costs more to create than the rest of a task together (a Python
    ``__init__`` binding six methods, and a deque); a future whose result is read after it is
    done never waits, so here the list of sleepers is only created by the first ``wait``. Same
    protocol as ``threading.Condition`` (each sleeper blocks on its own lock, released by
    ``notify_all``), and both are only called with the lock held.
    """

    _sleepers: list[Any] | None = None  # the class default: nobody ever waited

    def wait(self, timeout: float | None = None) -> bool:
        """Release the lock, block until ``notify_all`` or ``timeout``, re-acquire; as
        ``threading.Condition.wait``."""
        sleeper = _allocate_lock()
        sleeper.acquire()
        sleepers = self._sleepers
        if sleepers is None:
            sleepers = self._sleepers = []
        sleepers.append(sleeper)
        saved = self._release_save()  # type: ignore[attr-defined]
        got = False
        try:
            if timeout is None:
                got = sleeper.acquire()
            elif timeout > 0:
                got = sleeper.acquire(True, timeout)
            else:
                got = sleeper.acquire(False)
            return got
        finally:
            self._acquire_restore(saved)  # type: ignore[attr-defined]
            if not got:
                with contextlib.suppress(ValueError):
                    sleepers.remove(sleeper)

    def notify_all(self) -> None:
        """Wake every thread blocked in :meth:`wait` (the lock must be held)."""
        sleepers = self._sleepers
        if not sleepers:
            return
        for sleeper in sleepers:
            sleeper.release()
        sleepers.clear()


class PoolFuture(concurrent.futures.Future[T]):
    """The future of a pool task: a ``concurrent.futures.Future`` whose ``cancel()`` also stops a
    running task at its next check (see the module docstring), and which a coroutine can
    ``await`` (see :meth:`__await__`). Create it through the pool only."""

    # Class-level defaults: an instance stores only what differs from them. On 3.13t every
    # attribute store is a generic (unspecialized) operation, so fewer stores per task matter.
    _state = PENDING
    _result = None
    _exception = None
    _cancel_reason: object = None
    _task: Task | None = None  # set while the task is queued or running (cleared at its end)
    _stopped_running = False  # cancelled after it started (its call ran, at least in part)

    def __init__(self) -> None:
        # concurrent.futures.Future.__init__ with a cheaper condition (see _FutureCondition) and
        # the fields above left at their class defaults
        self._condition = _FutureCondition()  # type: ignore[assignment]
        self._waiters = []
        self._done_callbacks: list[Callable[[concurrent.futures.Future[T]], object]] = []

    def cancel(self) -> bool:
        """Cancel the task. Never blocks (beyond done-callbacks, which run in this thread).

        A waiting task is removed from the queue and the call returns True. A running task is
        asked to stop through its cancel token and the call returns False; the future becomes
        cancelled when the task stops at a ``check_cancelled()``. A finished future returns False,
        an already cancelled one True, as in the standard library.
        """
        task = self._task
        if task is not None:
            if self.cancelled():
                return True  # already cancelled, as the standard library answers
            task.cancel(FUTURE_CANCEL_REASON)
            # True only when the task was cancelled before it started: a running task may stop
            # (and end cancelled) before this line, and that call still ran.
            return self.cancelled() and not self._stopped_running
        return super().cancel()

    def result(self, timeout: float | None = None) -> T:
        """As ``concurrent.futures.Future.result``: block until the task ends, up to ``timeout``
        seconds, then ``TimeoutError``. A cancelled future raises :class:`~ftpool.Cancelled` (a
        ``CancelledError``) with the cancel reason. ``timeout`` follows ftpool's rules: None or
        ``math.inf`` wait forever, a negative or NaN one raises ``ValueError``, a non-number
        ``TypeError`` (the standard library's would time out at once, or overflow on inf)."""
        if timeout is not None:
            timeout = check_timeout(timeout, "PoolFuture.result")
        if self._state == FINISHED and self._exception is None:
            # lock-free fast path: _result is stored before _state, under the lock
            return self._result  # type: ignore[return-value]
        try:
            return super().result(timeout)
        except concurrent.futures.CancelledError as exc:
            raise self._cancelled_error(exc) from None
        except TimeoutError:
            if self.done():
                raise  # the task's own outcome (a run(timeout=) expiry), not this wait's
            raise timed_out("PoolFuture.result()", timeout) from None

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """As ``concurrent.futures.Future.exception``; a cancelled future raises
        :class:`~ftpool.Cancelled` (a ``CancelledError``) with the cancel reason. ``timeout``
        as :meth:`result`."""
        if timeout is not None:
            timeout = check_timeout(timeout, "PoolFuture.exception")
        try:
            return super().exception(timeout)
        except concurrent.futures.CancelledError as exc:
            raise self._cancelled_error(exc) from None
        except TimeoutError:
            raise timed_out("PoolFuture.exception()", timeout) from None

    def __await__(self) -> Generator[Any, None, T]:
        """``await future`` in a coroutine: the result, without blocking the event loop.

        Binds to the loop running in the awaiting thread (many loops in many threads may await
        one future). The thread that ends the task wakes the loop with
        ``loop.call_soon_threadsafe``: no thread waits and nothing polls. Raises what
        :meth:`result` raises: the task's exception, :class:`~ftpool.Cancelled` when the task was
        cancelled (``Pool.terminate()``, ``shutdown(cancel_futures=True)``, a ``cancel=`` token),
        ``TimeoutError`` for a ``timeout=``; ``RuntimeError`` when no event loop runs here.

        Cancelling the awaiting asyncio task (``Task.cancel()``, ``asyncio.wait_for``,
        ``asyncio.timeout``, a ``TaskGroup``) cancels the pool task, as :meth:`cancel` does: a
        queued task is dequeued, a running one stops at its next ``check_cancelled()``, for
        every awaiter (wrap the future in ``asyncio.shield`` to keep the work running). A loop
        closed while one of its coroutines waits is not woken; the task still ends in the pool.
        """
        if self._state == FINISHED and self._exception is None:
            return self._result  # type: ignore[return-value]
        return (yield from _await_future(self))  # type: ignore[no-any-return]

    def _cancelled_error(self, exc: concurrent.futures.CancelledError) -> BaseException:
        if self._state in (CANCELLED, CANCELLED_AND_NOTIFIED) and not isinstance(exc, Cancelled):
            return Cancelled(self._cancel_reason)
        return exc  # the task itself raised a CancelledError: that is its outcome

    # --- transitions used by the pool (each returns False when it does not apply) ---------------

    def _start(self) -> bool:
        """PENDING -> RUNNING: True when the task may run; False when it was cancelled."""
        with self._condition:
            state = self._state
            if state == PENDING:
                self._state = RUNNING
                return True
            if state == CANCELLED:  # cancelled through the base class, bypassing our cancel()
                self._state = CANCELLED_AND_NOTIFIED
                for waiter in self._waiters:
                    waiter.add_cancelled(self)
            return False

    def _cancel_once(self, reason: object, *, running: bool = False) -> bool:
        """PENDING (or RUNNING, when ``running``) -> cancelled, waking every waiter at once."""
        with self._condition:
            state = self._state
            if state != PENDING and not (running and state == RUNNING):
                return False
            self._cancel_reason = reason
            if state == RUNNING:
                self._stopped_running = True
            # Straight to CANCELLED_AND_NOTIFIED: ``wait()``/``as_completed()`` waiters learn
            # about it now, not when a worker would have dequeued it (the stdlib's delay).
            self._state = CANCELLED_AND_NOTIFIED
            for waiter in self._waiters:
                waiter.add_cancelled(self)
            self._condition.notify_all()
        if self._done_callbacks:
            self._invoke_callbacks()  # type: ignore[attr-defined]
        return True

    def _set_result_once(self, result: T) -> bool:
        """PENDING/RUNNING -> FINISHED with ``result``; False if the future had already ended."""
        with self._condition:
            if self._state not in (PENDING, RUNNING):
                return False
            self._result = result
            self._state = FINISHED
            for waiter in self._waiters:
                waiter.add_result(self)
            self._condition.notify_all()
        if self._done_callbacks:
            self._invoke_callbacks()  # type: ignore[attr-defined]
        return True

    def _set_exception_once(self, exception: BaseException, *, only_running: bool = False) -> bool:
        """PENDING/RUNNING (only RUNNING with ``only_running``) -> FINISHED with ``exception``;
        False if that does not apply."""
        with self._condition:
            state = self._state
            if state != RUNNING and (only_running or state != PENDING):
                return False
            self._exception = exception
            self._state = FINISHED
            for waiter in self._waiters:
                waiter.add_exception(self)
            self._condition.notify_all()
        if self._done_callbacks:
            self._invoke_callbacks()  # type: ignore[attr-defined]
        return True


def _load_await_future(future: PoolFuture[Any]) -> Generator[Any, None, Any]:
    # The first await imports the asyncio bridge (import ftpool does not) and keeps it.
    global _await_future
    from .._aio import await_future  # noqa: PLC0415

    _await_future = await_future
    return await_future(future)


_await_future: Callable[[PoolFuture[Any]], Generator[Any, None, Any]] = _load_await_future


class Task(CancelToken):
    """One call ``fn(*args, **kwargs)`` waiting in (or taken from) a task queue; also its token.

    ``queue`` is the :class:`TaskQueue` it was appended to (for removal on cancel; its ``owner``
    is the pool core); ``enqueued`` the ``perf_counter()`` when it was created; ``timeout``
    counts from its start; ``elapsed`` is its run time once it ended; ``size`` is how many items
    it stands for in the statistics (a chunk's item count). ``linked`` is the caller's
    ``cancel=`` token, whose cancellation cancels this one.
    """

    # The hot fields are slots; the rarely set ones live in the instance __dict__ (created only
    # when one is set) over these class defaults.
    __slots__ = ("__dict__", "args", "enqueued", "fn", "future", "kwargs", "queue")
    timeout: float | None = None
    linked: CancelToken | None = None
    size = 1
    elapsed = 0.0

    def __init__(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        future: PoolFuture[Any] = PoolFuture()
        future._task = self
        self.future = future
        # CancelToken's fields, set here rather than by its __init__ (a call and a lock less per
        # task: the future's lock guards the token too; same package, and test_pool_cancel
        # checks that a Task still behaves as a CancelToken)
        self._lock = future._condition  # type: ignore[assignment]
        self._cancelled = False
        self._reason = None
        self._callbacks = []
        self.fn: Callable[..., Any] | None = fn
        self.args = args
        self.kwargs = kwargs
        self.queue: TaskQueue[Task] | None = None
        self.enqueued = _perf_counter()

    def execute(self) -> Any:
        """Run the call in the current (worker) thread; its exception propagates."""
        return run_copy(self.fn)(*self.args, **self.kwargs)  # type: ignore[arg-type]

    def tally(self, counters: WorkerCounters, result: Any) -> None:
        """Count a successful end in the worker's own counters."""
        counters.completed += 1

    def cancel(self, reason: object = None) -> bool:
        """Cancel the token (a running task stops at its next check) and, when the task still
        waits in the queue, cancel its future and take it out of the queue. Returns False when the
        token was already cancelled. Never blocks (beyond callbacks)."""
        first = super().cancel(reason)
        if self.future._cancel_once(reason):
            queue = self.queue
            # Whoever takes the task out of its queue owns its end: if a worker (or a drain) got
            # it first, that thread sees the cancelled future and counts it.
            if queue is not None and queue.take(self):
                queue.owner.count_removed(self)
        return first

    def cancel_from_link(self, reason: object) -> None:
        """The callback registered on the caller's ``cancel=`` token: cancel this task too."""
        self.cancel(reason)

    def expire(self) -> None:
        """The timeout ran out (called by the pool's timer thread, or by the worker when the
        task ended after its deadline): fail the future with ``TimeoutError`` now unless it has
        ended, and cancel the token so that the task stops at its next check."""
        message = f"the task ran longer than its timeout of {self.timeout} s and was cancelled"
        if self.future._set_exception_once(TimeoutError(message), only_running=True):
            CancelToken.cancel(self, TimeoutError(message))

    def release(self) -> None:
        """Unlink the ended task: from its future (which the caller may keep) and from the
        caller's ``cancel=`` token, so that the task, its call and its arguments are freed as
        soon as the worker drops it (as ``ThreadPoolExecutor`` drops its work item)."""
        linked = self.linked
        if linked is not None:
            self.linked = None
            linked.remove_callback(self.cancel_from_link)
        # The future no longer holds the task, so its call and arguments are freed with it.
        self.future._task = None

    def __repr__(self) -> str:
        state = "cancelled" if self.cancelled else "active"
        return f"<ftpool task {getattr(self.fn, '__qualname__', self.fn)!r} {state}>"


ChunkResult = tuple[list[Any], BaseException | None]


class ChunkTask(Task):
    """A batch of ``map`` items run as one task: ``fn(item)`` (or ``fn(*item)`` when ``star``) for
    each, in order, stopping at the first exception or when the token is cancelled.

    Its result is ``(results, exception)``: the results of the items that ran, and the exception
    that stopped the batch (None if all ran). Items are applied with C-level ``map`` in slices of
    :attr:`CHECK_EVERY`, checking the token between slices, so a no-op costs about a C call.
    Its ``elapsed`` run time feeds ``map``'s adaptive chunk size.
    """

    __slots__ = ("items", "star")

    CHECK_EVERY = 256

    def __init__(self, fn: Callable[..., Any], items: list[Any], star: bool) -> None:
        super().__init__(fn, (), {})
        self.items = items
        self.size = len(items)
        self.star = star

    def execute(self) -> ChunkResult:
        fn = run_copy(self.fn)  # type: ignore[arg-type]
        items = self.items
        out: list[Any] = []
        extend = out.extend
        apply: Callable[..., Any] = itertools.starmap if self.star else map
        step = self.CHECK_EVERY
        try:
            for start in range(0, len(items), step):
                if self.cancelled:
                    raise Cancelled(self.reason)
                # list.extend keeps the results appended before an exception
                extend(apply(fn, items[start : start + step]))
        except BaseException as exc:
            if self.cancelled and isinstance(exc, concurrent.futures.CancelledError):
                raise  # stopped by its token: the whole chunk ends cancelled
            return out, exc
        return out, None

    def tally(self, counters: WorkerCounters, result: ChunkResult) -> None:
        done, exc = result
        counters.completed += len(done)
        if exc is not None:
            counters.failed += 1
            # the items after the failing one never ran: count them as cancelled
            counters.cancelled += self.size - len(done) - 1

    def release(self) -> None:
        super().release()
        self.items = []  # a chunk's items may be large: free them now

