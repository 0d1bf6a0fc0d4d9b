"""What ftpool runs on: the interpreter build, the GIL, the cores, and the ``atomics`` backend.

The ``atomics`` package imports cffi, and cffi 1.x is not marked as safe without the GIL, so on a
free-threaded build importing it turns the GIL back on (unless ``PYTHON_GIL=0`` / ``-X gil=0``).
That is why ``import ftpool`` never imports ``atomics``: :func:`load_atomics` does, the first time
shared-memory atomics are used, and warns once with :class:`GILEnabledWarning` when that import
re-enabled the GIL.
"""

from __future__ import annotations

import math
import os
import platform
import sys
import sysconfig
import threading
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType

__all__ = ["Finding", "GILEnabledWarning", "RuntimeInfo", "load_atomics", "process_traps",
           "runtime"]


class GILEnabledWarning(RuntimeWarning):
    """The GIL was switched on at run time on a free-threaded build, so threads no longer run in
    parallel. The message names the import that did it and how to keep the GIL off."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One reason why threads may not scale here: a stable ``code`` (e.g. ``"gil-enabled"``), a
    one-line ``message`` saying what was found, and the ``fix``."""

    code: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"[{self.code}] {self.message} Fix: {self.fix}"


@dataclass(frozen=True, slots=True)
class RuntimeInfo:
    """A snapshot of the interpreter ftpool runs on (see :func:`runtime`).

    ``free_threaded_build`` tells whether this is a 3.13t-style build; ``gil_enabled`` whether the
    GIL is on *now* (a free-threaded build can turn it back on, see :class:`GILEnabledWarning`).
    ``cores`` is the number of cores this process may use (CPU affinity and a cgroup CPU quota
    both count). ``atomics_backend`` names the ``atomics`` version and whether it has been loaded
    yet. ``gil_enabled_by`` says why the GIL is on (None when it is off, or on a GIL build):
    ``PYTHON_GIL=1``, the import ftpool saw switch it on, or the extension modules that may
    have. ``dont_write_bytecode`` is ``sys.dont_write_bytecode`` (``PYTHONDONTWRITEBYTECODE``,
    ``-B``). ``traps`` lists the process-wide reasons threads may not scale, as
    :class:`Finding` s (codes ``gil-build``, ``gil-enabled``, ``few-cores``,
    ``no-bytecode-cache``); empty when none applies.
    """

    python_version: str
    implementation: str
    free_threaded_build: bool
    gil_enabled: bool
    cores: int
    atomics_backend: str
    executable: str
    gil_enabled_by: str | None = None
    dont_write_bytecode: bool = False
    traps: tuple[Finding, ...] = ()


def free_threaded_build() -> bool:
    """True on a free-threaded (``--disable-gil``) build of CPython."""
    return bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def gil_enabled() -> bool:
    """True when the GIL is on now (always True on a default build)."""
    check = getattr(sys, "_is_gil_enabled", None)
    return True if check is None else bool(check())


def affinity_cores() -> int:
    """The number of CPUs this process may be scheduled on (its affinity mask), at least 1."""
    count = getattr(os, "process_cpu_count", os.cpu_count)()
    return max(1, count or 1)


def cgroup_cpu_limit(root: str = "/sys/fs/cgroup",
                     membership: str = "/proc/self/cgroup") -> float | None:
    """The CPU quota of this process's cgroup in cores (``cpu.max`` in cgroup v2,
    ``cpu.cfs_quota_us / cpu.cfs_period_us`` in v1), or None when there is none or it cannot be
    read (``root`` and ``membership`` are where to look: tests point them elsewhere). Never
    raises."""
    try:
        with open(membership) as handle:
            lines = handle.read().splitlines()
    except OSError:
        lines = []
    limits: list[float] = []
    for line in lines:
        _, controllers, path = [*line.split(":", 2), "", ""][:3]
        path = path.lstrip("/")
        if controllers == "":  # cgroup v2
            for where in (os.path.join(root, path), root):
                try:
                    with open(os.path.join(where, "cpu.max")) as handle:
                        quota, period = [*handle.read().split(), "100000"][:2]
                except OSError:
                    continue
                if quota != "max" and float(period) > 0:
                    limits.append(float(quota) / float(period))
                break
        elif "cpu" in controllers.split(","):  # cgroup v1
            for where in (os.path.join(root, controllers, path), os.path.join(root, "cpu")):
                try:
                    with open(os.path.join(where, "cpu.cfs_quota_us")) as handle:
                        quota_us = float(handle.read())
                    with open(os.path.join(where, "cpu.cfs_period_us")) as handle:
                        period_us = float(handle.read())
                except (OSError, ValueError):
                    continue
                if quota_us > 0 and period_us > 0:
                    limits.append(quota_us / period_us)
                break
    return min(limits) if limits else None


def usable_cores() -> int:
    """The number of cores this process may run on: its CPU affinity, lowered to a cgroup CPU
    quota when there is one (rounded up), at least 1."""
    cores = affinity_cores()
    limit = cgroup_cpu_limit()
    if limit is not None:
        cores = min(cores, max(1, math.ceil(limit)))
    return cores


_atomics_lock = threading.Lock()  # guards the one-time import of `atomics` below
_atomics_module: ModuleType | None = None
_gil_enabled_by: str | None = None  # the import ftpool saw switch the GIL on (set once)


def _extension_modules(names: Iterable[str]) -> list[str]:
    """The extension modules (shared libraries) among ``names`` that are not part of the
    standard library (the standard library's all run without the GIL)."""
    import importlib.machinery  # noqa: PLC0415 - only when the GIL was switched on

    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    stdlib = tuple({sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]})
    stdlib = tuple(os.path.join(p, "") for p in stdlib)
    site = tuple(os.path.join(p, "") for p in {sysconfig.get_paths()["purelib"],
                                                 sysconfig.get_paths()["platlib"]})
    found = []
    for name in sorted(names):
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None) or ""
        if not path.endswith(suffixes):
            continue
        if path.startswith(stdlib) and not path.startswith(site):
            continue
        found.append(name)
    return found


def _atomics_version() -> str:
    import importlib.metadata  # noqa: PLC0415 - only runtime() needs it; keeps import ftpool light

    try:
        return importlib.metadata.version("atomics")
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def load_atomics() -> ModuleType:
    """Import the ``atomics`` package once, on first use of shared-memory atomics.

    Thread-safe and idempotent. On a free-threaded build where the import switches the GIL on, it
    warns once with :class:`GILEnabledWarning`. Raises ``ImportError`` with the install command when
    ``atomics`` is missing.
    """
    global _atomics_module
    module: ModuleType | None = _atomics_module
    if module is not None:
        return module
    with _atomics_lock:
        if _atomics_module is not None:
            return _atomics_module
        was_on = gil_enabled()
        before = set(sys.modules)
        try:
            import atomics  # noqa: PLC0415 - lazily: importing it may switch the GIL on
        except ImportError as exc:
            raise ImportError(
                "ftpool's shared memory needs the 'atomics' package: "
                "pip install 'atomics==1.0.3' (on 3.13t add -c constraints.txt, i.e. 'cffi<2')"
            ) from exc
        if free_threaded_build() and not was_on and gil_enabled():
            global _gil_enabled_by
            extensions = _extension_modules(set(sys.modules) - before)
            _gil_enabled_by = (
                f"importing 'atomics' (it imports cffi 1.x: "
                f"{', '.join(extensions) or '_cffi_backend'}), seen by ftpool"
            )
            warnings.warn(
                "importing 'atomics' switched the GIL back on: it imports cffi 1.x, whose "
                "extension module is not marked free-threading safe, so threads no longer run in "
                "parallel. Fix: run with PYTHON_GIL=0 or 'python -X gil=0' (cffi is only used "
                "once per buffer, under ftpool's lock), or use Python 3.14t with cffi 2.",
                GILEnabledWarning,
                stacklevel=3,
            )
        _atomics_module = module = atomics
        return module


def gil_enabled_by() -> str | None:
    """Why the GIL is on now on a free-threaded build (None when it is off, or on a GIL build):
    the environment (``PYTHON_GIL=1``, ``-X gil=1``), the import ftpool saw switch it on, or
    else the loaded extension modules outside the standard library that may have done it."""
    if not free_threaded_build() or not gil_enabled():
        return None
    xoption = sys._xoptions.get("gil")
    if xoption == "1":
        return "the interpreter was started with -X gil=1"
    if os.environ.get("PYTHON_GIL") == "1" and xoption is None:
        return "PYTHON_GIL=1 is set in the environment"
    if _gil_enabled_by is not None:
        return _gil_enabled_by
    extensions = _extension_modules(list(sys.modules))
    if extensions:
        return ("an extension module not marked free-threading safe was imported; loaded "
                f"extension modules outside the standard library: {', '.join(extensions[:8])}")
    return "an extension module not marked free-threading safe was imported"


def process_traps(threads: int | None = None) -> tuple[Finding, ...]:
    """The process-wide reasons threads may not scale here, as findings (see :class:`Finding`):
    ``gil-build``, ``gil-enabled``, ``few-cores`` (fewer usable cores than ``threads``, or than
    the machine has when ``threads`` is None) and, on a free-threaded build,
    ``no-bytecode-cache`` when ``PYTHONDONTWRITEBYTECODE``/``-B`` is in effect. Never blocks."""
    found: list[Finding] = []
    version = ".".join(map(str, sys.version_info[:2]))
    if not free_threaded_build():
        found.append(Finding(
            "gil-build",
            f"this interpreter ({sys.implementation.name} {platform.python_version()}) is a "
            "build with the GIL: Python threads take turns, so CPU-bound threads do not scale.",
            f"run on a free-threaded build (python{version}t, or python3.14t); on this one use "
            "processes (ProcessPoolExecutor) for CPU-bound work."))
    elif gil_enabled():
        found.append(Finding(
            "gil-enabled",
            f"the GIL is on in this free-threaded interpreter: {gil_enabled_by()}.",
            "start Python with PYTHON_GIL=0 or -X gil=0 to keep it off (extensions then run "
            "without it at their own risk), or upgrade the extension to a free-threading "
            "build of it (cffi 2 on Python 3.14t)."))
    cores, machine = usable_cores(), max(1, os.cpu_count() or 1)
    wanted = machine if threads is None else threads
    if cores < wanted:
        limit = cgroup_cpu_limit()
        why = [f"CPU affinity allows {affinity_cores()} of {machine}"]
        if limit is not None:
            why.append(f"the cgroup CPU quota is {limit:g} cores")
        found.append(Finding(
            "few-cores",
            f"this process may use {cores} core{'s' if cores != 1 else ''} ({'; '.join(why)}), "
            f"fewer than the {wanted} {'threads' if threads is not None else 'cores present'}.",
            "use at most that many threads, or lift the limit (taskset, docker --cpus, the "
            "cgroup's cpu.max)."))
    if free_threaded_build() and sys.dont_write_bytecode:
        found.append(Finding(
            "no-bytecode-cache",
            "PYTHONDONTWRITEBYTECODE (or -B) is in effect: modules without a .pyc are compiled "
            "from source at every import, and on a free-threaded build such code has mortal "
            "constants that threads contend on (float-heavy code stops scaling).",
            "unset PYTHONDONTWRITEBYTECODE, or byte-compile your code once: "
            "python -m compileall DIR (imports read .pyc files even when not writing them)."))
    return tuple(found)


def runtime() -> RuntimeInfo:
    """Describe the running interpreter and its process-wide traps (:func:`process_traps`).
    Never blocks, never imports ``atomics``."""
    loaded = (
        "loaded; ftpool calls its patomic op table directly, seq_cst, cffi once per buffer"
        if _atomics_module is not None
        else "not loaded yet"
    )
    return RuntimeInfo(
        python_version=platform.python_version(),
        implementation=sys.implementation.name,
        free_threaded_build=free_threaded_build(),
        gil_enabled=gil_enabled(),
        cores=usable_cores(),
        atomics_backend=f"atomics {_atomics_version()} (patomic via ctypes; {loaded})",
        executable=sys.executable,
        gil_enabled_by=gil_enabled_by(),
        dont_write_bytecode=bool(sys.dont_write_bytecode),
        traps=process_traps(),
    )
