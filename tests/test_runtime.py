"""runtime() and the GIL contract of ``import ftpool`` (the errors: test_errors_hierarchy.py)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest

import ftpool
from ftpool._runtime import free_threaded_build

free_threaded_only = pytest.mark.skipif(
    not free_threaded_build(), reason="needs a free-threaded (3.13t) build"
)


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != "PYTHON_GIL"}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**clean, **env},
        timeout=60, check=False,
    )


def test_runtime_describes_this_interpreter() -> None:
    info = ftpool.runtime()
    assert info.python_version == ".".join(map(str, sys.version_info[:3]))
    assert info.free_threaded_build == free_threaded_build()
    assert info.gil_enabled == (sys._is_gil_enabled() if hasattr(sys, "_is_gil_enabled") else True)
    assert info.cores >= 1
    assert info.atomics_backend.startswith("atomics 1.0.3")
    assert info.executable == sys.executable
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.cores = 99  # type: ignore[misc]


@free_threaded_only
def test_import_ftpool_leaves_the_gil_off_without_any_environment_variable() -> None:
    result = _run(
        "import sys, ftpool; info = ftpool.runtime();"
        "print(info.gil_enabled, sys._is_gil_enabled(), 'atomics' in sys.modules,"
        " 'cffi' in sys.modules)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False", "False", "False"], result.stdout
    assert "GIL" not in result.stderr, result.stderr


def test_python_m_ftpool_info_prints_the_runtime() -> None:
    result = subprocess.run([sys.executable, "-m", "ftpool", "info"], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert f"free_threaded_build  {free_threaded_build()}" in result.stdout
    assert "gil_enabled" in result.stdout


def test_unknown_demo_names_the_known_ones() -> None:
    result = subprocess.run([sys.executable, "-m", "ftpool", "demo", "no-such-demo"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "unknown demo 'no-such-demo'; choose one of:" in result.stderr


def test_gil_enabled_warning_is_a_runtime_warning() -> None:
    assert issubclass(ftpool.GILEnabledWarning, RuntimeWarning)
