"""What ftpool runs on: the interpreter build, the GIL, the cores, and the ``atomics`` backend.

The ``atomics`` package imports cffi, and cffi 1.x is not marked as safe without the GIL, so on a
free-threaded build importing it turns the GIL back on (unless ``PYTHON_GIL=0`` / ``-X gil=0``).
That is why ``import ftpool`` never imports ``atomics``: :func:`load_atomics` does, the first time
shared-memory atomics are used, and warns once with :class:`GILEnabledWarning` when that import
re-enabled the GIL.
"""

from __future__ import annotations

import os
import platform
import sys
import sysconfig
import threading
import warnings
from dataclasses import dataclass
from types import ModuleType

__all__ = ["GILEnabledWarning", "RuntimeInfo", "load_atomics", "runtime"]


class GILEnabledWarning(RuntimeWarning):
    """The GIL was switched on at run time on a free-threaded build, so threads no longer run in
    parallel. The message names the import that did it and how to keep the GIL off."""


@dataclass(frozen=True, slots=True)
class RuntimeInfo:
    """A snapshot of the interpreter ftpool runs on (see :func:`runtime`).

    ``free_threaded_build`` tells whether this is a 3.13t-style build; ``gil_enabled`` whether the
    GIL is on *now* (a free-threaded build can turn it back on, see :class:`GILEnabledWarning`).
    ``cores`` is the number of cores this process may use. ``atomics_backend`` names the ``atomics``
    version and whether it has been loaded yet.
    """

    python_version: str
    implementation: str
    free_threaded_build: bool
    gil_enabled: bool
    cores: int
    atomics_backend: str
    executable: str


def free_threaded_build() -> bool:
    """True on a free-threaded (``--disable-gil``) build of CPython."""
    return bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def gil_enabled() -> bool:
    """True when the GIL is on now (always True on a default build)."""
    check = getattr(sys, "_is_gil_enabled", None)
    return True if check is None else bool(check())


def usable_cores() -> int:
    """The number of cores this process may run on (affinity-aware), at least 1."""
    count = getattr(os, "process_cpu_count", os.cpu_count)()
    return max(1, count or 1)


_atomics_lock = threading.Lock()  # guards the one-time import of `atomics` below
_atomics_module: ModuleType | None = None


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
        try:
            import atomics  # noqa: PLC0415 - lazily: importing it may switch the GIL on
        except ImportError as exc:
            raise ImportError(
                "ftpool's shared memory needs the 'atomics' package: "
                "pip install 'atomics==1.0.3' (on 3.13t add -c constraints.txt, i.e. 'cffi<2')"
            ) from exc
        if free_threaded_build() and not was_on and gil_enabled():
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


def runtime() -> RuntimeInfo:
    """Describe the running interpreter. Never blocks, never imports ``atomics``."""
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
    )
