"""A small, thread-safe listener registry shared by ports, workers and pools.

``Listeners`` keeps, per event name, the callbacks in the order they were added. ``emit`` calls
them in that order in the calling thread; who calls ``emit`` (a port's listener thread, a worker,
the pool) decides the threading. A raising callback is reported with :func:`report` and never stops
the others: exceptions in callbacks are never swallowed.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["Listeners", "report"]

Callback = Callable[..., object]


def report(exc: BaseException, where: str) -> None:
    """Report an exception that has no caller to go to (a callback's, a listener thread's).

    It goes to ``threading.excepthook`` (which prints it with its traceback by default, and which
    pytest turns into a warning or failure) with a note saying where it was raised, so it is never
    silent. Never raises.
    """
    exc.add_note(f"(reported by ftpool: raised in {where})")
    args = threading.ExceptHookArgs(
        [type(exc), exc, exc.__traceback__, threading.current_thread()]
    )
    try:
        threading.excepthook(args)
    except Exception:  # a broken hook must not take the reporting thread down
        sys.__excepthook__(type(exc), exc, exc.__traceback__)


class Listeners:
    """Callbacks by event name. ``on``/``off``/``emit`` may be called from any thread."""

    __slots__ = ("_by_event", "_events", "_lock", "_owner")

    def __init__(self, owner: str, events: Iterable[str]) -> None:
        self._owner = owner
        self._events = tuple(events)
        self._lock = threading.Lock()  # guards _by_event (lists are replaced, never mutated)
        self._by_event: dict[str, tuple[Callback, ...]] = dict.fromkeys(self._events, ())

    def check(self, event: str, callback: object = None, *, need_callback: bool = True) -> None:
        """Raise ``ValueError`` for an unknown event name, ``TypeError`` for a non-callable."""
        if event not in self._by_event:
            raise ValueError(
                f"{self._owner} has no event {event!r}; valid events: {', '.join(self._events)}"
            )
        if need_callback and not callable(callback):
            raise TypeError(
                f"{self._owner}.on({event!r}, callback): the callback must be callable, "
                f"got {type(callback).__name__}"
            )

    def add(self, event: str, callback: Callback) -> None:
        """Add ``callback`` for ``event`` (after validating both). Adding twice calls it twice."""
        self.check(event, callback)
        with self._lock:
            self._by_event[event] = (*self._by_event[event], callback)

    def remove(self, event: str, callback: Callback) -> bool:
        """Remove the last registration of ``callback`` for ``event``; False if it was not there."""
        self.check(event, callback)
        with self._lock:
            current = list(self._by_event[event])
            for index in range(len(current) - 1, -1, -1):
                if current[index] == callback:
                    del current[index]
                    self._by_event[event] = tuple(current)
                    return True
        return False

    def get(self, event: str) -> tuple[Callback, ...]:
        """The callbacks for ``event`` now (a snapshot; safe to iterate while others change it)."""
        return self._by_event[event]

    def has(self, event: str) -> bool:
        """True when at least one callback is registered for ``event``."""
        return bool(self._by_event[event])

    def emit(self, event: str, *args: Any) -> int:
        """Call every callback for ``event`` with ``args``; returns how many were called.

        A raising callback is reported (see :func:`report`) and the others still run.
        """
        callbacks = self._by_event[event]
        for callback in callbacks:
            try:
                callback(*args)
            except Exception as exc:
                report(exc, f"{self._owner} {event!r} listener {callback!r}")
        return len(callbacks)
