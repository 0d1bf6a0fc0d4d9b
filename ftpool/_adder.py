"""``Adder``: a striped counter (Java's ``LongAdder``) for counts many threads bump and few read.

Why it scales where :class:`~ftpool.AtomicCounter` does not: every thread adds into its OWN 64-bit
cell, alone on its cache line, so two threads never fight over one line; ``sum()`` reads every
cell. And, on a free-threaded build, two threads that touch one shared Python object contend on its
reference count (each load of it writes its header). So the hot path here touches only objects that
belong to the calling thread: ``Adder`` is a ``threading.local`` subclass, and each thread finds in
its own instance dict an ``add`` function made for it (its own ctypes function object, pointer and
scratch value). ``add = adder.add`` hoisted out of a loop then touches nothing shared but the
thread's cell; ``adder.add(n)`` touches the shared ``adder`` once (loading it), no more.

Cells: a thread takes a cell the first time it uses the ``Adder`` (``threading.local`` runs
``__init__`` once per thread). When the thread exits, its instance dict goes and with it the last
reference to its cell handle, whose finalizer puts the cell on a free list WITH its value: a later
thread continues adding on top of it, so a dead thread's additions stay counted and the number of
cells stays the peak number of threads that used the ``Adder`` at once. Cells live in
``SharedArray('q')`` chunks of :data:`_CHUNK` cells spaced :data:`STRIDE` bytes apart, the first
aligned to a stride boundary, so that no two cells and no unrelated object share a line (or a
prefetched pair of lines).
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from ctypes import byref
from typing import Final

from ._atomics import Atomics, _cell, _thread_function, _wrap
from ._runtime import load_atomics
from ._shared import _KINDS, SharedArray, SharedBuffer

__all__ = ["Adder"]

#: Bytes between two cells: two 64-byte cache lines, so that the adjacent-line (spatial)
#: prefetcher of x86 cores, which fetches lines in 128-byte pairs, never couples two cells either
#: (Java's @Contended pads 128 bytes for the same reason). scripts/bench's adder.scaling measures
#: it against 64 in the same run.
STRIDE: Final = 128
_CHUNK: Final = 8  # cells allocated at once (one SharedBuffer of _CHUNK + 1 strides)
_INT64 = _KINDS["q"]


class _CellRef(ctypes.c_int64):
    """One thread's handle on its cell: an int64 over the cell's memory (which it keeps alive).

    Only the thread's ``add`` function refers to it. When that goes (the thread exited, or the
    ``Adder`` was collected), the cell goes back to the free list, keeping its value.
    """

    __slots__ = ("_core", "_index")
    _core: _Core
    _index: int

    def __del__(self) -> None:
        # No module globals here: a main-thread handle can be freed during interpreter
        # finalization, after this module's globals (contextlib, ...) have been set to None.
        try:  # noqa: SIM105 - contextlib may already be None here
            self._core.free.append(self._index)  # list.append is atomic: no lock to deadlock on
        except AttributeError:  # a set-up that failed midway
            pass


class _Core:
    """What every thread of one ``Adder`` shares: the cells and the free list."""

    __slots__ = ("cells", "free", "grow_lock")

    def __init__(self) -> None:
        # Guards appending a chunk to `cells` (one grower at a time). `cells` only ever grows, by
        # whole chunks; readers iterate it without the lock (they see the cells made so far).
        self.grow_lock = threading.Lock()
        self.cells: list[tuple[SharedArray, int]] = []  # every cell: (its chunk, element index)
        self.free: list[int] = []  # indexes into `cells` that no live thread holds

    def acquire(self) -> int:
        """The index of a cell for the calling thread: a free one, else one of a new chunk."""
        free = self.free
        try:
            return free.pop()
        except IndexError:
            pass
        with self.grow_lock:
            try:
                return free.pop()  # another thread grew meanwhile, or a thread exited
            except IndexError:
                pass
            buffer = SharedBuffer((_CHUNK + 1) * STRIDE)
            skip = -buffer._address % STRIDE  # bytes to the first stride-aligned address
            array = SharedArray("q", buffer)
            first = len(self.cells)
            self.cells.extend((array, (skip + k * STRIDE) // 8) for k in range(_CHUNK))
            free.extend(range(first + _CHUNK - 1, first, -1))  # the rest, lowest popped first
            return first


def _checked(n: object) -> int:
    """``n`` as an int64 operand, or ``TypeError``/``OverflowError`` naming ``Adder.add``."""
    if isinstance(n, int):
        number = int(n)
    else:
        try:
            number = int(n.__index__())  # type: ignore[attr-defined]
        except AttributeError:
            raise TypeError(f"Adder.add(n): n must be an int, not {type(n).__name__}") from None
    if not _INT64.min <= number <= _INT64.max:
        raise OverflowError(f"Adder.add(n): n = {number} does not fit a 64-bit signed integer "
                            f"({_INT64.min} .. {_INT64.max}); add it in parts")
    return number


def _thread_add(core: _Core) -> Callable[[int], None]:
    """Give the calling thread a cell of ``core``; return its ``add`` function for that cell."""
    index = core.acquire()
    array, element = core.cells[index]
    handle = _CellRef.from_buffer(array._buffer._memory, array._offset + 8 * element)
    handle._core = core
    handle._index = index
    cell = byref(handle)  # keeps the handle alive as long as this thread's `add` exists
    binding = array._binding
    assert binding is not None
    inc = _thread_function(binding, "inc")  # patomic's void increment: no result to convert
    add_to = _thread_function(binding, "add")
    scratch, scratch_ref = _cell(_INT64)

    def add(n: int = 1) -> None:
        if type(n) is int:
            if n == 1:
                inc(cell, 5)  # 5: seq_cst
                return
            if -0x8000_0000_0000_0000 <= n <= 0x7FFF_FFFF_FFFF_FFFF:
                scratch[0] = n
                add_to(cell, scratch_ref, 5)
                return
        scratch[0] = _checked(n)
        add_to(cell, scratch_ref, 5)

    add.__doc__ = Adder.add.__doc__
    add.__qualname__ = "Adder.add"
    return add


class Adder(threading.local):
    """A striped 64-bit counter (Java's ``LongAdder``): ``add`` scales across threads, ``sum``
    reads every stripe.

    ``Adder()`` starts at 0. ``add(n=1)`` adds ``n`` (may be negative) to the calling thread's own
    cell, one lock-free atomic addition (through the ``atomics`` package) on a cache line no other
    thread writes; ``sum()`` adds up every cell; ``reset()`` sets every cell to 0;
    ``sum_then_reset()`` does both, cell by cell, in one atomic exchange per cell. Use it for
    counts that many threads bump and few read (statistics, events, progress); use
    :class:`~ftpool.AtomicCounter` when each update must see the current total (a ticket number).

    Guarantees, with ``add`` running in other threads at the same time:

    - ``sum()`` is exact when no ``add``, ``reset`` or ``sum_then_reset`` runs during it, and is
      NOT a snapshot otherwise: each concurrent ``add`` is in the result or not, wholly.
    - Every ``add`` is counted exactly once across the results of successive ``sum_then_reset()``
      calls (from any threads) and a final ``sum()``: it lands in its cell before or after that
      cell's exchange, so it is in one result, never two, never lost, never split.
    - ``reset()`` is ``sum_then_reset()`` with the result dropped: an ``add`` racing with it is
      either discarded by it or counted afterwards, wholly.
    - A thread that exits keeps counting: its cell keeps its value (another thread may later take
      the cell over and add on top of it).
    - Totals wrap around at the int64 limits like C's ``int64_t`` (as ``AtomicCounter``): the
      result is the true total modulo 2**64, so it is exact while the total fits int64.

    Nothing blocks (``sum`` and the resets take no lock; a thread's first use may allocate a
    chunk of cells under a short lock). There is nothing to close. ``add(n)``: ``TypeError`` when
    ``n`` is not an int (``True``/``False`` count as 1/0), ``OverflowError`` outside the int64
    range; nothing is added then.

    Each thread takes its cell the first time it uses the ``Adder`` (``Adder`` is a
    ``threading.local`` subclass: its per-thread state is each thread's own; ``add`` found on an
    instance is the calling thread's function, so ``add = adder.add`` hoisted out of a loop is the
    fastest form, and stays correct if handed to another thread). The first ``Adder`` imports the
    ``atomics`` package (see :class:`~ftpool.GILEnabledWarning`).
    """

    __slots__ = ("_core",)
    _core: _Core  # shared by all threads (a slot, not per-thread like the instance dict)

    def __init__(self) -> None:
        # threading.local calls this again in each thread, at its first use of this Adder.
        try:
            core = self._core
        except AttributeError:  # the creating thread
            load_atomics()  # first use of shared memory (may warn GILEnabledWarning, at the caller)
            core = self._core = _Core()
        self.__dict__["add"] = _thread_add(core)  # this thread's own fast path

    def add(self, n: int = 1) -> None:
        """Add ``n`` (default 1; may be negative) to the total: one atomic addition to the calling
        thread's cell. Never blocks. ``TypeError`` when ``n`` is not an int, ``OverflowError``
        outside int64; nothing is added then. Wraps around at the int64 limits."""
        # Reached only through the class (Adder.add(adder, n)): an instance finds the calling
        # thread's own function in its per-thread dict first.
        self.__dict__["add"](n)

    def sum(self) -> int:
        """The total: every cell read atomically, one after another, and added up (wrapped to
        int64). Exact when nothing updates the ``Adder`` meanwhile; not a snapshot otherwise (see
        the class docstring). Never blocks; takes time proportional to the number of cells."""
        load = Atomics.load
        total = 0
        for array, element in self._core.cells:
            total += load(array, element)
        return _wrap(total, _INT64)

    def sum_then_reset(self) -> int:
        """Set every cell to 0 and return the sum of what they held (wrapped to int64): one atomic
        exchange per cell, so every ``add`` is counted in exactly one result of successive calls.
        Never blocks."""
        exchange = Atomics.exchange
        total = 0
        for array, element in self._core.cells:
            total += exchange(array, element, 0)
        return _wrap(total, _INT64)

    def reset(self) -> None:
        """Set the total to 0 (every cell, one atomic exchange each). An ``add`` racing with it is
        either discarded or counted afterwards, wholly. Never blocks."""
        self.sum_then_reset()

    def __repr__(self) -> str:
        return f"Adder({self.sum()})"

    def __int__(self) -> int:
        return self.sum()
