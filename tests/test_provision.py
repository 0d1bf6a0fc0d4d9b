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
FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
SERIES = f"{sys.version_info[0]}.{sys.version_info[1]}"  # this interpreter's own version
THIS_KIND = "free-threaded" if FREE_THREADED else "gil"
OTHER_KIND = "gil" if FREE_THREADED else "free-threaded"
VAR = {"free-threaded": "FTPOOL_PYTHON_T", "gil": "FTPOOL_PYTHON"}
NOX_PYTHON = Path(os.environ.get("FTPOOL_CACHE") or Path(
    os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ftpool") / "tools/nox/bin/python"


def load_provision() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("ftpool_provision", str(PROVISION))
    spec = importlib.util.spec_from_loader("ftpool_provision", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def run(cache: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in VAR.values()}
    # a PATH without any pythonX.Yt/pythonX.Y pair, so only the cache and the variables count
    base["PATH"] = env.pop("PATH", "/usr/bin:/bin")
    return subprocess.run(
        [sys.executable, str(PROVISION), *args], capture_output=True, text=True, timeout=120,
        env={**base, "FTPOOL_CACHE": str(cache), **env}, check=False,
    )


def test_no_build_with_an_empty_cache_says_how_to_get_the_interpreters(tmp_path: Path) -> None:
    result = run(tmp_path, "--no-build")
    assert result.returncode == 1
    assert "run scripts/provision without --no-build" in result.stderr
    assert "t=" not in result.stdout


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
    result = run(tmp_path, "--no-build", **{VAR[OTHER_KIND]: sys.executable})
    assert result.returncode == 1
    assert f"{VAR[OTHER_KIND]}={sys.executable}" in result.stderr
    assert "build (Py_GIL_DISABLED=" in result.stderr
    assert f"fix or unset {VAR[OTHER_KIND]}" in result.stderr


def test_explicit_interpreters_are_printed_as_the_last_two_lines(tmp_path: Path) -> None:
    other = os.environ.get(f"FTPOOL_TEST_{VAR[OTHER_KIND]}")
    if not other:
        pytest.skip(f"set FTPOOL_TEST_{VAR[OTHER_KIND]} (nox -s tests does) to run this")
    result = run(tmp_path, **{VAR[THIS_KIND]: sys.executable, VAR[OTHER_KIND]: other})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()[-2:]
    expected = {THIS_KIND: str(Path(sys.executable).absolute()),
                OTHER_KIND: str(Path(other).absolute())}
    # labelled by the interpreters' real version (this machine has 3.13; 3.14 would say 3.14)
    assert lines == [f"{SERIES}t={expected['free-threaded']}", f"{SERIES}={expected['gil']}"]
    # and the links the noxfile puts on PATH point at them
    assert (tmp_path / "bin" / f"python{SERIES}t").resolve() == Path(
        expected["free-threaded"]).resolve()


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


def fake_interpreter(where: Path, name: str, version: tuple[int, int], free_threaded: bool,
                     ) -> Path:
    """A stand-in for an interpreter this machine does not have (e.g. python3.14t): it answers
    scripts/provision's check as that version and runs this interpreter for anything else."""
    where.mkdir(parents=True, exist_ok=True)
    path = where / name
    answer = json.dumps(["cpython", list(version), free_threaded]).replace('"', '\\"')
    path.write_text(
        "#!/bin/sh\n"
        f'case "$2" in "import sys, sysconfig, json"*) echo "{answer}"; exit 0;; esac\n'
        f'exec "{sys.executable}" "$@"\n')
    path.chmod(0o755)
    return path


def test_a_pair_of_another_version_on_path_is_found_and_labelled_by_it(tmp_path: Path) -> None:
    fakes = tmp_path / "fakes"
    fake_interpreter(fakes, "python3.14t", (3, 14), True)
    fake_interpreter(fakes, "python3.14", (3, 14), False)
    fake_interpreter(fakes, "python3.15t", (3, 15), True)  # no GIL twin: not a pair
    cache = tmp_path / "cache"
    result = run(cache, "--no-build", PATH=f"{fakes}:/usr/bin:/bin")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-2:] == [
        f"3.14t={fakes / 'python3.14t'}", f"3.14={fakes / 'python3.14'}"]
    assert (cache / "bin" / "python3.14t").resolve() == (fakes / "python3.14t").resolve()
    assert (cache / "bin" / "python3.14").resolve() == (fakes / "python3.14").resolve()


def test_explicit_interpreters_of_two_versions_are_refused(tmp_path: Path) -> None:
    fakes = tmp_path / "fakes"
    free = fake_interpreter(fakes, "python3.14t", (3, 14), True)
    gil = fake_interpreter(fakes, "python3.15", (3, 15), False)
    result = run(tmp_path / "cache", "--no-build", FTPOOL_PYTHON_T=str(free),
                 FTPOOL_PYTHON=str(gil))
    assert result.returncode == 1
    assert "two different versions" in result.stderr
    assert "3.14t" in result.stderr
    assert "3.15" in result.stderr
    assert not (tmp_path / "cache" / "bin").exists()


def test_a_path_through_the_links_does_not_become_a_link_to_itself(tmp_path: Path) -> None:
    fakes = tmp_path / "fakes"
    fake_interpreter(fakes, "python3.14t", (3, 14), True)
    fake_interpreter(fakes, "python3.14", (3, 14), False)
    cache = tmp_path / "cache"
    assert run(cache, "--no-build", PATH=f"{fakes}:/usr/bin:/bin").returncode == 0
    again = run(cache, "--no-build", FTPOOL_PYTHON_T=str(cache / "bin" / "python3.14t"),
                FTPOOL_PYTHON=str(cache / "bin" / "python3.14"))
    assert again.returncode == 0, again.stderr
    assert (cache / "bin" / "python3.14t").resolve() == (fakes / "python3.14t").resolve()


@pytest.mark.skipif(not NOX_PYTHON.exists(), reason="needs the nox that scripts/nox installs")
def test_nox_sessions_are_named_after_the_provisioned_pair(tmp_path: Path) -> None:
    fakes = tmp_path / "fakes"
    fake_interpreter(fakes, "python3.14t", (3, 14), True)
    fake_interpreter(fakes, "python3.14", (3, 14), False)
    env = {k: v for k, v in os.environ.items() if k not in VAR.values()}
    env.update(FTPOOL_CACHE=str(tmp_path / "cache"), PATH=f"{fakes}:/usr/bin:/bin")
    result = subprocess.run([str(NOX_PYTHON), "-m", "nox", "--noxfile", str(ROOT / "noxfile.py"),
                             "-l"], capture_output=True, text=True, env=env, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr
    sessions = [line.split()[1] for line in result.stdout.splitlines()
                if line[:2] in ("* ", "- ")]
    for name in ("tests-3.14t", "tests-3.14", "compare_run-3.14t", "compare_run-3.14",
                 "compare", "lint", "tests_parallel"):
        assert name in sessions
    assert not [name for name in sessions if "3.13" in name]
