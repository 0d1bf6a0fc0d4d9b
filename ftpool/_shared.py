"""Shared memory (Node: ``SharedArrayBuffer`` and typed arrays): :class:`SharedBuffer` and
:class:`SharedArray`.

Threads share memory anyway; what these add is a fixed block of raw, aligned memory that the
``atomics`` package can operate on with lock-free hardware instructions (see
:mod:`ftpool._atomics`), and typed views over it that see each other's writes.

How the ``atomics`` package is used (and why it is fast and safe on 3.13t):

- ``atomics`` wraps the patomic C library through ctypes and uses cffi only to take a buffer's
  address. cffi 1.x is not thread-safe without the GIL, so every call that touches cffi (creating or
  releasing an ``atomics`` view) happens under :data:`_cffi_lock`, once per buffer and kind
  (width, signedness), never per operation.
- That one view (``atomics.atomicview(buffer=<first element>, atype=INT or UINT)``) gives the base
  address of the buffer and the patomic function pointers for the width (``_core.address`` and
  ``_core.get_op_func(OpType...)``). They are resolved once into a :class:`_Binding`.
- An operation then costs a bounds/type/range check, ``address = base + index * width`` and one
  patomic call, with per-thread scratch ctypes values and per-thread copies of the function objects
  (so that threads never write the same Python object, and do not fight over its reference count).
- The view is released by a ``weakref.finalize`` on the buffer: when the buffer is collected, or at
  interpreter exit at the latest, under the same lock. So ``atomics`` never has to release it from
  a ``__del__`` during interpreter teardown (which prints "Exception ignored" noise).
"""

from __future__ import annotations

import contextlib
import ctypes
import operator
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, Literal

from ._runtime import load_atomics

__all__ = ["TYPECODES", "SharedArray", "SharedBuffer", "Typecode"]


#: The typecodes of :class:`SharedArray` as a type, for annotations (``SharedArray.typecode``):
#: int8, uint8, int16, uint16, int32, uint32, int64, uint64, as in the ``array`` module.
Typecode = Literal["b", "B", "h", "H", "i", "I", "q", "Q"]


@dataclass(frozen=True, slots=True)
class _Kind:
    """What a typecode means: element width in bytes, signedness, range and ctypes type."""

    typecode: Typecode
    name: str
    width: int
    signed: bool
    min: int
    max: int
    ctype: Any  # a ctypes simple type (c_int8 ...)


def _kind(typecode: Typecode, name: str, width: int, signed: bool, ctype: Any) -> _Kind:
    bits = 8 * width
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    assert ctypes.sizeof(ctype) == width
    return _Kind(typecode, name, width, signed, low, high, ctype)


_KINDS: Final[dict[str, _Kind]] = {
    k.typecode: k
    for k in (
        _kind("b", "int8", 1, True, ctypes.c_int8),
        _kind("B", "uint8", 1, False, ctypes.c_uint8),
        _kind("h", "int16", 2, True, ctypes.c_int16),
        _kind("H", "uint16", 2, False, ctypes.c_uint16),
        _kind("i", "int32", 4, True, ctypes.c_int32),
        _kind("I", "uint32", 4, False, ctypes.c_uint32),
        _kind("q", "int64", 8, True, ctypes.c_int64),
        _kind("Q", "uint64", 8, False, ctypes.c_uint64),
    )
}

#: The typecodes :class:`SharedArray` accepts, as in the ``array`` module: int8 ... uint64.
TYPECODES: Final[tuple[str, ...]] = tuple(_KINDS)

_ALIGN = 8  # every SharedBuffer starts at an address that is a multiple of the widest element

# Guards every call into cffi (creating and releasing `atomics` views) and the `_bindings` dicts
# of all buffers. Re-entrant because a binding's finalizer may run (from the garbage collector) in
# a thread that already holds it.
_cffi_lock = threading.RLock()

# patomic's memory-order argument: 5 = seq_cst (atomics.MemoryOrder.SEQ_CST), for every operation.
SEQ_CST: Final = 5

# The operations ftpool uses, by its own name -> the name of atomics' OpType member.
_OPS: Final[dict[str, str]] = {
    "load": "LOAD",
    "store": "STORE",
    "exchange": "EXCHANGE",
    "cmpxchg": "CMPXCHG_STRONG",
    "fetch_add": "FETCH_ADD",
    "fetch_sub": "FETCH_SUB",
    "fetch_inc": "FETCH_INC",
    "fetch_dec": "FETCH_DEC",
    "fetch_and": "FETCH_AND",
    "fetch_or": "FETCH_OR",
    "fetch_xor": "FETCH_XOR",
    "add": "ADD",  # the void forms, for adds whose old value nobody reads (Adder)
    "inc": "INC",
}


# How ftpool calls a patomic function: without argtypes (each argument is a ready-made ctypes
# ``byref`` or a small int, so ctypes converts nothing), and as a "Python API" function, so the
# thread state is not detached around a call that takes nanoseconds. Both halve the cost of a call.
_CALL_PROTOTYPE: Final = ctypes.PYFUNCTYPE(None)


class _Binding:
    """One ``atomics`` view over the first element of a buffer, for one kind (width, signedness).

    Immutable once built: ``address`` is the buffer's base address, ``functions`` the patomic
    function objects from ``atomics``' op table by ftpool's op name, and ``function_addresses``
    their C addresses. Threads call their own function objects made from those addresses (see
    :meth:`thread_function`), never the shared ones.
    """

    __slots__ = ("address", "context", "function_addresses", "functions", "width", "window")

    def __init__(self, context: Any, window: memoryview, address: int,
                 functions: dict[str, Any], width: int) -> None:
        self.context = context  # atomics' view context; holds the cffi buffer on `window`
        self.window = window  # memoryview of the first `width` bytes of the buffer
        self.address = address
        self.functions = functions
        self.function_addresses: dict[str, int] = {}
        for name, fn in functions.items():
            function_address = ctypes.cast(fn, ctypes.c_void_p).value
            assert function_address  # atomics returns None, not NULL, for a missing op
            self.function_addresses[name] = function_address
        self.width = width

    def thread_function(self, name: str) -> Any:
        """A new function object for op ``name``, for the calling thread's exclusive use.

        It takes the same arguments as patomic's function (``atomics.OpType``), passed as
        ``ctypes.byref(...)`` for pointers and an int for the memory order.
        """
        return _CALL_PROTOTYPE(self.function_addresses[name])

    def release(self) -> None:
        """Release the cffi buffer (caller holds ``_cffi_lock``). Idempotent."""
        self.context.release()
        # BufferError: an export is still alive; the garbage collector will release it.
        with contextlib.suppress(BufferError):
            self.window.release()


def _release_bindings(bindings: dict[tuple[int, bool], _Binding]) -> None:
    """Finalizer of a SharedBuffer: release its ``atomics`` views under the cffi lock."""
    with _cffi_lock:
        for binding in bindings.values():
            binding.release()
        bindings.clear()


class SharedBuffer:
    """A fixed-size block of zeroed, shared memory (Node: ``SharedArrayBuffer``).

    ``SharedBuffer(nbytes)`` allocates ``nbytes`` bytes aligned to 8 bytes. It never grows or moves,
    so :class:`SharedArray` views over it (of any typecode, at any aligned offset) see each other's
    writes, and ``ftpool.Atomics`` can operate on it. Pass it to other threads as it is (threads
    share objects; nothing is copied). ``memoryview(buffer)`` gives its bytes.

    The first ``SharedBuffer`` (or ``SharedArray``/``AtomicCounter``) imports the ``atomics``
    package; on a free-threaded build where that switches the GIL on, it warns once with
    :class:`~ftpool.GILEnabledWarning`. Never blocks. ``TypeError`` if ``nbytes`` is not an int,
    ``ValueError`` if it is negative.
    """

    __slots__ = ("__weakref__", "_address", "_bindings", "_bytes", "_finalizer", "_memory",
                 "_nbytes", "_waitq")

    def __init__(self, nbytes: int) -> None:
        load_atomics()  # first use of shared memory: import atomics (may warn GILEnabledWarning)
        if isinstance(nbytes, bool) or not isinstance(nbytes, int):
            raise TypeError(f"SharedBuffer(nbytes): nbytes must be an int, "
                            f"not {type(nbytes).__name__}")
        if nbytes < 0:
            raise ValueError(f"SharedBuffer(nbytes): nbytes must be >= 0, got {nbytes}")
        # c_uint64 elements: ctypes allocates them zeroed and aligned for 8-byte access.
        memory = (ctypes.c_uint64 * ((nbytes + 7) // 8))()
        address = ctypes.addressof(memory)
        if address % _ALIGN:  # never seen; the operations below rely on it, so check
            raise RuntimeError(f"ctypes returned memory at {address:#x}, not 8-byte aligned")
        self._memory = memory  # owns the memory; every view and binding keeps it alive
        self._nbytes = nbytes
        self._address = address
        self._bytes = memoryview(memory).cast("B")[:nbytes]
        # Guarded by _cffi_lock: (width, signed) -> the atomics view for that kind.
        self._bindings: dict[tuple[int, bool], _Binding] = {}
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._waitq: Any = None  # the wait queue of Atomics.wait/notify, made on first use

    @property
    def nbytes(self) -> int:
        """The size in bytes (Node: ``byteLength``). Never changes."""
        return self._nbytes

    def __len__(self) -> int:
        return self._nbytes

    def __buffer__(self, flags: int, /) -> memoryview:
        """The bytes, writable (``memoryview(buf)``, ``numpy.frombuffer(buf, ...)``)."""
        return self._bytes

    def __repr__(self) -> str:
        return f"<SharedBuffer nbytes={self._nbytes} at {self._address:#x}>"

    def _binding(self, width: int, signed: bool) -> _Binding:
        """The ``atomics`` view for elements of ``width`` bytes, made once per buffer and kind.

        The only place that calls into cffi (through ``atomics``); serialised by ``_cffi_lock``.
        """
        key = (width, signed)
        with _cffi_lock:
            binding = self._bindings.get(key)
            if binding is not None:
                return binding
            if self._nbytes < width:
                raise ValueError(f"a SharedBuffer of {self._nbytes} bytes cannot hold an element "
                                 f"of {width} bytes")
            atomics = load_atomics()
            window = self._bytes[:width]
            context = atomics.atomicview(buffer=window,
                                         atype=atomics.INT if signed else atomics.UINT)
            try:
                try:  # atomics 1.0.3 internals (the view's core): pinned in pyproject.toml
                    core = context._core
                    address = int(core.address)
                    get_op_func = core.get_op_func
                except AttributeError as exc:
                    raise RuntimeError(
                        f"ftpool needs atomics==1.0.3, whose views expose _core.address and "
                        f"_core.get_op_func; this atomics ({getattr(atomics, '__file__', '?')}) "
                        "does not: pip install 'atomics==1.0.3'"
                    ) from exc
                functions: dict[str, Any] = {}
                for name, optype in _OPS.items():
                    function = get_op_func(getattr(atomics.OpType, optype))
                    if function is None:
                        raise RuntimeError(
                            f"the atomics package has no lock-free {optype} for {width}-byte "
                            "integers on this platform; ftpool's Atomics cannot use this width"
                        )
                    functions[name] = function
                if address != self._address:
                    raise RuntimeError(f"atomics sees the buffer at {address:#x}, ctypes at "
                                       f"{self._address:#x}")
                binding = _Binding(context, window, address, functions, width)
            except BaseException:
                context.release()
                raise
            self._bindings[key] = binding
            if self._finalizer is None:
                # Runs when the buffer is collected or, at the latest, at interpreter exit (atexit),
                # before module teardown. It holds the bindings, not the buffer.
                self._finalizer = weakref.finalize(self, _release_bindings, self._bindings)
            return binding


def _check_typecode(typecode: object) -> _Kind:
    kind = _KINDS.get(typecode) if isinstance(typecode, str) else None
    if kind is None:
        raise ValueError(f"unknown typecode {typecode!r}; use one of "
                         + ", ".join(f"{k.typecode!r} ({k.name})" for k in _KINDS.values()))
    return kind


def _check_int(what: str, value: object) -> int:
    if isinstance(value, int):
        return int(value)
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{what} must be an int, not {type(value).__name__}") from None


class SharedArray:
    """A typed view over a :class:`SharedBuffer` (Node: ``Int32Array`` etc. over a
    ``SharedArrayBuffer``).

    ``SharedArray(typecode, length)`` allocates a new zeroed buffer for ``length`` elements;
    ``SharedArray(typecode, buffer, offset=0, length=None)`` views an existing one, from byte
    ``offset`` (a multiple of the element size) for ``length`` elements (default: to the end of the
    buffer, which must then be a whole number of elements). Typecodes as in the ``array`` module:
    ``"b" "B" "h" "H" "i" "I" "q" "Q"`` (int8, uint8, int16, uint16, int32, uint32, int64, uint64).

    ``a[i]``, ``a[i] = v``, ``len(a)``, ``iter(a)``, ``a.tolist()`` and ``a[i:j]`` (a list) are
    plain memory accesses, as for a JS typed array: no ordering between threads. To publish data
    from one thread to another, use ``ftpool.Atomics`` (``load``, ``store``, ``add``,
    ``wait``/``notify`` ...), which are sequentially consistent.

    Indexes are Python-style: ``-1`` is the last element (here and in ``Atomics``); an index outside
    ``-len <= i < len`` raises ``IndexError``. Values must be ints (anything with ``__index__``;
    ``True``/``False`` count as 1/0, as in ``array.array``) within the type's range: ``TypeError``
    otherwise, ``OverflowError`` when out of range, and nothing is written. Errors in construction:
    ``ValueError`` for an unknown typecode, a misaligned or negative offset, a negative length or a
    buffer too small; ``TypeError`` when the second argument is neither an int nor a SharedBuffer.
    Never blocks.
    """

    __slots__ = ("__weakref__", "_binding", "_buffer", "_kind", "_length", "_local", "_offset",
                 "_view")

    def __init__(self, typecode: str, length_or_buffer: int | SharedBuffer, offset: int = 0,
                 length: int | None = None) -> None:
        load_atomics()  # first use of shared memory (may warn GILEnabledWarning, at the caller)
        kind = _check_typecode(typecode)
        width = kind.width
        offset = _check_int("offset", offset)
        if isinstance(length_or_buffer, SharedBuffer):
            buffer = length_or_buffer
            if offset < 0:
                raise ValueError(f"offset must be >= 0 (bytes from the start of the buffer), got "
                                 f"{offset}")
            if offset % width:
                raise ValueError(f"offset {offset} is not a multiple of the element size {width} "
                                 f"of typecode {typecode!r}; align it")
            if offset > buffer.nbytes:
                raise ValueError(f"offset {offset} is past the end of the {buffer.nbytes}-byte "
                                 "buffer")
            if length is None:
                rest = buffer.nbytes - offset
                if rest % width:
                    raise ValueError(f"the {rest} bytes after offset {offset} are not a whole "
                                     f"number of {width}-byte elements; pass length=")
                length = rest // width
            else:
                length = _check_int("length", length)
                if length < 0:
                    raise ValueError(f"length must be >= 0, got {length}")
                if offset + length * width > buffer.nbytes:
                    raise ValueError(f"buffer too small: {length} elements of {width} bytes from "
                                     f"offset {offset} need {offset + length * width} bytes, the "
                                     f"buffer has {buffer.nbytes}")
        elif isinstance(length_or_buffer, int) and not isinstance(length_or_buffer, bool):
            if length is not None or offset != 0:
                raise ValueError("offset= and length= only apply to a view over a SharedBuffer; "
                                 "SharedArray(typecode, n) makes a new buffer of n elements")
            length = length_or_buffer
            if length < 0:
                raise ValueError(f"length must be >= 0, got {length}")
            buffer = SharedBuffer(length * width)
        else:
            raise TypeError("SharedArray(typecode, length_or_buffer): the second argument must be "
                            f"an int or a SharedBuffer, not {type(length_or_buffer).__name__}")
        self._buffer = buffer
        self._kind = kind
        self._offset = offset
        self._length = length
        self._view: memoryview[int] = buffer._bytes[offset:offset + length * width].cast(
            kind.typecode)
        # The atomics view for this kind, shared by every array of this kind on the buffer.
        self._binding = buffer._binding(width, kind.signed) if length else None
        # Per-thread operation tables of ftpool.Atomics (see ftpool._atomics._thread_ops).
        self._local = threading.local()

    # --- description ---
    @property
    def typecode(self) -> Typecode:
        """The typecode: one of ``"b" "B" "h" "H" "i" "I" "q" "Q"``."""
        return self._kind.typecode

    @property
    def itemsize(self) -> int:
        """Bytes per element (Node: ``BYTES_PER_ELEMENT``)."""
        return self._kind.width

    @property
    def buffer(self) -> SharedBuffer:
        """The :class:`SharedBuffer` this array views."""
        return self._buffer

    @property
    def offset(self) -> int:
        """Where element 0 starts in :attr:`buffer`, in bytes (Node: ``byteOffset``)."""
        return self._offset

    @property
    def nbytes(self) -> int:
        """``len(self) * itemsize`` (Node: ``byteLength``)."""
        return self._length * self._kind.width

    @property
    def min(self) -> int:
        """The smallest value an element can hold."""
        return self._kind.min

    @property
    def max(self) -> int:
        """The largest value an element can hold."""
        return self._kind.max

    def __len__(self) -> int:
        return self._length

    def __repr__(self) -> str:
        values = ", ".join(map(str, self._view[:8].tolist()))
        more = ", ..." if self._length > 8 else ""
        return f"SharedArray({self.typecode!r}, [{values}{more}])"

    # --- plain (non-atomic) access ---
    def _index(self, index: object) -> int:
        """``index`` as a valid non-negative element index, or IndexError/TypeError."""
        position = _check_int("index", index)
        if position < 0:
            position += self._length
        if not 0 <= position < self._length:
            raise IndexError(f"index {index} out of range for a SharedArray of length "
                             f"{self._length} (valid: {-self._length} <= i < {self._length})")
        return position

    def _value(self, value: object) -> int:
        """``value`` as an int in the element type's range, or TypeError/OverflowError."""
        number = _check_int("value", value)
        kind = self._kind
        if not kind.min <= number <= kind.max:
            raise OverflowError(f"value {number} does not fit typecode {kind.typecode!r} "
                                f"({kind.name}: {kind.min} .. {kind.max})")
        return number

    def __getitem__(self, index: int | slice) -> Any:
        """``a[i]``: the element (plain read); ``a[i:j:k]``: a list of them."""
        if isinstance(index, slice):
            return self._view[index].tolist()
        return self._view[self._index(index)]

    def __setitem__(self, index: int, value: int) -> None:
        """``a[i] = v``: a plain write. Slices are not supported (``TypeError``)."""
        if isinstance(index, slice):
            raise TypeError("SharedArray does not support slice assignment; assign the elements "
                            "one by one")
        position = self._index(index)
        self._view[position] = self._value(value)

    def __iter__(self) -> Iterator[int]:
        """The elements in order (plain reads, each read when reached)."""
        return iter(self._view)

    def tolist(self) -> list[int]:
        """A list of the elements (plain reads)."""
        result: list[int] = self._view.tolist()
        return result

    def __buffer__(self, flags: int, /) -> memoryview[int]:
        """The elements as a typed memoryview (``memoryview(a)``, ``numpy.asarray(a)``)."""
        return self._view
