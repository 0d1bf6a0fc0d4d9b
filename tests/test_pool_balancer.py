"""Balancers: "least-busy" (the first idle worker takes the next task, Piscina) and
"round-robin" (dealt to the workers in turn, the seed's pool); FIFO start order."""

from __future__ import annotations

import threading

import pytest

import ftpool
from ftpool import Pool


def test_unknown_balancer_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="'least-busy', 'round-robin'"):
        Pool(max_workers=1, balancer="random")
    with pytest.raises(ValueError, match="unknown balancer"):
        Pool(max_workers=1, balancer=None)  # type: ignore[arg-type]


def test_balancer_property() -> None:
    with Pool(max_workers=1) as a, Pool(max_workers=1, balancer="round-robin") as b:
        assert (a.balancer, b.balancer) == ("least-busy", "round-robin")


def test_least_busy_gives_work_to_an_idle_worker() -> None:
    gate = threading.Event()
    with Pool(max_workers=2, min_workers=2) as pool:
        started = threading.Event()
        busy = pool.submit(lambda: (started.set(), gate.wait(5), ftpool.thread_id())[2])
        assert started.wait(5)
        # the other worker takes these while the first one is busy
        ids = {pool.submit(ftpool.thread_id).result(timeout=5) for _ in range(5)}
        gate.set()
        assert busy.result(timeout=5) not in ids
        assert len(ids) == 1


def test_round_robin_deals_in_turn_even_to_busy_workers() -> None:
    gate = threading.Event()
    with Pool(max_workers=3, min_workers=3, balancer="round-robin") as pool:
        futures = [pool.submit(lambda: (gate.wait(5), ftpool.thread_id())[1]) for _ in range(9)]
        assert pool.stats().queued >= 6  # each worker holds its own share
        gate.set()
        ids = [f.result(timeout=5) for f in futures]
    assert len(set(ids)) == 3
    assert ids[:3] * 3 == ids  # worker i % 3 ran task i


def test_round_robin_grows_to_max_workers_first() -> None:
    with Pool(max_workers=3, balancer="round-robin") as pool:
        ids = [pool.submit(ftpool.thread_id).result(timeout=5) for _ in range(6)]
    assert len(set(ids)) == 3
    assert ids[:3] * 2 == ids


@pytest.mark.parametrize("balancer", ["least-busy", "round-robin"])
def test_fifo_start_order_on_one_worker(balancer: str) -> None:
    order: list[int] = []
    gate = threading.Event()
    with Pool(max_workers=1, balancer=balancer) as pool:
        pool.submit(gate.wait, 5)
        for i in range(50):
            pool.submit(order.append, i)
        gate.set()
    assert order == list(range(50))


def test_fifo_across_the_shared_and_a_workers_own_queue() -> None:
    order: list[str] = []
    gate = threading.Event()
    with Pool(max_workers=1, min_workers=1) as pool:
        pool.submit(gate.wait, 5)
        pool.submit(order.append, "a")
        pool.broadcast(order.append, "b")  # goes to the worker's own queue
        pool.submit(order.append, "c")
        gate.set()
    assert order == ["a", "b", "c"]


@pytest.mark.parametrize("balancer", ["least-busy", "round-robin"])
def test_many_submitters_at_once(balancer: str) -> None:
    results: list[int] = []
    lock = threading.Lock()
    with Pool(max_workers=2, balancer=balancer) as pool:

        def submitter(base: int) -> None:
            futures = [pool.submit(abs, -(base + i)) for i in range(500)]
            values = [f.result(timeout=10) for f in futures]
            with lock:
                results.extend(values)

        threads = [threading.Thread(target=submitter, args=(k * 1000,)) for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert sorted(results) == sorted(k * 1000 + i for k in range(4) for i in range(500))
