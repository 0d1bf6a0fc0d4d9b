"""Channels between threads: :class:`Channel` (bounded or unbounded), :class:`ChannelStats` and
:func:`select`.

Semantics (those of trio's memory channels and Go's channels, for blocking Python code):

* ``send`` appends an item, ``receive`` takes the oldest one. Every item is received exactly once,
  by one receiver; items sent by one thread are received in the order it sent them.
* ``close()`` is idempotent and ends the stream. Later sends raise :class:`ClosedError`;
  receivers first drain what was queued, then get :class:`EndOfChannel` ("you closed it" and "the
  other side is done" are different errors). Every blocked sender and receiver wakes at once.
* Waiting is done by the queue or by a condition variable, never by polling. ``timeout`` is in
  seconds (``None`` waits forever, a negative one raises ``ValueError``, one that is not a number
  ``TypeError``); it expires with the builtin ``TimeoutError``.
* Inside a Worker whose ``terminate()`` was called, every ftpool call raises :class:`Terminated`,
  and a worker blocked in one is woken to raise it. A pool task blocked here is woken likewise by
  its cancellation (:class:`~ftpool.Cancelled`), its ``timeout=`` (``TimeoutError``, also when
  its deadline passes before the pool's timer runs) and ``Pool.terminate()``
  (:class:`Terminated`). The machinery is :mod:`ftpool._wakeup`'s.

Implementation notes. The hot paths are kept short because on 3.13t (no specializing interpreter)
every Python-level call or attribute lookup costs tens of nanoseconds: no thread-local lookups per
message (a stopped worker is found through the global list ``_wakeup.stopping``, ftpool's
threads through a dict keyed by thread ident), a wait registers with the wake-up machinery only
when it is about to block, and no lock is taken on the unbounded receive path.

* Unbounded: items live in a ``queue.SimpleQueue``. A send takes the channel's lock so that every
  send is ordered before or after ``close()``: close puts a private token (``_NUDGE``) at the tail,
  and no item can ever be queued behind it, so receivers see every item, then the token. Whoever
  takes the close token puts it back, so every blocked receiver wakes in turn. Receives take no
  lock: the item is the queue's. The same token, counted in ``_wake_tokens``, wakes a stopped
  waiter (terminated Worker, cancelled task) blocked in ``get()``.
* Bounded: a ``deque`` with one lock and the Conditions ``not_empty``/``not_full`` (the design of
  ``queue.Queue``), without its ``task_done`` bookkeeping, and notifying a Condition only when a
  thread waits on it. Blocking calls run the same ``_try_*`` step as their ``_nowait`` twin.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from queue import Empty, SimpleQueue
from types import TracebackType
from typing import Any, Final, NoReturn, Protocol

from ._context import by_ident
from ._errors import ClosedError, EndOfChannel, Terminated, WouldBlock
from ._timeouts import check_timeout, deadline, remaining, timed_out
from ._wakeup import Wait, check_stop, enter, stopping

__all__ = ["Channel", "ChannelStats", "select"]

_get_ident = threading.get_ident
_monotonic = time.monotonic


class _Token:
    """Private marker objects; users never receive them."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return f"<ftpool {self._name}>"


_NUDGE: Final = _Token("close/wake-up token")  # queued by close() and by terminate() wake-ups
_MISSING: Final = _Token("no item yet")


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _expired(end: float | None) -> bool:
    """True once the monotonic deadline ``end`` (None: none) has passed."""
    return end is not None and _monotonic() >= end


def _raise_stopped(wait: Wait) -> NoReturn:
    """Raise the error of a wait that was ended early (see ftpool._wakeup.stop_error)."""
    raise wait.error() or Terminated("the wait was ended early (terminate or cancel)")


class _SelectWaiter:
    """What a thread blocked in :func:`select` waits on; channels set it on send and close."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def _wake_blocked(self, wait: Wait) -> None:
        self._event.set()


def _notify_selectors(selectors: list[_SelectWaiter]) -> None:
    for waiter in selectors:
        waiter.set()


_SEND_CLOSED = "send() on a closed Channel: nothing can be sent after close(); create a new Channel"
_RECEIVE_ENDED = "the Channel is closed and every item was received"


@dataclass(frozen=True, slots=True)
class ChannelStats:
    """A snapshot of a :class:`Channel` (``Channel.stats()``).

    ``sent`` counts successful sends, ``received`` the items taken out (``sent - queued``),
    ``queued`` the items waiting, ``capacity`` is 0 for unbounded channels. ``waiting_senders`` and
    ``waiting_receivers`` count threads blocked in ``send``/``receive`` (and ``select`` calls
    registered on the channel) at that moment.
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
    :class:`EndOfChannel`; ``for item in channel`` stops there. ``with Channel() as ch:`` closes the
    channel on exit. Unbounded channels are built on ``queue.SimpleQueue``; bounded ones on one lock
    and the Conditions ``not_empty``/``not_full``.
    """

    __slots__ = ("__weakref__",)

    def __new__(cls, capacity: int = 0) -> Channel[T]:
        if cls is not Channel:
            return super().__new__(cls)
        if isinstance(capacity, bool) or not isinstance(capacity, int):
            raise TypeError(
                f"Channel(capacity): capacity must be an int (0 = unbounded), "
                f"got {type(capacity).__name__}"
            )
        if capacity < 0:
            raise ValueError(
                f"Channel(capacity): capacity must be >= 0 (0 = unbounded), got {capacity}"
            )
        impl: type[Channel[Any]] = _BoundedChannel if capacity else _UnboundedChannel
        return super().__new__(impl)

    # The methods below are implemented by the two private subclasses; they document the API.

    @property
    def capacity(self) -> int:
        """The capacity given at creation; 0 for an unbounded channel."""
        raise NotImplementedError

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called (items may still be queued for receivers)."""
        raise NotImplementedError

    def send(self, item: T, timeout: float | None = None) -> None:
        """Append ``item``, blocking while the channel is full (never, when unbounded).

        Raises :class:`ClosedError` if the channel is closed (also when it closes while this
        call waits), ``TimeoutError`` when ``timeout`` seconds pass while it is full,
        ``ValueError`` for a negative timeout, and :class:`Terminated` inside a terminated Worker.
        """
        raise NotImplementedError

    def send_nowait(self, item: T) -> None:
        """Append ``item`` without blocking; raises :class:`WouldBlock` when the channel is full,
        :class:`ClosedError` when it is closed."""
        raise NotImplementedError

    def receive(self, timeout: float | None = None) -> T:
        """Take the oldest item, blocking until one is sent.

        Raises :class:`EndOfChannel` once the channel is closed and drained (at once, for every
        blocked receiver, when it closes), ``TimeoutError`` after ``timeout`` seconds,
        ``ValueError`` for a negative timeout, and :class:`Terminated` inside a terminated Worker
        (which is woken if it is blocked here).
        """
        raise NotImplementedError

    def receive_nowait(self) -> T:
        """Take the oldest item without blocking; raises :class:`WouldBlock` when nothing is
        queued and :class:`EndOfChannel` when the channel is closed and drained."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the channel; idempotent, never blocks.

        Later sends raise :class:`ClosedError`; blocked senders wake and raise it too. Receivers
        drain what is queued, then get :class:`EndOfChannel`; blocked receivers wake at once.
        """
        raise NotImplementedError

    def stats(self) -> ChannelStats:
        """A :class:`ChannelStats` snapshot. Never blocks for long (takes the channel's lock)."""
        raise NotImplementedError

    def __len__(self) -> int:
        """The number of items queued now."""
        raise NotImplementedError

    def __iter__(self) -> Iterator[T]:
        """Yield items as :meth:`receive` does, until the channel is closed and drained."""
        raise NotImplementedError

    def _add_selector(self, waiter: _SelectWaiter) -> None:
        raise NotImplementedError

    def _remove_selector(self, waiter: _SelectWaiter) -> None:
        raise NotImplementedError

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
    """``Channel(0)``: a SimpleQueue; sends are ordered against close() by the lock."""

    __slots__ = (
        "_closed",
        "_lock",
        "_queue",
        "_selectors",
        "_sent",
        "_targets",
        "_targets_left",
        "_waiting",
        "_wake_tokens",
    )

    def __init__(self, capacity: int = 0) -> None:
        self._queue: SimpleQueue[Any] = SimpleQueue()
        # _lock guards _closed, _sent, _selectors, _wake_tokens and _targets. Every send holds it
        # while it checks _closed and queues the item, so no item is queued behind the close token.
        self._lock = threading.Lock()
        # announces: a terminated worker that a wake-up token was queued for left its wait, or the
        # channel closed (see _take_token)
        self._targets_left = threading.Condition(self._lock)
        self._closed = False
        self._sent = 0
        self._wake_tokens = 0  # wake-up tokens queued for terminated workers, not yet taken
        self._targets: list[Wait] = []  # stopped waiters blocked in get(), a token queued
        self._selectors: list[_SelectWaiter] = []
        # idents of threads blocked in get(); set.add/discard are atomic, so no lock is needed
        self._waiting: set[int] = set()

    @property
    def capacity(self) -> int:
        return 0

    @property
    def closed(self) -> bool:
        return self._closed

    def send(self, item: T, timeout: float | None = None) -> None:
        # Never blocks, so this is the whole of send_nowait too; timeout is only validated.
        if timeout is not None:
            check_timeout(timeout, "Channel.send")
        if stopping:
            check_stop()
        lock = self._lock
        lock.acquire()
        try:
            if self._closed:
                raise ClosedError(_SEND_CLOSED)
            self._queue.put(item)
            self._sent += 1
            if self._selectors:
                _notify_selectors(self._selectors)
        finally:
            lock.release()

    def send_nowait(self, item: T) -> None:
        self.send(item)

    def receive(self, timeout: float | None = None) -> T:
        if timeout is not None:
            timeout = check_timeout(timeout, "Channel.receive")
        if stopping:
            check_stop()
        if by_ident and _get_ident() in by_ident:
            # An ftpool thread: its wait must be registered (terminate, cancel, its deadline)
            try:
                item = self._queue.get(False)  # the receive_nowait step
            except Empty:
                return self._receive_slow(True, timeout, _MISSING)
        else:
            # Nothing but an item or a token can wake this thread: block in the queue at once
            # rather than raise and catch Empty first (the common case of a consumer that keeps
            # up with its producer).
            item = self._blocking_get(timeout)
        if item is _NUDGE:
            return self._receive_slow(True, timeout, item)
        return item  # type: ignore[no-any-return]

    def _blocking_get(self, timeout: float | None) -> Any:
        ident = _get_ident()
        waiting = self._waiting
        waiting.add(ident)
        try:
            return self._queue.get(True, timeout)
        except Empty:
            raise timed_out("Channel.receive()", timeout) from None
        finally:
            waiting.discard(ident)

    def receive_nowait(self) -> T:
        if stopping:
            check_stop()
        try:
            item = self._queue.get(False)
        except Empty:
            item = self._get_after_empty()
        if item is _NUDGE:
            return self._receive_slow(False, None, item)
        return item  # type: ignore[no-any-return]

    def _get_after_empty(self) -> Any:
        """A non-blocking get found the queue empty: WouldBlock, or EndOfChannel once closed.

        While another receiver holds the close token (between taking it and putting it back) the
        queue of a closed channel looks empty. Items are never queued behind that token, so once
        the channel was closed *before* a get that finds the queue empty, it is drained. Hence:
        read _closed, then try once more.
        """
        if self._closed:
            try:
                return self._queue.get(False)
            except Empty:
                raise EndOfChannel(_RECEIVE_ENDED) from None
        raise WouldBlock("Channel.receive_nowait(): nothing is queued")

    def __iter__(self) -> Iterator[T]:
        get = self._queue.get  # bound here: this thread owns its reference count
        ident = _get_ident()
        waiting = self._waiting
        while True:
            if stopping:
                check_stop()
            if by_ident and ident in by_ident:  # an ftpool thread: see receive()
                try:
                    item = get(False)
                except Empty:
                    item = _MISSING
            else:
                waiting.add(ident)
                item = get()
                waiting.discard(ident)
            if item is _MISSING or item is _NUDGE:
                try:
                    item = self._receive_slow(True, None, item)
                except EndOfChannel:
                    return
            yield item

    def _receive_slow(self, block: bool, timeout: float | None, item: Any) -> T:
        """The receive loop once the queue looked empty or a token came out of it."""
        end = deadline(timeout)
        wait = enter(self) if block else None  # raises if this thread or task was stopped
        try:
            while True:
                if item is _MISSING:
                    if block:
                        item = self._wait_get(wait, end, timeout)
                    else:
                        try:
                            item = self._queue.get(False)
                        except Empty:
                            item = self._get_after_empty()
                if item is not _NUDGE:
                    return item  # type: ignore[no-any-return]
                item = self._take_token(wait, block, end, timeout)
        finally:
            if wait is not None:
                wait.leave()
                if wait.stopped:
                    self._target_left(wait)

    def _wait_get(self, wait: Wait | None, end: float | None, timeout: float | None) -> Any:
        """Block in the queue's get(); registered so that terminate/cancel wake it (a token)."""
        ident = _get_ident()
        waiting = self._waiting
        waiting.add(ident)
        try:
            if wait is None:
                return self._queue.get(True, remaining(end))
            return self._queue.get(True, wait.limit(end))
        except Empty:
            if wait is not None:
                wait.check()  # the task's deadline came first
                if not _expired(end):
                    return _MISSING  # woken for the task's deadline, which had not passed: again
            raise timed_out("Channel.receive()", timeout) from None
        finally:
            waiting.discard(ident)

    def _take_token(
        self, wait: Wait | None, block: bool, end: float | None, timeout: float | None
    ) -> Any:
        """Handle a token taken from the queue. Returns _MISSING to receive again, or raises."""
        stopped = wait is not None and wait.stopped
        with self._targets_left:  # the channel's lock
            # Tokens in the queue: one per pending wake-up, plus one while closed. They are alike,
            # so count this one as a wake-up token first; the close token stays queued as its twin.
            if self._wake_tokens:
                self._wake_tokens -= 1
                put_back = False
            else:
                put_back = self._closed
            if stopped:
                assert wait is not None
                if put_back:
                    self._queue.put(_NUDGE)
                self._forget_target(wait)
                _raise_stopped(wait)
            if self._closed:
                if put_back:  # the close token (no wake-up token is left): the end
                    self._queue.put(_NUDGE)  # so that the next receiver wakes too
                    raise EndOfChannel(_RECEIVE_ENDED)
                # Counted as a wake-up token: the close token is still queued, and items sent
                # after the wake-up token may be before it. Receive again (a stopped waiter
                # still waiting here is woken by the close token, which is passed on).
                return _MISSING
            if not self._targets:
                return _MISSING  # a stale wake-up token: its waiter already left; drop it
            # A wake-up token for a stopped waiter blocked here, not for this thread: pass it
            # on, and do not compete with that waiter for it until it has left.
            self._queue.put(_NUDGE)
            self._wake_tokens += 1
            if not block:
                if self._queue.qsize() <= self._wake_tokens:
                    raise WouldBlock("Channel.receive_nowait(): nothing is queued")
                return _MISSING
            while self._targets and not self._closed:
                if wait is not None and wait.stopped:
                    self._forget_target(wait)  # its own wake-up listed it meanwhile
                    _raise_stopped(wait)
                limit = remaining(end) if wait is None else wait.limit(end)
                if not self._targets_left.wait(limit) and self._targets:
                    if wait is not None:
                        wait.check()  # the task's deadline
                    if _expired(end):
                        raise timed_out("Channel.receive()", timeout)
            return _MISSING

    def _forget_target(self, wait: Wait) -> None:
        # caller holds the lock
        if wait in self._targets:
            self._targets.remove(wait)
            self._targets_left.notify_all()

    def _target_left(self, wait: Wait) -> None:
        with self._lock:
            self._forget_target(wait)

    def _wake_blocked(self, wait: Wait) -> None:
        """A stopped waiter may be blocked in get(): queue a wake-up token for it."""
        with self._lock:
            if wait not in self._targets:
                self._targets.append(wait)
            self._wake_tokens += 1
            self._queue.put(_NUDGE)
            self._targets_left.notify_all()  # in case it waits in _take_token

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_NUDGE)
            self._targets_left.notify_all()
            if self._selectors:
                _notify_selectors(self._selectors)

    def _queued(self) -> int:
        # caller holds the lock; tokens are not items
        tokens = self._wake_tokens + (1 if self._closed else 0)
        return max(0, self._queue.qsize() - tokens)

    def __len__(self) -> int:
        with self._lock:
            return self._queued()

    def stats(self) -> ChannelStats:
        with self._lock:
            queued = self._queued()
            return ChannelStats(
                sent=self._sent,
                received=max(0, self._sent - queued),
                queued=queued,
                capacity=0,
                waiting_senders=0,
                waiting_receivers=len(self._waiting) + len(self._selectors),
                closed=self._closed,
            )

    def _add_selector(self, waiter: _SelectWaiter) -> None:
        with self._lock:
            self._selectors.append(waiter)

    def _remove_selector(self, waiter: _SelectWaiter) -> None:
        with self._lock:
            self._selectors.remove(waiter)


class _BoundedChannel[T](Channel[T]):
    """``Channel(capacity > 0)``: a deque, one lock, Conditions not_empty and not_full."""

    __slots__ = (
        "_capacity",
        "_closed",
        "_items",
        "_mutex",
        "_not_empty",
        "_not_full",
        "_received",
        "_selectors",
        "_sent",
        "_waiting_receivers",
        "_waiting_senders",
    )

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._items: deque[Any] = deque()
        # _mutex guards every attribute below; the Conditions share it
        self._mutex = threading.Lock()
        self._not_empty = threading.Condition(self._mutex)  # an item was queued, or closed
        self._not_full = threading.Condition(self._mutex)  # room was made, or closed
        self._closed = False
        self._sent = 0
        self._received = 0
        self._waiting_senders = 0  # threads in _not_full.wait(): notify only when > 0
        self._waiting_receivers = 0  # threads in _not_empty.wait(): notify only when > 0
        self._selectors: list[_SelectWaiter] = []

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def closed(self) -> bool:
        return self._closed

    # One step each for send and receive, shared by the blocking call and its _nowait twin.
    # The caller holds the mutex.

    def _try_send(self, item: T) -> bool:
        if self._closed:
            raise ClosedError(_SEND_CLOSED)
        items = self._items
        if len(items) >= self._capacity:
            return False
        items.append(item)
        self._sent += 1
        if self._waiting_receivers:
            self._not_empty.notify()
        if self._selectors:
            _notify_selectors(self._selectors)
        return True

    def _try_receive(self) -> Any:
        items = self._items
        if items:
            self._received += 1
            item = items.popleft()
            if self._waiting_senders:
                self._not_full.notify()
            return item
        if self._closed:
            raise EndOfChannel(_RECEIVE_ENDED)
        return _MISSING

    def send_nowait(self, item: T) -> None:
        if stopping:
            check_stop()
        mutex = self._mutex
        mutex.acquire()
        try:
            if not self._try_send(item):
                raise WouldBlock(
                    f"Channel.send_nowait(): the channel is full ({self._capacity} items)"
                )
        finally:
            mutex.release()

    def send(self, item: T, timeout: float | None = None) -> None:
        if timeout is not None:
            timeout = check_timeout(timeout, "Channel.send")
        if stopping:
            check_stop()
        mutex = self._mutex
        mutex.acquire()
        try:
            if self._try_send(item):
                return
            end = deadline(timeout)
            wait = enter(self)  # raises if this thread or task was stopped
            try:
                while True:
                    self._waiting_senders += 1
                    try:
                        woken = self._not_full.wait(
                            remaining(end) if wait is None else wait.limit(end)
                        )
                    finally:
                        self._waiting_senders -= 1
                    if wait is not None:
                        wait.check()
                    if self._try_send(item):
                        return
                    if not woken and _expired(end):
                        raise timed_out("Channel.send()", timeout)
            finally:
                if wait is not None:
                    wait.leave()
        finally:
            mutex.release()

    def receive_nowait(self) -> T:
        if stopping:
            check_stop()
        mutex = self._mutex
        mutex.acquire()
        try:
            item = self._try_receive()
        finally:
            mutex.release()
        if item is _MISSING:
            raise WouldBlock("Channel.receive_nowait(): nothing is queued")
        return item  # type: ignore[no-any-return]

    def receive(self, timeout: float | None = None) -> T:
        if timeout is not None:
            timeout = check_timeout(timeout, "Channel.receive")
        if stopping:
            check_stop()
        mutex = self._mutex
        mutex.acquire()
        try:
            item = self._try_receive()
            if item is not _MISSING:
                return item  # type: ignore[no-any-return]
            end = deadline(timeout)
            wait = enter(self)  # raises if this thread or task was stopped
            try:
                while True:
                    self._waiting_receivers += 1
                    try:
                        woken = self._not_empty.wait(
                            remaining(end) if wait is None else wait.limit(end)
                        )
                    finally:
                        self._waiting_receivers -= 1
                    if wait is not None:
                        wait.check()  # before taking an item: a stopped receiver takes none
                    item = self._try_receive()
                    if item is not _MISSING:
                        return item  # type: ignore[no-any-return]
                    if not woken and _expired(end):
                        raise timed_out("Channel.receive()", timeout)
            finally:
                if wait is not None:
                    wait.leave()
        finally:
            mutex.release()

    def __iter__(self) -> Iterator[T]:
        receive = self.receive
        while True:
            try:
                item = receive()
            except EndOfChannel:
                return
            yield item

    def _wake_blocked(self, wait: Wait) -> None:
        """A waiter here was stopped: wake every waiter; each checks its own stop."""
        with self._mutex:
            self._not_empty.notify_all()
            self._not_full.notify_all()

    def close(self) -> None:
        with self._mutex:
            if self._closed:
                return
            self._closed = True
            self._not_empty.notify_all()
            self._not_full.notify_all()
            if self._selectors:
                _notify_selectors(self._selectors)

    def __len__(self) -> int:
        with self._mutex:
            return len(self._items)

    def stats(self) -> ChannelStats:
        with self._mutex:
            return ChannelStats(
                sent=self._sent,
                received=self._received,
                queued=len(self._items),
                capacity=self._capacity,
                waiting_senders=self._waiting_senders,
                waiting_receivers=self._waiting_receivers + len(self._selectors),
                closed=self._closed,
            )

    def _add_selector(self, waiter: _SelectWaiter) -> None:
        with self._mutex:
            self._selectors.append(waiter)

    def _remove_selector(self, waiter: _SelectWaiter) -> None:
        with self._mutex:
            self._selectors.remove(waiter)


def _inherit_docstrings(impl: type[Channel[Any]]) -> None:
    """Give the implementation's methods the docstrings of Channel's (``ch.send.__doc__``)."""
    for name, member in vars(impl).items():
        documented = vars(Channel).get(name)
        if callable(member) and member.__doc__ is None and documented is not None:
            member.__doc__ = documented.__doc__


_inherit_docstrings(_UnboundedChannel)
_inherit_docstrings(_BoundedChannel)


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
