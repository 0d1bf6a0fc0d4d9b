"""Interpreter exit (in a subprocess): work submitted just before exit completes, idle and
undropped pools do not hang the exit, every task ends exactly once, and submits after exit began
raise as in ThreadPoolExecutor. Also: using the pool keeps the GIL off on 3.13t."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from ftpool._runtime import free_threaded_build


def run_python(code: str, *, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env if env is not None else dict(os.environ),
        check=False,
    )


def test_work_submitted_just_before_exit_completes() -> None:
    done = run_python(
        """
        import atexit, time, ftpool
        pool = ftpool.Pool(max_workers=2)
        finished = []
        def work(i):
            time.sleep(0.01)
            finished.append(i)
        for i in range(10):
            pool.submit(work, i)
        atexit.register(lambda: print("finished", sorted(finished)))
        print("main returns", len(finished) < 10)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "main returns True",
        f"finished {list(range(10))}",
    ]


def test_every_task_ends_exactly_once_across_exit() -> None:
    done = run_python(
        """
        import atexit, threading, ftpool
        ended = []
        lock = threading.Lock()
        def record(future):
            with lock:
                ended.append(future)
        pools = [ftpool.Pool(max_workers=2, balancer=b) for b in ("least-busy", "round-robin")]
        futures = []
        for pool in pools:
            for i in range(500):
                future = pool.submit(pow, i, 2)
                future.add_done_callback(record)
                futures.append(future)
        def report():  # atexit runs after the pools were shut down and joined
            print(len(ended), len({id(f) for f in ended}), all(f.done() for f in futures))
        atexit.register(report)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1000", "1000", "True"]


def test_submit_after_interpreter_shutdown_began() -> None:
    done = run_python(
        """
        import atexit, ftpool
        pool = ftpool.Pool(max_workers=1)
        pool.submit(abs, 1).result()
        def late():
            try:
                pool.submit(abs, 1)
            except RuntimeError as exc:
                print(type(exc).__name__, exc)
        atexit.register(late)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "PoolClosedError cannot schedule new futures after interpreter shutdown"
    )


def test_idle_pools_and_timers_do_not_hang_the_exit() -> None:
    done = run_python(
        """
        import ftpool
        idle = ftpool.Pool(max_workers=4, min_workers=4)
        timed = ftpool.Pool(task=lambda x: x, max_workers=2)
        print(timed.run(1, timeout=30).result())
        dropped = ftpool.Pool(max_workers=2)
        dropped.submit(abs, 1).result()
        del dropped
        print("bye")
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "bye"]


@pytest.mark.skipif(not free_threaded_build(), reason="only a free-threaded build can turn it on")
def test_using_the_pool_keeps_the_gil_off() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_GIL"}
    done = run_python(
        """
        import sys, ftpool
        with ftpool.Pool(max_workers=2) as pool:
            list(pool.map(abs, range(1000)))
            f = ftpool.Pool(task=lambda x: x, max_workers=1)
            f.run(1, timeout=5).result()
            f.close()
            pool.stats()
        print(sys._is_gil_enabled(), "atomics" in sys.modules, "cffi" in sys.modules)
        """,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False", "False"]
