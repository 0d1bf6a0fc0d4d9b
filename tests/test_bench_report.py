"""scripts/report.py (the comparison report) on small synthetic JSON, and the runner's bad input.

The report's arithmetic is checked on numbers chosen so that a wrong formula gives a different
answer (for instance, a median of per-repeat ratios that differs from the ratio of medians).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
sys.path.insert(0, str(SCRIPTS))

import report  # noqa: E402 - scripts/ is not a package

LIBRARIES = ("ftpool Pool", "threads", "ThreadPoolExecutor", "ProcessPoolExecutor")


def interpreter(free_threaded: bool, gil: str | None,
                gil_now: bool | None = None) -> dict[str, Any]:
    on = (not free_threaded) or gil == "1"
    return {
        "version": "3.13.15",
        "build": "3.13.15 test build",
        "executable": "/x/python",
        "free_threaded_build": free_threaded,
        "gil_enabled": on if gil_now is None else gil_now,
        "gil_enabled_at_start": on,
        "label": "test",
        "PYTHON_GIL": gil,
    }


def scaling_case(times: dict[str, dict[int, list[float]]], name: str = "scaling.count"
                 ) -> dict[str, Any]:
    metrics = {}
    for library, per_workers in times.items():
        for workers, values in per_workers.items():
            metrics[f"{library} x{workers}"] = {
                "median": sorted(values)[len(values) // 2], "min": min(values),
                "max": max(values), "repeats": values}
    return {"name": name, "description": "counting loop", "unit": "s",
            "higher_is_better": False, "target": "", "kind": "scaling",
            "info": {"workload": "count", "tasks": 8, "work": {"full": "16M", "quick": "4M"}},
            "seconds": 1.0, "metrics": metrics, "ratios": {}}


def flat(x1: float, x2: float, x4: float, repeats: int = 5) -> dict[int, list[float]]:
    return {1: [x1] * repeats, 2: [x2] * repeats, 4: [x4] * repeats}


def document(interp: dict[str, Any], cases: list[dict[str, Any]], quick: bool = False,
             repeats: int = 5) -> dict[str, Any]:
    return {"machine": {"platform": "Linux-test", "cpu": "Test CPU", "cores": 2,
                        "machine": "x86_64"},
            "interpreter": interp, "ftpool": {"version": "0.1.0", "commit": "abc1234"},
            "quick": quick, "repeats": repeats, "created": "2026-01-01T00:00:00+0000",
            "cases": cases}


def three_runs(tmp_path: Path) -> list[Path]:
    """3.13: nothing scales but processes; 3.13t GIL off: Pool 1.92x, threads 2.0x."""
    gil = {lib: flat(1.0, 1.0, 1.0) for lib in LIBRARIES}
    gil["ProcessPoolExecutor"] = flat(1.0, 0.5, 0.5)
    off = {lib: flat(1.2, 0.6, 0.6) for lib in LIBRARIES}
    off["ftpool Pool"] = flat(1.2, 0.625, 0.64)
    on = {lib: flat(1.3, 1.3, 1.3) for lib in LIBRARIES}
    on["ProcessPoolExecutor"] = flat(1.3, 0.65, 0.65)
    paths = []
    for slug, interp, times in [
        ("a", interpreter(False, None), gil),
        ("b", interpreter(True, "0"), off),
        ("c", interpreter(True, "1"), on),
    ]:
        path = tmp_path / f"{slug}.json"
        path.write_text(json.dumps(document(interp, [scaling_case(times)])))
        paths.append(path)
    return paths


def test_configurations_are_told_apart_by_the_interpreter_record() -> None:
    assert report.configuration(interpreter(False, None))[:2] == ("3.13 (GIL)", "3.13")
    assert report.configuration(interpreter(True, "0"))[:2] == ("3.13t GIL off", "3.13t-gil-off")
    assert report.configuration(interpreter(True, "1"))[:2] == ("3.13t GIL on", "3.13t-gil-on")
    unset_on = interpreter(True, None) | {"gil_enabled_at_start": True}
    assert report.configuration(unset_on)[1] == "3.13t-gil-on"


def test_speedup_is_the_median_of_per_repeat_ratios_and_efficiency_divides_by_workers() -> None:
    # per-repeat ratios 1, 4, 1 -> median 1; the ratio of the medians would say 2
    case = scaling_case({"threads": {1: [1.0, 2.0, 3.0], 2: [1.0, 0.5, 3.0]}})
    scaling = report.Scaling.of(case)
    speed = scaling.speedup("threads", 2)
    assert speed == report.Stat(1.0, 1.0, 4.0)
    assert report.efficiency(1.9, 2) == pytest.approx(0.95)
    assert report.efficiency(2.0, 4) == pytest.approx(0.5)
    assert scaling.speedup("threads", 4) is None  # never measured: no number invented
    assert scaling.workers == [1, 2]
    assert scaling.libraries == ["threads"]


def test_relative_is_peer_time_over_library_time_per_repeat() -> None:
    case = scaling_case({"ftpool Pool": {2: [1.0, 2.0, 1.0]}, "threads": {2: [0.9, 2.0, 1.1]}})
    gap = report.Scaling.of(case).relative("threads", "ftpool Pool", 2)
    assert gap == report.Stat(1.0, 0.9, pytest.approx(1.1))


def test_report_table_has_speedup_efficiency_targets_and_peers(tmp_path: Path) -> None:
    runs = report.load(three_runs(tmp_path))
    assert [r.label for r in runs] == ["3.13 (GIL)", "3.13t GIL off", "3.13t GIL on"]
    text = report.build_report(runs)
    assert "2 cores usable" in text
    assert "Test CPU" in text
    assert "5 repeats per case" in text
    assert "QUICK" not in text
    assert "| workload | library | 3.13 (GIL) | 3.13t GIL off | 3.13t GIL on |" in text
    # ftpool Pool on 3.13t GIL off: 1.2 / 0.625 = 1.92x, 96% at 2 workers
    pool_row = next(line for line in text.splitlines()
                    if line.startswith("| count | ftpool Pool | 1.00x"))
    assert "1.92x · 96%" in pool_row
    assert "1.00x · 50%" in pool_row
    assert "1.00x · 50%" in pool_row.split("|")[5]
    # processes scale on every configuration
    assert "| count | ProcessPoolExecutor | 2.00x · 100% [2.00-2.00] | 2.00x · 100%" in text
    # targets: efficiency 96% met; 0.6 / 0.625 = 0.96 -> Pool 4.0% slower than threads: met
    assert "ftpool Pool efficiency at 2 workers = **96.0%**" in text
    assert "**4.0% slower than** plain threads" in text
    assert text.count(": met.") == 2
    assert "NOT met" not in text
    # the time against 3.13 for the Pool at 2 workers: 1.0 / 0.625 = 1.60x
    assert "0.625 s [0.625-0.625] · **1.60x** vs 3.13" in text
    # every worker count, efficiency at 2 x cores: 1.2 / 0.64 = 1.875 -> 47%
    assert "1.88x · 47%" in text
    assert "![speedup against workers](scaling.png)" in text


def test_a_missed_target_says_not_met(tmp_path: Path) -> None:
    off = {lib: flat(1.0, 0.5, 0.5) for lib in LIBRARIES}
    off["ftpool Pool"] = flat(1.0, 0.8, 0.8)  # 1.25x: 62%, and 37.5% slower than threads
    path = tmp_path / "off.json"
    path.write_text(json.dumps(document(interpreter(True, "0"), [scaling_case(off)])))
    text = report.build_report(report.load([path]))
    assert "= **62.5%**" in text
    assert "**37.5% slower than**" in text
    assert text.count("NOT met") == 2


def test_warnings_for_gil_switched_on_busy_cores_thin_repeats_and_failures(
        tmp_path: Path) -> None:
    times = {lib: flat(1.0, 1.0, 1.0, repeats=3) for lib in LIBRARIES}
    broken = {"name": "channel.unbounded", "description": "", "unit": "items/s",
              "higher_is_better": True, "target": "", "kind": "", "info": {}, "seconds": 0.1,
              "metrics": {}, "ratios": {}, "error": "RuntimeError: boom"}
    path = tmp_path / "off.json"
    path.write_text(json.dumps(document(interpreter(True, "0", gil_now=True),
                                        [scaling_case(times), broken], repeats=3)))
    text = report.build_report(report.load([path]))
    assert "the GIL was switched on during the run" in text
    assert "even ProcessPoolExecutor" in text
    assert "50% efficiency" in text
    assert "fewer repeats than 5" in text
    assert "FAILED 3.13t GIL off channel.unbounded: RuntimeError: boom" in text


def test_other_cases_get_a_generic_table_with_their_ratios(tmp_path: Path) -> None:
    case = {"name": "channel.unbounded", "description": "1 -> 1, items/s", "unit": "items/s",
            "higher_is_better": True, "target": "ratio >= 0.5", "kind": "", "info": {},
            "seconds": 0.1,
            "metrics": {"ftpool Channel": {"median": 2e5, "min": 1e5, "max": 3e5,
                                           "repeats": [1e5, 2e5, 3e5]}},
            "ratios": {"ftpool Channel / SimpleQueue": {"median": 0.75, "min": 0.5, "max": 1.0,
                                                         "repeats": [0.5, 0.75, 1.0]}}}
    path = tmp_path / "gil.json"
    path.write_text(json.dumps(document(interpreter(False, None), [case], quick=True,
                                        repeats=3)))
    text = report.build_report(report.load([path]))
    assert "QUICK" in text
    assert "Target: ratio >= 0.5" in text
    assert "| ftpool Channel | 200.0k items/s [100.0k-300.0k] |" in text
    assert "| **ftpool Channel / SimpleQueue** | **0.75x** [0.50-1.00] |" in text
    assert "scaling.png" not in text  # no scaling case, no chart


def test_bad_input_is_refused_with_a_reason(tmp_path: Path) -> None:
    paths = three_runs(tmp_path)
    twin = tmp_path / "twin.json"
    twin.write_bytes(paths[1].read_bytes())
    with pytest.raises(report.ReportError, match=r"both 3\.13t GIL off"):
        report.load([paths[1], twin])
    junk = tmp_path / "junk.json"
    junk.write_text("{}")
    with pytest.raises(report.ReportError, match="not a scripts/bench JSON"):
        report.load([junk])
    with pytest.raises(report.ReportError, match="no such file"):
        report.load([tmp_path / "missing.json"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(report.ReportError, match=r"no \*\.json"):
        report.load([empty])


def test_main_writes_everything_and_can_rerun_on_its_own_output(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert report.main([*map(str, three_runs(tmp_path)), "--out", str(out), "--no-plot"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["3.13.json", "3.13t-gil-off.json", "3.13t-gil-on.json", "report.md"]
    printed = capsys.readouterr().out
    assert "## CPU-bound work at N = 2 workers" in printed
    assert "wrote:" in printed
    assert str(out / "report.md") in printed
    first = (out / "report.md").read_text()
    assert "scaling.png" not in first  # --no-plot: no dangling image link
    # re-run on the saved JSON, into the same directory
    assert report.main([str(out), "--out", str(out), "--no-plot", "--quiet"]) == 0
    assert (out / "report.md").read_text() == first
    assert report.main([str(tmp_path / "nothing.json"), "--out", str(out), "--no-plot"]) == 1
    assert "no such file" in capsys.readouterr().err


def test_an_interrupted_write_leaves_the_previous_report_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.md").write_text("previous report\n")
    calls = []
    real = Path.write_bytes

    def interrupted(self: Path, data: bytes) -> int:
        calls.append(self.name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", interrupted)
    code = report.main([*map(str, three_runs(tmp_path)), "--out", str(out), "--no-plot"])
    assert code == 130
    assert sorted(p.name for p in out.iterdir()) == ["report.md"]  # no temp files, no new JSON
    assert (out / "report.md").read_text() == "previous report\n"


def test_write_outputs_renames_the_report_last(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    order = []
    real = os.replace

    def spy(src: Any, dst: Any) -> None:
        order.append(Path(dst).name)
        real(src, dst)

    monkeypatch.setattr(report.os, "replace", spy)
    report.write_outputs(tmp_path, {"report.md": b"r", "a.json": b"{}", "scaling.png": b"p"})
    assert order[-1] == "report.md"
    assert sorted(order) == ["a.json", "report.md", "scaling.png"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".report-")]


def test_chart_is_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    png = report.draw_chart(report.load(three_runs(tmp_path)))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) < 400_000


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPTS / "bench"), *args], capture_output=True,
                          text=True, timeout=60, check=False,
                          env={**os.environ, "PYTHON_GIL": "0"} if report_is_free_threaded()
                          else None)


def report_is_free_threaded() -> bool:
    import sysconfig

    return bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def test_runner_lists_the_comparison_cases() -> None:
    listing = run_bench("--list")
    assert listing.returncode == 0, listing.stderr
    for name in ("scaling.count", "scaling.mandelbrot", "scenario.producer_consumer",
                 "scenario.pool"):
        assert name in listing.stdout


def test_runner_refuses_an_unknown_case_and_lists_the_cases(tmp_path: Path) -> None:
    result = run_bench("--case", "no.such.case", "--json", str(tmp_path / "r.json"))
    assert result.returncode == 1
    assert "no case matches 'no.such.case'" in result.stderr
    assert "scaling.count" in result.stderr
    assert "scenario.pool" in result.stderr
    assert not (tmp_path / "r.json").exists()


def test_no_scaling_case_means_no_chart_and_no_error(tmp_path: Path) -> None:
    case = {"name": "channel.unbounded", "description": "", "unit": "items/s",
            "higher_is_better": True, "target": "", "kind": "", "info": {}, "seconds": 0.1,
            "metrics": {"x": {"median": 1.0, "min": 1.0, "max": 1.0, "repeats": [1.0] * 5}},
            "ratios": {}}
    path = tmp_path / "gil.json"
    path.write_text(json.dumps(document(interpreter(False, None), [case])))
    files = report.outputs(report.load([path]), plot=True)
    assert sorted(files) == ["3.13.json", "report.md"]


def test_libraries_come_in_a_fixed_order_ftpool_first() -> None:
    assert report.ordered(["ProcessPoolExecutor", "extra", "threads", "ftpool Pool"]) == [
        "ftpool Pool", "threads", "ProcessPoolExecutor", "extra"]
    case = scaling_case({"ThreadPoolExecutor": flat(1, 1, 1), "ftpool Pool": flat(1, 1, 1)})
    assert report.Scaling.of(case).libraries == ["ftpool Pool", "ThreadPoolExecutor"]


def versioned(interp: dict[str, Any], version: str) -> dict[str, Any]:
    return {**interp, "version": version, "build": f"{version} test build"}


def test_configurations_are_labelled_by_the_real_version_not_a_fixed_one(
        tmp_path: Path) -> None:
    # a 3.14 pair (as scripts/provision would give with python3.14t and python3.14)
    assert report.configuration(versioned(interpreter(False, None), "3.14.2"))[:2] == (
        "3.14 (GIL)", "3.14")
    assert report.configuration(versioned(interpreter(True, "0"), "3.14.2"))[:2] == (
        "3.14t GIL off", "3.14t-gil-off")
    assert report.configuration(versioned(interpreter(True, "1"), "3.14.2"))[:2] == (
        "3.14t GIL on", "3.14t-gil-on")
    gil = {lib: flat(1.0, 1.0, 1.0) for lib in LIBRARIES}
    off = {lib: flat(1.0, 0.5, 0.5) for lib in LIBRARIES}
    paths = []
    for slug, interp, times in [("a", interpreter(False, None), gil),
                                ("b", interpreter(True, "0"), off)]:
        path = tmp_path / f"{slug}.json"
        path.write_text(json.dumps(document(versioned(interp, "3.14.2"), [scaling_case(times)])))
        paths.append(path)
    runs = report.load(paths)
    text = report.build_report(runs)
    assert "| workload | library | 3.14 (GIL) | 3.14t GIL off |" in text
    assert "## Targets (3.14t GIL off)" in text
    assert "vs 3.14" in text
    assert "3.13" not in text
    files = report.outputs(runs, plot=False)
    assert sorted(files) == ["3.14.json", "3.14t-gil-off.json", "report.md"]


def test_runs_of_different_versions_are_not_mixed(tmp_path: Path) -> None:
    paths = three_runs(tmp_path)
    data = json.loads(paths[1].read_text())
    data["interpreter"]["version"] = "3.14.0"
    paths[1].write_text(json.dumps(data))
    with pytest.raises(report.ReportError, match="different Python versions"):
        report.load(paths)


def test_the_runner_labels_this_interpreter_by_its_own_version() -> None:
    import benchlib

    interp = benchlib.interpreter()
    series = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert interp["label"].startswith(series + ("t" if report_is_free_threaded() else "") + " ")
    assert report.configuration(interp)[1].startswith(series)


def test_cpu_metrics_are_not_libraries_and_give_the_pool_overhead(tmp_path: Path) -> None:
    times = {lib: flat(1.0, 0.5, 0.5) for lib in LIBRARIES}
    times["threads cpu"] = flat(1.0, 1.0, 1.0)
    times["ftpool Pool cpu"] = flat(1.0, 1.03, 1.03)
    path = tmp_path / "off.json"
    path.write_text(json.dumps(document(interpreter(True, "0"), [scaling_case(times)])))
    runs = report.load([path])
    scaling = report.Scaling.of(runs[0].cases["scaling.count"])
    assert "threads cpu" not in scaling.libraries
    assert scaling.cpu_relative("ftpool Pool", "threads", 2) == report.Stat(
        pytest.approx(1.03), pytest.approx(1.03), pytest.approx(1.03))
    assert scaling.cpu_growth("ftpool Pool", 2) == report.Stat(
        pytest.approx(1.03), pytest.approx(1.03), pytest.approx(1.03))
    text = report.build_report(runs)
    assert "Pool / plain threads at 2 workers: **1.030**" in text
    assert "| count | threads cpu" not in text


def trap_case(name: str, trap: str, variants: dict[str, tuple[float, float, float, float]],
              extra: dict[str, float] | None = None) -> dict[str, Any]:
    """variants: wall x1, wall x2, cpu x1, cpu x2 (the same in every repeat)."""
    metrics: dict[str, Any] = {}

    def put(metric: str, value: float) -> None:
        metrics[metric] = {"median": value, "min": value, "max": value, "repeats": [value] * 5}

    for variant, (w1, w2, c1, c2) in variants.items():
        put(f"{variant} x1", w1)
        put(f"{variant} x2", w2)
        put(f"{variant} cpu x1", c1)
        put(f"{variant} cpu x2", c2)
    for metric, value in (extra or {}).items():
        put(metric, value)
    return {"name": name, "description": f"{trap} trap", "unit": "s",
            "higher_is_better": False, "target": "", "kind": "trap",
            "info": {"trap": trap, "variants": list(variants), "workers": [1, 2]},
            "seconds": 1.0, "metrics": metrics, "ratios": {}}


def test_each_trap_gets_a_paragraph_with_its_figures_and_fix(tmp_path: Path) -> None:
    cases = [
        trap_case("traps.constants", "constants", {
            "mortal constants · threads": (1.0, 0.9, 1.0, 1.8),
            "immortal constants · threads": (1.0, 0.5, 1.0, 1.0)}),
        trap_case("traps.shared", "shared", {
            "one shared object": (1.0, 1.6, 1.0, 3.0),
            "one object per thread": (1.0, 0.52, 1.0, 1.02)}),
        trap_case("traps.gil_import", "gil_import", {
            "_cffi_backend imported, PYTHON_GIL unset": (1.0, 1.0, 1.0, 1.0),
            "_cffi_backend imported, PYTHON_GIL=0": (1.0, 0.5, 1.0, 1.0)},
            {"_cffi_backend imported, PYTHON_GIL unset gil on at the end": 1.0,
             "_cffi_backend imported, PYTHON_GIL=0 gil on at the end": 0.0}),
    ]
    path = tmp_path / "off.json"
    doc = document(interpreter(True, "0"), cases)
    doc["bytecode"] = {"compiled": ["x"], "failed": [], "missing_pyc": []}
    path.write_text(json.dumps(doc))
    text = report.build_report(report.load([path]))
    assert "## What scales on free-threaded Python and what does not: the traps" in text
    assert "### Mortal constants (traps.constants)" in text
    # 1.0 / 0.9 = 1.11x (56%), CPU 1.8x; immortal 2.00x (100%), CPU 1.00x
    assert ("mortal constants · threads: 1.11x (56%), CPU 1.80x; immortal constants · threads: "
            "2.00x (100%), CPU 1.00x.") in text
    assert "**Fix:** byte-compile" in text
    assert "### One object shared by every thread (traps.shared)" in text
    assert "one shared object: 0.62x (31%), CPU 3.00x" in text
    assert "**Fix:** give each thread" in text
    assert "PYTHON_GIL=0" in text
    assert "| _cffi_backend imported, PYTHON_GIL unset | GIL on |" in text
    assert "| _cffi_backend imported, PYTHON_GIL=0 | GIL off |" in text
    assert "byte-compiled before the run" in text
    assert "## Other cases" not in text  # traps are not dumped as a generic table
