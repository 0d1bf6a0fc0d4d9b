"""ftpool's sessions: the same work on the free-threaded build (3.13t) and the GIL build (3.13).

Run them through ``scripts/nox`` (it installs nox itself). The interpreters come from
``scripts/provision``, which finds or builds them (once; cached outside the repository) and links
them into a directory this file puts first on PATH, so ``python="3.13t"`` means that build.

On 3.13t the sessions set ``PYTHON_GIL=0``: the ``atomics`` package imports cffi 1.x, which would
otherwise switch the GIL back on (ftpool warns when that happens).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
PROVISION = ROOT / "scripts" / "provision"
CONSTRAINTS = ROOT / "constraints.txt"
PYTHONS = ["3.13t", "3.13"]
NO_GIL = {"PYTHON_GIL": "0"}

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_venv = "yes"
nox.options.download_python = "never"
nox.options.error_on_missing_interpreters = True

_LISTING = {"-l", "--list", "--list-sessions", "-h", "--help", "--usage", "--version"}


def _provision() -> None:
    """Find (or, unless we are only listing sessions, build) both interpreters; put them on PATH."""
    listing = bool(_LISTING.intersection(sys.argv))
    cmd = [sys.executable, str(PROVISION), *(["--no-build"] if listing else [])]
    result = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    if result.returncode != 0:
        if listing:
            return
        sys.exit(f"nox: scripts/provision failed (exit {result.returncode}); see its message above")
    paths = dict(line.split("=", 1) for line in result.stdout.strip().splitlines()[-2:])
    # the provisioning tests check explicit interpreters with the real pair
    os.environ["FTPOOL_TEST_FTPOOL_PYTHON_T"] = paths["3.13t"]
    os.environ["FTPOOL_TEST_FTPOOL_PYTHON"] = paths["3.13"]
    bindir = str(Path(paths["3.13t"]).parent)
    cache_bin = Path(os.environ.get("FTPOOL_CACHE") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ftpool") / "bin"
    os.environ["PATH"] = os.pathsep.join([str(cache_bin), bindir, os.environ.get("PATH", "")])


_provision()


def _install(session: nox.Session, *groups: str) -> None:
    pyproject = nox.project.load_toml(ROOT / "pyproject.toml")
    deps = [dep for group in groups for dep in nox.project.dependency_groups(pyproject, group)]
    session.install("-c", str(CONSTRAINTS), "-e", str(ROOT), *deps)


def _env(session: nox.Session) -> dict[str, str]:
    return dict(NO_GIL) if session.python == "3.13t" else {}


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite (pytest, pytest-timeout); on 3.13t the GIL must stay off throughout."""
    _install(session, "test")
    session.run("python", "-m", "pytest", *session.posargs, env=_env(session))


@nox.session(python="3.13")
def lint(session: nox.Session) -> None:
    """ruff on everything, mypy --strict on ftpool/ (mypy does not install on 3.13t yet)."""
    _install(session, "lint")
    session.run("ruff", "check", "ftpool", "tests", "scripts", "noxfile.py")
    session.run("mypy", "--strict", "ftpool")


@nox.session(python=PYTHONS)
def bench(session: nox.Session) -> None:
    """Run scripts/bench (pass its options after --, e.g. -- --case 'channel.*' --quick)."""
    _install(session)
    session.run("python", str(ROOT / "scripts" / "bench"), *session.posargs, env=_env(session))


@nox.session(python=False)
def compare(session: nox.Session) -> None:
    """The main job: ftpool on the GIL build next to the no-GIL build (prints runtime() of both)."""
    for label in PYTHONS:
        session.log(f"--- {label} ---")
        session.run(f"python{label}", "-m", "ftpool", "info", external=True,
                    env={"PYTHONPATH": str(ROOT), **(NO_GIL if label == "3.13t" else {})})


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
