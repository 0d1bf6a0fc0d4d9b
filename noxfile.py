"""ftpool's sessions: the same work on a free-threaded build and the GIL build of one version.

Run them through ``scripts/nox`` (it installs nox itself). The interpreters come from
``scripts/provision``, which finds or builds them (once; cached outside the repository) and links
them into a directory this file puts first on PATH. The pair is whatever it provides -- 3.13t and
3.13 here, 3.14t and 3.14 given ``FTPOOL_PYTHON_T``/``FTPOOL_PYTHON`` or ``python3.14t`` and
``python3.14`` on PATH -- and the sessions are named after its real version (``tests-3.13t``,
``tests-3.13``; ``tests`` runs both whatever they are called).

On the free-threaded build the sessions set ``PYTHON_GIL=0``: the ``atomics`` package imports cffi
1.x, which would otherwise switch the GIL back on (ftpool warns when that happens).
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
PROVISION = ROOT / "scripts" / "provision"
CONSTRAINTS = ROOT / "constraints.txt"
NO_GIL = {"PYTHON_GIL": "0"}

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_venv = "yes"
nox.options.download_python = "never"
nox.options.error_on_missing_interpreters = True

_LISTING = {"-l", "--list", "--list-sessions", "-h", "--help", "--usage", "--version"}


def _default_series() -> str:
    """The version scripts/provision would build (its SOURCE_SERIES): the session names used to
    list the sessions before anything is provisioned."""
    loader = importlib.machinery.SourceFileLoader("ftpool_provision", str(PROVISION))
    spec = importlib.util.spec_from_loader("ftpool_provision", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return str(module.SOURCE_SERIES)


def _provision() -> tuple[str, str]:
    """Find (or, unless we are only listing sessions, build) both interpreters; put them on PATH.
    Returns their labels: (free-threaded, GIL), e.g. ("3.13t", "3.13")."""
    listing = bool(_LISTING.intersection(sys.argv))
    cmd = [sys.executable, str(PROVISION), *(["--no-build"] if listing else [])]
    result = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    if result.returncode != 0:
        if listing:
            series = _default_series()
            return f"{series}t", series
        sys.exit(f"nox: scripts/provision failed (exit {result.returncode}); see its message above")
    # the last two lines: "<X.Y>t=<path>" (free-threaded), then "<X.Y>=<path>" (GIL build)
    (free, free_path), (gil, gil_path) = (
        line.split("=", 1) for line in result.stdout.strip().splitlines()[-2:])
    # the provisioning tests check explicit interpreters with the real pair
    os.environ["FTPOOL_TEST_FTPOOL_PYTHON_T"] = free_path
    os.environ["FTPOOL_TEST_FTPOOL_PYTHON"] = gil_path
    # scripts/provision links exactly these two as python<X.Y>t and python<X.Y> in its bin/ (the
    # free-threaded build's own bin/ also holds a python<X.Y>, so only the links go on PATH)
    cache_bin = Path(os.environ.get("FTPOOL_CACHE") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ftpool") / "bin"
    os.environ["PATH"] = os.pathsep.join([str(cache_bin), os.environ.get("PATH", "")])
    return free, gil


# Each session sets PYTHON_GIL itself; one exported by the caller would reach the GIL build,
# whose interpreter refuses to start with PYTHON_GIL=0.
os.environ.pop("PYTHON_GIL", None)
FREE_THREADED, GIL_BUILD = _provision()  # e.g. "3.13t", "3.13": nox's python= for each build
PYTHONS = [FREE_THREADED, GIL_BUILD]


def _install(session: nox.Session, *groups: str) -> None:
    pyproject = nox.project.load_toml(ROOT / "pyproject.toml")
    deps = [dep for group in groups for dep in nox.project.dependency_groups(pyproject, group)]
    session.install("-c", str(CONSTRAINTS), "-e", str(ROOT), *deps)


def _env(session: nox.Session) -> dict[str, str]:
    return dict(NO_GIL) if session.python == FREE_THREADED else {}


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite (pytest, pytest-timeout); the GIL must stay off on the free-threaded
    build throughout."""
    _install(session, "test")
    session.run("python", "-m", "pytest", *session.posargs, env=_env(session))


@nox.session(python=GIL_BUILD)
def lint(session: nox.Session) -> None:
    """ruff on everything, mypy --strict on ftpool/ (on the GIL build: mypy does not install on
    a free-threaded one yet)."""
    _install(session, "lint")
    session.run("ruff", "check", "ftpool", "tests", "scripts", "noxfile.py")
    session.run("mypy", "--strict", "ftpool")


@nox.session(python=PYTHONS)
def bench(session: nox.Session) -> None:
    """Run scripts/bench (pass its options after --, e.g. -- --case 'channel.*' --quick)."""
    _install(session)
    session.run("python", str(ROOT / "scripts" / "bench"), *session.posargs, env=_env(session))


# --- stress: the long randomized run, and the API tests on several threads at once ----------------
STRESS_SECONDS = "30"  # per scenario; the normal test run gives each 2 s


@nox.session(python=PYTHONS)
def stress(session: nox.Session) -> None:
    """The long stress run (tests/stress): randomized rounds over Pool, Channel, ports and atomics
    with faults injected, invariants checked after every round; prints the seed and a summary
    (tasks and messages pushed, faults, lost/duplicated/hung/leaked). FTPOOL_STRESS_SECONDS (per
    scenario, default 30), FTPOOL_STRESS_SEED (replay), FTPOOL_STRESS_ROUNDS; pytest options
    after --, e.g. -- -k pool."""
    _install(session, "test")
    seconds = os.environ.get("FTPOOL_STRESS_SECONDS") or STRESS_SECONDS
    env = {**_env(session), "FTPOOL_STRESS_SECONDS": seconds}
    session.run("python", "-m", "pytest", str(ROOT / "tests" / "stress"), "-p", "no:cacheprovider",
                f"--timeout={float(seconds) + 120:.0f}", *session.posargs, env=env)


@nox.session(python=FREE_THREADED)
def tests_parallel(session: nox.Session) -> None:
    """The API tests with pytest-run-parallel: each test body on 4 threads at once (GIL off);
    tests marked single_thread run once. The stress tests run in `tests` (whole-process)."""
    _install(session, "test", "parallel")
    session.run("python", "-m", "pytest", "--parallel-threads=4", "-p", "no:cacheprovider",
                "--ignore", str(ROOT / "tests" / "stress"),
                "--ignore", str(ROOT / "tests" / "test_provision.py"),
                "--ignore", str(ROOT / "tests" / "test_bench_report.py"),
                *session.posargs, env=_env(session))
# --- end stress -----------------------------------------------------------------------------------


# --- compare: the benchmarks on 3.13, 3.13t GIL off and 3.13t GIL on, in one report ---------------
# configuration -> (interpreter, PYTHON_GIL). None unsets PYTHON_GIL: the GIL build refuses "0".
COMPARE_CONFIGS: dict[str, tuple[str, str | None]] = {
    GIL_BUILD: (GIL_BUILD, None),
    f"{FREE_THREADED}-gil-off": (FREE_THREADED, "0"),
    f"{FREE_THREADED}-gil-on": (FREE_THREADED, "1"),
}
COMPARE_RUNS = ROOT / ".nox" / "compare-runs"  # each run's JSON, until its report is written
_COMPARE_ID = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"  # one per nox invocation
_COMPARE_USAGE = "scripts/nox -s compare [-- --quick] [--out DIR] [--case GLOB]... [--repeats N]"


def _compare_options(session: nox.Session) -> argparse.Namespace:
    """The options after `--` (the same for every part of the comparison)."""
    parser = argparse.ArgumentParser(prog="compare", add_help=False, exit_on_error=False)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default="compare")
    parser.add_argument("--case", action="append", default=[])
    parser.add_argument("--repeats", type=int)
    try:
        options, unknown = parser.parse_known_args(session.posargs)
    except argparse.ArgumentError as exc:
        session.error(f"{exc}; usage: {_COMPARE_USAGE}")
    if unknown:
        session.error(f"unknown option(s) {' '.join(unknown)}; usage: {_COMPARE_USAGE}")
    # Each configuration sets PYTHON_GIL itself; one exported by the caller would reach pip and the
    # GIL build too, which refuses PYTHON_GIL=0 with a fatal error.
    if os.environ.pop("PYTHON_GIL", None) is not None:
        session.log("compare: ignoring PYTHON_GIL from the environment (each configuration sets "
                    "its own)")
    return options


@nox.session(python=PYTHONS)
def compare_run(session: nox.Session) -> None:
    """Part of `compare`: the benchmarks on one interpreter (free-threaded: GIL off, then on)."""
    options = _compare_options(session)
    staging = COMPARE_RUNS / _COMPARE_ID
    if COMPARE_RUNS.is_dir():  # interrupted comparisons leave their JSON behind; not this one's
        for old in COMPARE_RUNS.iterdir():
            if old.name != _COMPARE_ID:
                shutil.rmtree(old, ignore_errors=True)
    staging.mkdir(parents=True, exist_ok=True)
    failed = staging / "FAILED"  # an earlier part of this comparison failed: no report can come
    if failed.exists():
        session.skip("compare: an earlier part failed (see above), so not measuring this one")
    bench_args = [*(["--quick"] if options.quick else []),
                  *[arg for glob in options.case for arg in ("--case", glob)],
                  *(["--repeats", str(options.repeats)] if options.repeats else [])]
    try:
        _install(session)
        for config, (python, gil) in COMPARE_CONFIGS.items():
            if python != session.python:
                continue
            session.log(f"compare: {config} (PYTHON_GIL={gil or 'unset'})")
            # exit 3: a case raised; the others ran and the report shows the failure
            session.run("python", str(ROOT / "scripts" / "bench"), *bench_args,
                        "--json", str(staging / f"{config}.json"),
                        env={"PYTHON_GIL": gil}, success_codes=[0, 3])
    except BaseException:
        failed.touch()
        raise


@nox.session(python=GIL_BUILD,
             requires=[f"compare_run-{GIL_BUILD}", f"compare_run-{FREE_THREADED}"])
def compare(session: nox.Session) -> None:
    """The main job: the benchmarks on the GIL build and the free-threaded build (GIL off, forced
    on), side by side in compare/ (e.g. 3.13, 3.13t GIL off, 3.13t GIL on).

    Writes report.md, scaling.png and the JSON of each configuration into compare/ (or --out DIR).
    Options after --: --quick (a smoke run, under 3 minutes on 2 cores), --out DIR, --case GLOB
    (repeatable), --repeats N.
    """
    options = _compare_options(session)
    staging = COMPARE_RUNS / _COMPARE_ID
    results = [staging / f"{config}.json" for config in COMPARE_CONFIGS]
    missing = [path.name for path in results if not path.exists()]
    if missing:
        session.error(f"compare: no results for {', '.join(missing)} (a compare_run session "
                      "did not finish); run the whole thing again: " + _COMPARE_USAGE)
    pyproject = nox.project.load_toml(ROOT / "pyproject.toml")
    session.install("-c", str(CONSTRAINTS), *nox.project.dependency_groups(pyproject, "plot"))
    out = Path(session.invoked_from, options.out).resolve()
    session.run("python", str(ROOT / "scripts" / "report.py"), "--out", str(out),
                *map(str, results))
    shutil.rmtree(staging, ignore_errors=True)
# --- end compare ----------------------------------------------------------------------------------


def _check_session_names() -> None:
    """An unknown -s/-e name gets the list of sessions and the command to see them."""
    wanted: list[str] = []
    args = sys.argv[1:]
    for index, arg in enumerate(args):
        if arg in {"-s", "-e", "--session", "--sessions"}:
            wanted += [a for a in args[index + 1:] if not a.startswith("-")][:1]
        elif arg.startswith(("--session=", "--sessions=")):
            wanted.append(arg.split("=", 1)[1])
    known = set(nox.registry.get())
    known |= {f"{name}-{py}" for name in known for py in PYTHONS}
    unknown = [name for name in wanted if name not in known]
    if unknown:
        sys.exit(f"nox: unknown session {', '.join(map(repr, unknown))}; the sessions are "
                 f"{', '.join(sorted(nox.registry.get()))} (see them with: scripts/nox -l)")


_check_session_names()
