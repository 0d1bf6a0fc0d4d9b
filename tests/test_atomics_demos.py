"""The shared-memory demos run: `python -m ftpool demo atomic-counter` and `atomics-pool`."""

from __future__ import annotations

import re
import subprocess
import sys

from ftpool.demos import DEMOS


def _demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ftpool", "demo", *args], capture_output=True,
                          text=True, timeout=60, check=False)


def test_demos_are_registered() -> None:
    assert DEMOS["atomic-counter"][0] == "atomic_counter"
    assert DEMOS["atomics-pool"][0] == "atomics_pool"


def test_atomic_counter_demo_shows_the_article_and_exact_totals() -> None:
    result = _demo("atomic-counter", "--threads", "3", "--ops", "3000")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].endswith("-> 0")
    assert lines[1].endswith(": 1")
    assert lines[2].endswith(": 0")
    assert re.search(r"AtomicCounter\.add\(\)\s+9000  expected 9000", result.stdout)
    assert re.search(r"Atomics\.add\(SharedArray\)\s+9000  expected 9000", result.stdout)
    assert re.search(r"Adder\.add\(\) \(striped\)\s+9000  expected 9000", result.stdout)
    assert "(the old value, as Atomics.add)" in result.stdout
    assert "plain int += 1" in result.stdout
    assert "Exception ignored" not in result.stderr


def test_atomic_counter_demo_rejects_bad_options() -> None:
    result = _demo("atomic-counter", "--threads", "0")
    assert result.returncode == 2
    assert "--threads must be >= 1" in result.stderr


def test_atomics_pool_demo_starts_every_item_when_it_is_posted() -> None:
    result = _demo("atomics-pool", "--scale", "0.05", "--consumers", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    latencies = [float(ms) for ms in re.findall(r"starts item \d, ([\d.]+) ms after", out)]
    assert len(latencies) == 5, out
    for item in range(5):
        assert f"Consumed: {item}" in out
        assert f"producer posts item {item}" in out
    assert "consumer-0" in out
    assert "consumer-1" in out
    # Woken by notify, not by a 1 s poll (whose median would be ~500 ms). Generous for a busy CI.
    assert sorted(latencies)[2] < 250, out
    assert "polling every 1 s" in out.splitlines()[-1]
    assert "Exception ignored" not in result.stderr


def test_atomics_pool_demo_rejects_bad_options() -> None:
    result = _demo("atomics-pool", "--scale", "0")
    assert result.returncode == 2
    assert "--scale must be > 0" in result.stderr
