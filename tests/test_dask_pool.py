"""DaskPool's own surface: the optional import, the GIL in the worker processes, a pool that opens
its own client from an address, bad input, max_queue and "drain", the thread context on a Dask
worker, and timeout= counted from the task's start."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from dask_support import (
    context,
    gil_enabled,
    mark_and_spin,
    require_distributed,
    spin_and_mark_end,
)
from thread_helpers import run_threads

from ftpool import PoolStats, QueueFull
from ftpool._runtime import free_threaded_build

ROOT = Path(__file__).resolve().parent.parent

# A local Dask cluster answers in milliseconds when the machine is idle, in seconds when it is
# loaded (a killed worker process took over 60 s to come back there): 5 minutes per test, not 60 s.
pytestmark = pytest.mark.timeout(300)


# A fresh interpreter that imports distributed: 3 s idle, but 45 s on a loaded 2-core machine
# (measured); the tests that start one get SUBPROCESS_SECONDS and a pytest timeout above it.
SUBPROCESS_SECONDS = 240


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=SUBPROCESS_SECONDS, cwd=ROOT, check=False,
    )


@pytest.mark.timeout(SUBPROCESS_SECONDS + 60)
@pytest.mark.single_thread
def test_import_ftpool_never_imports_distributed() -> None:
    result = _python(
        """
        import sys
        import ftpool
        pool = ftpool.Pool(max_workers=1)
        pool.submit(abs, -1).result()
        pool.shutdown()
        loaded = sorted(m for m in ("distributed", "dask", "tornado") if m in sys.modules)
        print(loaded)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.timeout(SUBPROCESS_SECONDS + 60)
@pytest.mark.single_thread
def test_ftpool_dask_without_distributed_says_how_to_install_it() -> None:
    result = _python(
        """
        import sys
        sys.modules["distributed"] = None  # as if it were not installed
        try:
            import ftpool.dask
        except ImportError as exc:
            print(exc)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'ftpool[dask]'" in result.stdout


@pytest.mark.single_thread
def test_the_gil_stays_off_in_the_worker_processes(dask_client: Any) -> None:
    if not free_threaded_build():
        pytest.skip("needs a free-threaded (3.13t) build")
    assert dask_client.run(gil_enabled) == dict.fromkeys(dask_client.nthreads(), False)
    from ftpool.dask import DaskPool

    with DaskPool(dask_client) as pool:
        assert {ctx["gil"] for ctx in pool.map(context, range(8), chunksize=1)} == {False}


def test_a_pool_from_an_address_opens_and_closes_its_own_client(dask_client: Any) -> None:
    from ftpool.dask import DaskPool

    address = dask_client.scheduler.address
    with DaskPool(address, task=abs) as pool:
        assert pool.client is not dask_client
        assert pool.run(-5).result(timeout=30) == 5
        assert pool.client.status == "running"
    assert pool.client.status == "closed"
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(abs, 1)


def test_bad_input_is_refused_and_changes_nothing(dask_client: Any) -> None:
    from ftpool.dask import DaskPool

    with pytest.raises(TypeError, match=r"distributed\.Client or a scheduler address"):
        DaskPool(8786)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_queue"):
        DaskPool(dask_client, max_queue=0)
    with pytest.raises(TypeError, match="handlers"):
        DaskPool(dask_client, handlers=[abs])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        DaskPool("tcp://127.0.0.1:1", connect_timeout=-1)
    with DaskPool(dask_client, task=abs) as pool:
        with pytest.raises(TypeError, match="callable"):
            pool.submit(42)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="chunksize"):
            pool.map(abs, [1], chunksize=0)
        with pytest.raises(TypeError, match="CancelToken"):
            pool.run(1, name=None, cancel="no")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"no event"):
            pool.on("nope", print)
        assert pool.stats().completed == 0
        assert pool.stats().queued == 0


def test_max_queue_raises_queue_full_and_drain_announces_room(
    dask_client: Any, tmp_path: Path
) -> None:
    from ftpool.dask import DaskPool

    pool = DaskPool(dask_client, max_queue=2)
    try:
        drained = threading.Event()
        pool.on("drain", drained.set)
        threads = pool.stats().max_workers
        marks = [tmp_path / f"m{i}" for i in range(threads)]
        blockers = [pool.submit(mark_and_spin, str(m), 60.0) for m in marks]
        waiting = [pool.submit(abs, -i) for i in range(2)]
        with pytest.raises(QueueFull, match="max_queue=2"):
            pool.submit(abs, -9)
        # map keeps at most max_queue chunks in flight instead of raising
        for blocker in blockers:
            blocker.cancel()
        assert drained.wait(30)
        assert [f.result(timeout=30) for f in waiting] == [0, 1]
        assert list(pool.map(abs, range(-50, 0))) == list(range(50, 0, -1))
    finally:
        pool.terminate(timeout=30)


def test_thread_ids_are_stable_per_worker_thread(dask_client: Any) -> None:
    from ftpool.dask import DaskPool

    with DaskPool(dask_client) as pool:
        seen = list(pool.map(context, range(64), chunksize=1))
    by_thread: dict[tuple[int, str], set[int]] = {}
    for ctx in seen:
        assert ctx["is_main_thread"] is False
        assert ctx["worker_data"] is None
        by_thread.setdefault((ctx["pid"], ctx["worker"]), set()).add(ctx["thread_id"])
    assert len({ctx["pid"] for ctx in seen} - {os.getpid()}) >= 1
    for ids in by_thread.values():
        assert all(i >= 1 for i in ids)
        assert len(ids) <= 2  # threads_per_worker=2: at most two ids per worker process


def test_timeout_counts_from_the_start_not_from_queueing(
    dask_client: Any, tmp_path: Path
) -> None:
    from ftpool.dask import DaskPool

    with DaskPool(dask_client, task=time.sleep) as pool:
        threads = pool.stats().max_workers
        # every thread busy for 4 s; the task behind them waits that long, but runs 0.1 s of its
        # 2 s (margins for a loaded machine, where the start event reaches the client late)
        busy = [pool.run(4.0) for _ in range(threads)]
        late = pool.run(0.1, timeout=2.0)
        assert late.result(timeout=30) is None
        for future in busy:
            future.result(timeout=30)


def test_stats_describe_the_cluster(dask_client: Any) -> None:
    from ftpool.dask import DaskPool

    with DaskPool(dask_client) as pool:
        stats = pool.stats()
        assert isinstance(stats, PoolStats)
        assert stats.workers == stats.max_workers == sum(dask_client.nthreads().values())
        assert pool.max_workers == stats.max_workers
        assert stats.idle_workers == stats.workers
        assert "DaskPool open" in repr(pool)
    with DaskPool(dask_client, max_queue="auto") as pool:
        assert pool.max_queue == stats.workers**2  # Piscina's rule, as Pool's "auto"


def test_a_running_task_sees_a_cancel_within_milliseconds(
    dask_client: Any, tmp_path: Path
) -> None:
    from ftpool.dask import DaskPool

    require_distributed()
    with DaskPool(dask_client) as pool:
        mark = tmp_path / "started"
        future = pool.submit(mark_and_spin, str(mark), 60.0)
        deadline = time.monotonic() + 30
        while not mark.exists():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        future.cancel()
        # the task stops (its thread is free again) well before its 60 s: the next task runs
        assert pool.submit(abs, -1).result(timeout=30) == 1
        assert pool.stats().cancelled == 1


def test_a_task_cancelled_just_before_close_still_stops(dask_client: Any, tmp_path: Path) -> None:
    from ftpool.dask import DaskPool

    mark = tmp_path / "task"
    pool = DaskPool(dask_client)
    future = pool.submit(spin_and_mark_end, str(mark), 60.0)
    deadline = time.monotonic() + 30
    while not mark.exists():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    future.cancel()
    pool.close()  # at once: the cancel record must outlive the pool for the task to see it
    end = Path(str(mark) + ".end")
    deadline = time.monotonic() + 20
    while not end.exists():
        assert time.monotonic() < deadline, "the cancelled task never stopped"
        time.sleep(0.01)


@pytest.mark.timeout(SUBPROCESS_SECONDS + 60)
@pytest.mark.single_thread
def test_tasks_submitted_before_interpreter_exit_still_end(dask_client: Any) -> None:
    address = dask_client.scheduler.address
    result = _python(
        f"""
        import time
        from ftpool.dask import DaskPool
        pool = DaskPool({address!r})
        for i in range(4):
            future = pool.submit(time.sleep, 0.2)
            future.add_done_callback(lambda f, i=i: print("ended", i, f.exception(), flush=True))
        print("main returns", flush=True)
        """
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0] == "main returns"
    assert sorted(lines[1:]) == [f"ended {i} None" for i in range(4)]


def test_threads_submitting_and_cancelling_at_once_end_every_task_once(dask_client: Any) -> None:
    from ftpool.dask import DaskPool

    ends: dict[tuple[int, int], int] = {}
    futures: dict[tuple[int, int], Any] = {}
    lock = threading.Lock()

    def ended(key: tuple[int, int]) -> Any:
        def callback(_: object) -> None:
            with lock:
                ends[key] = ends.get(key, 0) + 1

        return callback

    with DaskPool(dask_client) as pool:

        def submitter(t: int) -> None:
            mine = []
            for i in range(30):
                future = pool.submit(time.sleep, 0.002 * (i % 3))
                future.add_done_callback(ended((t, i)))
                with lock:
                    futures[(t, i)] = future
                mine.append(future)
                if i % 4 == 0:
                    mine[i // 2].cancel()  # an earlier one: queued, running or done
            list(pool.map(abs, range(-200, 0)))  # chunked work interleaved with the rest

        run_threads(4, submitter)
        pool.close(timeout=60)
        stats = pool.stats()
    deadline = time.monotonic() + 5
    while len(ends) < 120 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ends == dict.fromkeys(futures, 1)
    assert all(f.done() for f in futures.values())
    cancelled = sum(f.cancelled() for f in futures.values())
    assert stats.completed + stats.cancelled == 120 + 4 * 200
    assert stats.cancelled == cancelled


def test_timeout_fails_the_future_at_expiry_even_if_the_task_never_checks(
    dask_client: Any,
) -> None:
    from ftpool.dask import DaskPool

    with DaskPool(dask_client, task=time.sleep) as pool:
        started = time.monotonic()
        future = pool.run(4.0, timeout=0.3)  # sleeps: never calls check_cancelled()
        with pytest.raises(TimeoutError, match=r"timeout of 0\.3 s"):
            future.result(timeout=30)
        assert time.monotonic() - started < 3.0  # not at the task's end, 4 s later
        stats = pool.stats()
        assert stats.timed_out == 1
        assert stats.failed == 1
