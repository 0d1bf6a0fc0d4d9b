"""Run a task through a copy of its function whose code constants are immortal.

Why: on a free-threaded build (3.13t), a code object made by ``compile()`` -- which is what an
import from source does when there is no ``.pyc`` (``PYTHONDONTWRITEBYTECODE=1``, a read-only
directory) -- keeps ordinary reference counts on its constants. Every ``LOAD_CONST`` of such a
float or string then writes to one shared reference count, and two threads running the same
function fight over that cache line: float-heavy code stops scaling. A code object loaded by
``marshal`` (a ``.pyc``) gets immortal constants, whose reference count is never written.

What: :func:`run_copy` returns a callable that behaves as ``fn`` and runs code whose constants are
immortal -- for a plain function a new function object over a ``marshal`` round trip of its code,
sharing everything else with the original (``__globals__``, ``__closure__`` cells, the
``__defaults__`` and ``__kwdefaults__`` objects, the ``__dict__`` (so ``__wrapped__`` and any
attribute), ``__name__``, ``__qualname__``, ``__module__``, ``__doc__``, annotations). File names,
line numbers and names live in the code object and survive the round trip, so tracebacks point
where they did. Bound methods and ``functools.partial`` objects are rebuilt around the copy of
the function they hold. The user's objects are never modified.

Limits (why this is not a full fix): only the called function's own code (and code nested in it)
is copied; other functions it calls -- including the function a decorator wraps -- still run
their original code. And 3.13t itself does not always make a ``marshal``-loaded constant immortal
when other threads are compiling code at that moment (measured: about a third of round trips
while 4 threads compile and load code at once; none when only loading); the copy is then no
better than the original, never worse. Byte-compiled modules (``python -m compileall``, or no
``PYTHONDONTWRITEBYTECODE``) fix every function; ``ftpool.doctor`` reports what is left.

Switch: OFF by default. ``FTPOOL_IMMORTAL_CONSTANTS=1`` in the environment (read at import) or
:func:`set_enabled` (process-wide) turns it on. Measured in one full compare run on 3.13t (2
cores, bench code compiled from source for this case): Mandelbrot on 2 threads 1.31x with copies
off against 1.97x with them on; but with them on, ``Pool.submit`` of no-op tasks ran at half
speed in 2 of 3 runs (73k against 143k tasks/s), a cost we have not explained yet, so the copies
are an opt-in and ``ftpool.doctor`` names the trap and the fix (byte-compile).
On a build without free threading, or where a ``marshal``
round trip does not make constants immortal, :func:`run_copy` returns ``fn`` itself.

Cost: the first call for a function marshals its code once (cached per code object, weakly);
after that :func:`run_copy` is a dict lookup and a few identity checks, in the worker thread (so
``submit()`` does not pay it): measured on 3.13t at 0.3-0.5 us per call alone, and 0.8 us of CPU
per no-op pool task (8.9 against 8.1 us, a loaded 2-core machine). Caches never keep a function,
code object or method alive (on 3.13t functions and code objects are immortal anyway once a
thread has started; on later versions they are freed as usual).
"""

from __future__ import annotations

import functools
import marshal
import os
import sys
import threading
import weakref
from collections.abc import Callable
from types import CodeType, FunctionType, MethodType
from typing import Any

__all__ = [
    "immortal_copies_available",
    "is_enabled",
    "is_immortal",
    "mortal_constants",
    "run_copy",
    "set_enabled",
]

# Any reference count at or above this is an immortal object's (3.13t: 2**32 - 1; 3.14: 3 << 30
# on default builds); no real object is referenced a billion times.
_IMMORTAL_FLOOR = 1 << 30
_ENV = "FTPOOL_IMMORTAL_CONSTANTS"
_HAS_ANNOTATE = hasattr(FunctionType, "__annotate__")  # 3.14: annotations are lazy
_HAS_TYPE_PARAMS = hasattr(FunctionType, "__type_params__")


def is_immortal(obj: object) -> bool:
    """True when ``obj`` is immortal (its reference count is never written).

    Uses ``sys._is_immortal`` where the interpreter has it, else the reference count."""
    check = getattr(sys, "_is_immortal", None)
    if check is not None:
        return bool(check(obj))
    return sys.getrefcount(obj) >= _IMMORTAL_FLOOR


def _code_objects(code: CodeType) -> list[CodeType]:
    """``code`` and every code object nested in it (inner functions, lambdas, classes)."""
    found = [code]
    index = 0
    while index < len(found):
        found += [c for c in found[index].co_consts if isinstance(c, CodeType)]
        index += 1
    return found


def mortal_constants(code: CodeType) -> list[object]:
    """The constants of ``code`` and its nested code objects that are not immortal (a docstring
    excepted: it is never loaded). On a GIL build nearly every constant is mortal; the question
    only matters on a free-threaded build."""
    mortal = []
    for each in _code_objects(code):
        consts = each.co_consts
        for index, const in enumerate(consts):
            if isinstance(const, CodeType) or const is None:
                continue
            if index == 0 and isinstance(const, str) and _has_docstring(each):
                continue
            if not is_immortal(const):
                mortal.append(const)
    return mortal


def _docstring_flag() -> int:
    """The code flag that marks a docstring (3.14's CO_HAS_DOCSTRING), found by compiling two
    functions that differ only by one; 0 where no flag exists (3.13)."""
    module = compile('def a():\n    "doc"\ndef b():\n    pass\n', "<ftpool probe>", "exec")
    with_doc, without = (c for c in module.co_consts if isinstance(c, CodeType))
    return with_doc.co_flags & ~without.co_flags


_DOCSTRING_FLAG = _docstring_flag()


def _has_docstring(code: CodeType) -> bool:
    if _DOCSTRING_FLAG:
        return bool(code.co_flags & _DOCSTRING_FLAG)
    return True  # 3.13: a str in co_consts[0] of a function is its docstring (or unused)


# --- feature detection --------------------------------------------------------------------------

_available: bool | None = None


def immortal_copies_available() -> bool:
    """True when a ``marshal`` round trip turns a compiled code object's mortal constants into
    immortal ones (free-threaded builds); detected once, by trying it."""
    global _available
    if _available is None:
        probe = compile("x = 0.123456789012345", "<ftpool probe>", "exec")
        before = [c for c in probe.co_consts if isinstance(c, float)]
        after = [c for c in marshal.loads(marshal.dumps(probe)).co_consts if isinstance(c, float)]
        _available = bool(before and after) and not is_immortal(before[0]) and all(
            map(is_immortal, after))
    return _available


# Off by default: in a full compare run the copies brought the Mandelbrot workload imported from
# source back from 1.31x to 1.97x on 2 threads, but with them on, Pool.submit of a no-op task ran
# at half speed in 2 of 3 runs (73k against 143k tasks/s; copies off: 141-145k in all three).
_enabled = os.environ.get(_ENV, "0").strip().lower() in {"1", "true", "yes", "on"}


def set_enabled(enabled: bool) -> bool:
    """Turn the copies on or off for the whole process; returns the previous setting. Never
    blocks; takes effect for tasks that start afterwards."""
    global _enabled
    if not isinstance(enabled, bool):
        raise TypeError(f"set_enabled() takes True or False, got {type(enabled).__name__}")
    previous, _enabled = _enabled, enabled
    return previous


def is_enabled() -> bool:
    """Whether :func:`run_copy` makes copies: switched on, and useful on this interpreter."""
    return _enabled and immortal_copies_available()


# --- the copies ---------------------------------------------------------------------------------

_codes_lock = threading.Lock()  # guards _codes (the marshal work itself runs outside it)
# id(code) -> (weak reference to it, its copy). By identity, not equality: code objects compare
# equal across files (co_filename is not compared), and a copy must keep its own file name.
_codes: dict[int, tuple[weakref.ref[CodeType], CodeType]] = {}
# id(function) -> (weak reference to it, its __code__, __defaults__, __kwdefaults__ then, copy);
# the entry is dropped when the function dies, and ignored when one of those three was reassigned.
_functions: dict[int, tuple[weakref.ref[FunctionType], CodeType, Any, Any, FunctionType]] = {}


def _immortal_code(code: CodeType) -> CodeType:
    """``code`` itself when its constants are immortal already, else a marshal copy (cached)."""
    key = id(code)
    with _codes_lock:
        entry = _codes.get(key)
    if entry is not None and entry[0]() is code:
        return entry[1]
    ref = weakref.ref(code, lambda r, key=key, table=_codes, forget=_forget:  # type: ignore[misc]
                      forget(key, r, table))
    # Under the lock: the workers that start the same function together make one copy, and
    # never round-trip concurrently with each other.
    with _codes_lock:
        entry = _codes.get(key)
        if entry is not None and entry[0]() is code:
            return entry[1]  # another thread made it first
        copy = code
        if mortal_constants(code):
            try:
                copy = marshal.loads(marshal.dumps(code))
            except (ValueError, TypeError):  # a constant marshal cannot write (code.replace)
                copy = code
        _codes[key] = (ref, copy)
    return copy


def _forget(key: int, ref: weakref.ref[Any], table: dict[int, Any]) -> None:
    """Drop a dead function's or code object's entry (called by its weak reference; ``table``
    is bound early: this may run at interpreter exit, after the module's globals are cleared)."""
    entry = table.get(key)
    if entry is not None and entry[0] is ref:
        table.pop(key, None)


def _copy_function(fn: FunctionType) -> FunctionType:
    """Make (and cache) the copy of ``fn``; ``fn`` itself when its constants are immortal."""
    code, defaults, kwdefaults = fn.__code__, fn.__defaults__, fn.__kwdefaults__
    new_code = _immortal_code(code)
    if new_code is code:
        copy = fn
    else:
        copy = FunctionType(new_code, fn.__globals__, fn.__name__, defaults, fn.__closure__)
        copy.__kwdefaults__ = kwdefaults
        copy.__qualname__ = fn.__qualname__
        copy.__module__ = fn.__module__
        copy.__doc__ = fn.__doc__
        copy.__dict__ = fn.__dict__  # the same dict: __wrapped__ and attributes stay shared
        if _HAS_ANNOTATE:
            copy.__annotate__ = fn.__annotate__  # type: ignore[attr-defined]
        else:
            copy.__annotations__ = fn.__annotations__
        if _HAS_TYPE_PARAMS:
            copy.__type_params__ = fn.__type_params__
    key = id(fn)
    ref = weakref.ref(fn, lambda r, key=key, table=_functions, forget=_forget:  # type: ignore[misc]
                      forget(key, r, table))
    _functions[key] = (ref, code, defaults, kwdefaults, copy)
    return copy


def run_copy(
    fn: Callable[..., Any],
    _get: Callable[[int], Any] = _functions.get,
    _id: Callable[[object], int] = id,
    _type: Callable[[object], type] = type,
    _function: type = FunctionType,
) -> Callable[..., Any]:
    """A callable that does what ``fn`` does, running code with immortal constants.

    Plain functions, bound methods of plain functions and ``functools.partial`` of either are
    copied; any other callable (a class, a builtin, an object with ``__call__``) is returned
    as is, and so is everything when copies are off (:func:`set_enabled`, the environment
    variable ``FTPOOL_IMMORTAL_CONSTANTS=0``) or useless (a GIL build). Never blocks for long
    (the first call for a function marshals its code) and never raises for a callable input.
    """
    # (the defaults bind globals as locals: 3.13t has no specializing interpreter, and this
    # runs for every task)
    if not _enabled:
        return fn
    kind = _type(fn)
    if kind is _function:
        # the hot path: one dict lookup and identity checks
        entry = _get(_id(fn))
        if (entry is not None and entry[1] is fn.__code__ and entry[2] is fn.__defaults__
                and entry[3] is fn.__kwdefaults__ and entry[0]() is fn):
            copy: Callable[..., Any] = entry[4]
            return copy
        if not immortal_copies_available():
            return fn
        return _copy_function(fn)  # type: ignore[arg-type]
    if kind is MethodType:
        func = fn.__func__  # type: ignore[attr-defined]
        if type(func) is FunctionType:
            method_copy = run_copy(func)
            if method_copy is not func:
                return MethodType(method_copy, fn.__self__)  # type: ignore[attr-defined]
        return fn
    if kind is functools.partial:
        inner = fn.func  # type: ignore[attr-defined]
        if fn.__dict__ or type(inner) not in (FunctionType, MethodType):
            return fn
        inner_copy = run_copy(inner)
        if inner_copy is inner:
            return fn
        return functools.partial(inner_copy, *fn.args, **fn.keywords)  # type: ignore[attr-defined]
    return fn
