"""The ``atomics`` backend and the GIL: ``import ftpool`` does not import it, the first use does
(and warns once with GILEnabledWarning when that switched the GIL on), runtime() reports it, and
interpreter exit is quiet."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import ftpool
from ftpool._runtime import free_threaded_build

free_threaded_only = pytest.mark.skipif(
    not free_threaded_build(), reason="needs a free-threaded (3.13t) build"
)


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHON_GIL", "PYTHONWARNINGS")}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
        env={**clean, **env}, timeout=60, check=False,
    )


FIRST_USE = """
    import sys, warnings
    import ftpool
    print("after import:", "atomics" in sys.modules, "cffi" in sys.modules,
          ftpool.runtime().gil_enabled, ftpool.runtime().atomics_backend)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ftpool.SharedBuffer(8)  # first use: imports atomics
        ftpool.SharedArray("i", 2)
        ftpool.AtomicCounter().add()
    gil = [w for w in caught if issubclass(w.category, ftpool.GILEnabledWarning)]
    print("after use:", "atomics" in sys.modules, ftpool.runtime().gil_enabled, len(gil))
    for w in gil:
        print("warning at", w.filename, w.lineno, "|", w.message)
    print(ftpool.runtime().atomics_backend)
"""


@free_threaded_only
def test_first_use_warns_once_when_importing_atomics_switched_the_gil_on() -> None:
    result = _run(FIRST_USE)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("after import: False False False atomics 1.0.3"), lines
    assert "not loaded yet" in lines[0]
    assert lines[1] == "after use: True True 1", result.stdout
    # Attributed to the caller's line (SharedBuffer(8) is line 8 of the script), with the fix.
    assert lines[2].startswith("warning at <string> 8 |"), lines[2]
    assert "PYTHON_GIL=0" in lines[2]
    assert "-X gil=0" in lines[2]
    assert "cffi" in lines[2]


@free_threaded_only
def test_with_python_gil_0_the_gil_stays_off_and_nothing_warns() -> None:
    result = _run(FIRST_USE, PYTHON_GIL="0")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1] == "after use: True False 0", result.stdout
    assert "GIL" not in result.stderr, result.stderr


def test_runtime_reports_the_loaded_backend() -> None:
    ftpool.SharedBuffer(1)
    backend = ftpool.runtime().atomics_backend
    assert backend.startswith("atomics 1.0.3 (patomic via ctypes; loaded")


EXIT_SCRIPT = """
    import gc, threading
    from ftpool import AtomicCounter, Atomics, SharedArray, SharedBuffer

    kept = [SharedArray("i", 4), AtomicCounter(3), SharedBuffer(64)]
    views = [SharedArray(t, kept[2]) for t in "bBhHiIqQ"]
    for view in views:
        Atomics.add(view, 0, 1)
    dropped = SharedArray("q", 10)
    Atomics.add(dropped, 3, 1)
    del dropped
    gc.collect()  # its atomics view is released now, by the finalizer

    def work():
        for _ in range(1000):
            kept[1].add()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    Atomics.is_lock_free(4)

    spinning = SharedArray("q", 1)
    def spin():  # still operating on shared memory while the interpreter exits
        while True:
            Atomics.add(spinning, 0, 1)
    threading.Thread(target=spin, daemon=True).start()
    while Atomics.load(spinning, 0) == 0:
        pass
    print("total", kept[1].load())
"""


@pytest.mark.parametrize(
    "gil", [pytest.param("0", marks=free_threaded_only, id="PYTHON_GIL=0"), None]
)
def test_interpreter_exit_is_quiet(gil: str | None) -> None:
    """No "Exception ignored" from atomics' __del__ at exit: ftpool released its views first."""
    result = _run(EXIT_SCRIPT, **({"PYTHON_GIL": gil} if gil is not None else {}))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "total 2003\n"
    assert "Exception ignored" not in result.stderr
    assert "Traceback" not in result.stderr
    if gil is not None or not free_threaded_build():
        assert result.stderr == ""
