"""The seed article's pool scenario through DaskPool (``python -m ftpool demo cluster``): a
producer Worker posts items on a MessageChannel, the listener sends each to the cluster, "end" is
broadcast to every Dask worker process, and every item comes back."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from dask_support import require_distributed

from ftpool.demos import DEMOS

ROOT = Path(__file__).resolve().parent.parent

# A local Dask cluster answers in milliseconds when the machine is idle, in seconds when it is
# loaded (a killed worker process took over 60 s to come back there): 5 minutes per test, not 60 s.
pytestmark = pytest.mark.timeout(300)


@pytest.mark.single_thread  # it swaps the demo module's timeline
def test_the_pool_scenario_runs_through_dask_pool(dask_client: Any) -> None:
    from ftpool.demos import cluster
    from ftpool.demos._timeline import Timeline

    out = io.StringIO()
    cluster.timeline = Timeline(out)
    ok, items, ends = cluster.run_scenario(dask_client, scale=0.02)
    assert ok, out.getvalue()
    assert sorted(items) == ["0", "1", "2", "3", "4"]
    assert len(ends) == len(dask_client.nthreads())  # once per worker process
    log = out.getvalue()
    assert log.count("Produced:") == 5
    assert log.count("Consumed:") == 5
    assert "on tcp://127.0.0.1:" in log  # consumed in the cluster's worker processes


@pytest.mark.single_thread
def test_the_cluster_demo_runs_from_the_command_line() -> None:
    require_distributed()
    assert "cluster" in DEMOS
    env = dict(os.environ)
    result = subprocess.run(
        [sys.executable, "-m", "ftpool", "demo", "cluster", "--scale", "0.02", "--threads", "1"],
        capture_output=True, text=True, timeout=240, cwd=ROOT, env=env, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "items consumed: " in result.stdout
    assert "'end' reached 2 worker processes" in result.stdout
    assert "Main process exits" in result.stdout
