#!/usr/bin/env python3
"""Turn the JSON written by ``scripts/bench --json`` on several interpreters into one comparison.

Usage:
  scripts/report.py RESULTS.json... [--out DIR] [--no-plot]
  scripts/report.py compare/             re-draw a saved comparison from its JSON files

Each JSON file is one configuration (the GIL build, the free-threaded build with the GIL off, the
free-threaded build with the GIL forced on), told apart by the interpreter facts the runner
recorded and labelled by the interpreter's real version (e.g. "3.13 (GIL)", "3.14t GIL off").
``nox -s compare`` runs the benchmarks and then this script; it can be re-run on saved JSON at any
time.

Writes into DIR (default ``compare``): ``report.md`` (the tables), ``scaling.png`` (speedup against
workers, one line per configuration and library; needs matplotlib) and a copy of each JSON named
after its configuration. Everything is written under temporary names first and renamed into place at
the end, so an interrupted or failed run leaves the previous report as it was, never half of one.
Prints the report and the paths it wrote.

How the numbers are made (the report says it too): every figure is the median of the repeats after
one warm-up, with the min-max spread. Speedup = time with 1 worker / time with n workers of the
same library, and ratios between libraries, are medians of per-repeat ratios (both sides measured
in the same repeat). Efficiency = speedup / n. Comparisons across configurations are ratios of
medians measured one after the other in different processes.

Exit status: 0; 1 when the input cannot make a report (the message says why); 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import fmt

REPORT = "report.md"
CHART = "scaling.png"
SCALING_METRIC = re.compile(r"^(?P<library>.+) x(?P<workers>\d+)$")
CPU_SUFFIX = " cpu"  # "<library> cpu x<workers>": the process CPU seconds of that measurement
PEERS = ("threads", "ThreadPoolExecutor", "ProcessPoolExecutor")
FTPOOL = "ftpool Pool"
TARGET_EFFICIENCY = 0.85
TARGET_GAP = 0.05
# ProcessPoolExecutor's efficiency below this (no GIL limits it; on an idle machine it reaches
# ~95% here) means other work was using the cores during the run.
BUSY_EFFICIENCY = 0.8
QUICK_NOTE = "QUICK (a smoke run with smaller work, not a measurement)"


class ReportError(Exception):
    """The input cannot make a report; the message says why and what to do."""


# --- the input ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stat:
    median: float
    low: float
    high: float

    @staticmethod
    def of(values: Sequence[float]) -> Stat:
        return Stat(statistics.median(values), min(values), max(values))


@dataclass
class Run:
    """One configuration's results (one JSON file)."""

    label: str  # e.g. "3.13 (GIL)", "3.13t GIL off", "3.13t GIL on" (the real version)
    slug: str  # file name stem: e.g. "3.13", "3.13t-gil-off", "3.13t-gil-on"
    order: int  # GIL build, then free-threaded GIL off, then GIL on (see KINDS)
    data: dict[str, Any]
    source: Path
    raw: bytes  # the file as the runner wrote it (copied unchanged)
    warnings: list[str] = field(default_factory=list)

    @property
    def cases(self) -> dict[str, dict[str, Any]]:
        return {case["name"]: case for case in self.data["cases"]}

    @property
    def kind(self) -> str:
        """"gil", "ft-off" or "ft-on" (see KINDS)."""
        return KINDS[self.order]


KINDS = ("gil", "ft-off", "ft-on")  # the three configurations, in report order


def series(interp: dict[str, Any]) -> str:
    """"3.13" for CPython 3.13.x: the major.minor the runner recorded."""
    return ".".join(str(interp.get("version", "?")).split(".")[:2])


def configuration(interp: dict[str, Any]) -> tuple[str, str, int]:
    """(label, slug, order) of the configuration an interpreter record describes, named by the
    interpreter's own version: nothing here assumes which Python it is."""
    version = series(interp)
    if not interp.get("free_threaded_build"):
        return f"{version} (GIL)", version, 0
    requested = interp.get("PYTHON_GIL")
    on = requested == "1" or (requested != "0" and bool(
        interp.get("gil_enabled_at_start", interp.get("gil_enabled"))))
    if on:
        return f"{version}t GIL on", f"{version}t-gil-on", 2
    return f"{version}t GIL off", f"{version}t-gil-off", 1


def load(paths: Iterable[Path]) -> list[Run]:
    """Read the JSON files (a directory means its *.json), one run per configuration, in order."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.glob("*.json"))
            if not found:
                raise ReportError(f"{path} has no *.json files; give the JSON written by "
                                  "scripts/bench --json (nox -s compare writes them)")
            files += found
        else:
            files.append(path)
    runs: list[Run] = []
    for path in files:
        try:
            raw = path.read_bytes()
            data = json.loads(raw)
            interp = data["interpreter"]
            data["cases"]
        except FileNotFoundError:
            raise ReportError(f"{path}: no such file") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ReportError(f"{path} is not a scripts/bench JSON file ({exc!r})") from None
        label, slug, order = configuration(interp)
        run = Run(label, slug, order, data, path, raw)
        if interp.get("free_threaded_build"):
            at_start = interp.get("gil_enabled_at_start", interp.get("gil_enabled"))
            if interp.get("gil_enabled") != at_start or (
                    interp.get("PYTHON_GIL") == "0" and interp.get("gil_enabled")):
                run.warnings.append(
                    f"{label}: the GIL was switched on during the run (an extension module "
                    "re-enabled it); its numbers are not those of a GIL-free interpreter")
        runs.append(run)
    if not runs:
        raise ReportError("no JSON files given")
    seen: dict[str, Path] = {}
    series_seen = sorted({series(run.data["interpreter"]) for run in runs})
    if len(series_seen) > 1:
        raise ReportError(f"the runs come from different Python versions {series_seen}; "
                          "compare one version's GIL and free-threaded builds at a time")
    for run in runs:
        if run.kind in seen and seen[run.kind].resolve() != run.source.resolve():
            raise ReportError(f"{seen[run.kind]} and {run.source} are both {run.label}; "
                              "give one file per configuration")
        seen[run.kind] = run.source
    unique = {run.kind: run for run in runs}
    return sorted(unique.values(), key=lambda r: r.order)


def consistency_warnings(runs: list[Run]) -> list[str]:
    warnings = [w for run in runs for w in run.warnings]
    machines = {(r.data["machine"].get("cores"), r.data["machine"].get("cpu")) for r in runs}
    if len(machines) > 1:
        warnings.append(f"the runs come from different machines {sorted(machines)}: "
                        "comparisons across configurations mean little")
    if len({bool(r.data.get("quick")) for r in runs}) > 1:
        warnings.append("some runs are --quick and some are not: the work sizes differ")
    cores = cores_of(runs)
    for run in runs:
        for case in run.data["cases"]:
            if case.get("kind") != "scaling" or case.get("error") or cores < 2:
                continue
            speed = Scaling.of(case).speedup("ProcessPoolExecutor", cores)
            if speed is not None and efficiency(speed.median, cores) < BUSY_EFFICIENCY:
                warnings.append(
                    f"{run.label} {case['name']}: even ProcessPoolExecutor, which no GIL limits, "
                    f"reached only {efficiency(speed.median, cores):.0%} efficiency at {cores} "
                    "workers: the cores were probably busy with other work, so this run "
                    "understates every library's scaling")
    commits = {r.data.get("ftpool", {}).get("commit", "") for r in runs}
    if len(commits) > 1:
        warnings.append(f"the runs measured different ftpool commits {sorted(commits)}")
    return warnings


# --- the numbers ----------------------------------------------------------------------------------


def repeats_of(case: dict[str, Any], metric: str) -> list[float]:
    return [float(v) for v in case["metrics"][metric]["repeats"]]


def per_repeat_ratio(numerators: Sequence[float], denominators: Sequence[float]) -> Stat | None:
    """Median and spread of numerator[i] / denominator[i] (same repeat, same moment)."""
    ratios = [n / d for n, d in zip(numerators, denominators, strict=False) if d]
    return Stat.of(ratios) if ratios else None


@dataclass(frozen=True)
class Scaling:
    """A scaling case of one run: times per (library, workers), speedups vs 1 worker, and the
    process CPU time per (library, workers) where the runner recorded it
    (``"<library> cpu x<workers>"``)."""

    libraries: list[str]
    workers: list[int]
    times: dict[tuple[str, int], list[float]]
    cpu: dict[tuple[str, int], list[float]] = field(default_factory=dict)

    @staticmethod
    def of(case: dict[str, Any]) -> Scaling:
        times: dict[tuple[str, int], list[float]] = {}
        cpu: dict[tuple[str, int], list[float]] = {}
        libraries: list[str] = []
        for name in case["metrics"]:
            match = SCALING_METRIC.match(name)
            if not match:
                continue
            library, workers = match["library"], int(match["workers"])
            if library.endswith(CPU_SUFFIX):
                cpu[(library.removesuffix(CPU_SUFFIX), workers)] = repeats_of(case, name)
                continue
            times[(library, workers)] = repeats_of(case, name)
            if library not in libraries:
                libraries.append(library)
        workers = sorted({n for _, n in times})
        return Scaling(ordered(libraries), workers, times, cpu)

    def cpu_relative(self, library: str, peer: str, workers: int) -> Stat | None:
        """library CPU time / peer CPU time at the same worker count, per repeat (1.0: the same
        CPU for the same work; above 1: the library spent more, i.e. its overhead)."""
        mine, theirs = self.cpu.get((library, workers)), self.cpu.get((peer, workers))
        if not mine or not theirs:
            return None
        return per_repeat_ratio(mine, theirs)

    def cpu_growth(self, library: str, workers: int) -> Stat | None:
        """CPU time with n workers / with 1, per repeat: 1.0 when threads do not contend."""
        one, many = self.cpu.get((library, 1)), self.cpu.get((library, workers))
        if not one or not many:
            return None
        return per_repeat_ratio(many, one)

    def time(self, library: str, workers: int) -> Stat | None:
        values = self.times.get((library, workers))
        return Stat.of(values) if values else None

    def speedup(self, library: str, workers: int) -> Stat | None:
        one, many = self.times.get((library, 1)), self.times.get((library, workers))
        if not one or not many:
            return None
        return per_repeat_ratio(one, many)

    def relative(self, peer: str, library: str, workers: int) -> Stat | None:
        """peer time / library time at the same worker count, per repeat (>1: library faster)."""
        mine, theirs = self.times.get((library, workers)), self.times.get((peer, workers))
        if not mine or not theirs:
            return None
        return per_repeat_ratio(theirs, mine)


def ordered(libraries: list[str]) -> list[str]:
    """ftpool first, then its peers, then anything else in the order found (stable colours)."""
    known = [FTPOOL, *PEERS]
    return ([lib for lib in known if lib in libraries]
            + [lib for lib in libraries if lib not in known])


def efficiency(speedup: float, workers: int) -> float:
    """Speedup per worker: 1.0 means every worker added its full share."""
    return speedup / workers


def cores_of(runs: list[Run]) -> int:
    return int(runs[0].data["machine"].get("cores") or 1)


# --- formatting -----------------------------------------------------------------------------------


def seconds(value: float) -> str:
    return f"{value:.3g} s" if value < 100 else f"{value:.0f} s"


def spread(stat: Stat, unit: str = "") -> str:
    if unit == "x":
        return f"[{stat.low:.2f}-{stat.high:.2f}]"
    return f"[{fmt(stat.low)}-{fmt(stat.high)}]"


def speedup_cell(stat: Stat | None, workers: int) -> str:
    if stat is None:
        return "n/a"
    return f"{stat.median:.2f}x · {efficiency(stat.median, workers):.0%} {spread(stat, 'x')}"


def time_cell(stat: Stat | None) -> str:
    return "n/a" if stat is None else f"{seconds(stat.median)} {spread(stat)}"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


# --- the report -----------------------------------------------------------------------------------


def header_lines(runs: list[Run]) -> list[str]:
    machine = runs[0].data["machine"]
    quick = any(r.data.get("quick") for r in runs)
    repeats = sorted({int(r.data.get("repeats", 0)) for r in runs})
    commit = runs[0].data.get("ftpool", {})
    lines = [
        "# ftpool: the GIL build against the free-threaded build",
        "",
        f"- **Machine:** {machine.get('cores')} cores usable by the benchmark, "
        f"{machine.get('cpu') or machine.get('machine')}, {machine.get('platform')}.",
        f"- **Run:** {QUICK_NOTE if quick else 'full'}, {' / '.join(map(str, repeats))} "
        "repeats per case after one warm-up (excluded); "
        f"ftpool {commit.get('version', '?')} at commit {commit.get('commit') or '?'}; "
        f"{runs[0].data.get('created', '')}.",
        "- **Configurations** (the same work, the same JSON format, one process each):",
    ]
    for run in runs:
        interp = run.data["interpreter"]
        env = interp.get("PYTHON_GIL")
        lines.append(
            f"  - **{run.label}**: CPython {interp.get('version')}"
            f"{', PYTHON_GIL=' + env if env else ''}, GIL "
            f"{'on' if interp.get('gil_enabled') else 'off'} at the end of the run "
            f"— `{interp.get('build', '')}`")
    bytecode = [r.data.get("bytecode") for r in runs]
    if all(b is not None for b in bytecode):
        missing = sorted({f for b in bytecode for f in (b or {}).get("missing_pyc", [])})
        lines.append("- **Bytecode:** the bench cases and ftpool were byte-compiled before the run "
                     "(imported from `.pyc`, so their constants are immortal on a free-threaded "
                     "build)" + (f"; NOT cached: {', '.join(missing[:5])}" if missing else "")
                     + ".")
    else:
        lines.append("- **Bytecode:** not recorded (a runner older than the byte-compiling "
                     "one): results may depend on whether `.pyc` files existed.")
    lines += [
        "- **How to read:** numbers are medians of the repeats, [min-max] their spread. "
        "*Speedup* = time with 1 worker / time with n workers of the same library (median of "
        "per-repeat ratios); *efficiency* = speedup / n: 100% means each added worker did a full "
        f"core's work, 50% at 2 workers means no gain at all. With more workers than cores "
        f"({cores_of(runs)}), efficiency cannot exceed cores / n. Ratios between libraries are "
        "per-repeat too; comparisons between configurations are ratios of medians of runs made "
        "one after the other.",
    ]
    return lines


def target_lines(runs: list[Run], scaling_cases: list[str]) -> list[str]:
    cores = cores_of(runs)
    off = next((r for r in runs if r.kind == "ft-off"), None)
    lines = [f"## Targets ({off.label if off else 'free-threaded build, GIL off'})", ""]
    if off is None:
        return [*lines, "No free-threaded GIL-off run in this report.", ""]
    for name in scaling_cases:
        case = off.cases.get(name)
        if case is None or case.get("error"):
            continue
        scaling = Scaling.of(case)
        if FTPOOL not in scaling.libraries:
            lines.append(f"- {name}: **ftpool.Pool was not measured** (not in this ftpool build).")
            continue
        speed = scaling.speedup(FTPOOL, cores)
        gap = scaling.relative("threads", FTPOOL, cores)
        if speed is not None:
            eff = efficiency(speed.median, cores)
            verdict = "met" if eff >= TARGET_EFFICIENCY else "NOT met"
            lines.append(f"- {name}: ftpool Pool efficiency at {cores} workers = **{eff:.1%}** "
                         f"(speedup {speed.median:.2f}x {spread(speed, 'x')}; target >= "
                         f"{TARGET_EFFICIENCY:.0%}): {verdict}.")
        if gap is not None:
            slower = 1 - gap.median  # threads time / Pool time < 1: Pool is slower
            verdict = "met" if slower < TARGET_GAP else "NOT met"
            how = (f"{slower:.1%} slower than" if slower > 0 else f"{-slower:.1%} faster than")
            lines.append(f"- {name}: ftpool Pool is **{how}** plain threads at {cores} workers "
                         f"(threads / Pool time {gap.median:.3f} {spread(gap, 'x')}; target: "
                         f"under {TARGET_GAP:.0%} slower): {verdict}.")
        cpu = scaling.cpu_relative(FTPOOL, "threads", cores)
        if cpu is not None:
            lines.append(f"  - CPU time for the same work, Pool / plain threads at {cores} "
                         f"workers: **{cpu.median:.3f}** {spread(cpu, 'x')} (the Pool's own "
                         "overhead; unlike wall time, other load on the machine does not "
                         "stretch it).")
    return [*lines, ""]


def summary_lines(runs: list[Run], scaling_cases: list[str]) -> list[str]:
    cores = cores_of(runs)
    labels = [run.label for run in runs]
    base = next((r for r in runs if r.kind == "gil"), None)
    speed_rows: list[list[str]] = []
    time_rows: list[list[str]] = []
    peer_rows: list[list[str]] = []
    for name in scaling_cases:
        per_run = {run.slug: Scaling.of(run.cases[name]) for run in runs
                   if name in run.cases and not run.cases[name].get("error")}
        libraries: list[str] = []
        for scaling in per_run.values():
            libraries += [lib for lib in scaling.libraries if lib not in libraries]
        libraries = ordered(libraries)
        workload = name.removeprefix("scaling.")
        for library in libraries:
            speed_rows.append([workload, library] + [
                speedup_cell(per_run[r.slug].speedup(library, cores), cores)
                if r.slug in per_run else "n/a" for r in runs])
            for workers in (1, cores):
                cells = []
                for run in runs:
                    stat = per_run[run.slug].time(library, workers) if run.slug in per_run else None
                    cell = time_cell(stat)
                    base_stat = (per_run[base.slug].time(library, workers)
                                 if base is not None and base.slug in per_run else None)
                    if stat is not None and base_stat is not None and base is not None \
                            and run is not base:
                        cell += f" · **{base_stat.median / stat.median:.2f}x** vs {base.slug}"
                    cells.append(cell)
                time_rows.append([workload, library, str(workers), *cells])
        if FTPOOL in libraries:
            for peer in PEERS:
                if peer not in libraries:
                    continue
                cells = []
                for run in runs:
                    stat = (per_run[run.slug].relative(peer, FTPOOL, cores)
                            if run.slug in per_run else None)
                    cells.append("n/a" if stat is None else
                                 f"{stat.median:.3f} {spread(stat, 'x')}")
                peer_rows.append([workload, peer, *cells])
    lines = [f"## CPU-bound work at N = {cores} workers (= cores)", "",
             "Speedup over 1 worker of the same library · efficiency [speedup min-max]:", ""]
    lines += table(["workload", "library", *labels], speed_rows)
    lines += ["", "Wall time for the whole workload [min-max], and how much faster than the same "
              "library with the same workers on "
              f"{base.label if base else 'the GIL build'}:", ""]
    lines += table(["workload", "library", "workers", *labels], time_rows)
    if peer_rows:
        lines += ["", f"ftpool Pool against its peers at {cores} workers: peer time / Pool time "
                  "per repeat (above 1: the Pool was faster; 0.95 = the Pool took 5% longer):",
                  ""]
        lines += table(["workload", "peer", *labels], peer_rows)
    return [*lines, ""]


def detail_lines(runs: list[Run], scaling_cases: list[str]) -> list[str]:
    lines = ["## Scaling, every worker count", ""]
    for name in scaling_cases:
        present = [r for r in runs if name in r.cases and not r.cases[name].get("error")]
        if not present:
            continue
        case = present[0].cases[name]
        info = case.get("info", {})
        work = info.get("work", {}).get("quick" if present[0].data.get("quick") else "full", "")
        lines += [f"### {name}: {info.get('workload', '')} — {work} in {info.get('tasks', '?')} "
                  f"equal tasks", ""]
        per_run = {r.slug: Scaling.of(r.cases[name]) for r in present}
        workers = sorted({n for s in per_run.values() for n in s.workers})
        libraries: list[str] = []
        for scaling in per_run.values():
            libraries += [lib for lib in scaling.libraries if lib not in libraries]
        libraries = ordered(libraries)
        rows = []
        for library in libraries:
            for run in present:
                scaling = per_run[run.slug]
                cells = [time_cell(scaling.time(library, 1))]
                cells += [speedup_cell(scaling.speedup(library, n), n) for n in workers if n > 1]
                rows.append([library, run.label, *cells])
        header = ["library", "configuration", "1 worker (time)",
                  *[f"{n} workers (speedup · eff.)" for n in workers if n > 1]]
        lines += table(header, rows)
        method = info.get("process_start_method")
        if method:
            lines += ["", f"ProcessPoolExecutor start method: {method}; executors are started "
                      "before the clock starts (process start-up is not timed)."]
        lines.append("")
    return lines


def scenario_lines(runs: list[Run], names: list[str]) -> list[str]:
    if not names:
        return []
    lines = ["## The seed's scenarios end to end", "",
             "Makespan [min-max] · serial sum / makespan (speedup over the same work without "
             "threads) · ideal bound / makespan (100% = the best any schedule could do here). "
             "The bound comes from the serial run's fastest item of each stage; a figure a little "
             "above 100% means the threads ran the stages faster than that serial run did (machine "
             "noise), not a schedule better than ideal.", ""]
    for name in names:
        present = [r for r in runs if name in r.cases and not r.cases[name].get("error")]
        if not present:
            continue
        case = present[0].cases[name]
        lines += [f"### {name}", "", case.get("description", ""), ""]
        impls: list[str] = []
        for run in present:
            impls += [m for m in run.cases[name]["metrics"] if m not in impls]
        rows = []
        for impl in impls:
            cells = []
            for run in runs:
                metrics = run.cases.get(name, {}).get("metrics", {})
                if impl not in metrics:
                    cells.append("n/a")
                    continue
                values = repeats_of(run.cases[name], impl)
                cell = time_cell(Stat.of(values))
                if impl not in ("serial sum", "ideal bound"):
                    vs_serial = per_repeat_ratio(repeats_of(run.cases[name], "serial sum"), values)
                    of_ideal = per_repeat_ratio(repeats_of(run.cases[name], "ideal bound"),
                                                values)
                    if vs_serial is not None and of_ideal is not None:
                        cell += f" · {vs_serial.median:.2f}x · {of_ideal.median:.0%}"
                cells.append(cell)
            rows.append([impl, *cells])
        lines += table(["implementation", *[r.label for r in runs]], rows)
        lines.append("")
    return lines


# --- why one shared counter does not scale (bench case counter.contention) ------------------------

CONTENTION_CASE = "counter.contention"
CONTENTION_RATIOS = (
    ("one AtomicCounter used by both threads", "one shared AtomicCounter"),
    ("one shared function", "one shared function, same cell"),
    ("per-thread functions, same cell", "per-thread functions, same cell"),
    ("per-thread functions, own cache lines", "per-thread functions, cells 64 B apart (own lines)"),
)


def contention_lines(runs: list[Run]) -> list[str]:
    """The explanation of AtomicCounter's 2-thread figure, with the counter.contention ratios."""
    present = [r for r in runs if CONTENTION_CASE in r.cases
               and not r.cases[CONTENTION_CASE].get("error")]
    if not present:
        return []
    rows = []
    for label, metric in CONTENTION_RATIOS:
        cells = []
        for run in present:
            entry = run.cases[CONTENTION_CASE].get("ratios", {}).get(f"{metric} x2 / {metric} x1")
            cells.append("n/a" if entry is None else
                         f"**{entry['median']:.2f}x** [{entry['min']:.2f}-{entry['max']:.2f}]")
        rows.append([label, *cells])
    return [
        "## Why one shared AtomicCounter does not scale", "",
        "The same patomic increment from 2 threads against 1 (aggregate rate, x2 / x1), reached "
        "through one shared object or through per-thread objects (`counter.contention`):", "",
        *table(["increment reached through", *[r.label for r in present]], rows), "",
        "On 3.13t every use of a Python object writes its reference count, so an object that both "
        "threads use on every operation has its header's cache line bounce between the cores: "
        "the *one shared function* row pays that on every call, however cheap the instruction. "
        "That was "
        "`AtomicCounter`'s case while each add loaded the shared counter and its shared "
        "`threading.local`; it now hands each thread its own functions (a hoisted "
        "`add = counter.add` touches nothing shared), so its row should follow *per-thread "
        "functions, same cell*. What remains is the hardware's share: the counter's one cache "
        "line moving between the cores on every increment (tens of nanoseconds, against about a "
        "microsecond of Python around it); *own cache lines* share nothing and are limited only "
        "by the cores the machine gives (read every ratio against that row: on a loaded machine "
        "it is itself below 2x). The limit: n threads on ONE counter cell never beat one core's "
        "rate for the instruction itself and, with the Python around it, gain at best what "
        "per-thread functions on one cell gain here; counts that many threads bump belong in "
        "`ftpool.Adder` (a cell per thread), and `AtomicCounter` is for values each update must "
        "see (tickets, flags, wait/notify).", "",
    ]


def other_lines(runs: list[Run], names: list[str]) -> list[str]:
    if not names:
        return []
    lines = ["## Other cases (each against its peers in the same run)", ""]
    for name in names:
        present = [r for r in runs if name in r.cases and not r.cases[name].get("error")]
        if not present:
            continue
        case = present[0].cases[name]
        lines += [f"### {name}", "", case.get("description", "")]
        if case.get("target"):
            lines.append(f"Target: {case['target']}")
        lines.append("")
        rows = []
        metric_names: list[str] = []
        ratio_names: list[str] = []
        for run in present:
            metric_names += [m for m in run.cases[name]["metrics"] if m not in metric_names]
            ratio_names += [m for m in run.cases[name].get("ratios", {}) if m not in ratio_names]
        for metric in metric_names:
            cells = []
            for run in runs:
                entry = run.cases.get(name, {}).get("metrics", {}).get(metric)
                cells.append("n/a" if entry is None else
                             f"{fmt(entry['median'])} {case.get('unit', '')} "
                             f"[{fmt(entry['min'])}-{fmt(entry['max'])}]")
            rows.append([metric, *cells])
        for ratio in ratio_names:
            cells = []
            for run in runs:
                entry = run.cases.get(name, {}).get("ratios", {}).get(ratio)
                cells.append("n/a" if entry is None else
                             f"**{entry['median']:.2f}x** [{entry['min']:.2f}-{entry['max']:.2f}]")
            rows.append([f"**{ratio}**", *cells])
        lines += table(["metric", *[r.label for r in runs]], rows)
        lines.append("")
    return lines


# What each trap case (scripts/benchcases/traps.py) shows, and its fix; the figures come from the
# run. Keyed by the case's info["trap"].
TRAP_TEXT = {
    "constants": (
        "Mortal constants",
        "On a free-threaded build, a code object made by `compile()` -- which is what an import "
        "does when there is no `.pyc` (`PYTHONDONTWRITEBYTECODE` set, a first run, a read-only "
        "directory) -- keeps ordinary reference counts on its constants. Every `LOAD_CONST` of a "
        "float then writes one shared count, and threads running the same function fight over "
        "it. The same code loaded from a `.pyc` (by `marshal`) has immortal constants, whose "
        "count is never written. Processes are unaffected.",
        "byte-compile (`python -m compileall DIR`, or leave `PYTHONDONTWRITEBYTECODE` unset; "
        "`scripts/bench` byte-compiles its cases itself). With `FTPOOL_IMMORTAL_CONSTANTS=1`, "
        "`ftpool.Pool` and `Worker` run the function they are given through a copy with "
        "immortal constants (off by default: it slowed tiny pool tasks), which does not reach "
        "the functions it calls; `python -m ftpool doctor MODULE:FUNCTION` names the ones that "
        "still have mortal constants."),
    "shared": (
        "One object shared by every thread",
        "A free-threaded build counts references to an object cheaply only in the thread that "
        "created it; every other thread uses atomic operations on one shared field. Threads "
        "that all call methods of, and read float attributes from, one object write the same "
        "cache lines all the time.",
        "give each thread (each task) its own object: copy the configuration into it, build it "
        "inside the task, or keep it in `threading.local`."),
    "gil_import": (
        "An extension module that switches the GIL back on",
        "Importing an extension module that does not declare free-threading support (here "
        "`_cffi_backend` of cffi 1.x, which the `atomics` package imports) switches the GIL on "
        "for the whole process, with only a `RuntimeWarning`; from then on threads take turns. "
        "ftpool warns with `GILEnabledWarning`, and `ftpool.runtime().gil_enabled_by` and "
        "`python -m ftpool doctor` name the import.",
        "start Python with `PYTHON_GIL=0` (or `-X gil=0`): the extension then runs without the "
        "GIL at its own risk (safe for cffi the way ftpool uses it: once per buffer, under a "
        "lock), or use a build of the extension for free threading (cffi 2 on 3.14t)."),
}


def trap_cell(scaling: Scaling, variant: str, workers: int) -> str:
    """speedup · efficiency [range] · CPU growth (CPU xN / x1) of one variant."""
    speed = scaling.speedup(variant, workers)
    if speed is None:
        return "n/a"
    cell = speedup_cell(speed, workers)
    growth = scaling.cpu_growth(variant, workers)
    if growth is not None:
        cell += f" · CPU {growth.median:.2f}x"
    return cell


def trap_lines(runs: list[Run], names: list[str]) -> list[str]:
    """The known traps, each a short paragraph with the measured figures and the fix."""
    if not names:
        return []
    lines = ["## What scales on free-threaded Python and what does not: the traps", "",
             "Each trap against its fix, the same work on 1 and N threads in the same repeat. "
             "Cells: speedup at N threads · efficiency [speedup min-max] · CPU growth (process "
             "CPU time at N threads / at 1: 1.00x means the threads did not slow each other "
             "down; other load on the machine stretches wall time but not this).", ""]
    reference = next((r for r in runs if r.kind == "ft-off"), None)
    for name in names:
        present = [r for r in runs if name in r.cases and not r.cases[name].get("error")]
        if not present:
            continue
        case = present[0].cases[name]
        info = case.get("info", {})
        title, why, fix = TRAP_TEXT.get(info.get("trap", ""), (name, "", ""))
        per_run = {r.slug: Scaling.of(r.cases[name]) for r in present}
        workers = max((n for sc in per_run.values() for n in sc.workers), default=1)
        listed: list[str] = []  # the union: some variants exist on one build only
        for run in present:
            listed += [v for v in run.cases[name].get("info", {}).get("variants", [])
                       if v not in listed]
        variants = [v for v in listed if any((v, 1) in sc.times for sc in per_run.values())]
        lines += [f"### {title} ({name})", "", case.get("description", ""), ""]
        measured = ""
        if reference is not None and reference.slug in per_run:
            sc = per_run[reference.slug]
            parts = []
            for variant in variants:
                speed, growth = sc.speedup(variant, workers), sc.cpu_growth(variant, workers)
                if speed is None:
                    continue
                part = f"{variant}: {speed.median:.2f}x ({efficiency(speed.median, workers):.0%})"
                if growth is not None:
                    part += f", CPU {growth.median:.2f}x"
                parts.append(part)
            measured = (f" Measured on {reference.label} at {workers} threads: "
                        + "; ".join(parts) + ".")
        lines += [f"{why}{measured} **Fix:** {fix}", ""]
        rows = [[variant, *[trap_cell(per_run[r.slug], variant, workers)
                            if r.slug in per_run else "n/a" for r in runs]]
                for variant in variants]
        lines += table(["variant", *[r.label for r in runs]], rows)
        gil_rows = []
        for variant in variants:
            cells = []
            for run in runs:
                entry = run.cases.get(name, {}).get("metrics", {}).get(
                    f"{variant} gil on at the end")
                cells.append("n/a" if entry is None else
                             ("GIL on" if entry["median"] >= 0.5 else "GIL off"))
            if any(cell != "n/a" for cell in cells):
                gil_rows.append([variant, *cells])
        if gil_rows:
            lines += ["", "The GIL at the end of each child interpreter:", ""]
            lines += table(["variant", *[r.label for r in runs]], gil_rows)
        lines.append("")
    return lines


def build_report(runs: list[Run], summary_only: bool = False) -> str:
    """The whole report.md text; with ``summary_only`` just the header, warnings, targets, the
    N-core tables and the scenarios (what the terminal shows at the end of a comparison)."""
    names: list[str] = []
    kinds: dict[str, str] = {}
    for run in runs:
        for case in run.data["cases"]:
            if case["name"] not in names:
                names.append(case["name"])
                kinds[case["name"]] = case.get("kind", "")
    scaling = [n for n in names if kinds[n] == "scaling"]
    scenarios = [n for n in names if kinds[n] == "scenario"]
    traps = [n for n in names if kinds[n] == "trap"]
    others = [n for n in names if kinds[n] not in ("scaling", "scenario", "trap")]
    lines = header_lines(runs)
    warnings = consistency_warnings(runs)
    thin = []
    for run in runs:
        need = 3 if run.data.get("quick") else 5
        thin += [f"{run.label} {case['name']}" for case in run.data["cases"]
                 if any(len(m["repeats"]) < need for m in case["metrics"].values())]
    if thin:
        warnings.append(f"fewer repeats than {3 if runs[0].data.get('quick') else 5} in: "
                        + ", ".join(thin))
    failed = [f"{run.label} {case['name']}: {case['error']}" for run in runs
              for case in run.data["cases"] if case.get("error")]
    if warnings or failed:
        lines += ["", "**Warnings:**", ""]
        lines += [f"- {w}" for w in warnings]
        lines += [f"- FAILED {f}" for f in failed]
    lines.append("")
    if scaling:
        lines += target_lines(runs, scaling)
        lines += summary_lines(runs, scaling)
    lines += scenario_lines(runs, scenarios)
    lines += trap_lines(runs, traps)
    if summary_only:
        return "\n".join(lines).rstrip() + "\n"
    if scaling:
        lines += detail_lines(runs, scaling)
    lines += other_lines(runs, others)
    lines += contention_lines(runs)
    if scaling:
        lines += [f"![speedup against workers]({CHART})", ""]
    return "\n".join(lines).rstrip() + "\n"


# --- the chart ------------------------------------------------------------------------------------

LINESTYLES = {"gil": "--", "ft-off": "-", "ft-on": ":"}  # by Run.kind


def draw_chart(runs: list[Run]) -> bytes:
    """scaling.png: speedup against workers, one panel per workload, one line per library and
    configuration (colour = library, line style = configuration), min-max as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    names: list[str] = []
    for run in runs:
        names += [c["name"] for c in run.data["cases"]
                  if c.get("kind") == "scaling" and not c.get("error") and c["name"] not in names]
    if not names:
        raise ReportError("no scaling case in the input: nothing to draw (pass --no-plot)")
    cores = cores_of(runs)
    libraries: list[str] = []
    for run in runs:
        for name in names:
            if name in run.cases:
                libraries += [lb for lb in Scaling.of(run.cases[name]).libraries
                              if lb not in libraries]
    libraries = ordered(libraries)
    colors = {lib: plt.get_cmap("tab10")(i) for i, lib in enumerate(libraries)}
    figure, axes = plt.subplots(1, len(names), figsize=(5.2 * len(names), 4.6), squeeze=False,
                                sharey=True)
    top = 1.0
    for ax, name in zip(axes[0], names, strict=True):
        workers_all: set[int] = set()
        for run in runs:
            if name not in run.cases or run.cases[name].get("error"):
                continue
            scaling = Scaling.of(run.cases[name])
            workers_all.update(scaling.workers)
            for library in scaling.libraries:
                points = [(n, scaling.speedup(library, n)) for n in scaling.workers]
                xs = [n for n, s in points if s is not None]
                stats = [s for _, s in points if s is not None]
                medians = [s.median for s in stats]
                top = max([top, *(s.high for s in stats)])
                ax.errorbar(xs, medians,
                            yerr=[[s.median - s.low for s in stats],
                                  [s.high - s.median for s in stats]],
                            color=colors[library], linestyle=LINESTYLES.get(run.kind, "-."),
                            marker="o", markersize=4, capsize=3, linewidth=1.6)
        xs = sorted(workers_all)
        ax.plot(xs, [min(n, cores) for n in xs], color="0.6", linewidth=4, alpha=0.35)
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [str(n) for n in xs])
        ax.set_xlabel("workers")
        ax.set_title(name)
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("speedup over 1 worker (same library)")
    axes[0][0].set_ylim(0, max(cores + 0.5, top * 1.05))
    # one legend entry per library (colour) and per configuration (line style), not per pair
    by_library: list[Any] = [Line2D([], [], color=colors[lib], linewidth=2.5, label=lib)
                             for lib in libraries]
    by_library.append(Line2D([], [], color="0.6", linewidth=4, alpha=0.35,
                             label=f"ideal ({cores} cores)"))
    by_config = [Line2D([], [], color="0.25", linestyle=LINESTYLES.get(run.kind, "-."),
                        linewidth=1.6, label=run.label) for run in runs]
    machine = runs[0].data["machine"]
    quick = " (quick run: smoke test)" if any(r.data.get("quick") for r in runs) else ""
    figure.suptitle(f"CPU-bound scaling on {machine.get('cores')} cores, "
                    f"{machine.get('cpu') or machine.get('machine')}{quick}; bars: min-max",
                    fontsize=10)
    figure.legend(handles=by_library, loc="lower center", bbox_to_anchor=(0.5, 0.06),
                  ncol=len(by_library), fontsize=8, frameon=False)
    figure.legend(handles=by_config, loc="lower center", bbox_to_anchor=(0.5, 0.0),
                  ncol=len(by_config), fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0.14, 1, 1))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return buffer.getvalue()


# --- writing --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _no_interrupt() -> Iterator[None]:
    """Hold Ctrl-C off while the finished files are renamed into place (a few renames)."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def write_outputs(out: Path, files: dict[str, bytes]) -> list[Path]:
    """Write every file under a temporary name in ``out``, then rename them all into place.

    Until the renames nothing in ``out`` changes; the temporary directory is removed whatever
    happens (also on KeyboardInterrupt). The report is renamed last.
    """
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".report-", dir=out))
    try:
        for name, content in files.items():
            (staging / name).write_bytes(content)
        order = sorted(files, key=lambda n: n == REPORT)  # report.md last
        written = []
        with _no_interrupt():
            for name in order:
                os.replace(staging / name, out / name)
                written.append(out / name)
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def outputs(runs: list[Run], plot: bool) -> dict[str, bytes]:
    """Everything the report consists of, in memory: nothing is written before it all exists."""
    files: dict[str, bytes] = {}
    for run in runs:
        files[f"{run.slug}.json"] = run.raw
    plot = plot and any(case.get("kind") == "scaling" and not case.get("error")
                        for run in runs for case in run.data["cases"])  # else nothing to draw
    if plot:
        files[CHART] = draw_chart(runs)
    text = build_report(runs)
    if not plot:
        text = text.replace(f"![speedup against workers]({CHART})\n", "")
    files[REPORT] = text.encode()
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/report.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", type=Path, metavar="JSON_OR_DIR",
                        help="scripts/bench --json files, or a directory holding them")
    parser.add_argument("--out", type=Path, default=Path("compare"),
                        help="directory to write report.md, scaling.png and the JSON (default "
                        "%(default)s)")
    parser.add_argument("--no-plot", action="store_true", help="do not draw scaling.png")
    parser.add_argument("--quiet", action="store_true", help="print only the paths written")
    args = parser.parse_args(argv)
    if not args.no_plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            parser.exit(2, "scripts/report.py: drawing scaling.png needs matplotlib: pip install "
                        "matplotlib (nox -s compare installs it), or pass --no-plot\n")
    try:
        runs = load(args.inputs)
        files = outputs(runs, plot=not args.no_plot)
    except ReportError as exc:
        print(f"scripts/report.py: {exc}", file=sys.stderr)
        return 1
    try:
        written = write_outputs(args.out, files)
    except KeyboardInterrupt:
        print("\nscripts/report.py: interrupted; nothing was written", file=sys.stderr)
        return 130
    if not args.quiet:
        print(build_report(runs, summary_only=True))
        print(f"(every worker count, the other cases and the chart: {args.out / REPORT})\n")
    print("wrote:")
    for path in written:
        print(f"  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
