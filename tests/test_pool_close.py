"""close(timeout=None), shutdown(wait, cancel_futures) and the context manager: no new work,
everything queued and running finishes, idempotent, and every task ends exactly once."""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time

import pytest

import ftpool
from ftpool import Pool


def test_close_finishes_queued_and_running_work() -> None:
    pool = Pool(max_workers=2)
    futures = [pool.submit(lambda i=i: (time.sleep(0.001), i)[1]) for i in range(40)]
    pool.close()
    assert [f.result(timeout=0) for f in futures] == list(range(40))
    assert pool.stats().workers == 0


def test_close_is_idempotent_and_refuses_new_work() -> None:
    pool = Pool(max_workers=1)
    pool.close()
    pool.close()
    pool.shutdown()
    with pytest.raises(RuntimeError, match="cannot schedule new futures after shutdown"):
        pool.submit(print)
    with pytest.raises(ftpool.ClosedError):
        pool.map(abs, [1])
    with pytest.raises(ftpool.ClosedError):
        pool.broadcast(print)


def test_close_timeout_raises_and_the_pool_still_finishes() -> None:
    gate = threading.Event()
    pool = Pool(max_workers=1)
    future = pool.submit(gate.wait, 5)
    with pytest.raises(TimeoutError, match="did not finish"):
        pool.close(timeout=0.05)
    gate.set()
    pool.close()
    assert future.result(timeout=0) is True


def test_close_negative_timeout_is_a_value_error() -> None:
    with Pool(max_workers=1) as pool, pytest.raises(ValueError):
        pool.close(timeout=-1)


def test_context_manager_closes_on_exit_even_on_error() -> None:
    futures: list[cf.Future[None]] = []

    def body(pool: Pool) -> None:
        with pool:
            futures.append(pool.submit(time.sleep, 0.02))
            raise KeyError("boom")

    pool = Pool(max_workers=2)
    with pytest.raises(KeyError):
        body(pool)
    assert futures[0].done()
    with pytest.raises(RuntimeError):
        pool.submit(print)


def test_shutdown_without_wait_then_close_joins() -> None:
    pool = Pool(max_workers=2)
    futures = [pool.submit(time.sleep, 0.005) for _ in range(10)]
    pool.shutdown(wait=False)
    pool.close()
    assert all(f.done() and not f.cancelled() for f in futures)


def test_shutdown_from_inside_a_task_does_not_deadlock() -> None:
    pool = Pool(max_workers=2)
    holder: list[Pool] = [pool]
    future = pool.submit(lambda: holder[0].shutdown(wait=True))
    assert future.result(timeout=5) is None
    pool.close()


@pytest.mark.parametrize("mode", ["close", "shutdown-wait", "cancel_futures", "terminate"])
@pytest.mark.parametrize("round_", range(8))
def test_every_task_ends_exactly_once(mode: str, round_: int) -> None:
    ended: list[cf.Future[int]] = []
    lock = threading.Lock()

    def record(future: cf.Future[int]) -> None:
        with lock:
            ended.append(future)

    def work(i: int) -> int:
        for _ in range(i % 5):
            ftpool.check_cancelled()
        if i % 13 == 0:
            raise ValueError(i)
        return i

    pool = Pool(max_workers=2, balancer="round-robin" if round_ % 2 else "least-busy")
    futures = [pool.submit(work, i) for i in range(200)]
    for future in futures:
        future.add_done_callback(record)
    if mode == "close":
        pool.close()
    elif mode == "shutdown-wait":
        pool.shutdown(wait=True)
    elif mode == "cancel_futures":
        pool.shutdown(wait=True, cancel_futures=True)
    else:
        pool.terminate()
    assert len(ended) == 200  # each callback ran exactly once
    assert {id(f) for f in ended} == {id(f) for f in futures}
    stats = pool.stats()
    assert stats.completed + stats.failed + stats.cancelled == 200
    assert stats.queued == 0
    assert stats.running == 0
    if mode in ("close", "shutdown-wait"):
        assert stats.cancelled == 0


def _submit_until_refused(
    pool: Pool, started: threading.Event, accepted: list[cf.Future[int]], refused: list[int]
) -> None:
    started.set()
    for i in range(500):
        try:
            accepted.append(pool.submit(abs, i))
        except RuntimeError:
            refused.append(i)


@pytest.mark.parametrize("balancer", ["least-busy", "round-robin"])
def test_submitting_while_another_thread_shuts_down(balancer: str) -> None:
    # a submit racing with shutdown either raises RuntimeError or returns a future that ends
    for _ in range(20):
        pool = Pool(max_workers=2, balancer=balancer)
        accepted: list[cf.Future[int]] = []
        refused: list[int] = []
        started = threading.Event()
        thread = threading.Thread(
            target=_submit_until_refused, args=(pool, started, accepted, refused)
        )
        thread.start()
        started.wait(5)
        pool.shutdown(wait=True)
        thread.join(5)
        pool.close()
        assert len(accepted) + len(refused) == 500
        assert all(f.done() for f in accepted)
