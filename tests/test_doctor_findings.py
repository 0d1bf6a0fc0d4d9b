"""ftpool.doctor: for each trap a small function made to have it gets the right finding, on both
builds (a GIL build reports gil-build); a clean function gets none. Speed is never asserted here:
the report's numbers are only checked for consistency. Traps that depend on how the process was
started (environment, affinity, imports) run in a fresh interpreter."""

from __future__ import annotations

import dataclasses
import json
import os
import py_compile
import random
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import ftpool
from ftpool._runtime import cgroup_cpu_limit, free_threaded_build, usable_cores

FT = free_threaded_build()
CORES = usable_cores()

MODULE = textwrap.dedent('''
    def work(n):
        x = 0.0
        for _ in range(n):
            x = x * UNIQUE + 0.25
        return x

    def helper(n):
        return n * 2.5

    def boom(n):
        raise ValueError(f"boom {n}")
''')


def write_module(where: Path, name: str) -> Path:
    path = where / f"{name}.py"
    # a float no other code holds, so that an import from source gives it a mortal count
    path.write_text(MODULE.replace("UNIQUE", repr(0.5 + random.random() / 1000)))
    return path


def run_child(where: Path, code: str, *, dont_write: bool, gil: str | None = "0",
              ) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter in ``where``; it prints one JSON document."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHON_GIL", "PYTHONDONTWRITEBYTECODE")}
    if dont_write:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    if FT and gil is not None:
        env["PYTHON_GIL"] = gil
    env["PYTHONPATH"] = os.pathsep.join([str(where), env.get("PYTHONPATH", "")])
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=where,
                            capture_output=True, text=True, env=env, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


REPORT = '''
    import json, ftpool
    report = ftpool.doctor({call}, threads={threads})
    print(json.dumps(report.to_dict()))
'''


def codes(data: dict[str, Any]) -> list[str]:
    return [f["code"] for f in data["findings"]]


def mortal_function() -> Any:
    namespace: dict[str, Any] = {"__name__": "made_from_source"}
    exec(compile(MODULE.replace("UNIQUE", repr(0.5 + random.random() / 1000)), "<made>", "exec"),
         namespace)
    return namespace["work"]


def test_the_report_is_frozen_and_consistent() -> None:
    report = ftpool.doctor(mortal_function(), 2000, threads=2)
    assert isinstance(report, ftpool.DoctorReport)
    assert report.threads == 2
    assert [m.runner for m in report.measurements] == ["threads", "ftpool Pool"]
    pool = report.measurements[-1]
    assert report.speedup == pool.speedup > 0
    assert report.efficiency == pytest.approx(report.speedup / 2)
    for m in report.measurements:
        assert m.one > 0
        assert m.many > 0
        assert m.efficiency == pytest.approx(m.speedup / m.threads)
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.speedup = 3.0  # type: ignore[misc]
    for finding in report.findings:
        assert isinstance(finding, ftpool.Finding)
        assert finding.message
        assert finding.fix
        with pytest.raises(dataclasses.FrozenInstanceError):
            finding.code = "x"  # type: ignore[misc]
    assert report.codes == tuple(f.code for f in report.findings)
    text = str(report)
    assert "speedup" in text
    assert "ftpool Pool" in text
    assert json.loads(json.dumps(report.to_dict()))["threads"] == 2


def test_gil_build_is_reported_on_a_gil_build_only() -> None:
    report = ftpool.doctor(mortal_function(), 1000, threads=1)
    if FT:
        assert "gil-build" not in report.codes
    else:
        assert report.codes[0] == "gil-build"
        assert "mortal-constants" not in report.codes  # irrelevant with the GIL
        assert "no-bytecode-cache" not in report.codes


def test_mortal_constants_are_found_in_the_function() -> None:
    report = ftpool.doctor(mortal_function(), 1000, threads=1)
    if FT:
        finding = next(f for f in report.findings if f.code == "mortal-constants")
        assert "work" in finding.message
        assert "compileall" in finding.fix
    else:
        assert "gil-build" in report.codes


def test_mortal_constants_of_the_module_and_a_missing_pyc_are_found(tmp_path: Path) -> None:
    write_module(tmp_path, "from_source")
    data = run_child(tmp_path, REPORT.format(call="__import__('from_source').work, 1000",
                                             threads=1), dont_write=True)
    if not FT:
        assert codes(data) == ["gil-build"]
        return
    assert "mortal-constants" in codes(data)
    assert "no-bytecode-cache" in codes(data)
    bytecode = next(f for f in data["findings"] if f["code"] == "no-bytecode-cache")
    assert "from_source" in bytecode["message"]
    assert "PYTHONDONTWRITEBYTECODE" in bytecode["message"]


def test_a_module_whose_pyc_is_gone_is_reported_without_the_environment_variable(
        tmp_path: Path) -> None:
    write_module(tmp_path, "lost_pyc")
    code = '''
        import importlib.util, json, os, ftpool, lost_pyc
        os.remove(importlib.util.cache_from_source(lost_pyc.__file__))
        print(json.dumps(ftpool.doctor(lost_pyc.work, 1000, threads=1).to_dict()))
    '''
    data = run_child(tmp_path, code, dont_write=False)
    if not FT:
        assert codes(data) == ["gil-build"]
        return
    bytecode = next(f for f in data["findings"] if f["code"] == "no-bytecode-cache")
    assert "lost_pyc" in bytecode["message"]
    assert "PYTHONDONTWRITEBYTECODE" not in bytecode["message"].split(":")[0]


def test_a_clean_function_gets_no_findings(tmp_path: Path) -> None:
    path = write_module(tmp_path, "clean")
    py_compile.compile(str(path), doraise=True)
    data = run_child(tmp_path, REPORT.format(call="__import__('clean').work, 1000",
                                             threads=CORES), dont_write=False)
    if FT:
        assert data["findings"] == []
    else:
        assert codes(data) == ["gil-build"]


def test_gil_enabled_names_the_environment_variable(tmp_path: Path) -> None:
    write_module(tmp_path, "gil_env")
    data = run_child(tmp_path, REPORT.format(call="__import__('gil_env').work, 1000",
                                             threads=1), dont_write=False, gil="1")
    if not FT:
        assert codes(data)[0] == "gil-build"
        return
    finding = next(f for f in data["findings"] if f["code"] == "gil-enabled")
    assert "PYTHON_GIL=1" in finding["message"]
    assert "PYTHON_GIL=0" in finding["fix"]


def test_gil_enabled_names_the_import_ftpool_saw_switch_it_on(tmp_path: Path) -> None:
    pytest.importorskip("atomics")
    write_module(tmp_path, "gil_import")
    code = '''
        import json, warnings, ftpool, gil_import
        warnings.simplefilter("ignore")
        ftpool.AtomicCounter()  # imports atomics -> cffi: the GIL comes back on
        print(json.dumps(ftpool.doctor(gil_import.work, 1000, threads=1).to_dict()))
    '''
    data = run_child(tmp_path, code, dont_write=False, gil=None)
    if not FT:
        assert codes(data)[0] == "gil-build"
        return
    finding = next(f for f in data["findings"] if f["code"] == "gil-enabled")
    assert "atomics" in finding["message"]
    assert "_cffi_backend" in finding["message"]


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or CORES < 2,
                    reason="needs CPU affinity and 2 cores")
def test_few_cores_names_the_affinity_limit(tmp_path: Path) -> None:
    write_module(tmp_path, "pinned")
    code = '''
        import json, os, ftpool, pinned
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        print(json.dumps(ftpool.doctor(pinned.work, 1000, threads=2).to_dict()))
    '''
    data = run_child(tmp_path, code, dont_write=False)
    finding = next(f for f in data["findings"] if f["code"] == "few-cores")
    assert "CPU affinity allows 1 of" in finding["message"]
    assert "2 threads" in finding["message"]


def test_few_cores_when_asking_for_more_threads_than_cores() -> None:
    report = ftpool.doctor(mortal_function(), 200, threads=CORES + 1)
    assert "few-cores" in report.codes


def test_cgroup_quotas_are_read_in_both_versions(tmp_path: Path) -> None:
    v2 = tmp_path / "v2"
    (v2 / "box").mkdir(parents=True)
    (v2 / "box" / "cpu.max").write_text("150000 100000\n")
    (tmp_path / "v2.cgroup").write_text("0::/box\n")
    assert cgroup_cpu_limit(str(v2), str(tmp_path / "v2.cgroup")) == 1.5
    (v2 / "box" / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_limit(str(v2), str(tmp_path / "v2.cgroup")) is None
    v1 = tmp_path / "v1" / "cpu,cpuacct" / "job"
    v1.mkdir(parents=True)
    (v1 / "cpu.cfs_quota_us").write_text("50000\n")
    (v1 / "cpu.cfs_period_us").write_text("100000\n")
    (tmp_path / "v1.cgroup").write_text("3:memory:/job\n2:cpu,cpuacct:/job\n")
    assert cgroup_cpu_limit(str(tmp_path / "v1"), str(tmp_path / "v1.cgroup")) == 0.5
    assert cgroup_cpu_limit(str(tmp_path / "none"), str(tmp_path / "missing")) is None


@pytest.mark.single_thread  # patches module-level functions
def test_a_cgroup_quota_lowers_the_usable_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    from ftpool import _runtime

    monkeypatch.setattr(_runtime, "affinity_cores", lambda: 8)
    monkeypatch.setattr(_runtime, "cgroup_cpu_limit", lambda: 1.5)
    assert _runtime.usable_cores() == 2
    monkeypatch.setattr(_runtime, "cgroup_cpu_limit", lambda: 0.2)
    assert _runtime.usable_cores() == 1
    monkeypatch.setattr(_runtime, "cgroup_cpu_limit", lambda: None)
    assert _runtime.usable_cores() == 8


def test_partials_methods_and_decorated_functions_are_looked_through() -> None:
    import functools

    work = mortal_function()

    @functools.wraps(work)
    def wrapper(n: int) -> float:
        result: float = work(n)
        return result

    for target in (functools.partial(work), wrapper):
        report = ftpool.doctor(target, 200, threads=1)
        assert report.function.endswith(":work")
        assert ("mortal-constants" in report.codes) == FT


def test_bad_input_is_refused_before_anything_runs() -> None:
    calls: list[int] = []

    def counted(n: int) -> None:
        calls.append(n)

    with pytest.raises(TypeError, match="needs a callable"):
        ftpool.doctor(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="whole number"):
        ftpool.doctor(counted, 1, threads=2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="whole number"):
        ftpool.doctor(counted, 1, threads=True)
    with pytest.raises(ValueError, match="at least 1"):
        ftpool.doctor(counted, 1, threads=0)
    assert calls == []


def test_an_exception_of_the_function_propagates() -> None:
    namespace: dict[str, Any] = {}
    exec(compile(MODULE.replace("UNIQUE", "0.5"), "<made>", "exec"), namespace)
    with pytest.raises(ValueError, match="boom 7"):
        ftpool.doctor(namespace["boom"], 7, threads=2)


def test_runtime_lists_the_process_wide_traps() -> None:
    info = ftpool.runtime()
    found = [t.code for t in info.traps]
    assert ("gil-build" in found) == (not FT)
    assert info.dont_write_bytecode == sys.dont_write_bytecode
    assert ("no-bytecode-cache" in found) == (FT and sys.dont_write_bytecode)
    if FT and not info.gil_enabled:
        assert info.gil_enabled_by is None


def test_functions_of_a_script_are_told_to_move_into_a_module(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    tail = ("import json, ftpool\n"
            "print(json.dumps(ftpool.doctor(work, 1000, threads=1).to_dict()))\n")
    script.write_text(MODULE.replace("UNIQUE", repr(0.5 + random.random() / 1000)) + tail)
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_GIL"}
    if FT:
        env["PYTHON_GIL"] = "0"
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            env=env, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout.strip().splitlines()[-1])
    if not FT:
        assert codes(data)[0] == "gil-build"
        return
    finding = next(f for f in data["findings"] if f["code"] == "mortal-constants")
    assert "move the functions out of the script" in finding["fix"]
