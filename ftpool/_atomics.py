"""Atomic operations on shared memory (Node: ``Atomics``) and :class:`AtomicCounter`.

Every operation is one lock-free, sequentially consistent hardware operation of the ``atomics``
package (patomic) on a :class:`~ftpool.SharedArray` element. ``Atomics.wait`` and
``Atomics.notify`` are a wait queue keyed by (buffer, byte offset) with a condition variable per
waiter: a waiter sleeps until notified, never polls.

The fast path (see :mod:`ftpool._shared` for how the ``atomics`` view is made): each thread keeps,
per array, a tuple per operation with its own copy of the patomic function object, the base address
and its own scratch ctypes values. An operation is then: type and range checks,
``byref(base, index * width)``, one patomic call. Threads do not share any Python object on that
path except the array itself, so they do not contend on reference counts under 3.13t.
:class:`AtomicCounter` goes one step further: it is a ``threading.local`` subclass whose instance
dict holds each thread's own operation functions (closures over the same per-thread objects), so a
hoisted ``add = counter.add`` touches no shared Python object at all.
"""

from __future__ import annotations

import collections
import ctypes
import threading
import time
from collections.abc import Callable, Coroutine
from ctypes import byref
from typing import Any, Final, Literal

from ._runtime import load_atomics
from ._shared import SharedArray, SharedBuffer, _Binding, _cffi_lock, _check_int, _Kind
from ._timeouts import check_timeout, remaining
from ._wakeup import Wait, enter, raise_if_stopped

__all__ = ["AtomicCounter", "Atomics", "WaitResult"]

#: What ``Atomics.wait``/``AtomicCounter.wait`` (and their ``wait_async``) return, for annotations:
#: ``"ok"`` (notified), ``"not-equal"`` (the value differed at once), ``"timed-out"``.
WaitResult = Literal["ok", "not-equal", "timed-out"]

# Per-thread state shared by all arrays: `functions` maps a patomic function address to this
# thread's own function object for it.
_tls = threading.local()

_INT64_MIN: Final = -0x8000_0000_0000_0000
_INT64_MAX: Final = 0x7FFF_FFFF_FFFF_FFFF


def _thread_function(binding: _Binding, name: str) -> Any:
    """This thread's own function object for op ``name`` of ``binding``."""
    try:
        functions: dict[int | None, Any] = _tls.functions
    except AttributeError:
        functions = _tls.functions = {}
    address = binding.function_addresses[name]
    function = functions.get(address)
    if function is None:
        function = functions[address] = binding.thread_function(name)
    return function


def _cell(kind: _Kind) -> tuple[memoryview[int], Any]:
    """A new scratch value for ``kind``: (view, ref).

    A ctypes integer of the kind's type, read and written through a one-element memoryview
    (``view[0]`` is about twice as fast as ctypes' ``.value``) and passed to patomic as the
    ready-made ``ctypes.byref`` ``ref``. Each thread has its own cells for each operation of each
    array, so an operation interrupted (between the call and reading its result) by a signal
    handler or finalizer running another operation on the same thread keeps its result; only the
    same operation on the same array would share the cell.
    """
    cell = kind.ctype()
    return memoryview(cell).cast("B").cast(kind.typecode), byref(cell)


def _thread_ops(a: object) -> Any:
    """Build the calling thread's operation tuples for array ``a`` (in ``a._local``).

    Each tuple holds what one operation needs: this thread's function object, a ctypes object at
    the array's first byte (``byref(base, offset)`` points at an element), the length, width and
    range, and the scratch values. Nothing in them is shared with another thread.
    """
    if not isinstance(a, SharedArray):
        raise TypeError(f"Atomics operations take a SharedArray, not {type(a).__name__}")
    local = a._local
    kind = a._kind
    binding = a._binding
    base = ctypes.c_char.from_address(a._buffer._address + a._offset)
    n, w, lo, hi = a._length, kind.width, kind.min, kind.max

    def fn(name: str) -> Any:
        # An empty array has no binding: every index is out of range before any call.
        return None if binding is None else _thread_function(binding, name)

    local.load = (fn("load"), base, n, w, *_cell(kind))
    local.store = (fn("store"), base, n, w, lo, hi, *_cell(kind))
    local.cmpxchg = (fn("cmpxchg"), base, n, w, lo, hi, *_cell(kind), *_cell(kind))
    local.exchange = (fn("exchange"), base, n, w, lo, hi, *_cell(kind), *_cell(kind))
    local.add = (fn("fetch_add"), base, n, w, lo, hi, *_cell(kind), *_cell(kind))
    local.sub = (fn("fetch_sub"), base, n, w, lo, hi, *_cell(kind), *_cell(kind))
    local.and_ = (fn("fetch_and"), base, n, w, lo, hi, *_cell(kind), *_cell(kind))
    local.or_ = (fn("fetch_or"), base, n, w, lo, hi, *_cell(kind), *_cell(kind))
    local.xor = (fn("fetch_xor"), base, n, w, lo, hi, *_cell(kind), *_cell(kind))
    return local


def _wrap(value: int, kind: _Kind) -> int:
    """``value`` wrapped into ``kind``'s range (two's complement), as the hardware does."""
    span = 1 << (8 * kind.width)
    return (value - kind.min) % span + kind.min


# --- the wait queue of Atomics.wait / Atomics.notify ---

_WAITING: Final = 0
_NOTIFIED: Final = 1
_CANCELLED: Final = 2
_LEFT: Final = 3  # it left the queue itself (timed out, or its task's deadline passed)


class _Waiter:
    """One thread blocked in ``Atomics.wait``. ``state`` and ``woken`` use the queue's lock."""

    __slots__ = ("offset", "queue", "state", "woken")

    def __init__(self, lock: threading.Lock) -> None:
        # -> _NOTIFIED by notify, _CANCELLED by terminate/cancel, _LEFT by the waiter itself.
        # Only the thread that moves it off _WAITING (under the queue's lock) removes it from the
        # queue, so a cancel racing with a timeout never removes it twice.
        self.state = _WAITING
        self.woken = threading.Condition(lock)  # announces: state is no longer _WAITING
        self.queue: _WaitQueue | None = None
        self.offset = 0

    def _wake_blocked(self, wait: Wait) -> None:
        """Terminate/cancel of the waiting thread or task (ftpool._wakeup): leave the queue."""
        queue = self.queue
        assert queue is not None
        with queue.lock:
            if self.state == _WAITING:
                self.state = _CANCELLED
                queue.remove(self.offset, self)
                self.woken.notify()


class _WaitQueue:
    """The waiters of one :class:`SharedBuffer`, by byte offset, each list in arrival order."""

    __slots__ = ("lock", "waiters")

    def __init__(self) -> None:
        # Guards `waiters` and every waiter's `state`. Atomics.wait reads the value under it and
        # Atomics.notify takes it, so a notify between the check and the sleep is never lost.
        self.lock = threading.Lock()
        self.waiters: dict[int, collections.deque[_Waiter]] = {}

    def remove(self, offset: int, waiter: _Waiter) -> None:
        """Take ``waiter`` out of the list at ``offset`` (caller holds ``lock``)."""
        waiters = self.waiters[offset]
        waiters.remove(waiter)
        if not waiters:
            del self.waiters[offset]


class _AsyncWaiterBase:
    """A coroutine in ``Atomics.wait_async`` (see :mod:`ftpool._waitasync`), as ``notify`` sees it
    in the queue next to the blocking :class:`_Waiter` entries."""

    __slots__ = ()

    def notify(self) -> bool:
        """Wake it (caller holds the queue's lock, and took it off the queue); False when it
        cannot be woken (its loop is closed) and must not be counted."""
        raise NotImplementedError


def _wake(queue: _WaitQueue, offset: int, count: int | None) -> int:
    """Wake up to ``count`` (None: all) waiters at ``offset``, oldest first; return how many.

    The caller holds ``queue.lock``. A wait_async waiter whose loop is closed is dropped and not
    counted; the next one is woken instead.
    """
    waiters = queue.waiters.get(offset)
    if not waiters:
        return 0
    woken = 0
    while waiters and (count is None or woken < count):
        waiter: Any = waiters.popleft()  # oldest first, blocking and async alike
        if isinstance(waiter, _AsyncWaiterBase):
            if waiter.notify():  # False: its event loop is closed (dropped, not counted)
                woken += 1
        else:
            waiter.state = _NOTIFIED
            waiter.woken.notify()
            woken += 1
    if not waiters:
        del queue.waiters[offset]
    return woken


_queues_lock = threading.Lock()  # guards the one-time creation of each buffer's _WaitQueue


def _wait_queue(buffer: SharedBuffer) -> _WaitQueue:
    queue: _WaitQueue | None = buffer._waitq
    if queue is None:
        with _queues_lock:
            queue = buffer._waitq
            if queue is None:
                queue = buffer._waitq = _WaitQueue()
    return queue


def _check_waitable(a: object, what: str) -> SharedArray:
    if not isinstance(a, SharedArray):
        raise TypeError(f"Atomics.{what} takes a SharedArray, not {type(a).__name__}")
    if a.typecode not in ("i", "q"):
        raise TypeError(f"Atomics.{what} works on SharedArray('i') (int32) and SharedArray('q') "
                        f"(int64) only, as in JavaScript; this one has typecode {a.typecode!r}")
    return a


class Atomics:
    """Atomic operations on :class:`~ftpool.SharedArray` elements (Node: ``Atomics``).

    Each operation is a single lock-free, sequentially consistent hardware operation (through the
    ``atomics`` package), so threads can share counters and flags without a lock. ``index`` is
    Python-style (``-1`` is the last element); the read-modify-write operations return the value
    the element had before. Results wrap around like the element type (int8 ... uint64).

    Bad input raises and writes nothing: ``TypeError`` when ``a`` is not a SharedArray or a
    value/index is not an int (``True``/``False`` count as 1/0); ``IndexError`` for an index
    outside ``-len(a) <= index < len(a)``; ``OverflowError`` for a value outside the element type's
    range (``a.min <= value <= a.max``; for unsigned arrays a negative operand is out of range).

    Only :meth:`wait` blocks. Not instantiable: call ``Atomics.add(a, 0, 1)``.
    """

    __slots__ = ()

    def __new__(cls) -> Atomics:
        raise TypeError("Atomics is a namespace of functions: call Atomics.load(array, index) ...")

    @staticmethod
    def load(a: SharedArray, index: int) -> int:
        """Return element ``index`` of ``a``, read atomically (seq_cst). Never blocks."""
        try:
            fn, base, n, w, ret, ret_ref = a._local.load
        except AttributeError:
            fn, base, n, w, ret, ret_ref = _thread_ops(a).load
        if type(index) is not int or not 0 <= index < n:
            index = a._index(index)
        fn(byref(base, index * w), 5, ret_ref)  # 5: seq_cst
        result: int = ret[0]
        return result

    @staticmethod
    def store(a: SharedArray, index: int, value: int) -> int:
        """Write ``value`` to element ``index`` atomically (seq_cst) and return ``value``."""
        try:
            fn, base, n, w, lo, hi, arg, arg_ref = a._local.store
        except AttributeError:
            fn, base, n, w, lo, hi, arg, arg_ref = _thread_ops(a).store
        if type(index) is not int or not 0 <= index < n:
            index = a._index(index)
        if type(value) is not int or not lo <= value <= hi:
            value = a._value(value)
        arg[0] = value
        fn(byref(base, index * w), arg_ref, 5)
        return value

    @staticmethod
    def exchange(a: SharedArray, index: int, value: int) -> int:
        """Set element ``index`` to ``value`` and return the old value, in one atomic step."""
        try:
            fn, base, n, w, lo, hi, arg, arg_ref, ret, ret_ref = a._local.exchange
        except AttributeError:
            fn, base, n, w, lo, hi, arg, arg_ref, ret, ret_ref = _thread_ops(a).exchange
        if type(index) is not int or not 0 <= index < n:
            index = a._index(index)
        if type(value) is not int or not lo <= value <= hi:
            value = a._value(value)
        arg[0] = value
        fn(byref(base, index * w), arg_ref, 5, ret_ref)
        result: int = ret[0]
        return result

    @staticmethod
    def compare_exchange(a: SharedArray, index: int, expected: int, replacement: int) -> int:
        """If element ``index`` equals ``expected``, set it to ``replacement``; either way return
        the value it had (so the exchange happened iff the result == ``expected``). Atomic.

        Both ``expected`` and ``replacement`` must fit the element type (``OverflowError``).
        """
        try:
            fn, base, n, w, lo, hi, arg, arg_ref, exp, exp_ref = a._local.cmpxchg
        except AttributeError:
            fn, base, n, w, lo, hi, arg, arg_ref, exp, exp_ref = _thread_ops(a).cmpxchg
        if type(index) is not int or not 0 <= index < n:
            index = a._index(index)
        if type(expected) is not int or not lo <= expected <= hi:
            expected = a._value(expected)
        if type(replacement) is not int or not lo <= replacement <= hi:
            replacement = a._value(replacement)
        exp[0] = expected
        arg[0] = replacement
        # patomic's strong compare-exchange writes the current value into `exp` when it differs.
        fn(byref(base, index * w), exp_ref, arg_ref, 5, 5)
        result: int = exp[0]
        return result

    @staticmethod
    def add(a: SharedArray, index: int, value: int) -> int:
        """Add ``value`` to element ``index`` atomically; return the old value (wraps around)."""
        try:
            fn, base, n, w, lo, hi, arg, arg_ref, ret, ret_ref = a._local.add
        except AttributeError:
            fn, base, n, w, lo, hi, arg, arg_ref, ret, ret_ref = _thread_ops(a).add
        if type(index) is not int or not 0 <= index < n:
            index = a._index(index)
        if type(value) is not int or not lo <= value <= hi:
            value = a._value(value)
        arg[0] = value
        fn(byref(base, index * w), arg_ref, 5, ret_ref)
        result: int = ret[0]
        return result

    @staticmethod
    def sub(a: SharedArray, index: int, value: int) -> int:
        """Subtract ``value`` from element ``index`` atomically; return the old value (wraps)."""
        try:
            fn, base, n, w, lo, hi, arg, arg_ref, ret, ret_ref = a._local.sub
        except AttributeError:
            fn, base, n, w, lo, hi, arg, arg_ref, ret, ret_ref = _thread_ops(a).sub
        if type(index) is not int or not 0 <= index < n:
            index = a._index(index)
        if type(value) is not int or not lo <= value <= hi:
            value = a._value(value)
        arg[0] = value
        fn(byref(base, index * w), arg_ref, 5, ret_ref)
        result: int = ret[0]
        return result

    @staticmethod
    def and_(a: SharedArray, index: int, value: int) -> int:
        """Bitwise-AND ``value`` into element ``index`` atomically; return the old value."""
        try:
            fn, base, n, w, lo, hi, arg, arg_ref, ret, ret_ref = a._local.and_
        except AttributeError:
            fn, base, n, w, lo, hi, arg, arg_ref, ret, ret_ref = _thread_ops(a).and_
        if type(index) is not int or not 0 <= index < n:
            index = a._index(index)
        if type(value) is not int or not lo <= value <= hi:
            value = a._value(value)
        arg[0] = value
        fn(byref(base, index * w), arg_ref, 5, ret_ref)
        result: int = ret[0]
        return result

    @staticmethod
    def or_(a: SharedArray, index: int, value: int) -> int:
        """Bitwise-OR ``value`` into element ``index`` atomically; return the old value."""
        try:
            fn, base, n, w, lo, hi, arg, arg_ref, ret, ret_ref = a._local.or_
        except AttributeError:
            fn, base, n, w, lo, hi, arg, arg_ref, ret, ret_ref = _thread_ops(a).or_
        if type(index) is not int or not 0 <= index < n:
            index = a._index(index)
        if type(value) is not int or not lo <= value <= hi:
            value = a._value(value)
        arg[0] = value
        fn(byref(base, index * w), arg_ref, 5, ret_ref)
        result: int = ret[0]
        return result

    @staticmethod
    def xor(a: SharedArray, index: int, value: int) -> int:
        """Bitwise-XOR ``value`` into element ``index`` atomically; return the old value."""
        try:
            fn, base, n, w, lo, hi, arg, arg_ref, ret, ret_ref = a._local.xor
        except AttributeError:
            fn, base, n, w, lo, hi, arg, arg_ref, ret, ret_ref = _thread_ops(a).xor
        if type(index) is not int or not 0 <= index < n:
            index = a._index(index)
        if type(value) is not int or not lo <= value <= hi:
            value = a._value(value)
        arg[0] = value
        fn(byref(base, index * w), arg_ref, 5, ret_ref)
        result: int = ret[0]
        return result

    @staticmethod
    def wait(a: SharedArray, index: int, expected: int,
             timeout: float | None = None) -> WaitResult:
        """Sleep until element ``index`` is notified, if it still equals ``expected``.

        Returns ``"not-equal"`` at once when the element differs from ``expected``, ``"ok"`` when
        woken by :meth:`notify`, ``"timed-out"`` when ``timeout`` seconds passed first (``None`` =
        forever; ``0`` only checks). The value is checked under the wait queue's lock and
        ``notify`` takes the same lock, so a notify that comes after the check is never lost.
        Wakes by condition variable, never by polling. Inside an ftpool worker or pool task, it
        wakes and raises ``Terminated``/``Cancelled`` when the worker is terminated or the task
        cancelled.

        Only for ``SharedArray('i')`` and ``SharedArray('q')`` (``TypeError`` otherwise, as in JS);
        ``IndexError``/``OverflowError``/``TypeError`` for a bad index or ``expected``;
        ``ValueError`` for a negative timeout.
        """
        array = _check_waitable(a, "wait")
        position = array._index(index)
        expected = array._value(expected)
        seconds = check_timeout(timeout, "Atomics.wait")
        raise_if_stopped()  # Terminated, Cancelled or TimeoutError in a stopped worker or task
        queue = _wait_queue(array._buffer)
        offset = array._offset + position * array.itemsize
        with queue.lock:
            if Atomics.load(array, position) != expected:
                return "not-equal"
            if seconds == 0:
                return "timed-out"
            waiter = _Waiter(queue.lock)
            waiter.queue, waiter.offset = queue, offset
            # Registered under queue.lock (lock order: queue.lock, then a token's lock; cancel()
            # runs the wake-up outside the token's lock); raises if already stopped.
            wait = enter(waiter)
            queue.waiters.setdefault(offset, collections.deque()).append(waiter)
            try:
                end = None if seconds is None else time.monotonic() + seconds
                while waiter.state == _WAITING:
                    limit = remaining(end) if wait is None else wait.limit(end)
                    if limit == 0.0:
                        break
                    waiter.woken.wait(limit)
            finally:
                if waiter.state == _WAITING:  # timed out (or interrupted): leave the queue
                    waiter.state = _LEFT
                    queue.remove(offset, waiter)
                if wait is not None:
                    wait.leave()
            outcome = waiter.state
        if outcome == _NOTIFIED:
            return "ok"
        if wait is not None:
            wait.check()  # stopped (woken by _wake_blocked), or the task's deadline passed
        return "timed-out"

    @staticmethod
    def wait_async(array: SharedArray, index: int, expected: int,
                   timeout: float | None = None) -> Coroutine[Any, Any, WaitResult]:
        """The awaitable form of :meth:`wait` (Node: ``Atomics.waitAsync``), for asyncio code:
        ``await Atomics.wait_async(a, i, expected, timeout=None)`` resolves to ``"not-equal"``
        at once when the element differs from ``expected``, ``"ok"`` when woken by
        :meth:`notify`, ``"timed-out"`` after ``timeout`` seconds (``None``/``math.inf`` =
        forever; ``0`` only checks).

        Never blocks the event loop: the coroutine waits in the same FIFO queue as threads in
        :meth:`wait` (``notify`` wakes and counts both kinds, oldest first), and the notifying
        thread wakes its loop with ``call_soon_threadsafe``; a timeout is a ``loop.call_later``
        timer. No thread is parked per waiter and nothing polls. The value is checked when the
        coroutine first runs (it must run in an event loop), under the queue's lock, so a notify
        after the check is never lost. Cancelling the awaiting task (``asyncio.wait_for``, task
        cancel, ``asyncio.run`` ending) takes the waiter out of the queue: a later ``notify``
        does not count it; one that reached it before the cancellation counted it, and the
        coroutine passes that wake-up on to the next waiter (as ``asyncio.Condition`` does). If its
        loop is closed while it waits, ``notify`` drops it uncounted (a closed loop can run
        nothing, so the coroutine never resumes; ``asyncio.run`` cancels it first instead).

        Bad arguments raise here, at the call, before anything waits: as for :meth:`wait`
        (``TypeError`` unless ``SharedArray('i')``/``SharedArray('q')``, ``IndexError``,
        ``OverflowError``, ``TypeError``/``ValueError`` for the timeout).
        """
        array = _check_waitable(array, "wait_async")
        position = array._index(index)
        expected = array._value(expected)
        seconds = check_timeout(timeout, "Atomics.wait_async")
        from ._waitasync import wait_async  # noqa: PLC0415  # asyncio: only for its users

        return wait_async(array, position, expected, seconds)

    @staticmethod
    def notify(a: SharedArray, index: int, count: int | None = None) -> int:
        """Wake up to ``count`` waiters on element ``index`` (``None`` = all), oldest first;
        return how many were woken (0 when none waits). Waiters are threads in :meth:`wait` and
        coroutines in :meth:`wait_async`, in one FIFO order and counted alike; a coroutine whose
        event loop has been closed is dropped from the queue and not counted. Never blocks
        (beyond the queue's lock; a coroutine's loop is woken with ``call_soon_threadsafe``).

        Only for ``SharedArray('i')`` and ``SharedArray('q')`` (``TypeError`` otherwise, as in JS);
        ``ValueError`` for a negative count; ``IndexError``/``TypeError`` for a bad index.
        """
        array = _check_waitable(a, "notify")
        position = array._index(index)
        if count is not None:
            count = _check_int("count", count)
            if count < 0:
                raise ValueError(f"count must be >= 0 or None (all), got {count}")
        queue: _WaitQueue | None = array._buffer._waitq
        if queue is None:
            return 0  # nobody ever waited on this buffer
        offset = array._offset + position * array.itemsize
        with queue.lock:
            return _wake(queue, offset, count)

    @staticmethod
    def is_lock_free(nbytes: int) -> bool:
        """True when atomic operations on elements of ``nbytes`` bytes are lock-free here.

        Checks that the ``atomics`` package provides every operation ftpool uses for that width:
        True for 1, 2, 4 and 8 on the usual 64-bit platforms, False for other sizes. Never blocks
        (the first call per size probes once).
        """
        size = _check_int("nbytes", nbytes)
        if size not in (1, 2, 4, 8):
            return False
        known = _lock_free.get(size)
        if known is None:
            load_atomics()
            try:
                SharedBuffer(8)._binding(size, True)
                known = True
            except RuntimeError:
                known = False
            with _cffi_lock:
                _lock_free[size] = known
        return known


_lock_free: dict[int, bool] = {}  # guarded by _cffi_lock: results of Atomics.is_lock_free


def _counter_ops(array: SharedArray) -> dict[str, Callable[..., int]]:
    """The calling thread's own operation functions on the int64 ``array[0]`` of a counter.

    Each is a closure over this thread's patomic function object, its pointer to the element and
    its scratch values, so calling it touches no Python object that another thread uses.
    """
    binding = array._binding
    assert binding is not None
    kind = array._kind
    check = array._value  # the error path: TypeError/OverflowError naming int64
    element = byref(ctypes.c_int64.from_address(array._buffer._address + array._offset))

    def fn(name: str) -> Any:
        return _thread_function(binding, name)

    f_inc, f_dec, f_add, f_sub = fn("fetch_inc"), fn("fetch_dec"), fn("fetch_add"), fn("fetch_sub")
    f_load, f_store, f_exchange, f_cmpxchg = fn("load"), fn("store"), fn("exchange"), fn("cmpxchg")
    arg, arg_ref = _cell(kind)
    ret, ret_ref = _cell(kind)

    def add(n: int = 1) -> int:
        if type(n) is int:
            if n == 1:  # the common case: patomic's fetch_inc, no operand
                f_inc(element, 5, ret_ref)  # 5: seq_cst
                return ret[0]
            if -0x8000_0000_0000_0000 <= n <= 0x7FFF_FFFF_FFFF_FFFF:
                arg[0] = n
                f_add(element, arg_ref, 5, ret_ref)
                return ret[0]
        arg[0] = check(n)
        f_add(element, arg_ref, 5, ret_ref)
        return ret[0]

    def sub(n: int = 1) -> int:
        if type(n) is int:
            if n == 1:  # patomic's fetch_dec
                f_dec(element, 5, ret_ref)
                return ret[0]
            if -0x8000_0000_0000_0000 <= n <= 0x7FFF_FFFF_FFFF_FFFF:
                arg[0] = n
                f_sub(element, arg_ref, 5, ret_ref)
                return ret[0]
        arg[0] = check(n)
        f_sub(element, arg_ref, 5, ret_ref)
        return ret[0]

    def add_and_get(n: int = 1) -> int:
        if type(n) is not int:
            n = check(n)  # an __index__ object, a bool: checked, as a plain int
        new = add(n) + n
        if -0x8000_0000_0000_0000 <= new <= 0x7FFF_FFFF_FFFF_FFFF:
            return new
        return _wrap(new, kind)

    def sub_and_get(n: int = 1) -> int:
        if type(n) is not int:
            n = check(n)
        new = sub(n) - n
        if -0x8000_0000_0000_0000 <= new <= 0x7FFF_FFFF_FFFF_FFFF:
            return new
        return _wrap(new, kind)

    def load() -> int:
        f_load(element, 5, ret_ref)
        return ret[0]

    def store(value: int) -> int:
        if type(value) is not int or not -0x8000_0000_0000_0000 <= value <= 0x7FFF_FFFF_FFFF_FFFF:
            value = check(value)
        arg[0] = value
        f_store(element, arg_ref, 5)
        return value

    def exchange(value: int) -> int:
        if type(value) is not int or not -0x8000_0000_0000_0000 <= value <= 0x7FFF_FFFF_FFFF_FFFF:
            value = check(value)
        arg[0] = value
        f_exchange(element, arg_ref, 5, ret_ref)
        return ret[0]

    def compare_exchange(expected: int, replacement: int) -> int:
        if type(expected) is not int or not _INT64_MIN <= expected <= _INT64_MAX:
            expected = check(expected)
        if type(replacement) is not int or not _INT64_MIN <= replacement <= _INT64_MAX:
            replacement = check(replacement)
        ret[0] = expected
        arg[0] = replacement
        # patomic's strong compare-exchange writes the current value into `ret` when it differs.
        f_cmpxchg(element, ret_ref, arg_ref, 5, 5)
        return ret[0]

    ops: dict[str, Callable[..., int]] = {
        "add": add, "sub": sub, "add_and_get": add_and_get, "sub_and_get": sub_and_get,
        "load": load, "store": store, "exchange": exchange, "compare_exchange": compare_exchange,
    }
    for name, op in ops.items():
        method = getattr(AtomicCounter, name)
        op.__doc__ = method.__doc__
        op.__qualname__ = method.__qualname__
    return ops


class AtomicCounter(threading.local):
    """A 64-bit signed integer that threads update atomically, without a lock.

    ``AtomicCounter(value=0)``. The same conventions as :class:`Atomics`, so that ``x.add(1)``
    means one thing whatever ``x`` is: ``add(n=1)``, ``sub(n=1)``, ``exchange(v)`` and
    ``compare_exchange(expected, replacement)`` return the OLD value; ``add_and_get(n=1)`` and
    ``sub_and_get(n=1)`` return the new one; ``store(v)`` returns ``v``; ``load()``;
    ``wait(expected, timeout=None)``, ``wait_async(expected, timeout=None)`` and
    ``notify(count=None)`` as in :class:`Atomics`. Each is one lock-free, sequentially consistent
    operation; ``add``/``sub`` wrap around at the int64 limits like C's ``int64_t``. Only ``wait``
    blocks. There is nothing to close.

    It lives in element 0 of :attr:`array` (a ``SharedArray('q', 1)``), so ``Atomics`` functions
    work on it too. Values must be ints within int64 (``TypeError``/``OverflowError``, nothing
    written).

    One counter updated by many threads is limited by its one memory cell (the cache line moves
    between cores on every update); for counts many threads bump and few read, use
    :class:`~ftpool.Adder`. So that the Python around the instruction does not add a second
    bottleneck, ``AtomicCounter`` is a ``threading.local`` subclass: each thread finds its own
    ``add``, ``sub``, ``load`` ... functions in its own instance dict (made at its first use of the
    counter), and ``add = counter.add`` hoisted out of a loop touches no Python object that another
    thread uses (on 3.13t, a shared object's reference count is written by every use).
    """

    __slots__ = ("_array",)
    _array: SharedArray  # shared by all threads (a slot, not per-thread like the instance dict)

    def __init__(self, value: int = 0) -> None:
        # threading.local calls this again (with the same arguments) in each thread, at its first
        # use of this counter: only the first call makes the counter.
        try:
            array = self._array
        except AttributeError:  # the creating thread
            load_atomics()  # first use of shared memory (may warn GILEnabledWarning, at the caller)
            array = SharedArray("q", 1)
            array[0] = value  # checks it; nobody else sees the counter yet
            self._array = array
        self.__dict__.update(_counter_ops(array))  # this thread's own operation functions

    @property
    def array(self) -> SharedArray:
        """The ``SharedArray('q', 1)`` whose element 0 is the counter."""
        return self._array

    # The methods below are what `help()` shows and what a call through the class reaches
    # (AtomicCounter.add(counter)); an instance finds the calling thread's own function first.

    def add(self, n: int = 1) -> int:
        """Add ``n`` atomically and return the OLD value (as ``Atomics.add``); wraps around at the
        int64 limits. :meth:`add_and_get` returns the new value. Never blocks."""
        return self.__dict__["add"](n)  # type: ignore[no-any-return]

    def sub(self, n: int = 1) -> int:
        """Subtract ``n`` atomically and return the OLD value (as ``Atomics.sub``); wraps around at
        the int64 limits. :meth:`sub_and_get` returns the new value. Never blocks."""
        return self.__dict__["sub"](n)  # type: ignore[no-any-return]

    def add_and_get(self, n: int = 1) -> int:
        """Add ``n`` atomically and return the NEW value (wrapped at the int64 limits like C's
        ``int64_t``). Same checks as :meth:`add`. Never blocks."""
        return self.__dict__["add_and_get"](n)  # type: ignore[no-any-return]

    def sub_and_get(self, n: int = 1) -> int:
        """Subtract ``n`` atomically and return the NEW value (wrapped at the int64 limits). Same
        checks as :meth:`sub`. Never blocks."""
        return self.__dict__["sub_and_get"](n)  # type: ignore[no-any-return]

    def load(self) -> int:
        """The current value, read atomically. Never blocks."""
        return self.__dict__["load"]()  # type: ignore[no-any-return]

    def store(self, value: int) -> int:
        """Set the value atomically and return ``value`` (as ``Atomics.store``). Never blocks."""
        return self.__dict__["store"](value)  # type: ignore[no-any-return]

    def exchange(self, value: int) -> int:
        """Set the value and return the old one, in one atomic step. Never blocks."""
        return self.__dict__["exchange"](value)  # type: ignore[no-any-return]

    def compare_exchange(self, expected: int, replacement: int) -> int:
        """Set the value to ``replacement`` if it equals ``expected``; return the value it had
        (the exchange happened iff that equals ``expected``), as ``Atomics.compare_exchange``.
        Atomic; never blocks."""
        return self.__dict__["compare_exchange"](expected, replacement)  # type: ignore[no-any-return]

    def wait(self, expected: int, timeout: float | None = None) -> WaitResult:
        """``Atomics.wait`` on the counter: ``"not-equal"`` at once if the value is not
        ``expected``, else sleep until :meth:`notify` (``"ok"``) or ``timeout`` seconds
        (``"timed-out"``; ``None`` = forever, negative: ``ValueError``)."""
        return Atomics.wait(self._array, 0, expected, timeout)

    def wait_async(self, expected: int,
                   timeout: float | None = None) -> Coroutine[Any, Any, WaitResult]:
        """``Atomics.wait_async`` on the counter: ``await counter.wait_async(expected)`` resolves
        to ``"not-equal"`` at once if the value is not ``expected``, else to ``"ok"`` when
        :meth:`notify` wakes it or ``"timed-out"`` after ``timeout`` seconds (``None`` =
        forever). Never blocks the event loop; cancelling the await leaves the queue. Bad
        arguments raise at the call (``OverflowError``/``TypeError``/``ValueError``)."""
        return Atomics.wait_async(self._array, 0, expected, timeout)

    def notify(self, count: int | None = None) -> int:
        """Wake up to ``count`` waiters in :meth:`wait` or :meth:`wait_async` (``None`` = all),
        oldest first; return how many. Never blocks."""
        return Atomics.notify(self._array, 0, count)

    def __repr__(self) -> str:
        return f"AtomicCounter({self.load()})"

    def __int__(self) -> int:
        return self.load()
