"""How a blocked ftpool call is woken early, and what it raises then: the one mechanism that
every blocking ftpool wait uses (channels, ports, Workers' creator side, ``select``,
``Atomics.wait``).

Who may end a wait early, all through a :class:`~ftpool.CancelToken` of the waiting thread's
:class:`~ftpool._context.ThreadState`:

* ``Worker.terminate()`` cancels the Worker's ``stop`` token: the wait raises
  :class:`~ftpool.Terminated`;
* in a pool task, ``Future.cancel()``, the caller's ``cancel=`` token, the task's ``timeout=`` and
  ``Pool.terminate()`` cancel the task's token (``ThreadState.task_token``): the wait raises
  :class:`~ftpool.Cancelled`, ``TimeoutError`` or :class:`~ftpool.Terminated` (:func:`stop_error`
  is the one mapping);
* a pool task's deadline (``ThreadState.task_deadline``) also bounds every wait by itself, so the
  deadline holds even when the pool's timer thread runs late.

Protocol for a blocking call (see ``Channel.receive`` for an example):

1. Try the operation without blocking first; a wait that does not block registers nothing.
2. Before blocking, ``wait = enter(target)``: None outside ftpool's threads (nothing can end the
   wait early there); inside one it raises at once if the thread or task was already stopped, and
   otherwise registers ``wait`` with the tokens, so that cancelling one calls
   ``target._wake_blocked(wait)``. ``target`` must make that wake the thread whatever the moment
   (before it blocks, or while): a flag or token read under the same lock as the sleep, a
   Condition notified under that lock, an Event or a queued token.
3. Block for at most ``wait.limit(deadline)`` seconds (the call's own deadline or the task's,
   whichever comes first); after each wake-up call ``wait.check()``, which raises the mapped error
   once the thread or task was stopped or the task's deadline passed.
4. ``wait.leave()`` in a ``finally`` (unregisters; idempotent).

Registration costs two callback registrations (a lock each), paid only by calls that block.

Non-blocking calls (``send`` on an unbounded channel, ``post_message``, the ``_nowait`` forms)
only look at the global list ``stopping``: it is not empty while some Worker that was asked to stop
still runs, and only then do they look up the calling thread (:func:`check_stop`).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

from ._context import ThreadState, current_state
from ._errors import Cancelled, Terminated

__all__ = [
    "Blocker",
    "EventTarget",
    "StopCount",
    "Wait",
    "check_stop",
    "enter",
    "raise_if_stopped",
    "stop_error",
    "stopping",
]

_monotonic = time.monotonic

#: The Workers asked to stop whose thread still runs (their StopCount). Fast paths import the list
#: itself (``from ._wakeup import stopping``: a global read in their own module and a length test,
#: instead of a thread-local lookup per message) and look further only when it is not empty.
stopping: list[StopCount] = []
_stopping_lock = threading.Lock()  # guards changes to `stopping` and every StopCount's fields


class Blocker(Protocol):
    """What a thread blocks on: it knows how to wake the thread that registered ``wait``."""

    def _wake_blocked(self, wait: Wait) -> None: ...


def _task_error(reason: object) -> BaseException:
    """The error a pool task's wait raises once its token was cancelled with ``reason``."""
    from ._pool.worker import TERMINATE_REASON  # noqa: PLC0415 (the pool imports this package)

    if isinstance(reason, TimeoutError):
        return TimeoutError(*reason.args)
    if reason is TERMINATE_REASON:
        return Terminated(
            "the pool was terminated (Pool.terminate()); let this exception end the task"
        )
    return Cancelled(reason)


def stop_error(state: ThreadState) -> BaseException | None:
    """The error a wait of the thread with ``state`` must raise now, or None to go on.

    :class:`~ftpool.Terminated` once the Worker's ``terminate()`` was called (or the pool's
    ``terminate()``, for a pool task); ``TimeoutError`` once the pool task's ``timeout=`` expired
    (by the timer, or by the clock: ``task_deadline``); :class:`~ftpool.Cancelled` (with the reason)
    once the task was cancelled otherwise.
    """
    if state.stop._cancelled:
        return Terminated(
            f"worker {state.thread_id} was terminated (Worker.terminate()); let this exception "
            f"end the worker"
        )
    token = state.task_token
    if token is None:
        return None
    if token._cancelled or (token._polled and token.cancelled):
        return _task_error(token._reason)
    task_deadline = state.task_deadline
    if task_deadline is not None and _monotonic() >= task_deadline:
        return TimeoutError(
            "the task ran longer than its timeout (its deadline passed while it waited); the "
            "pool fails its future with TimeoutError"
        )
    return None


def check_stop() -> None:
    """Raise :class:`~ftpool.Terminated` if the calling thread is a Worker asked to stop.

    Called by non-blocking calls when :data:`stopping` is not empty.
    """
    state = current_state()
    if state is not None and state.stop._cancelled:
        raise stop_error(state)  # type: ignore[misc]  # not None: stop is cancelled


def raise_if_stopped() -> None:
    """Raise the mapped error (:func:`stop_error`) if the calling thread or task was stopped or
    its task's deadline passed; for waits that check before anything else (a thread-local read)."""
    state = current_state()
    if state is not None:
        error = stop_error(state)
        if error is not None:
            raise error


class Wait:
    """One blocking wait of an ftpool thread, registered with the tokens that may end it early.

    ``stopped`` turns True when one of them is cancelled (before ``target`` is woken). See the
    module docstring for the protocol.
    """

    __slots__ = ("handle", "state", "stopped", "target", "tokens")

    def __init__(self, state: ThreadState, target: Blocker) -> None:
        self.state = state
        self.target = target
        self.stopped = False
        self.tokens: tuple[Any, ...] = ()
        self.handle: Any = None  # what the target keeps for this wait (e.g. its sleeper lock)

    def _on_cancel(self, reason: object) -> None:
        # Runs in the cancelling thread (CancelToken.cancel calls it outside the token's lock).
        self.stopped = True
        self.target._wake_blocked(self)

    def limit(self, deadline: float | None) -> float | None:
        """Seconds to block for: until ``deadline`` (the call's own, monotonic; None = none) or
        the task's deadline, whichever comes first; None means no limit."""
        state = self.state
        task_deadline = state.task_deadline
        if (
            task_deadline is not None
            and state.task_token is not None
            and (deadline is None or task_deadline < deadline)
        ):
            deadline = task_deadline
        if deadline is None:
            return None
        return max(0.0, deadline - _monotonic())

    def error(self) -> BaseException | None:
        """The error to raise now (see :func:`stop_error`), or None."""
        return stop_error(self.state)

    def check(self) -> None:
        """Raise the mapped error once the thread or task was stopped or its deadline passed."""
        error = stop_error(self.state)
        if error is not None:
            raise error

    def leave(self) -> None:
        """Unregister from the tokens (idempotent). Call it in a ``finally``."""
        tokens, self.tokens = self.tokens, ()
        callback = self._on_cancel
        for token in tokens:
            token.remove_callback(callback)

    def __repr__(self) -> str:
        return f"<ftpool wait of thread {self.state.thread_id} on {self.target!r}>"


def enter(target: Blocker) -> Wait | None:
    """Register a wait of the calling thread on ``target``, just before it blocks.

    Returns None outside ftpool's threads (nothing ends such a wait early). Raises the mapped
    error (:func:`stop_error`) at once, registering nothing, when the thread or task was already
    stopped or its deadline passed.
    """
    state = current_state()
    if state is None:
        return None
    error = stop_error(state)
    if error is not None:
        raise error
    wait = Wait(state, target)
    callback = wait._on_cancel
    task_token = state.task_token
    tokens = (state.stop,) if task_token is None else (state.stop, task_token)
    registered: list[Any] = []
    for token in tokens:
        if not token.add_callback(callback):  # cancelled meanwhile
            for done in registered:
                done.remove_callback(callback)
            raise stop_error(state) or Cancelled(token._reason)
        registered.append(token)
    wait.tokens = tokens
    return wait


class EventTarget:
    """A :class:`Blocker` for a wait on a private ``threading.Event`` (``Worker.join`` from a
    pool task or another Worker): a stop sets the event."""

    __slots__ = ("event",)

    def __init__(self) -> None:
        self.event = threading.Event()

    def _wake_blocked(self, wait: Wait) -> None:
        self.event.set()


class StopCount:
    """Counts a Worker in :data:`stopping` from its ``terminate()`` until its thread ends.

    Created with the Worker (it registers on the ``stop`` token); the worker thread calls
    :meth:`finished` when it ends.
    """

    __slots__ = ("counted", "done")

    def __init__(self, stop: Any) -> None:
        self.counted = False  # counted in `stopping`
        self.done = False  # the worker thread has ended
        stop.add_callback(self._stopped)

    def _stopped(self, reason: object) -> None:
        with _stopping_lock:
            if not self.counted and not self.done:
                self.counted = True
                stopping.append(self)

    def finished(self) -> None:
        """The worker thread ends: it no longer counts."""
        with _stopping_lock:
            self.done = True
            if self.counted:
                self.counted = False
                stopping.remove(self)
