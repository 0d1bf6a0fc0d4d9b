"""Interpreter exit, in subprocesses on this interpreter (with PYTHON_GIL=0 on 3.13t): scripts
that return from main with work queued in pools, Workers blocked in receive(), listener threads
still delivering, shared-memory views and atomics waits open, and coroutines awaiting pool futures
(and a coroutine Worker). Each must exit promptly with
exit code 0, print what its atexit report says (queued work completed, or cancelled as asked, no
message lost), and write nothing to stderr: no traceback, no "Exception ignored".

The scripts are in tests/exit_scripts/; each prints its report from an ``atexit`` handler, which
runs after Python has joined the threads (so after ftpool's own exit handling).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ftpool._runtime import free_threaded_build

SCRIPTS = Path(__file__).parent / "exit_scripts"
PROMPT_SECONDS = 15.0  # "promptly": each script's own work takes well under a second


def run_script(name: str) -> tuple[list[str], float]:
    env = dict(os.environ)
    if free_threaded_build():
        env["PYTHON_GIL"] = "0"  # the atomics package imports cffi 1.x
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, str(SCRIPTS / f"{name}.py")],
            capture_output=True, text=True, timeout=60, env=env, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{name}.py did not exit within 60 s (hung at exit); output: {exc.stdout!r}")
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", f"{name}.py wrote to stderr:\n{done.stderr}"
    assert elapsed < PROMPT_SECONDS, f"{name}.py took {elapsed:.1f} s to exit"
    return done.stdout.splitlines(), elapsed


def test_pools_with_work_queued_finish_it_before_exit() -> None:
    lines, _ = run_script("pool_queued")
    assert lines[0].startswith("main returns with ")
    assert lines[1:] == ["completed 350 other 0 work ran 300"]


def test_pools_shut_down_with_cancel_or_terminate_cancel_the_queued_work() -> None:
    lines, _ = run_script("pool_cancelled")
    assert lines == [
        "running True queued cancelled 100 busy cancelled True waiting cancelled 100"
    ]


def test_workers_blocked_in_receive_end_at_exit_after_what_was_posted() -> None:
    lines, _ = run_script("workers_receiving")
    assert lines == [
        "main returns",
        "exit codes [0, 0, 0] received 100 errors [None, None, None]",
    ]


def test_coroutines_awaiting_ports_end_at_exit_after_what_was_posted() -> None:
    lines, _ = run_script("coroutines_receiving")
    assert lines == [
        "main returns",
        "exit codes [0, 0, 0] received 100 errors [None, None, None]",
    ]


def test_listener_threads_deliver_everything_before_exit() -> None:
    lines, _ = run_script("listeners_running")
    assert lines == ["main returns", "heard 21000 exit [0]"]


def test_ports_whose_message_listeners_were_removed_do_not_keep_the_process_alive() -> None:
    lines, _ = run_script("listeners_removed")
    assert lines == ["main returns", "late 100"]


def test_atomics_views_and_waits_open_at_exit() -> None:
    lines, _ = run_script("atomics_open")
    assert lines == ["main returns", "byte 0 8 counter 5 waiter True worker exit 1"]


def test_coroutines_awaiting_pool_futures_and_a_coroutine_worker_at_exit() -> None:
    lines, _ = run_script("asyncio_awaiting")
    assert lines == [
        "main returns",
        "thread loop (4950, True) spinning cancelled True worker 0 None ['hello']",
    ]
