"""Thread context (Node: ``isMainThread``, ``threadId``, ``workerData``, ``parentPort``) and
cooperative cancellation (:class:`CancelToken`, :func:`check_cancelled`).

Every thread that ftpool starts (a :class:`~ftpool.Worker` or a pool worker) carries a
:class:`ThreadState` in a thread-local. Threads ftpool did not start have none, so they count as
"main" (``thread_id() == 0``), as in Node, where only worker threads have a non-zero id.

Python cannot kill a thread, so stopping is cooperative: a :class:`CancelToken` is a flag plus
callbacks. ``Worker.terminate()`` cancels the worker's ``stop`` token; the pool cancels a task's
token. Blocking ftpool calls register a callback on the token that wakes them, so a cancelled
thread is not left sleeping in ``receive()``.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ._errors import Cancelled, Terminated
from ._events import report

if TYPE_CHECKING:
    from ._port import MessagePort

__all__ = [
    "CancelToken",
    "ThreadState",
    "check_cancelled",
    "current_state",
    "is_main_thread",
    "new_thread_id",
    "parent_port",
    "thread_id",
    "worker_data",
]

_monotonic = time.monotonic

_ids = itertools.count(1)
_ids_lock = threading.Lock()  # guards `_ids`: next() on a shared count is not atomic under 3.13t


def new_thread_id() -> int:
    """Return the next worker thread id: unique, increasing, starting at 1."""
    with _ids_lock:
        return next(_ids)


class CancelToken:
    """A one-way cancellation flag that tasks check cooperatively.

    ``cancel(reason)`` sets it (idempotent; the first reason wins) and runs the registered
    callbacks once, in the cancelling thread. ``cancelled`` reads it without blocking;
    ``raise_if_cancelled()`` raises :class:`~ftpool.Cancelled` once it is set. A token never resets:
    make a new one per task. Pass it as ``Pool.run(..., cancel=token)``; the running task sees it
    through :func:`check_cancelled`.
    """

    __slots__ = ("__weakref__", "_callbacks", "_cancelled", "_lock", "_reason")

    #: True for a subclass whose :attr:`cancelled` must be read to learn of a cancel (it polls a
    #: source of its own, e.g. ftpool.dask's remote tokens); the checks then read the property
    #: instead of the ``_cancelled`` slot alone.
    _polled: ClassVar[bool] = False

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards _cancelled, _reason and _callbacks
        self._cancelled = False
        self._reason: object = None
        self._callbacks: list[Callable[[object], None]] | None = []

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` was called. Never blocks."""
        return self._cancelled

    @property
    def reason(self) -> object:
        """The reason given to the first :meth:`cancel` call (None until then)."""
        return self._reason

    def cancel(self, reason: object = None) -> bool:
        """Set the token and run its callbacks. Returns False if it was already cancelled.

        Never blocks beyond the callbacks. A raising callback is reported through
        ``sys.unraisablehook`` and does not stop the others.
        """
        with self._lock:
            if self._cancelled:
                return False
            self._reason = reason
            self._cancelled = True
            callbacks, self._callbacks = self._callbacks, None
        for callback in callbacks or ():
            try:
                callback(reason)
            except Exception as exc:  # reported, and the other callbacks still run
                report(exc, f"CancelToken callback {callback!r}")
        return True

    def raise_if_cancelled(self) -> None:
        """Raise :class:`~ftpool.Cancelled` (with the reason) if the token is cancelled."""
        if self._cancelled:
            raise Cancelled(self._reason)

    def add_callback(self, callback: Callable[[object], None]) -> bool:
        """Run ``callback(reason)`` when the token is cancelled.

        Returns False, without calling it, when the token is already cancelled, so the caller can
        act at once and the callback never runs twice. A callback that is not callable raises
        ``TypeError`` here (not later, in whichever thread cancels).
        """
        if not callable(callback):
            raise TypeError(
                f"CancelToken.add_callback(callback): the callback must be callable (it is called "
                f"with the reason), got {type(callback).__name__}"
            )
        with self._lock:
            if self._callbacks is None:
                return False
            self._callbacks.append(callback)
            return True

    def remove_callback(self, callback: Callable[[object], None]) -> None:
        """Forget a callback added with :meth:`add_callback` (no error if it is not there)."""
        with self._lock:
            if self._callbacks is not None:
                with contextlib.suppress(ValueError):
                    self._callbacks.remove(callback)

    def __repr__(self) -> str:
        state = f"cancelled, reason={self._reason!r}" if self._cancelled else "active"
        return f"<CancelToken {state}>"


@dataclass(eq=False, slots=True)
class ThreadState:
    """What ftpool knows about one of its threads. ``stop`` is cancelled by ``terminate()``;
    ``task_token`` is the token of the pool task running now (None between tasks);
    ``task_deadline`` is the ``time.monotonic()`` instant its ``timeout=`` expires (None: none)."""

    thread_id: int
    data: Any = None
    port: MessagePort | None = None
    stop: CancelToken = field(default_factory=CancelToken)
    task_token: CancelToken | None = None
    # Set by the pool worker with task_token; check_cancelled() and every blocking ftpool wait
    # compare the clock with it, so a deadline holds even when the timer thread runs late.
    task_deadline: float | None = None


class _Local(threading.local):
    # The class attribute is the default for threads that never set one: reading it costs an
    # attribute lookup, where getattr(local, name, None) on a miss raises and catches internally.
    state: ThreadState | None = None


_local = _Local()


def current_state() -> ThreadState | None:
    """The calling thread's :class:`ThreadState`, or None outside ftpool's threads."""
    return _local.state


def set_state(state: ThreadState | None) -> None:
    """Install (or clear, with None) the calling thread's state. For ftpool's own threads."""
    _local.state = state


def is_main_thread() -> bool:
    """False inside any ``Worker`` or pool worker, True elsewhere. Never blocks."""
    return current_state() is None


def thread_id() -> int:
    """0 outside workers; inside one, its unique id (increasing, from 1). Never blocks."""
    state = current_state()
    return 0 if state is None else state.thread_id


def worker_data() -> Any:
    """The ``data=`` given to the current ``Worker`` (None outside one, and in pool workers)."""
    state = current_state()
    return None if state is None else state.data


def parent_port() -> MessagePort | None:
    """The current ``Worker``'s end of the channel to its creator, or None outside a Worker."""
    state = current_state()
    return None if state is None else state.port


def check_cancelled() -> None:
    """Raise if the current thread or task was asked to stop; otherwise return at once.

    Raises :class:`~ftpool.Terminated` inside a worker whose ``terminate()`` was called, and
    :class:`~ftpool.Cancelled` inside a pool task whose token was cancelled (by ``cancel=``,
    ``Future.cancel()``, a ``timeout=`` or ``Pool.terminate()``; ``reason`` says which). A pool
    task past its ``timeout=`` deadline gets ``Cancelled`` whose ``reason`` is the
    ``TimeoutError`` as soon as the clock passes the deadline: the check reads the monotonic
    clock itself, so the deadline holds even when the pool's timer thread runs late (its future
    then fails with ``TimeoutError``). Outside ftpool's threads it does nothing. Call it in long
    loops: it costs a thread-local read, plus a clock read in a task with a timeout.
    """
    state = _local.state
    if state is None:
        return
    if state.stop._cancelled:
        raise Terminated(
            f"worker {state.thread_id} was terminated; let this exception end the worker"
        )
    token = state.task_token
    if token is not None:
        if token._cancelled or (token._polled and token.cancelled):
            raise Cancelled(token._reason)
        deadline = state.task_deadline
        if deadline is not None and _monotonic() >= deadline:
            raise Cancelled(
                TimeoutError(
                    "the task ran past its timeout= deadline and was cancelled (seen by "
                    "check_cancelled())"
                )
            )
