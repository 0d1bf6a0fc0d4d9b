"""ftpool's bridge to asyncio: awaiting a thread-side future, the submitter's context, and the
event loop of a coroutine :class:`~ftpool.Worker`.

``import ftpool`` never imports asyncio (it costs several milliseconds), nor this module: the
first ``await`` of a pool future, a coroutine Worker, or a ``submit`` made once asyncio has been
imported, loads it. It imports asyncio only when a coroutine is actually awaited or run, and
otherwise only *looks* whether asyncio was imported (:func:`loop_probe`).

* :func:`await_future` is how an ftpool future is awaited. No thread is parked and nothing
  polls: the awaiting coroutine waits on an asyncio future of its own loop, and the thread that
  ends the ftpool future wakes that loop with ``loop.call_soon_threadsafe``. Cancelling the
  awaiting task cancels the ftpool future (a queued task is dequeued, a running one has its
  token cancelled). A loop closed while one of its coroutines waited is simply not woken: the
  ending thread drops the wake-up quietly (there is nobody left to tell).
* :func:`loop_probe` tells whether an event loop runs in the calling thread (the call comes from
  async code): ``Pool.submit``/``run`` then run the task in a copy of the caller's ``contextvars``
  context (:func:`copy_context`), as ``asyncio.to_thread`` does; sync code keeps
  ``ThreadPoolExecutor``'s behaviour (no copy).
* :func:`run_worker_coroutine` runs a coroutine Worker's main coroutine under ``asyncio.run`` and
  lets ``terminate()`` cancel its main task from another thread.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import sys
from collections.abc import Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any

from ._errors import Terminated

if TYPE_CHECKING:
    import asyncio
    import contextvars

    from ._context import CancelToken
    from ._port import MessagePort

__all__ = [
    "await_future",
    "copy_context",
    "loop_probe",
    "run_worker_coroutine",
]

_modules = sys.modules
_partial = functools.partial

# asyncio's own "which loop runs in this thread" (a C function on CPython: one thread-state read),
# found once asyncio has been imported by someone; None until then.
_loop_probe: Callable[[], Any] | None = None


def _find_loop_probe() -> Callable[[], Any] | None:
    global _loop_probe
    asyncio = _modules.get("asyncio")
    if asyncio is None:
        return None  # nobody imported asyncio: no loop can run (looked up again next time)
    probe = getattr(asyncio, "_get_running_loop", None)
    if probe is None:
        get_running_loop = getattr(asyncio, "get_running_loop", None)
        if get_running_loop is None:
            return None  # asyncio is being imported right now: no loop runs yet

        def probe() -> Any:
            try:
                return get_running_loop()
            except RuntimeError:
                return None

    _loop_probe = probe
    return probe


def loop_probe() -> Callable[[], Any] | None:
    """asyncio's "the event loop running in this thread, or None" function (a C function on
    CPython), or None while asyncio has not been imported (then no loop can run). Hot paths
    keep the function once found and call it directly."""
    return _loop_probe or _find_loop_probe()


_copy_context: Callable[[], contextvars.Context] | None = None


def copy_context() -> contextvars.Context:
    """``contextvars.copy_context()``, imported on first use (asyncio code has imported it
    already; ``import ftpool`` does not)."""
    global _copy_context
    copy = _copy_context
    if copy is None:
        from contextvars import copy_context  # noqa: PLC0415 - asyncio code only

        copy = _copy_context = copy_context
    return copy()


def _asyncio() -> Any:
    import asyncio  # noqa: PLC0415 - lazily: import ftpool must not pay for it

    return asyncio


# --- awaiting a concurrent future -------------------------------------------------------------


def _set_waiter(waiter: asyncio.Future[None]) -> None:
    # In the loop's thread: wake the awaiting task (unless it was cancelled meanwhile).
    if not waiter.done():
        waiter.set_result(None)


def _wake_loop(
    loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[None], _: object
) -> None:
    # A done-callback of the ftpool future, in the thread that ended it (a pool worker, a
    # canceller, the timer): hand the wake-up to the loop's thread.
    # RuntimeError: the loop was closed while its coroutine waited; nobody is left to wake.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(_set_waiter, waiter)


def await_future[T](future: concurrent.futures.Future[T]) -> Generator[Any, None, T]:
    """The body of ``await future`` for a ``concurrent.futures.Future`` that ftpool ends.

    Returns the result (or raises the future's exception, or :class:`~ftpool.Cancelled` for a
    cancelled future) without blocking the loop. ``RuntimeError`` when no event loop runs in the
    calling thread. If the awaiting task is cancelled (or the coroutine is closed, or an
    exception is thrown into it), ``future.cancel()`` is called before the exception goes on.
    """
    if future.done():
        return future.result()
    probe = _loop_probe or _find_loop_probe()
    loop = None if probe is None else probe()
    if loop is None:
        raise RuntimeError(
            "an ftpool future was awaited with no asyncio event loop running in this thread: "
            "await it inside a coroutine run by asyncio (asyncio.run, a running loop), or call "
            "its result() from synchronous code"
        )
    waiter = loop.create_future()
    future.add_done_callback(_partial(_wake_loop, loop, waiter))
    try:
        yield from waiter.__await__()
    except BaseException:
        # The awaiting task was cancelled (asyncio.wait_for, TaskGroup, Task.cancel) or the
        # coroutine was closed: nobody will take the result, so stop the work.
        future.cancel()
        raise
    return future.result()


# --- a Worker whose target is a coroutine function --------------------------------------------


TERMINATE_MESSAGE = "Worker.terminate() was called"


def run_worker_coroutine(
    coro: Coroutine[Any, Any, object], stop: CancelToken, port: MessagePort | None
) -> object:
    """Run a coroutine Worker's main coroutine with ``asyncio.run`` in the calling (worker)
    thread; returns its result.

    ``stop`` is the worker's terminate token: cancelling it (from any thread) cancels the main
    task through ``loop.call_soon_threadsafe``, and the ``CancelledError`` that then ends the
    run is turned into :class:`~ftpool.Terminated` (exit code 1, not an error, as for a sync
    Worker). When the main coroutine ends, ``port`` (the worker's ``parent_port()``) is closed
    before ``asyncio.run`` cleans up, so that a thread still blocked in ``port.receive()`` (from
    ``asyncio.to_thread``) returns and the loop's default executor can be shut down.
    """
    asyncio = _asyncio()

    async def main() -> object:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()

        def cancel_main(reason: object) -> None:
            # RuntimeError: the loop is closed, the worker has already ended
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(task.cancel, TERMINATE_MESSAGE)

        if not stop.add_callback(cancel_main):  # terminated before the loop ran
            task.cancel(TERMINATE_MESSAGE)
        try:
            return await coro
        finally:
            stop.remove_callback(cancel_main)
            if port is not None:
                port.close()

    try:
        return asyncio.run(main())
    except asyncio.CancelledError:
        if stop.cancelled:
            raise Terminated(
                "the worker's main task was cancelled by Worker.terminate()"
            ) from None
        raise
