"""The exception hierarchy of ftpool.

Every error ftpool raises on purpose derives from :class:`FtpoolError`, except where the contract
asks for a builtin one (``TimeoutError``, ``ValueError``, ``TypeError``, ``IndexError``,
``OverflowError``, ``RuntimeError`` for ``concurrent.futures`` compatibility). One error type per
situation, in the manner of crossbeam-channel: "you closed it" (:class:`ClosedError`) is kept apart
from "the other side is done" (:class:`EndOfChannel`).
"""

from __future__ import annotations

import concurrent.futures

__all__ = [
    "BrokenPool",
    "Cancelled",
    "ClosedError",
    "EndOfChannel",
    "FtpoolError",
    "QueueFull",
    "Terminated",
    "WouldBlock",
]


class FtpoolError(Exception):
    """Base class of every ftpool-specific error; catch it to handle them all."""


class ClosedError(FtpoolError):
    """The object was closed (by this side) and cannot be used for this operation any more.

    Raised by ``post_message``/``send`` on a closed port or channel, and by ``submit``/``run`` on a
    closed pool. Create a new object, or stop using this one.
    """


class EndOfChannel(FtpoolError):
    """Nothing is left to receive and nothing more can arrive: the sending side is closed.

    Not an error of the receiver; it is the normal end of a stream. ``for msg in port`` and
    ``for item in channel`` stop on it.
    """


class WouldBlock(FtpoolError):
    """A ``*_nowait`` operation could not complete at once (empty or full); retry, or block."""


class QueueFull(FtpoolError):
    """The pool's ``max_queue`` tasks are already waiting; retry later, or raise ``max_queue``."""


class Terminated(FtpoolError):
    """The current worker was asked to stop by ``Worker.terminate()``.

    Raised inside the worker by its next ftpool call (``receive``, ``post_message``,
    ``check_cancelled``). Let it propagate: the worker then exits.
    """


class BrokenPool(FtpoolError):
    """The pool cannot run tasks because a worker's ``initializer`` failed.

    Queued futures fail with it and later ``submit``/``run`` calls raise it; ``__cause__`` holds
    the initializer's exception. Fix the initializer and create a new pool.
    """


class Cancelled(FtpoolError, concurrent.futures.CancelledError):
    """The task's :class:`~ftpool.CancelToken` was cancelled; raised by ``check_cancelled()``.

    Also a ``concurrent.futures.CancelledError``, so code that handles the standard library's
    cancellation handles ftpool's too. ``reason`` holds what was passed to ``cancel(reason)``.
    """

    def __init__(self, reason: object = None) -> None:
        self.reason = reason
        message = "the task was cancelled"
        if reason is not None:
            message += f": {reason}"
        super().__init__(message)
