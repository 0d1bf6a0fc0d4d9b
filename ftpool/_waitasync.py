"""``Atomics.wait_async`` (Node: ``Atomics.waitAsync``): a coroutine waits in the same wait queue as
the threads blocked in ``Atomics.wait``, without blocking its event loop.

An async waiter is one entry of the queue's FIFO list at its (buffer, byte offset), next to the
blocking ones, so ``Atomics.notify`` wakes both kinds oldest first and counts both. Its wake-up is
not a condition variable but the loop itself: the notifying thread marks the waiter notified under
the queue's lock and hands the loop a callback with ``loop.call_soon_threadsafe``, which resolves
the coroutine's future. No thread is parked per waiter and nothing polls: a timeout is a
``loop.call_later`` timer, and a cancelled coroutine takes its waiter out of the queue, so a later
``notify`` does not count it; one cancelled after a ``notify`` took it passes the wake-up on to the
next waiter (as ``asyncio.Condition`` does), so the wake-up is not lost.

A waiter whose loop has been closed cannot be woken: ``notify`` drops it without counting it (and
goes on to the next waiter), so a notifier never raises or hangs because of someone else's loop.
Its coroutine can never run again (a closed loop runs nothing); when the loop is shut down properly
(``asyncio.run`` cancels the tasks left), the coroutine is cancelled and leaves the queue itself.
"""

from __future__ import annotations

import asyncio
import collections
from typing import TYPE_CHECKING

from ._atomics import (
    _CANCELLED,
    _NOTIFIED,
    _WAITING,
    Atomics,
    WaitResult,
    _AsyncWaiterBase,
    _wait_queue,
    _wake,
)

if TYPE_CHECKING:
    from ._atomics import _WaitQueue
    from ._shared import SharedArray

__all__ = ["wait_async"]

_TIMED_OUT = 3  # an async waiter's state after its call_later timer fired (never seen by notify)


class _AsyncWaiter(_AsyncWaiterBase):
    """One coroutine in ``Atomics.wait_async``. ``state`` uses the queue's lock; ``future`` is
    only touched on its loop's thread."""

    __slots__ = ("future", "loop", "state")

    def __init__(self, loop: asyncio.AbstractEventLoop, future: asyncio.Future[WaitResult]) -> None:
        self.loop = loop
        self.future = future
        self.state = _WAITING  # -> _NOTIFIED by notify, _TIMED_OUT by the timer, _CANCELLED

    def notify(self) -> bool:
        """Called by ``Atomics.notify`` (holding the queue's lock) after taking this waiter off
        the queue: resolve the future on its loop. False, and the waiter dropped, when the loop
        is closed (it cannot be woken; notify must not count it)."""
        loop = self.loop
        if loop.is_closed():
            self.state = _CANCELLED
            return False
        self.state = _NOTIFIED
        try:
            loop.call_soon_threadsafe(self._resolve, "ok")
        except RuntimeError:  # closed meanwhile ("Event loop is closed")
            self.state = _CANCELLED
            return False
        return True

    def _resolve(self, result: WaitResult) -> None:
        """On the loop: deliver ``result`` unless the coroutine was cancelled meanwhile."""
        if not self.future.done():
            self.future.set_result(result)

    def time_out(self, queue: _WaitQueue, offset: int) -> None:
        """The ``call_later`` timer, on the loop: leave the queue unless already notified."""
        with queue.lock:
            if self.state != _WAITING:
                return  # notified first: its "ok" is on the way
            self.state = _TIMED_OUT
            queue.remove(offset, self)  # type: ignore[arg-type]
        self._resolve("timed-out")


async def wait_async(array: SharedArray, position: int, expected: int,
                     seconds: float | None) -> WaitResult:
    """The coroutine of ``Atomics.wait_async`` (arguments already checked)."""
    loop = asyncio.get_running_loop()
    queue = _wait_queue(array._buffer)
    offset = array._offset + position * array.itemsize
    with queue.lock:
        if Atomics.load(array, position) != expected:
            return "not-equal"
        if seconds == 0:
            return "timed-out"
        future: asyncio.Future[WaitResult] = loop.create_future()
        waiter = _AsyncWaiter(loop, future)
        queue.waiters.setdefault(offset, collections.deque()).append(waiter)  # type: ignore[arg-type]
    timer = None if seconds is None else loop.call_later(seconds, waiter.time_out, queue, offset)
    try:
        return await future
    except GeneratorExit:
        # The coroutine is being destroyed (its loop closed or abandoned): this may run inside the
        # garbage collector, on a thread that holds queue.lock, so take no lock. Its waiter is
        # out of the queue already, or dropped by the next notify (the loop is closed), or the
        # whole queue is garbage too (the queue holds the future that keeps the task alive).
        raise
    except BaseException:
        # Cancelled (or the loop is being torn down): leave the queue, so that a later notify
        # does not count a waiter that will never run. If a notify already took this waiter (and
        # counted it), pass its wake-up on to the next waiter, as asyncio.Condition does, so that
        # notify's count still matches the waiters that return "ok" whenever another one waits.
        with queue.lock:
            if waiter.state == _WAITING:
                waiter.state = _CANCELLED
                queue.remove(offset, waiter)  # type: ignore[arg-type]
            elif waiter.state == _NOTIFIED:
                waiter.state = _CANCELLED
                _wake(queue, offset, 1)
        raise
    finally:
        if timer is not None:
            timer.cancel()
