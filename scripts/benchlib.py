"""The benchmark runner's model: a :class:`Case` runs ftpool and its peers side by side once; the
runner warms it up, repeats it, and reports medians, spread and ratios.

Cases live in ``scripts/benchcases/*.py``, each module with a ``CASES`` list. Timings on shared
machines are noisy, so every comparison is a ratio of numbers measured in the same repeat, and the
reported ratio is the median of the per-repeat ratios.
"""

from __future__ import annotations

import fnmatch
import importlib
import json
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCHCASES = Path(__file__).resolve().parent / "benchcases"


@dataclass(frozen=True)
class Case:
    """One benchmark: ``run(quick)`` performs ONE repeat and returns ``{metric: value}``.

    ``ratios`` lists (numerator, denominator) metric pairs reported as the median of per-repeat
    ratios; ``target`` is the goal set for the case, printed beside the result (never asserted).
    """

    name: str
    description: str
    run: Callable[[bool], dict[str, float]]
    unit: str
    higher_is_better: bool = True
    ratios: list[tuple[str, str]] = field(default_factory=list)
    target: str = ""
    repeats: int | None = None  # overrides the runner's default (for slow cases)
    # How scripts/report.py reads the metrics: "" (a plain table of metrics and ratios),
    # "scaling" (metrics named "<library> x<workers>", seconds for the same total work) or
    # "scenario" (makespans next to the "serial sum" and "ideal bound" metrics, seconds).
    kind: str = ""
    info: dict[str, Any] = field(default_factory=dict)  # facts for the report (work sizes, ...)


@dataclass
class Result:
    case: Case
    samples: dict[str, list[float]]
    ratio_samples: dict[str, list[float]]
    seconds: float
    error: str = ""  # "ExcType: message" when the case raised; it then has no samples

    def summary(self) -> dict[str, Any]:
        def stats(values: list[float]) -> dict[str, Any]:
            return {"median": statistics.median(values), "min": min(values), "max": max(values),
                    "repeats": values}

        return {
            "name": self.case.name,
            "description": self.case.description,
            "unit": self.case.unit,
            "higher_is_better": self.case.higher_is_better,
            "target": self.case.target,
            "kind": self.case.kind,
            "info": self.case.info,
            "seconds": round(self.seconds, 3),
            "metrics": {k: stats(v) for k, v in self.samples.items()},
            "ratios": {k: stats(v) for k, v in self.ratio_samples.items()},
            **({"error": self.error} if self.error else {}),
        }


def quantile(values: list[float], fraction: float) -> float:
    """The nearest-rank quantile of ``values`` (fraction 0.5 = median, 0.99 = p99)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def timed_pair(producer: Callable[[], None], consumer: Callable[[], None]) -> float:
    """Seconds from start until both the producer (a new thread) and the consumer are done."""
    thread = threading.Thread(target=producer, name="bench-producer")
    started = time.perf_counter()
    thread.start()
    consumer()
    thread.join()
    return time.perf_counter() - started


def byte_compile() -> dict[str, Any]:
    """Write the ``.pyc`` of the bench cases and of ftpool before any of them is imported.

    On a free-threaded build, code imported from source (no ``.pyc``: ``PYTHONDONTWRITEBYTECODE``
    set, or a first run) has mortal constants and float-heavy code then scales far worse than
    the same code loaded from a ``.pyc``. Compiling here (``py_compile`` writes whatever
    ``PYTHONDONTWRITEBYTECODE`` says; imports still read the files) makes every run measure the
    same thing whatever the caller's environment or an earlier run left behind. Returns what was
    done, for the JSON: the directories, and the files that could not be written.
    """
    import compileall
    import importlib.util

    targets = [BENCHCASES, BENCHCASES.parent / "benchlib.py"]
    spec = importlib.util.find_spec("ftpool")  # finds the package without importing it
    if spec is not None and spec.submodule_search_locations:
        targets += [Path(p) for p in spec.submodule_search_locations]
    failed: list[str] = []
    for target in targets:
        if target.is_dir():
            ok = compileall.compile_dir(target, quiet=2, workers=1)
        else:
            ok = compileall.compile_file(target, quiet=2)
        if not ok:
            failed.append(str(target))
    cached = []
    for target in targets:
        files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
        cached += [f for f in files
                   if not Path(importlib.util.cache_from_source(str(f))).exists()]
    return {"compiled": [str(t) for t in targets], "failed": failed,
            "missing_pyc": [str(f) for f in cached],
            "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE")}


def load_cases() -> list[Case]:
    """Every case of every module in scripts/benchcases, in file then list order."""
    here = str(BENCHCASES.parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    cases: list[Case] = []
    for path in sorted(BENCHCASES.glob("*.py")):
        if path.name.startswith("_"):
            continue
        module = importlib.import_module(f"benchcases.{path.stem}")
        cases.extend(module.CASES)
    names = [c.name for c in cases]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise SystemExit(f"bench: duplicate case names {sorted(duplicates)}")
    return cases


def select(cases: list[Case], patterns: Iterable[str]) -> list[Case]:
    """Cases matching any glob pattern; an unmatched pattern is an error listing the cases."""
    patterns = list(patterns)
    if not patterns:
        return cases
    chosen = []
    for pattern in patterns:
        matched = [c for c in cases if fnmatch.fnmatchcase(c.name, pattern)]
        if not matched:
            known = "\n  ".join(c.name for c in cases)
            raise SystemExit(f"bench: no case matches {pattern!r}; the cases are:\n  {known}")
        chosen += [c for c in matched if c not in chosen]
    return chosen


def run_case(case: Case, quick: bool, repeats: int,
             progress: Callable[[str], None]) -> Result:
    started = time.perf_counter()
    progress(f"{case.name}: warm-up")
    case.run(quick)  # warm-up: excluded
    samples: dict[str, list[float]] = {}
    ratio_samples: dict[str, list[float]] = {}
    count = case.repeats if case.repeats is not None and not quick else repeats
    for index in range(count):
        progress(f"{case.name}: repeat {index + 1}/{count}")
        values = case.run(quick)
        for metric, value in values.items():
            samples.setdefault(metric, []).append(float(value))
        for num, den in case.ratios:
            if values.get(den):
                ratio_samples.setdefault(f"{num} / {den}", []).append(values[num] / values[den])
    return Result(case, samples, ratio_samples, time.perf_counter() - started)


def interpreter() -> dict[str, Any]:
    import sysconfig

    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    free_threaded = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    build = f"{sys.version_info[0]}.{sys.version_info[1]}{'t' if free_threaded else ''}"
    return {
        "version": platform.python_version(),
        "build": sys.version,
        "executable": sys.executable,
        "free_threaded_build": free_threaded,
        "gil_enabled": bool(gil),
        "label": f"{build} GIL {'on' if gil else 'off'}",
        "PYTHON_GIL": os.environ.get("PYTHON_GIL"),
    }


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = getattr(os, "process_cpu_count", os.cpu_count)() or 1
    return {"platform": platform.platform(), "cpu": model, "cores": cores,
            "machine": platform.machine()}


def fmt(value: float) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:.2f}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:.1f}k"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def table(results: list[Result]) -> str:
    lines = ["| case | metric | median | min-max | unit |", "|---|---|---|---|---|"]
    for result in results:
        if result.error:
            lines.append(f"| {result.case.name} | **FAILED** {result.error} | | | |")
        for metric, values in result.samples.items():
            lines.append(
                f"| {result.case.name} | {metric} | {fmt(statistics.median(values))} | "
                f"{fmt(min(values))}-{fmt(max(values))} | {result.case.unit} |"
            )
        for ratio, values in result.ratio_samples.items():
            target = f" (target {result.case.target})" if result.case.target else ""
            median = statistics.median(values)
            lines.append(
                f"| {result.case.name} | **{ratio}**{target} | **{median:.2f}x** "
                f"| {min(values):.2f}-{max(values):.2f} | ratio |"
            )
    return "\n".join(lines)


def source_version() -> dict[str, str]:
    """ftpool's version and the git commit measured (with "+dirty" for uncommitted changes)."""
    import subprocess

    root = BENCHCASES.parent.parent
    commit = ""
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10, check=True)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True)
        commit = head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        import ftpool

        version = str(ftpool.__version__)
    except ImportError:
        version = "not importable"
    return {"version": version, "commit": commit}


def write_json(path: Path, results: list[Result], quick: bool, repeats: int, *,
               started: dict[str, Any] | None = None,
               bytecode: dict[str, Any] | None = None) -> None:
    """Write every repeat, medians and min-max, atomically (a temp file renamed into place).

    ``started`` is :func:`interpreter` as it was before the first case: the GIL state at the end
    (``interpreter.gil_enabled``) is compared with it by the report, since an import can switch
    the GIL on in the middle of a run on a free-threaded build.
    """
    end = interpreter()
    document = {
        "machine": machine(),
        "interpreter": {**end, "gil_enabled_at_start": (started or end)["gil_enabled"]},
        "ftpool": source_version(),
        "quick": quick,
        "repeats": repeats,
        "bytecode": bytecode,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cases": [r.summary() for r in results],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(document, indent=1))
    tmp.replace(path)  # never a half-written report
