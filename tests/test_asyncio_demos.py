"""The asyncio demo runs: `python -m ftpool demo asyncio` (an event loop's ticker with CPU
requests computed inline, then awaited from a Pool). Speeds are not asserted here (that is for
scripts/bench); the demo must run both ways, print both measurements and the same results."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from ftpool.demos import DEMOS, asyncio_server

LINE = re.compile(r"^\s*\d+\.\d\dms  main\s+(\S.*)$")
RUN = re.compile(
    r"^(inline|pool)\s+worst tick late\s+(\d+\.\d) ms, median\s+(\d+\.\d\d) ms over (\d+) ticks; "
    r"8 requests served in \d+ ms$"
)


def test_the_demo_is_registered() -> None:
    assert DEMOS["asyncio"][0] == "asyncio_server"


def test_the_demo_measures_inline_and_pool(capsys: pytest.CaptureFixture[str]) -> None:
    assert asyncio_server.main(["--scale", "0.02"]) == 0
    texts = []
    for line in capsys.readouterr().out.splitlines():
        match = LINE.match(line)
        assert match, f"not a timestamped line: {line!r}"
        texts.append(match[1])
    runs = {m[1]: m for m in map(RUN.match, texts) if m}
    assert set(runs) == {"inline", "pool"}
    for match in runs.values():
        worst, median, ticks = float(match[2]), float(match[3]), int(match[4])
        assert ticks >= 1
        assert worst >= median >= 0
    assert texts[-2].startswith("worst tick: ")
    assert texts[-1] == "same results both ways"


def test_the_demo_from_the_command_line() -> None:
    env = dict(os.environ)
    done = subprocess.run(
        [sys.executable, "-m", "ftpool", "demo", "asyncio", "--scale", "0.02"],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "same results both ways" in done.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "ftpool", "demo", "asyncio", "--scale", "0"],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )
    assert bad.returncode == 2
    assert "--scale must be > 0" in bad.stderr
