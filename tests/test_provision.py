"""scripts/provision: what it reports, and that a broken cache is detected instead of reused."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROVISION = ROOT / "scripts" / "provision"
THIS_LABEL = "3.13t" if sysconfig.get_config_var("Py_GIL_DISABLED") else "3.13"
OTHER_LABEL = "3.13" if THIS_LABEL == "3.13t" else "3.13t"
VAR = {"3.13t": "FTPOOL_PYTHON_T", "3.13": "FTPOOL_PYTHON"}


def load_provision() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("ftpool_provision", str(PROVISION))
    spec = importlib.util.spec_from_loader("ftpool_provision", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def run(cache: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in VAR.values()}
    # a PATH without any python3.13/python3.13t, so only the cache and the variables count
    base["PATH"] = "/usr/bin:/bin"
    return subprocess.run(
        [sys.executable, str(PROVISION), *args], capture_output=True, text=True, timeout=120,
        env={**base, "FTPOOL_CACHE": str(cache), **env}, check=False,
    )


def test_no_build_with_an_empty_cache_says_how_to_get_the_interpreters(tmp_path: Path) -> None:
    result = run(tmp_path, "--no-build")
    assert result.returncode == 1
    assert "run scripts/provision without --no-build" in result.stderr
    assert "3.13t=" not in result.stdout


def test_a_half_built_or_broken_cache_entry_is_removed_not_reused(tmp_path: Path) -> None:
    half = tmp_path / "cpython" / "3.13.99-nogil"  # no marker: the install never finished
    (half / "bin").mkdir(parents=True)
    broken = tmp_path / "cpython" / "3.13.99-gil"  # a marker, but the interpreter does not run
    (broken / "bin").mkdir(parents=True)
    (broken / ".ftpool-provisioned").write_text(json.dumps({"version": "3.13.99", "flags": []}))
    exe = broken / "bin" / "python3.13"
    exe.write_text("#!/bin/sh\nexit 3\n")
    exe.chmod(0o755)
    result = run(tmp_path, "--no-build")
    assert result.returncode == 1
    assert f"removing the incomplete or broken build {half}" in result.stderr
    assert f"removing the incomplete or broken build {broken}" in result.stderr
    assert not half.exists()
    assert not broken.exists()


def test_an_interpreter_of_the_wrong_kind_is_refused_with_the_variable_to_fix(
    tmp_path: Path,
) -> None:
    # this interpreter given for the other kind: a GIL build as 3.13t, or a 3.13t build as 3.13
    result = run(tmp_path, "--no-build", **{VAR[OTHER_LABEL]: sys.executable})
    assert result.returncode == 1
    assert f"{VAR[OTHER_LABEL]}={sys.executable}" in result.stderr
    assert "build (Py_GIL_DISABLED=" in result.stderr
    assert f"fix or unset {VAR[OTHER_LABEL]}" in result.stderr


def test_explicit_interpreters_are_printed_as_the_last_two_lines(tmp_path: Path) -> None:
    other = os.environ.get(f"FTPOOL_TEST_{VAR[OTHER_LABEL]}")
    if not other:
        pytest.skip(f"set FTPOOL_TEST_{VAR[OTHER_LABEL]} (nox -s tests does) to run this")
    result = run(tmp_path, **{VAR[THIS_LABEL]: sys.executable, VAR[OTHER_LABEL]: other})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()[-2:]
    expected = {THIS_LABEL: str(Path(sys.executable).absolute()),
                OTHER_LABEL: str(Path(other).absolute())}
    assert lines == [f"3.13t={expected['3.13t']}", f"3.13={expected['3.13']}"]
    # and the links the noxfile puts on PATH point at them
    assert (tmp_path / "bin" / "python3.13t").resolve() == Path(expected["3.13t"]).resolve()


def test_missing_build_dependencies_are_named_with_the_install_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    provision = load_provision()
    monkeypatch.setattr(provision.shutil, "which", lambda tool, path=None: None)
    with pytest.raises(provision.ProvisionError) as info:
        provision.build_all(tmp_path)
    message = str(info.value)
    assert "apt-get install -y" in message
    assert "build-essential" in message
    assert "make" in message


def test_a_failing_build_step_shows_the_end_of_its_log(tmp_path: Path) -> None:
    provision = load_provision()
    logfile = tmp_path / "step.log"
    with pytest.raises(provision.ProvisionError) as info:
        provision.run(["sh", "-c", "echo configure: error: no C compiler; exit 2"], logfile)
    assert "failed (exit 2)" in str(info.value)
    assert "configure: error: no C compiler" in str(info.value)


def test_help_explains_the_sources_and_the_cache() -> None:
    result = subprocess.run([sys.executable, str(PROVISION), "--help"], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0
    for needle in ("FTPOOL_PYTHON_T", "apt-get source", "uv python install", "FTPOOL_CACHE",
                   ".ftpool-provisioned"):
        assert needle in result.stdout
