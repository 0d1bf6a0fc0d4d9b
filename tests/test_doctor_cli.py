"""``python -m ftpool doctor`` and ``python -m ftpool info``, run as a user runs them."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ftpool._runtime import free_threaded_build

FT = free_threaded_build()

MODULE = textwrap.dedent('''
    def work(n, scale=1):
        total = 0
        for i in range(n * scale):
            total += i
        return total

    class Job:
        @staticmethod
        def run(n):
            return sum(range(n))

    def boom(n):
        raise RuntimeError(f"boom {n}")

    NOT_CALLABLE = 3
''')


def cli(where: Path, *args: str, gil: str | None = "0") -> subprocess.CompletedProcess[str]:
    (where / "cli_target.py").write_text(MODULE)
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_GIL"}
    if FT and gil is not None:
        env["PYTHON_GIL"] = gil
    return subprocess.run([sys.executable, "-m", "ftpool", *args], cwd=where, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_doctor_prints_speedup_efficiency_and_findings(tmp_path: Path) -> None:
    result = cli(tmp_path, "doctor", "cli_target:work", "--args", "[2000]", "--threads", "2")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "ftpool doctor: cli_target:work on 1 and 2 threads" in out
    runners = [line.split()[0:2] for line in out.splitlines() if ": speedup " in line]
    assert runners == [["threads", "1"], ["ftpool", "Pool"]]
    assert "efficiency" in out
    if not FT:
        assert "- gil-build:" in out
    if FT and os.environ.get("PYTHONDONTWRITEBYTECODE"):
        assert "- no-bytecode-cache:" in out


def test_doctor_json_has_the_report_fields(tmp_path: Path) -> None:
    result = cli(tmp_path, "doctor", "cli_target:work", "--args", '{"n": 500, "scale": 2}',
                 "--threads", "2", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) >= {"speedup", "efficiency", "threads", "findings", "measurements"}
    assert data["threads"] == 2
    assert data["efficiency"] == pytest.approx(data["speedup"] / 2)
    for finding in data["findings"]:
        assert set(finding) == {"code", "message", "fix"}
    assert ("gil-build" in [f["code"] for f in data["findings"]]) == (not FT)


def test_doctor_reaches_dotted_names(tmp_path: Path) -> None:
    result = cli(tmp_path, "doctor", "cli_target:Job.run", "--args", "[100]", "--threads", "1",
                 "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["function"].endswith("Job.run")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["doctor", "cli_target"], "give MODULE:FUNCTION"),
        (["doctor", "no_such_module:work"], "cannot import 'no_such_module'"),
        (["doctor", "cli_target:missing"], "has no 'missing'"),
        (["doctor", "cli_target:NOT_CALLABLE"], "not callable"),
        (["doctor", "cli_target:work", "--args", "[1,"], "--args is not JSON"),
        (["doctor", "cli_target:work", "--args", "7"], "must be a JSON list"),
        (["doctor", "cli_target:work", "--threads", "0"], "at least 1"),
    ],
)
def test_doctor_bad_arguments_exit_2_and_say_what_to_do(
        tmp_path: Path, args: list[str], message: str) -> None:
    result = cli(tmp_path, *args)
    assert result.returncode == 2
    assert message in result.stderr


def test_doctor_exits_1_with_the_traceback_when_the_function_raises(tmp_path: Path) -> None:
    result = cli(tmp_path, "doctor", "cli_target:boom", "--args", "[3]")
    assert result.returncode == 1
    assert "cli_target:boom raised" in result.stderr
    assert "RuntimeError: boom 3" in result.stderr


def test_doctor_plot_needs_matplotlib_or_writes_a_png(tmp_path: Path) -> None:
    png = tmp_path / "doctor.png"
    result = cli(tmp_path, "doctor", "cli_target:work", "--args", "[500]", "--threads", "2",
                 "--plot", str(png))
    if importlib.util.find_spec("matplotlib") is None:
        assert result.returncode == 2
        assert "--plot needs matplotlib: pip install matplotlib" in result.stderr
        assert not png.exists()
    else:
        assert result.returncode == 0, result.stderr
        assert png.read_bytes().startswith(b"\x89PNG")


def test_info_lists_the_process_wide_traps(tmp_path: Path) -> None:
    result = cli(tmp_path, "info")
    assert result.returncode == 0, result.stderr
    assert "gil_enabled_by" in result.stdout
    if not FT:
        assert "trap                 gil-build:" in result.stdout
    elif os.environ.get("PYTHONDONTWRITEBYTECODE"):
        assert "trap                 no-bytecode-cache:" in result.stdout
    if FT:
        gil_on = cli(tmp_path, "info", gil="1")
        assert "trap                 gil-enabled: " in gil_on.stdout
        assert "PYTHON_GIL=1" in gil_on.stdout
