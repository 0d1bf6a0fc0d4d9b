"""``ftpool.doctor``: does this function scale on threads here, and if not, why?

It runs the function on 1 thread and on N threads, with plain ``threading.Thread`` s and with
:class:`ftpool.Pool`, and looks for the known traps that apply to this interpreter and this
function (see :class:`Finding` codes below). ``python -m ftpool doctor MODULE:FUNCTION`` is its
command line.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from types import FunctionType, MethodType, ModuleType
from typing import Any

from ._immortal import mortal_constants
from ._runtime import Finding, free_threaded_build, process_traps, usable_cores

__all__ = ["DoctorReport", "Finding", "Measurement", "doctor"]

REPEATS = 3  # each measurement is the median of this many; the spread is kept too
_BARRIER_TIMEOUT = 60.0  # seconds for N threads to exist at once (a broken machine, not a trap)
_EXAMPLES = 3  # how many functions or constants a finding names


@dataclass(frozen=True, slots=True)
class Measurement:
    """One way of running the function: ``runner`` (``"threads"`` or ``"ftpool Pool"``), the
    median wall time of ``threads`` calls on 1 thread (``one``) and on ``threads`` threads at
    once (``many``), seconds; ``speedup`` = median over the repeats of one / many;
    ``efficiency`` = speedup / threads (1.0: every thread added a full core's work)."""

    runner: str
    threads: int
    one: float
    many: float
    speedup: float
    efficiency: float


@dataclass(frozen=True, slots=True)
class DoctorReport:
    """What :func:`doctor` measured and found.

    ``speedup`` and ``efficiency`` are ftpool Pool's (``measurements`` has plain threads' too);
    ``threads`` is N; ``findings`` the traps that apply, each with ``code``, ``message`` and
    ``fix`` (empty: nothing known stands in the way). ``function`` names what was measured.
    """

    function: str
    threads: int
    speedup: float
    efficiency: float
    findings: tuple[Finding, ...]
    measurements: tuple[Measurement, ...]

    @property
    def codes(self) -> tuple[str, ...]:
        """The findings' codes, in order."""
        return tuple(f.code for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (what ``--json`` prints)."""
        return asdict(self)

    def __str__(self) -> str:
        lines = [f"ftpool doctor: {self.function} on 1 and {self.threads} threads "
                 f"(median of {REPEATS} runs of {self.threads} calls each)"]
        for m in self.measurements:
            lines.append(f"  {m.runner:12} 1 thread {m.one:.3g} s, {m.threads} threads "
                         f"{m.many:.3g} s: speedup {m.speedup:.2f}x, efficiency "
                         f"{m.efficiency:.0%}")
        if not self.findings:
            lines.append("no known trap found.")
        for finding in self.findings:
            lines += [f"- {finding.code}: {finding.message}", f"  fix: {finding.fix}"]
        return "\n".join(lines)


# --- what the function is made of ---------------------------------------------------------------


def _unwrap(fn: Any) -> list[FunctionType]:
    """The Python functions behind a callable: partials, bound methods, decorated functions
    (``__wrapped__``), callable objects' ``__call__``."""
    found: list[FunctionType] = []
    todo = [fn]
    seen: set[int] = set()
    while todo:
        item = todo.pop()
        if id(item) in seen or item is None:
            continue
        seen.add(id(item))
        if isinstance(item, FunctionType):
            found.append(item)
            todo.append(getattr(item, "__wrapped__", None))
        elif isinstance(item, MethodType):
            todo.append(item.__func__)
        elif hasattr(item, "func") and hasattr(item, "args") and hasattr(item, "keywords"):
            todo.append(item.func)  # functools.partial and look-alikes
        elif not isinstance(item, type):
            call = vars(type(item)).get("__call__")  # a callable object's method
            if isinstance(call, FunctionType):
                todo.append(call)
    return found


def _module_functions(module: ModuleType) -> Iterator[FunctionType]:
    """Functions defined in ``module``: at its top level and as methods of its classes."""
    name = module.__name__
    for value in list(vars(module).values()):
        if isinstance(value, FunctionType) and value.__module__ == name:
            yield value
        elif isinstance(value, type) and value.__module__ == name:
            for attr in list(vars(value).values()):
                method = getattr(attr, "__func__", attr)  # staticmethod, classmethod
                if isinstance(method, FunctionType):
                    yield method


def _mortal_finding(functions: list[FunctionType]) -> Finding | None:
    """mortal-constants: the function's code, or its module's functions, hold mortal constants."""
    own: dict[str, list[object]] = {}
    others: dict[str, list[object]] = {}
    modules: dict[str, ModuleType] = {}
    for fn in functions:
        mortal = mortal_constants(fn.__code__)
        if mortal:
            own[fn.__qualname__] = mortal
        module = sys.modules.get(fn.__module__ or "")
        if module is not None:
            modules[module.__name__] = module
    names = {fn.__qualname__ for fn in functions}
    for module in modules.values():
        for fn in _module_functions(module):
            if fn.__qualname__ in names or fn.__qualname__ in others:
                continue
            mortal = mortal_constants(fn.__code__)
            if mortal:
                others[f"{module.__name__}.{fn.__qualname__}"] = mortal
    if not own and not others:
        return None
    parts = []
    if own:
        example = next(iter(own.values()))[:_EXAMPLES]
        parts.append(f"{', '.join(list(own)[:_EXAMPLES])} "
                     f"hold{'s' if len(own) == 1 else ''} constants that are not immortal "
                     f"(e.g. {', '.join(map(repr, example))})")
    if others:
        listed = ", ".join(list(others)[:_EXAMPLES])
        more = f" and {len(others) - _EXAMPLES} more" if len(others) > _EXAMPLES else ""
        parts.append(f"{len(others)} other function{'s' if len(others) != 1 else ''} of "
                     f"{'its module' if len(modules) == 1 else 'their modules'} do too "
                     f"({listed}{more})")
    fix = ("byte-compile the module and import it from its .pyc: python -m compileall DIR, and "
           "leave PYTHONDONTWRITEBYTECODE unset.")
    if "__main__" in modules:
        fix = ("move the functions out of the script into a module it imports (a script run as "
               "`python script.py` is always compiled from source, never from a .pyc), then " + fix)
    return Finding(
        "mortal-constants",
        "; ".join(parts) + ": on a free-threaded build every thread that loads such a constant "
        "writes its reference count, so threads running this code contend (code compiled from "
        "source, i.e. imported without a .pyc, gets them; code loaded from a .pyc does not). "
        "ftpool.Pool and Worker run the function they are given through an immortal copy, but "
        "not the functions it calls.",
        fix)


def _bytecode_finding(functions: list[FunctionType]) -> Finding | None:
    """no-bytecode-cache: PYTHONDONTWRITEBYTECODE, or a module of the function without a .pyc."""
    missing = []
    for module_name in dict.fromkeys(fn.__module__ for fn in functions):
        module = sys.modules.get(module_name or "")
        source = getattr(module, "__file__", None)
        spec = getattr(module, "__spec__", None)
        if not source or not source.endswith(".py") or spec is None or not spec.cached:
            continue
        try:
            cached = importlib.util.cache_from_source(source)
        except (NotImplementedError, ValueError):
            continue
        if not os.path.exists(cached):
            missing.append(f"{module_name} ({source})")
    env = sys.dont_write_bytecode
    if not missing and not env:
        return None
    what = []
    if missing:
        what.append(f"{', '.join(missing)} has no .pyc, so it was compiled from source at import")
    if env:
        what.append("PYTHONDONTWRITEBYTECODE (or -B) is in effect, so no import writes a .pyc")
    return Finding(
        "no-bytecode-cache",
        "; ".join(what) + ": on a free-threaded build code compiled from source has mortal "
        "constants, which threads contend on.",
        "python -m compileall DIR once (imports read .pyc files even with "
        "PYTHONDONTWRITEBYTECODE set), or unset PYTHONDONTWRITEBYTECODE.")


def findings_for(fn: Callable[..., Any], threads: int) -> tuple[Finding, ...]:
    """Every trap that applies to this interpreter and ``fn`` run on ``threads`` threads."""
    found = list(process_traps(threads))
    if free_threaded_build():
        functions = _unwrap(fn)
        found = [f for f in found if f.code != "no-bytecode-cache"]  # reported per function
        for check in (_mortal_finding, _bytecode_finding):
            finding = check(functions)
            if finding is not None:
                found.append(finding)
    order = ["gil-build", "gil-enabled", "few-cores", "mortal-constants", "no-bytecode-cache"]
    found.sort(key=lambda f: order.index(f.code) if f.code in order else len(order))
    return tuple(found)


# --- measuring ----------------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _threads(n: int, calls: int, fn: Callable[..., Any], args: tuple[Any, ...],
             kwargs: dict[str, Any]) -> float:
    """Wall time of ``calls`` calls spread over n plain threads that start together."""
    errors: list[BaseException] = []
    start = threading.Barrier(n + 1, timeout=_BARRIER_TIMEOUT)

    def body(count: int) -> None:
        try:
            start.wait()
            for _ in range(count):
                fn(*args, **kwargs)
        except BaseException as exc:  # re-raised in the caller
            errors.append(exc)

    shares = [calls // n + (1 if i < calls % n else 0) for i in range(n)]
    workers = [threading.Thread(target=body, args=(share,), name=f"ftpool-doctor-{i}")
               for i, share in enumerate(shares)]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise errors[0]
    return elapsed


def _pool(n: int, calls: int, fn: Callable[..., Any], args: tuple[Any, ...],
          kwargs: dict[str, Any]) -> float:
    """Wall time of ``calls`` calls submitted to an ftpool Pool of n workers (all started)."""
    from ._pool import Pool  # noqa: PLC0415 - the pool imports this module's package

    with Pool(max_workers=n) as pool:
        ready = threading.Barrier(n, timeout=_BARRIER_TIMEOUT)
        for future in [pool.submit(ready.wait) for _ in range(n)]:
            future.result()
        began = time.perf_counter()
        futures = [pool.submit(fn, *args, **kwargs) for _ in range(calls)]
        for future in futures:
            future.result()
        return time.perf_counter() - began


RUNNERS: dict[str, Callable[..., float]] = {"threads": _threads, "ftpool Pool": _pool}


def _measure(runner: str, n: int, fn: Callable[..., Any], args: tuple[Any, ...],
             kwargs: dict[str, Any]) -> Measurement:
    run = RUNNERS[runner]
    ones: list[float] = []
    manys: list[float] = []
    for _ in range(REPEATS):
        ones.append(run(1, n, fn, args, kwargs))
        manys.append(run(n, n, fn, args, kwargs))
    speedup = _median([one / many for one, many in zip(ones, manys, strict=True) if many > 0]
                      or [1.0])
    return Measurement(runner, n, _median(ones), _median(manys), speedup, speedup / n)


def _name(fn: Callable[..., Any]) -> str:
    inner = _unwrap(fn)
    target = inner[0] if inner else fn
    module = getattr(target, "__module__", None) or "?"
    qualname = getattr(target, "__qualname__", None) or type(fn).__name__
    return f"{module}:{qualname}"


def _check_threads(threads: object) -> int:
    if threads is None:
        return max(2, usable_cores())
    if isinstance(threads, bool) or not isinstance(threads, int):
        raise TypeError(f"doctor(threads=): give a whole number of threads or None (the usable "
                        f"cores), got {type(threads).__name__}")
    if threads < 1:
        raise ValueError(f"doctor(threads=): needs at least 1 thread, got {threads}")
    return threads


def doctor(fn: Callable[..., Any], /, *args: Any, threads: int | None = None,
           **kwargs: Any) -> DoctorReport:
    """Measure how ``fn(*args, **kwargs)`` scales on threads here, and say why it does not.

    Calls ``fn`` once (warm-up), then N times on 1 thread and N times on N threads at once (N =
    ``threads``, default the usable cores, at least 2), with plain threads and with an ftpool
    Pool, :data:`REPEATS` times each: about ``12 * N + 1`` calls in all, so give it a call that
    takes from tens of milliseconds to a second. Returns a :class:`DoctorReport` with the Pool's
    speedup and efficiency, both runners' measurements, and the findings (codes ``gil-build``,
    ``gil-enabled``, ``few-cores``, ``mortal-constants``, ``no-bytecode-cache``).

    Blocks until every call has returned; there is no timeout (interrupt with Ctrl-C). An
    exception raised by ``fn`` propagates unchanged (the other calls of that run finish first).
    ``fn`` that is not callable raises ``TypeError``; ``threads`` that is not a whole number,
    ``TypeError``; below 1, ``ValueError``. The timings are wall-clock times on whatever else the
    machine is running: the findings do not depend on them.
    """
    if not callable(fn):
        raise TypeError(f"doctor() needs a callable to measure, got {type(fn).__name__}: "
                        "ftpool.doctor(fn, *args, threads=None, **kwargs)")
    n = _check_threads(threads)
    fn(*args, **kwargs)  # warm-up (imports, caches); an error here stops before any timing
    measurements = tuple(_measure(runner, n, fn, args, kwargs) for runner in RUNNERS)
    pool = measurements[-1]
    return DoctorReport(function=_name(fn), threads=n, speedup=pool.speedup,
                        efficiency=pool.efficiency, findings=findings_for(fn, n),
                        measurements=measurements)


def plot(report: DoctorReport, path: str) -> None:
    """Draw the report's speedups (1 and N threads, each runner, the ideal) into a PNG file.

    Needs matplotlib: raises ``ImportError`` saying how to install it when it is missing."""
    try:
        matplotlib = importlib.import_module("matplotlib")  # optional, untyped
        matplotlib.use("Agg")
        plt = importlib.import_module("matplotlib.pyplot")
    except ImportError as exc:
        raise ImportError("--plot needs matplotlib: pip install matplotlib") from exc
    figure, ax = plt.subplots(figsize=(5.5, 4))
    xs = [1, report.threads]
    ax.plot(xs, xs, color="0.6", linewidth=4, alpha=0.4,
            label=f"ideal ({min(report.threads, usable_cores())} usable cores)")
    for m in report.measurements:
        ax.plot(xs, [1.0, m.speedup], marker="o", label=f"{m.runner} ({m.efficiency:.0%})")
    ax.set_xticks(xs)
    ax.set_xlabel("threads")
    ax.set_ylabel("speedup over 1 thread")
    ax.set_title(report.function, fontsize=9)
    codes = ", ".join(report.codes) or "no known trap"
    ax.text(0.02, 0.98, f"findings: {codes}", transform=ax.transAxes, va="top", fontsize=8)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)

