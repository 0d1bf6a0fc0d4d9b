"""The exception hierarchy of ftpool.

Every error ftpool raises on purpose derives from :class:`FtpoolError`; where the contract asks for
a builtin one too (``KeyError``, ``RuntimeError`` and ``BrokenThreadPool`` for
``concurrent.futures`` compatibility, ``CancelledError``), the ftpool error is also that builtin,
so either ``except`` works. Bad arguments and timeouts raise plain builtins (``TypeError``,
``ValueError``, ``IndexError``, ``OverflowError``, ``TimeoutError``). One error type per
situation, in the manner of crossbeam-channel and trio: "it was closed" (:class:`ClosedError`) is
kept apart from "nothing more will arrive" (:class:`EndOfChannel`)::

    FtpoolError
    ├── ClosedError                 a send/post/submit on something closed (this side, or ...)
    │   ├── PeerClosedError         ... the other side: the peer port closed, the Worker exited
    │   └── PoolClosedError         ... a pool that was shut down (also a RuntimeError)
    ├── EndOfChannel                receive on a closed and drained channel or port
    ├── WouldBlock                  a *_nowait call that would have to wait (empty or full)
    │   └── QueueFull               Pool.submit with max_queue tasks already waiting
    ├── Terminated                  inside a Worker that terminate() stopped
    ├── BrokenPool                  a pool whose initializer failed
    │   └── PoolBrokenError         ... the one raised (also a BrokenThreadPool)
    ├── Cancelled                   check_cancelled() after cancel (also a CancelledError)
    └── UnknownHandlerError         Pool.run(name=...) with no such handler (also a KeyError)

The pool's three live with the pool (``ftpool/_pool/``); all are exported from ``ftpool``.
"""

from __future__ import annotations

import concurrent.futures

__all__ = [
    "BrokenPool",
    "Cancelled",
    "ClosedError",
    "EndOfChannel",
    "FtpoolError",
    "PeerClosedError",
    "QueueFull",
    "Terminated",
    "WouldBlock",
]


class FtpoolError(Exception):
    """Base class of every ftpool-specific error; catch it to handle them all."""


class ClosedError(FtpoolError):
    """The object was closed and cannot be used for this operation any more.

    Raised by ``send`` on a closed Channel, ``post_message`` on a closed port or BroadcastChannel,
    and ``submit``/``run``/``map`` on a closed pool (:class:`~ftpool.PoolClosedError`). Catch it
    for every case. Who closed it: a plain ``ClosedError`` means this side did (its ``close()``,
    or the interpreter is exiting); the subclass :class:`PeerClosedError` means the other side
    did. The message says which. Create a new object, or stop using this one.
    """


class PeerClosedError(ClosedError):
    """The other side closed: ``post_message`` after the peer port closed the MessageChannel, or
    ``Worker.post_message`` after the worker exited (which closes its port).

    A :class:`ClosedError`, so ``except ClosedError`` catches it too. Nothing posted now can be
    received; start a new Worker or create a new MessageChannel.
    """


class EndOfChannel(FtpoolError):
    """Nothing is left to receive and nothing more can arrive: the sending side is closed.

    Not an error of the receiver; it is the normal end of a stream. ``for msg in port`` and
    ``for item in channel`` stop on it.
    """


class WouldBlock(FtpoolError):
    """A ``*_nowait`` operation could not complete at once (empty or full); retry, or block.

    ``Pool.submit`` on a full queue raises its subclass :class:`QueueFull`.
    """


class QueueFull(WouldBlock):
    """The pool's ``max_queue`` tasks are already waiting; retry later, or raise ``max_queue``.

    A :class:`WouldBlock`: ``submit`` never waits for room, so a full queue is the pool's "this
    would block", as a full channel is for ``send_nowait``. ``except WouldBlock`` handles both;
    ``except QueueFull`` only the pool's.
    """


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
