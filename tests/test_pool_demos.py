"""The pool demos run: `python -m ftpool demo pool` (the article's 5-consumer round-robin pool
with the "end" broadcast) and `python -m ftpool demo piscina`."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from ftpool.demos import DEMOS, piscina, pool

LINE = re.compile(r"^\s*(\d+\.\d\d)ms  (\S+)\s+(\S.*)$")


def parse(output: str) -> list[tuple[float, str, str]]:
    rows = []
    for line in output.splitlines():
        match = LINE.match(line)
        assert match, f"not a timestamped line: {line!r}"
        rows.append((float(match[1]), match[2], match[3]))
    return rows


def test_demos_are_registered() -> None:
    assert DEMOS["pool"][0] == "pool"
    assert DEMOS["piscina"][0] == "piscina"


def test_pool_demo_deals_round_robin_and_broadcasts_end(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert pool.main(["--scale", "0.02"]) == 0
    rows = parse(capsys.readouterr().out)
    starts = {(thread, text) for _, thread, text in rows if text.startswith("starts item")}
    # item i went to consumer i: the article's round-robin over 5 consumers (the lines may come
    # in another order on a loaded machine: each consumer prints when it gets the CPU)
    assert starts == {(f"consumer_{i}", f"starts item {i}") for i in range(5)}
    ends = {thread for _, thread, text in rows if text == "end of data"}
    assert ends == {f"consumer_{i}" for i in range(5)}
    consumed = sorted(text for _, _, text in rows if text.startswith("Consumed:"))
    assert consumed == [f"Consumed: {i}" for i in range(5)]
    produced = [text for _, thread, text in rows if thread == "producer"]
    assert produced[:5] == [f"Produced: {i}" for i in range(5)]
    assert rows[-1][2] == "Main process exits"


def test_piscina_demo(capsys: pytest.CaptureFixture[str]) -> None:
    assert piscina.main(["--scale", "0.1"]) == 0
    out = capsys.readouterr().out
    rows = parse(out)
    assert rows[-1][2] == "pool closed; all as expected"
    assert "run(n) -> fib: [55, 6765, 832040]" in out
    assert "raised at once: no handler named 'cube'" in out
    assert "the user pressed stop" in out
    assert "timeout: the task ran longer than its timeout" in out
    assert "(none was killed)" in out


@pytest.mark.parametrize("name", ["pool", "piscina"])
def test_bad_scale_is_a_usage_error(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    module = pool if name == "pool" else piscina
    with pytest.raises(SystemExit) as caught:
        module.main(["--scale", "0"])
    assert caught.value.code == 2
    assert "--scale must be > 0" in capsys.readouterr().err


def test_pool_demo_from_the_command_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ftpool", "demo", "pool", "--scale", "0.02"],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].endswith("Main process exits")
