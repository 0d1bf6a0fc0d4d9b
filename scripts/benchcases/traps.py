"""The known traps of free-threaded Python, each measured next to its fix in the same repeat.

What it answers: why does CPU-bound code that should scale on 3.13t not scale, and what fixes it?
Each case runs the same total work on 1 and on N (= usable cores) plain threads, in two or more
variants, and returns ``"<variant> x<workers>"`` wall times (seconds, like the scaling cases) and
``"<variant> cpu x<workers>"`` process CPU times. Speedup = time x1 / time xN; on a loaded
machine the CPU time is the steadier signal: a trap makes the same work cost more CPU when
threads contend (cpu xN / cpu x1 well above 1), whatever else the machine runs.

- ``traps.constants``: the Mandelbrot function of the scaling case, compiled from source
  (``compile()``, as an import without a ``.pyc`` does: its float constants have ordinary,
  contended reference counts on 3.13t) against the same code loaded by ``marshal`` (as from a
  ``.pyc``: immortal constants). Also the source-compiled function run by ``ftpool.Pool``, which
  runs tasks through a copy with immortal constants (``ftpool._immortal``), with that on and off.
- ``traps.shared``: one object whose method and float attributes every thread uses, against one
  such object per thread (3.13t counts references to an object owned by another thread with
  atomic operations on one shared field).
- ``traps.gil_import``: the counting loop in a fresh interpreter (a subprocess, the same for each
  variant) that imports nothing, that imports ``_cffi_backend`` (cffi 1.x, which the ``atomics``
  package uses: it re-enables the GIL on a free-threaded build) with ``PYTHON_GIL`` unset, and
  the same import with ``PYTHON_GIL=0`` (the fix; free-threaded builds only).
"""

from __future__ import annotations

import inspect
import json
import marshal
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from benchlib import Case

import ftpool
from benchcases import scaling
from ftpool import _immortal
from ftpool._runtime import free_threaded_build, usable_cores

CORES = usable_cores()
WORKERS = [1, CORES] if CORES > 1 else [1, 2]
N = WORKERS[-1]


def _threads(n: int, fn: Callable[..., Any], tasks: list[tuple[Any, ...]]) -> tuple[float, float]:
    """(wall, process CPU) seconds for n plain threads, thread i running tasks i, i+n, ..."""

    def body(index: int) -> None:
        for args in tasks[index::n]:
            fn(*args)

    workers = [threading.Thread(target=body, args=(i,), name=f"bench-trap-{i}") for i in range(n)]
    wall, cpu = time.perf_counter(), time.process_time()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - wall, time.process_time() - cpu


def _pool(n: int, fn: Callable[..., Any], tasks: list[tuple[Any, ...]]) -> tuple[float, float]:
    with ftpool.Pool(max_workers=n) as pool:
        barrier = threading.Barrier(n, timeout=30)
        for future in [pool.submit(barrier.wait) for _ in range(n)]:
            future.result()  # n workers exist before the clock starts
        wall, cpu = time.perf_counter(), time.process_time()
        for future in [pool.submit(fn, *args) for args in tasks]:
            future.result()
        return time.perf_counter() - wall, time.process_time() - cpu


def _record(out: dict[str, float], variant: str, n: int, times: tuple[float, float]) -> None:
    out[f"{variant} x{n}"], out[f"{variant} cpu x{n}"] = times


# --- mortal against immortal constants ------------------------------------------------------------

_MANDEL_SOURCE = inspect.getsource(scaling.mandelbrot_rows)
_MANDEL_FILE = scaling.__file__


def _mandelbrot_from_source() -> Callable[..., int]:
    """mandelbrot_rows as an import from source makes it: compile() -> mortal constants."""
    namespace: dict[str, Any] = {}
    exec(compile(_MANDEL_SOURCE, _MANDEL_FILE, "exec"), namespace)
    fn: Callable[..., int] = namespace["mandelbrot_rows"]
    return fn


def _mandelbrot_from_marshal() -> Callable[..., int]:
    """The same code loaded by marshal, as from a .pyc -> immortal constants on 3.13t."""
    code = marshal.loads(marshal.dumps(compile(_MANDEL_SOURCE, _MANDEL_FILE, "exec")))
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    fn: Callable[..., int] = namespace["mandelbrot_rows"]
    return fn


MORTAL = "mortal constants · threads"
IMMORTAL = "immortal constants · threads"
POOL_COPY = "mortal constants · ftpool Pool (immortal copy on)"
POOL_PLAIN = "mortal constants · ftpool Pool (copy off)"


def constants_run(quick: bool) -> dict[str, float]:
    mortal, immortal = _mandelbrot_from_source(), _mandelbrot_from_marshal()
    _, tasks = scaling.mandelbrot_tasks(quick)
    out: dict[str, float] = {}
    for n in WORKERS:
        _record(out, MORTAL, n, _threads(n, mortal, tasks))
        _record(out, IMMORTAL, n, _threads(n, immortal, tasks))
        previous = _immortal.set_enabled(True)
        try:
            _record(out, POOL_COPY, n, _pool(n, mortal, tasks))
            _immortal.set_enabled(False)
            _record(out, POOL_PLAIN, n, _pool(n, mortal, tasks))
        finally:
            _immortal.set_enabled(previous)
    return out


# --- one shared object against one per thread -----------------------------------------------------


class Params:
    """A small object with a method and float attributes, as a model or a config would be."""

    def __init__(self) -> None:
        self.scale = 0.5
        self.offset = 1.25

    def step(self, x: float) -> float:
        return x * self.scale + self.offset


def shared_work(obj: Params | None, iterations: int) -> float:
    """``iterations`` calls of obj.step; ``None`` means: make this call's own object."""
    own = Params() if obj is None else obj
    x = 0.0
    for _ in range(iterations):
        x = own.step(x)
    return x


SHARED_ITERATIONS = {False: 2_000_000, True: 500_000}
SHARED = "one shared object"
PER_THREAD = "one object per thread"


def shared_run(quick: bool) -> dict[str, float]:
    common = Params()
    per_task = SHARED_ITERATIONS[quick] // scaling.TASKS
    out: dict[str, float] = {}
    for n in WORKERS:
        _record(out, SHARED, n, _threads(n, shared_work,
                                         [(common, per_task)] * scaling.TASKS))
        _record(out, PER_THREAD, n, _threads(n, shared_work, [(None, per_task)] * scaling.TASKS))
    return out


# --- a C extension that switches the GIL back on --------------------------------------------------

_CHILD = """
import json, sys, threading, time
if sys.argv[1] == "import":
    import _cffi_backend  # cffi 1.x: no Py_mod_gil slot, so a free-threaded build turns the GIL on
def count(n):
    for _ in range(n):
        pass
def run(workers, total):
    threads = [threading.Thread(target=count, args=(total // workers,)) for _ in range(workers)]
    wall, cpu = time.perf_counter(), time.process_time()
    for t in threads: t.start()
    for t in threads: t.join()
    return time.perf_counter() - wall, time.process_time() - cpu
total, workers = int(sys.argv[2]), [int(n) for n in sys.argv[3].split(",")]
times = {n: run(n, total) for n in workers}
gil = getattr(sys, "_is_gil_enabled", lambda: True)()
print(json.dumps({"times": times, "gil": gil}))
"""

CLEAN = "no C extension imported"
IMPORT_UNSET = "_cffi_backend imported, PYTHON_GIL unset"
IMPORT_FIXED = "_cffi_backend imported, PYTHON_GIL=0"


def _child(mode: str, gil: str | None, quick: bool) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_GIL"}
    if gil is not None:
        env["PYTHON_GIL"] = gil
    total = scaling.COUNT_TOTAL[quick]
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, mode, str(total), ",".join(map(str, WORKERS))],
        capture_output=True, text=True, env=env, timeout=300, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"the gil_import child ({mode}, PYTHON_GIL={gil}) failed: "
                           f"{result.stderr.strip()[-400:]}")
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def gil_import_run(quick: bool) -> dict[str, float]:
    # The clean child keeps this configuration's PYTHON_GIL (unset on a GIL build, 0 or 1 on the
    # free-threaded one); the import children show what a user gets without and with the fix.
    own = os.environ.get("PYTHON_GIL")
    variants = [(CLEAN, "none", own), (IMPORT_UNSET, "import", None)]
    if free_threaded_build():
        variants.append((IMPORT_FIXED, "import", "0"))
    out: dict[str, float] = {}
    for variant, mode, gil in variants:
        data = _child(mode, gil, quick)
        for n in WORKERS:
            _record(out, variant, n, tuple(data["times"][str(n)]))  # type: ignore[arg-type]
        out[f"{variant} gil on at the end"] = float(bool(data["gil"]))
    return out


def _ratios(variants: list[str]) -> list[tuple[str, str]]:
    return [(f"{v} x1", f"{v} x{N}") for v in variants]


def _info(trap: str, variants: list[str], fixed: str, work: str) -> dict[str, Any]:
    return {"trap": trap, "variants": variants, "fixed": fixed, "workers": WORKERS,
            "cores": CORES, "work": {"quick": work, "full": work}}


CASES = [
    Case(
        name="traps.constants",
        description=(f"Mandelbrot {scaling.MANDEL[False][0]}x{scaling.MANDEL[False][1]} px on 1 "
                     f"and {N} threads: code compiled from source (mortal constants) against the "
                     "same code loaded by marshal (immortal), and in ftpool.Pool, seconds"),
        run=constants_run,
        unit="s",
        higher_is_better=False,
        ratios=_ratios([MORTAL, IMMORTAL, POOL_COPY, POOL_PLAIN]),
        kind="trap",
        info=_info("constants", [MORTAL, IMMORTAL, POOL_COPY, POOL_PLAIN], IMMORTAL,
                   "the scaling.mandelbrot work"),
    ),
    Case(
        name="traps.shared",
        description=(f"{SHARED_ITERATIONS[False]:,} method calls reading float attributes on 1 "
                     f"and {N} threads: one object shared by all threads against one per thread, "
                     "seconds"),
        run=shared_run,
        unit="s",
        higher_is_better=False,
        ratios=_ratios([SHARED, PER_THREAD]),
        kind="trap",
        info=_info("shared", [SHARED, PER_THREAD], PER_THREAD,
                   f"{SHARED_ITERATIONS[False]:,} calls (quick {SHARED_ITERATIONS[True]:,})"),
    ),
    Case(
        name="traps.gil_import",
        description=(f"counting loop ({scaling.COUNT_TOTAL[False] // 1_000_000}M iterations) on "
                     f"1 and {N} threads in a fresh interpreter: no extension, _cffi_backend "
                     "imported with PYTHON_GIL unset, and with PYTHON_GIL=0, seconds"),
        run=gil_import_run,
        unit="s",
        higher_is_better=False,
        ratios=_ratios([CLEAN, IMPORT_UNSET, *([IMPORT_FIXED] if free_threaded_build() else [])]),
        kind="trap",
        info=_info("gil_import",
                   [CLEAN, IMPORT_UNSET, *([IMPORT_FIXED] if free_threaded_build() else [])],
                   IMPORT_FIXED if free_threaded_build() else CLEAN,
                   "the scaling.count work"),
    ),
]
