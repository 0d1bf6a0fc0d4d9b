"""Channels between threads: :class:`Channel` (bounded or unbounded), :class:`ChannelStats` and
:func:`select`.

Semantics (those of trio's memory channels and Go's channels, for blocking Python code):

* ``send`` appends an item, ``receive`` takes the oldest one. Every item is received exactly once,
  by one receiver; items sent by one thread are received in the order it sent them.
* ``close()`` is idempotent and ends the stream. Later sends raise :class:`ClosedError`;
  receivers first drain what was queued, then get :class:`EndOfChannel` ("you closed it" and "the
  other side is done" are different errors). Every blocked sender and receiver wakes at once.
* Waiting is done by a lock per blocked thread, released by whoever makes progress possible,
  never by polling. ``timeout`` is checked by :func:`ftpool._timeouts.check_timeout` (``None`` and
  ``math.inf`` wait forever); it expires with the builtin ``TimeoutError``.
* Batches (``send_many``, ``receive_many``) pay the per-call cost once per batch: one lock, one
  C-level ``deque.extend`` or slice. They keep the single-item semantics (order, close, errors).
* Coroutines wait without blocking their event loop (``receive_async``, ``send_async``,
  ``async for``): the sending or closing thread wakes the loop with ``call_soon_threadsafe``.
* Inside a Worker whose ``terminate()`` was called, every ftpool call raises :class:`Terminated`,
  and a worker blocked in one is woken to raise it. A pool task blocked here is woken likewise by
  its cancellation (:class:`~ftpool.Cancelled`), its ``timeout=`` (``TimeoutError``, also when
  its deadline passes before the pool's timer runs) and ``Pool.terminate()``
  (:class:`Terminated`). The machinery is :mod:`ftpool._wakeup`'s.

Implementation (one design for bounded and unbounded channels): a ``deque`` and ONE lock that
guards everything (the items, the counters, the lists of waiters). A thread that must block puts
a private "sleeper" lock (held) on ``_receivers`` or ``_senders`` and blocks acquiring it;
whoever makes progress possible (a send, a receive making room, ``close()``, a stop) takes a
sleeper off the list and releases it. That is ``threading.Condition``'s protocol without its
Python-level layers (on 3.13t, with no specializing interpreter, every call and attribute lookup
costs tens of nanoseconds). A woken thread retries its step before it looks at its timeout, and a
thread that leaves without taking its turn (a timeout, a stop) passes its wake-up on, so no
wake-up is lost. Coroutines wait on the same lists (their entry wakes their event loop
instead); ``select`` calls register "watchers" that every send and ``close()`` notify.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Protocol

from ._errors import ClosedError, EndOfChannel, WouldBlock
from ._events import report
from ._timeouts import check_timeout, deadline, remaining, timed_out
from ._wakeup import Wait, check_stop, enter, stopping

if TYPE_CHECKING:
    import asyncio

__all__ = ["Channel", "ChannelStats", "select"]

_allocate_lock = threading.Lock
_monotonic = time.monotonic
_UNBOUNDED: Final = sys.maxsize
#: The WouldBlock message of receive_nowait() on an empty channel (formatted with the owner).
_NOTHING_QUEUED: Final = (
    "{}.receive_nowait(): nothing is queued; retry later, or call receive() to wait for an item"
)


class _SelectWaiter:
    """What a thread blocked in :func:`select` waits on; channels set it on send and close."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def _wake_blocked(self, wait: Wait) -> None:
        self._event.set()


class _AsyncWaiter:
    """A coroutine waiting in ``receive_async``/``send_async``. It waits on the same lists as
    blocked threads (``_receivers``/``_senders``): ``release()`` (under the channel's lock, by the
    thread that sends, receives or closes) wakes its loop once, with ``call_soon_threadsafe``.
    Never a thread per waiter, never polling."""

    __slots__ = ("fired", "future", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.fired = False

    def release(self) -> bool:
        """Wake the coroutine; False if its loop is closed (it can never resume)."""
        if self.fired:
            return True
        self.fired = True
        try:
            self.loop.call_soon_threadsafe(_resolve, self.future)
        except RuntimeError:
            # The loop was closed with this coroutine still waiting. The sending thread gets no
            # error (its call succeeded); the error is reported (never silent), and the caller
            # passes the wake-up on, so the item goes to another receiver.
            report(
                RuntimeError(
                    "a coroutine waiting on a Channel (receive_async, send_async or async for) "
                    "can never be woken: its event loop was closed while it waited. Close a "
                    "loop only after its tasks ended (asyncio.run cancels them first); the "
                    "wake-up went to the next waiter"
                ),
                "a Channel waking a coroutine",
            )
            return False
        return True


def _running_loop() -> asyncio.AbstractEventLoop:
    import asyncio  # noqa: PLC0415 (only coroutines need it: import ftpool stays light)

    return asyncio.get_running_loop()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():  # it may have been cancelled meanwhile
        future.set_result(None)


def _notify(watchers: list[Any]) -> None:
    for watcher in watchers:
        watcher.set()


def _expired(end: float | None) -> bool:
    """True once the monotonic deadline ``end`` (None: none) has passed."""
    return end is not None and _monotonic() >= end


def _release(woken: Any, sleepers: list[Any], lock: Any) -> None:
    """Release a sleeper taken off ``sleepers`` under ``lock``, after the lock was released (so
    the woken thread does not wake only to wait for the lock its waker still holds). A
    coroutine whose loop was closed cannot be woken: the wake-up goes to the next one."""
    if woken.release() is False:
        with lock:
            _wake_one(sleepers)


def _wake_one(sleepers: list[Any]) -> None:
    """Release the oldest sleeper (the caller holds the channel's lock). A coroutine's waiter
    whose event loop was closed cannot be woken: the wake-up goes to the next one."""
    while sleepers:
        if sleepers.pop(0).release() is not False:
            return


_SEND_CLOSED = "send() on a closed Channel: nothing can be sent after close(); create a new Channel"
_RECEIVE_ENDED = "the Channel is closed and every item was received"


def _closed_error(where: str, sent: int, total: int) -> ClosedError:
    error = ClosedError(
        f"{where} on a closed Channel: {sent} of the {total} items were sent before the close, "
        f"the rest were not; nothing can be sent after close()"
    )
    error.sent = sent  # type: ignore[attr-defined]
    return error


def _check_max_items(max_items: object, where: str) -> int:
    if isinstance(max_items, bool) or not isinstance(max_items, int):
        raise TypeError(
            f"{where}: max_items must be an int >= 1 (the most items to return), "
            f"got {type(max_items).__name__}"
        )
    if max_items < 1:
        raise ValueError(
            f"{where}: max_items must be >= 1 (the most items to return), got {max_items}"
        )
    return max_items


def _as_list(items: object, where: str) -> list[Any]:
    if isinstance(items, list):
        return items
    try:
        return list(items)  # type: ignore[call-overload,no-any-return]
    except TypeError:
        if not hasattr(items, "__iter__"):
            raise TypeError(
                f"{where}: items must be an iterable of the items to send (a list, a tuple, a "
                f"generator ...), got {type(items).__name__}"
            ) from None
        raise


@dataclass(frozen=True, slots=True)
class ChannelStats:
    """A snapshot of a :class:`Channel` (``Channel.stats()``).

    ``sent`` counts the items sent, ``received`` the items taken out (``sent - queued``),
    ``queued`` the items waiting, ``capacity`` is 0 for unbounded channels. ``waiting_senders`` and
    ``waiting_receivers`` count the threads blocked in ``send``/``receive`` (and the ``select``
    calls and coroutines registered on the channel) at that moment.
    """

    sent: int
    received: int
    queued: int
    capacity: int
    waiting_senders: int
    waiting_receivers: int
    closed: bool


# --------------------------------------------------------------------------------------------
# Channel
# --------------------------------------------------------------------------------------------


class Channel[T]:
    """A FIFO channel between threads, for the producer-consumer pattern with backpressure.

    ``Channel(capacity=0)``: 0 (the default) means unbounded, so ``send`` never blocks; a positive
    capacity makes ``send`` block while that many items are queued. A negative capacity raises
    ``ValueError``, a non-integer ``TypeError``.

    Items are shared, not copied. Any number of threads may send and receive; each item goes to
    exactly one receiver. ``close()`` ends the stream: receivers drain what is queued, then get
    :class:`EndOfChannel`; ``for item in channel`` (and ``async for``) stops there.
    ``with Channel() as ch:`` closes the channel on exit. Every operation has a blocking form, a
    ``_nowait`` or ``timeout=`` form, a batch form and (for receiving and sending) an ``async``
    form; see the module docstring for how waiting works.
    """

    __slots__ = (
        "__weakref__",
        "_capacity",
        "_closed",
        "_items",
        "_limit",
        "_lock",
        "_received",
        "_receivers",
        "_senders",
        "_watchers",
    )

    def __new__(cls, capacity: int = 0) -> Channel[T]:
        # An unbounded channel is never full: its class skips the room check on every send.
        if cls is Channel and capacity.__class__ is int and capacity == 0:
            return super().__new__(_UnboundedChannel)
        return super().__new__(cls)

    def __init__(self, capacity: int = 0) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int):
            raise TypeError(
                f"Channel(capacity): capacity must be an int (0 = unbounded), "
                f"got {type(capacity).__name__}"
            )
        if capacity < 0:
            raise ValueError(
                f"Channel(capacity): capacity must be >= 0 (0 = unbounded), got {capacity}"
            )
        self._capacity = capacity
        self._limit = capacity or _UNBOUNDED  # len(items) < _limit: room for one more
        self._items: deque[T] = deque()
        # _lock guards every attribute below and the lists' contents
        self._lock = threading.Lock()
        self._closed = False
        # Items taken out. Receivers count, not senders (sent = received + queued): in the
        # common case of a consumer that keeps up, the producer is the slower side.
        self._received = 0
        # Waiting until an item comes / until there is room: sleeper locks of blocked threads
        # and _AsyncWaiters of coroutines, oldest first; whoever makes progress releases one.
        self._receivers: list[Any] = []
        self._senders: list[Any] = []
        self._watchers: list[Any] = []  # set() on every send and on close: select() calls

    @property
    def capacity(self) -> int:
        """The capacity given at creation; 0 for an unbounded channel."""
        return self._capacity

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called (items may still be queued for receivers)."""
        return self._closed

    # ---------------------------------------------------------------- waiting (lock held)

    def _sleep(self, sleepers: list[Any], wait: Wait | None, end: float | None) -> bool:
        """Block until a sleeper of ours on ``sleepers`` is released or the time runs out.

        The caller holds the lock; it is released while blocked and held again on return.
        Returns True when woken (by progress, close or a stop), False on a timeout.
        """
        sleeper = _allocate_lock()
        sleeper.acquire()
        sleepers.append(sleeper)
        if wait is not None:
            wait.handle = sleeper
        limit = remaining(end) if wait is None else wait.limit(end)
        woken = False
        lock = self._lock
        lock.release()
        try:
            woken = sleeper.acquire(True, -1 if limit is None else limit)
        finally:
            lock.acquire()
            if not woken:  # a timeout, or an exception (KeyboardInterrupt) while blocked
                try:
                    sleepers.remove(sleeper)  # no stale sleeper may take a later wake-up
                except ValueError:  # released just after: a wake-up all the same
                    woken = True
        return woken

    def _wake_blocked(self, wait: Wait) -> None:
        """A waiter of this channel was stopped (ftpool._wakeup): release its sleeper."""
        with self._lock:
            sleeper = wait.handle
            for sleepers in (self._receivers, self._senders):
                if sleeper in sleepers:
                    sleepers.remove(sleeper)
                    sleeper.release()

    def _pass_on(self) -> None:
        """A waiter leaves without taking its turn (a timeout, a stop): if what it was woken
        for is still there, wake the next waiter instead (the lock is held)."""
        if self._items and self._receivers:
            _wake_one(self._receivers)
        if len(self._items) < self._limit and self._senders:
            _wake_one(self._senders)

    # ---------------------------------------------------------------- send

    def send(self, item: T, timeout: float | None = None) -> None:
        """Append ``item``, blocking while the channel is full (never, when unbounded).

        Raises :class:`ClosedError` if the channel is closed (also when it closes while this
        call waits), ``TimeoutError`` when ``timeout`` seconds pass while it is full,
        ``ValueError``/``TypeError`` for a bad timeout, and, inside a terminated Worker or a
        stopped pool task, :class:`Terminated`/:class:`Cancelled`/``TimeoutError`` (it is woken
        if blocked here).
        """
        if timeout is not None:
            timeout = check_timeout(timeout, "Channel.send")
        if stopping:
            check_stop()
        woken = None
        lock = self._lock
        lock.acquire()
        try:
            if self._closed:
                raise ClosedError(_SEND_CLOSED)
            items = self._items
            if len(items) < self._limit:
                items.append(item)
                if self._receivers:
                    woken = self._receivers.pop(0)
                if self._watchers:
                    _notify(self._watchers)
            else:
                self._send_blocked([item], timeout, "Channel.send()")
        finally:
            lock.release()
        if woken is not None:
            _release(woken, self._receivers, lock)

    def send_nowait(self, item: T) -> None:
        """Append ``item`` without blocking; raises :class:`WouldBlock` when the channel is full,
        :class:`ClosedError` when it is closed."""
        if stopping:
            check_stop()
        woken = None
        lock = self._lock
        lock.acquire()
        try:
            if self._closed:
                raise ClosedError(_SEND_CLOSED)
            items = self._items
            if len(items) >= self._limit:
                raise WouldBlock(
                    f"Channel.send_nowait(): the channel is full ({self._capacity} items); "
                    "retry later, or call send() to wait for room"
                )
            items.append(item)
            if self._receivers:
                woken = self._receivers.pop(0)
            if self._watchers:
                _notify(self._watchers)
        finally:
            lock.release()
        if woken is not None:
            _release(woken, self._receivers, lock)

    def send_many(self, items: Iterable[T], timeout: float | None = None) -> None:
        """Send every item of ``items``, in order, as :meth:`send` would one by one, paying the
        call and the lock once per batch.

        On a bounded channel it blocks while the channel is full, sending as space frees (so
        receivers may take the first items before the last ones are in). ``items`` is read
        whole first: an iterable that raises, a bad ``timeout`` or a stopped thread send nothing.

        Raises :class:`ClosedError` if the channel is (or becomes, while this call waits)
        closed; its message and its ``sent`` attribute say how many items were sent before.
        ``TimeoutError`` after ``timeout`` seconds of waiting for room, and the errors of
        :meth:`send` inside a stopped Worker or pool task; an error raised while waiting also
        carries ``sent`` (the items before it are in the channel, the rest are not).
        """
        if timeout is not None:
            timeout = check_timeout(timeout, "Channel.send_many")
        batch = _as_list(items, "Channel.send_many")
        if stopping:
            check_stop()
        lock = self._lock
        lock.acquire()
        try:
            if self._closed:
                raise _closed_error("send_many()", 0, len(batch))
            queued = self._items
            room = self._limit - len(queued)
            if len(batch) <= room:
                queued.extend(batch)
                if self._receivers:
                    self._wake_receivers(len(batch))
                if self._watchers:
                    _notify(self._watchers)
                return
            self._send_blocked(batch, timeout, "Channel.send_many()")
        finally:
            lock.release()

    def _wake_receivers(self, count: int) -> None:
        receivers = self._receivers
        for _ in range(min(count, len(receivers))):
            _wake_one(receivers)

    def _send_blocked(self, batch: list[T], timeout: float | None, where: str) -> None:
        """Send ``batch`` as room frees, blocking while full (the lock is held, not closed)."""
        end = deadline(timeout)
        queued = self._items
        total = len(batch)
        done = 0
        wait: Wait | None = None
        entered = False
        try:
            while True:
                room = self._limit - len(queued)
                if room > 0:
                    part = batch[done : done + room] if done or room < total else batch
                    queued.extend(part)
                    done += len(part)
                    if self._receivers:
                        self._wake_receivers(len(part))
                    if self._watchers:
                        _notify(self._watchers)
                    if done == total:
                        return
                if not entered:
                    wait = enter(self)  # raises if this thread or task was stopped
                    entered = True
                woken = self._sleep(self._senders, wait, end)
                if wait is not None:
                    wait.check()
                if self._closed:
                    if total == 1:
                        raise ClosedError(_SEND_CLOSED)
                    raise _closed_error(where.removeprefix("Channel."), done, total)
                if not woken and _expired(end):
                    if len(queued) < self._limit:
                        continue  # room came with the timeout: take it first
                    error = timed_out(where, timeout)
                    if total > 1:
                        error.args = (f"{error.args[0]} ({done} of {total} items were sent)",)
                    error.sent = done  # type: ignore[attr-defined]
                    raise error
        except BaseException as exc:
            self._pass_on()
            if total > 1:  # whatever ends a batch (close, timeout, a stop) says what went in
                with contextlib.suppress(AttributeError, TypeError):
                    exc.sent = done  # type: ignore[attr-defined]
            raise
        finally:
            if wait is not None:
                wait.leave()

    # ---------------------------------------------------------------- receive

    def receive(self, timeout: float | None = None) -> T:
        """Take the oldest item, blocking until one is sent.

        Raises :class:`EndOfChannel` once the channel is closed and drained (at once, for every
        blocked receiver, when it closes), ``TimeoutError`` after ``timeout`` seconds,
        ``ValueError``/``TypeError`` for a bad timeout, and, inside a terminated Worker or a
        stopped pool task, :class:`Terminated`/:class:`Cancelled`/``TimeoutError`` (it is woken
        if blocked here; a stopped receiver takes no item).
        """
        if timeout is not None:
            timeout = check_timeout(timeout, "Channel.receive")
        if stopping:
            check_stop()
        woken = None
        lock = self._lock
        lock.acquire()
        try:
            items = self._items
            if not items:
                self._receive_blocked(timeout, "Channel.receive()")
            item = items.popleft()
            self._received += 1
            if self._senders:
                woken = self._senders.pop(0)
        finally:
            lock.release()
        if woken is not None:
            _release(woken, self._senders, lock)
        return item

    def receive_nowait(self) -> T:
        """Take the oldest item without blocking; raises :class:`WouldBlock` when nothing is
        queued and :class:`EndOfChannel` when the channel is closed and drained."""
        if stopping:
            check_stop()
        woken = None
        lock = self._lock
        lock.acquire()
        try:
            items = self._items
            if not items:
                if self._closed:
                    raise EndOfChannel(_RECEIVE_ENDED)
                raise WouldBlock(_NOTHING_QUEUED.format("Channel"))
            item = items.popleft()
            self._received += 1
            if self._senders:
                woken = self._senders.pop(0)
        finally:
            lock.release()
        if woken is not None:
            _release(woken, self._senders, lock)
        return item

    def receive_many(self, max_items: int, timeout: float | None = None) -> list[T]:
        """Take at least one and at most ``max_items`` of the oldest items, in order.

        Returns whatever is queued (up to ``max_items``) at once; waits only when nothing is,
        then returns what has come. After ``close()`` it returns the remaining items first, and
        raises :class:`EndOfChannel` only once the channel is drained. Raises ``TimeoutError``
        after ``timeout`` seconds with nothing received, ``TypeError``/``ValueError`` for a
        ``max_items`` that is not an int >= 1 or a bad timeout (before anything is taken), and
        the errors of :meth:`receive` inside a stopped Worker or pool task.
        """
        if max_items.__class__ is not int or max_items < 1:
            _check_max_items(max_items, "Channel.receive_many")
        if timeout is not None:
            timeout = check_timeout(timeout, "Channel.receive_many")
        if stopping:
            check_stop()
        lock = self._lock
        lock.acquire()
        try:
            items = self._items
            if not items:
                self._receive_blocked(timeout, "Channel.receive_many()")
            if len(items) <= max_items:
                batch = list(items)
                items.clear()
            else:
                popleft = items.popleft
                batch = [popleft() for _ in range(max_items)]
            self._received += len(batch)
            if self._senders:
                for _ in range(min(len(batch), len(self._senders))):
                    _wake_one(self._senders)
            return batch
        finally:
            lock.release()

    def _receive_blocked(self, timeout: float | None, where: str) -> None:
        """Wait until an item is queued (the lock is held, nothing queued); raises
        EndOfChannel once closed, TimeoutError, or the stop error."""
        items = self._items
        if self._closed:
            raise EndOfChannel(_RECEIVE_ENDED)
        end = deadline(timeout)
        wait = enter(self)  # raises if this thread or task was stopped
        try:
            while True:
                woken = self._sleep(self._receivers, wait, end)
                if wait is not None:
                    wait.check()  # before taking an item: a stopped receiver takes none
                if items:
                    return
                if self._closed:
                    raise EndOfChannel(_RECEIVE_ENDED)
                if not woken and _expired(end):
                    raise timed_out(where, timeout)
        except BaseException:
            self._pass_on()
            raise
        finally:
            if wait is not None:
                wait.leave()

    def __iter__(self) -> Iterator[T]:
        """Yield items as :meth:`receive` does, until the channel is closed and drained."""
        # receive() inlined: no call and no exception handler per item
        lock = self._lock
        items = self._items
        while True:
            if stopping:
                check_stop()
            lock.acquire()
            try:
                if not items:
                    try:
                        self._receive_blocked(None, "iteration over a Channel")
                    except EndOfChannel:
                        return
                item = items.popleft()
                self._received += 1
                if self._senders:
                    _wake_one(self._senders)
            finally:
                lock.release()
            yield item

    # ---------------------------------------------------------------- asyncio

    async def receive_async(self, timeout: float | None = None) -> T:
        """``await ch.receive_async()``: :meth:`receive` for a coroutine, without blocking its
        event loop.

        Takes an item at once when one is queued; otherwise the coroutine waits, and the thread
        that sends (or closes) wakes its loop with ``call_soon_threadsafe``: no polling, no
        helper thread. Raises :class:`EndOfChannel` once the channel is closed and drained,
        ``TimeoutError`` after ``timeout`` seconds, ``ValueError``/``TypeError`` for a bad
        timeout. Cancelling the awaiting task loses no item: an item is only taken by a
        coroutine that runs, so it stays queued for the next receiver.
        """
        if timeout is not None:
            timeout = check_timeout(timeout, "Channel.receive_async")
        try:
            return self.receive_nowait()
        except WouldBlock:
            pass
        return await self._receive_async_wait(timeout)

    async def _receive_async_wait(self, timeout: float | None) -> T:
        loop = _running_loop()
        end = deadline(timeout)
        while True:
            waiter = _AsyncWaiter(loop)
            with self._lock:
                if not self._items and not self._closed:
                    self._receivers.append(waiter)
                    waiting = True
                else:
                    waiting = False  # an item (or the close) came meanwhile
            if waiting:
                await self._await_waiter(waiter, self._receivers, end, "receive_async", timeout)
            try:
                return self.receive_nowait()
            except WouldBlock:  # another receiver was first: wait again
                pass

    async def _await_waiter(
        self,
        waiter: _AsyncWaiter,
        waiters: list[Any],
        end: float | None,
        where: str,
        timeout: float | None,
    ) -> None:
        """Await ``waiter`` (listed on ``waiters``). If the coroutine is cancelled or times out,
        unlist it, or, when it was woken already, pass that wake-up on: nothing is lost."""
        done = False
        try:
            await _wait_future(waiter.future, end, f"Channel.{where}()", timeout)
            done = True
        finally:
            if not done:
                with self._lock:
                    if waiter in waiters:
                        waiters.remove(waiter)
                    else:
                        self._pass_on()

    async def send_async(self, item: T, timeout: float | None = None) -> None:
        """``await ch.send_async(item)``: :meth:`send` for a coroutine. On a full bounded channel
        the coroutine waits (backpressure) without blocking its loop, woken by the thread that
        receives (or closes) with ``call_soon_threadsafe``.

        Raises :class:`ClosedError` if the channel is or becomes closed, ``TimeoutError`` after
        ``timeout`` seconds without room, ``ValueError``/``TypeError`` for a bad timeout. A
        cancelled ``send_async`` sent nothing.
        """
        if timeout is not None:
            timeout = check_timeout(timeout, "Channel.send_async")
        try:
            self.send_nowait(item)
            return
        except WouldBlock:
            pass
        loop = _running_loop()
        end = deadline(timeout)
        while True:
            waiter = _AsyncWaiter(loop)
            with self._lock:
                if len(self._items) >= self._limit and not self._closed:
                    self._senders.append(waiter)
                    waiting = True
                else:
                    waiting = False  # room (or the close) came meanwhile
            if waiting:
                await self._await_waiter(waiter, self._senders, end, "send_async", timeout)
            try:
                self.send_nowait(item)
                return
            except WouldBlock:  # another sender was first: wait again
                pass

    def __aiter__(self) -> AsyncIterator[T]:
        """``async for item in ch``: items as :meth:`receive_async` gives them, until the channel
        is closed and drained."""
        return self._async_items()

    async def _async_items(self) -> AsyncIterator[T]:
        receive_async = self.receive_async
        while True:
            try:
                item = await receive_async()
            except EndOfChannel:
                return
            yield item

    # ---------------------------------------------------------------- close, stats

    def close(self) -> None:
        """Close the channel; idempotent, never blocks.

        Later sends raise :class:`ClosedError`; blocked senders wake and raise it too. Receivers
        drain what is queued, then get :class:`EndOfChannel`; blocked receivers (threads,
        ``select`` calls and coroutines) wake at once.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for sleeper in self._receivers:
                sleeper.release()
            self._receivers.clear()
            for sleeper in self._senders:
                sleeper.release()
            self._senders.clear()
            _notify(self._watchers)

    def __len__(self) -> int:
        """The number of items queued now."""
        return len(self._items)

    def stats(self) -> ChannelStats:
        """A :class:`ChannelStats` snapshot. Never blocks for long (takes the channel's lock)."""
        with self._lock:
            queued = len(self._items)
            return ChannelStats(
                sent=self._received + queued,
                received=self._received,
                queued=queued,
                capacity=self._capacity,
                waiting_senders=len(self._senders),
                waiting_receivers=len(self._receivers) + len(self._watchers),
                closed=self._closed,
            )

    def _add_selector(self, waiter: _SelectWaiter) -> None:
        with self._lock:
            self._watchers.append(waiter)

    def _remove_selector(self, waiter: _SelectWaiter) -> None:
        with self._lock:
            self._watchers.remove(waiter)

    def _select_channel(self) -> Channel[Any]:
        return self

    def __enter__(self) -> Channel[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        stats = self.stats()
        kind = f"capacity={stats.capacity}" if stats.capacity else "unbounded"
        state = " closed" if stats.closed else ""
        return f"<Channel {kind} queued={stats.queued}{state}>"


class _UnboundedChannel[T](Channel[T]):
    """``Channel(0)``: never full. Senders hold the lock (to be ordered against ``close()``, to
    count and to wake); receivers take no lock on their fast path: ``deque.popleft`` is atomic, and
    an empty deque sends them to the locked slow path, which re-checks under the lock. Since a
    lock-free receiver may take any item at any moment, every batch is taken with ``popleft``."""

    __slots__ = ("_sent",)

    def __init__(self, capacity: int = 0) -> None:
        super().__init__(capacity)
        self._sent = 0  # counted by senders (receivers take no lock): received = sent - queued

    def send(self, item: T, timeout: float | None = None) -> None:
        if timeout is not None:
            check_timeout(timeout, "Channel.send")  # validated; an unbounded send never waits
        if stopping:
            check_stop()
        woken = None
        lock = self._lock
        lock.acquire()
        try:
            if self._closed:
                raise ClosedError(_SEND_CLOSED)
            self._items.append(item)
            self._sent += 1
            if self._receivers:
                woken = self._receivers.pop(0)
            if self._watchers:
                _notify(self._watchers)
        finally:
            lock.release()
        if woken is not None:
            _release(woken, self._receivers, lock)

    def send_nowait(self, item: T) -> None:
        self.send(item)

    def send_many(self, items: Iterable[T], timeout: float | None = None) -> None:
        if timeout is not None:
            check_timeout(timeout, "Channel.send_many")
        batch = _as_list(items, "Channel.send_many")
        if stopping:
            check_stop()
        lock = self._lock
        lock.acquire()
        try:
            if self._closed:
                raise _closed_error("send_many()", 0, len(batch))
            self._items.extend(batch)
            self._sent += len(batch)
            if self._receivers:
                self._wake_receivers(len(batch))
            if self._watchers:
                _notify(self._watchers)
        finally:
            lock.release()

    def receive(self, timeout: float | None = None) -> T:
        if timeout is not None:
            timeout = check_timeout(timeout, "Channel.receive")
        if stopping:
            check_stop()
        try:
            return self._items.popleft()
        except IndexError:
            return self._receive_locked(timeout, "Channel.receive()")

    def _receive_locked(self, timeout: float | None, where: str) -> T:
        """The slow path: wait under the lock until an item is queued, then take one (a
        lock-free receiver may take it first: then wait again)."""
        items = self._items
        lock = self._lock
        while True:
            lock.acquire()
            try:
                if not items:
                    self._receive_blocked(timeout, where)
            finally:
                lock.release()
            try:
                return items.popleft()
            except IndexError:
                continue

    def receive_nowait(self) -> T:
        if stopping:
            check_stop()
        items = self._items
        try:
            return items.popleft()
        except IndexError:
            pass
        if self._closed:
            # Closed before this second try: nothing can be queued after it, so empty = drained.
            try:
                return items.popleft()
            except IndexError:
                raise EndOfChannel(_RECEIVE_ENDED) from None
        raise WouldBlock(_NOTHING_QUEUED.format("Channel"))

    def receive_many(self, max_items: int, timeout: float | None = None) -> list[T]:
        if max_items.__class__ is not int or max_items < 1:
            _check_max_items(max_items, "Channel.receive_many")
        if timeout is not None:
            timeout = check_timeout(timeout, "Channel.receive_many")
        if stopping:
            check_stop()
        batch: list[T] = []
        append = batch.append
        popleft = self._items.popleft
        try:
            for _ in range(max_items):
                append(popleft())
        except IndexError:
            if not batch:  # nothing queued: wait for the first, then take what else came
                append(self._receive_locked(timeout, "Channel.receive_many()"))
                try:
                    for _ in range(max_items - 1):
                        append(popleft())
                except IndexError:
                    pass
        return batch

    def __iter__(self) -> Iterator[T]:
        popleft = self._items.popleft
        receive_locked = self._receive_locked
        while True:
            if stopping:
                check_stop()
            try:
                item = popleft()
            except IndexError:
                try:
                    item = receive_locked(None, "iteration over a Channel")
                except EndOfChannel:
                    return
            yield item

    def stats(self) -> ChannelStats:
        with self._lock:
            queued = len(self._items)
            return ChannelStats(
                sent=self._sent,
                received=self._sent - queued,
                queued=queued,
                capacity=0,
                waiting_senders=0,
                waiting_receivers=len(self._receivers) + len(self._watchers),
                closed=self._closed,
            )


for _name in ("send", "send_nowait", "send_many", "receive", "receive_nowait", "receive_many",
              "__iter__", "stats"):
    getattr(_UnboundedChannel, _name).__doc__ = getattr(Channel, _name).__doc__


async def _wait_future(
    future: asyncio.Future[None], end: float | None, where: str, timeout: float | None
) -> None:
    """Await a waiter's future, up to the monotonic deadline ``end``; TimeoutError after it."""
    if end is None:
        await future
        return
    left = remaining(end)
    if left is not None and left <= 0.0:
        raise timed_out(where, timeout)
    import asyncio  # noqa: PLC0415 (only coroutines need it: import ftpool stays light)

    try:
        async with asyncio.timeout(left):
            await future
    except TimeoutError:
        raise timed_out(where, timeout) from None


# --------------------------------------------------------------------------------------------
# select
# --------------------------------------------------------------------------------------------


class _Selectable(Protocol):
    def _select_channel(self) -> Channel[Any]: ...


_turns = itertools.count()  # next() is atomic (a C call; a CAS loop on 3.13t): fair start index


def select(*channels: Any, timeout: float | None = None) -> tuple[Any, Any]:
    """Receive from whichever channel has an item first; returns ``(channel, item)``.

    ``channels`` are :class:`Channel` objects; :class:`~ftpool.MessagePort`,
    :class:`~ftpool.BroadcastChannel` and :class:`~ftpool.Worker` are accepted too (what they
    receive), and are returned as given. When several are ready, the scan starts at a rotating
    position so no channel starves. When none is ready, the caller waits, woken by the next send or
    close on any of them, never by polling.

    Channels that are closed and drained are skipped; when all of them are, :class:`EndOfChannel`
    is raised. Raises ``TimeoutError`` after ``timeout`` seconds, ``ValueError`` for no channels or
    a negative timeout, ``TypeError`` for something that cannot be received from, and
    :class:`Terminated` inside a terminated Worker (which is woken if it is blocked here).
    """
    if not channels:
        raise ValueError("select() needs at least one channel to receive from")
    sources: list[Channel[Any]] = []
    for channel in channels:
        method = getattr(channel, "_select_channel", None)
        if method is None:
            raise TypeError(
                f"select() receives from Channel, MessagePort, BroadcastChannel or Worker objects, "
                f"got {type(channel).__name__}"
            )
        sources.append(method())
    timeout = check_timeout(timeout, "select")
    if stopping:
        check_stop()
    count = len(sources)
    start = next(_turns) % count
    order = [*range(start, count), *range(start)]
    end = deadline(timeout)
    waiter: _SelectWaiter | None = None
    wait: Wait | None = None
    registered: list[Channel[Any]] = []
    try:
        while True:
            ended = 0
            for index in order:
                try:
                    return channels[index], sources[index].receive_nowait()
                except WouldBlock:
                    pass
                except EndOfChannel:
                    ended += 1
            if ended == count:
                raise EndOfChannel("select(): every channel is closed and drained")
            if waiter is None:
                # Register on every channel, then scan again: a send that came before the
                # registration is seen by that scan, one that comes after sets the waiter.
                waiter = _SelectWaiter()
                for source in sources:
                    source._add_selector(waiter)
                    registered.append(source)
                wait = enter(waiter)  # raises if this thread or task was stopped
                continue
            woken = waiter._event.wait(remaining(end) if wait is None else wait.limit(end))
            # Clear before the stop check and the next scan: a send or a stop after it sets the
            # event again, so neither is lost.
            waiter._event.clear()
            if wait is not None:
                wait.check()
            if not woken and _expired(end):
                raise timed_out("select()", timeout)
    finally:
        if wait is not None:
            wait.leave()
        if waiter is not None:
            for source in registered:
                source._remove_selector(waiter)
