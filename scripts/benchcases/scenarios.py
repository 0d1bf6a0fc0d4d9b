"""The seed article's scenarios end to end: producer-consumer, and a producer feeding a pool.

The seed simulates work with ``while (Date.now() - now < 1500) {}``. A wall-clock spin would be
dishonest here: under the GIL a thread that is not running still sees the clock move, so a
GIL-bound pipeline would look parallel. The stages do a FIXED amount of CPU work instead (the
counting loop, ``UNIT`` iterations per unit), the same on every interpreter.

Each repeat measures, in the same process and moment:

- ``serial sum``: every item produced and consumed one after the other in one thread (the program
  without threads). Its fastest item of each stage gives the per-item costs p (produce) and c
  (consume).
- ``ideal bound``: the shortest makespan any schedule could reach on this machine, from p and c:
  ``max(k*p + c, p + ceil(k/W)*c, k*(p + c)/cores)`` for k items and W consumers (the producer's
  chain, the consumers' chain, and all the work spread over every core). For one consumer it is the
  classic pipeline bound ``p + c + (k-1)*max(p, c)`` unless the cores are fewer than the stages.
- the makespan of each implementation, from the first item produced to the last result received.

So ``serial sum / makespan`` is the speedup over the program without threads and
``ideal bound / makespan`` the fraction of the ideal reached (1.0 = as good as possible).
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from benchlib import Case

import ftpool
from ftpool._runtime import usable_cores

CORES = usable_cores()
UNIT = {False: 1_200_000, True: 400_000}  # loop iterations per work unit (~20 ms / ~6 ms)
RECEIVE_TIMEOUT = 60.0  # a hung implementation fails the case instead of hanging the run

# The seed's producer-consumer: 5 items, produce 1.5 s, consume 1 s, scaled to work units.
PC_ITEMS, PC_PRODUCE, PC_CONSUME = 5, 1.5, 1.0
# The seed's pool: the producer feeds a pool of consumers. With the seed's own costs the producer
# is the bottleneck and no pool could help, so here the consumers carry the weight.
POOL_ITEMS, POOL_PRODUCE, POOL_CONSUME = 8, 0.5, 2.0
POOL_WORKERS = CORES


def spin(iterations: int) -> int:
    """A fixed amount of pure-Python CPU work (the seed's busy loop, counted, not timed)."""
    for _ in range(iterations):
        pass
    return iterations


class Work:
    """One scenario's sizes: k items, produce p units, consume c units each."""

    def __init__(self, quick: bool, items: int, produce: float, consume: float) -> None:
        self.items = items
        self.produce_iterations = int(produce * UNIT[quick])
        self.consume_iterations = int(consume * UNIT[quick])

    def produce(self, index: int) -> int:
        spin(self.produce_iterations)
        return index

    def consume(self, item: int) -> int:
        spin(self.consume_iterations)
        return item * 2

    def expected(self) -> list[int]:
        return [i * 2 for i in range(self.items)]


def serial(work: Work) -> tuple[float, float, float]:
    """Every item produced, then consumed, one after the other in this thread.

    Returns (total time, fastest produce, fastest consume). The fastest item of each stage is
    its cost least disturbed by other work on the machine, so the bound built on it stays a
    lower bound when a noisy moment slows some items down.
    """
    produce_times, consume_times, items, results = [], [], [], []
    started = time.perf_counter()
    for i in range(work.items):
        before = time.perf_counter()
        items.append(work.produce(i))
        produce_times.append(time.perf_counter() - before)
    for item in items:
        before = time.perf_counter()
        results.append(work.consume(item))
        consume_times.append(time.perf_counter() - before)
    total = time.perf_counter() - started
    if results != work.expected():
        raise AssertionError("serial run computed the wrong results")
    return total, min(produce_times), min(consume_times)


def ideal_bound(p: float, c: float, items: int, consumers: int, cores: int) -> float:
    """The lower bound on any schedule's makespan for per-item costs p (produce) and c (consume);
    see the module docstring."""
    return max(items * p + c, p + math.ceil(items / consumers) * c,
               items * (p + c) / max(1, min(cores, consumers + 1)))


# --- producer-consumer implementations (one producer, one consumer) ------------------------------


def pc_threads_queue(work: Work) -> list[int]:
    """Plain threading: a producer thread and a consumer thread joined by a queue.Queue."""
    items: queue.Queue[int | None] = queue.Queue()
    results: list[int] = []

    def producer() -> None:
        for i in range(work.items):
            items.put(work.produce(i))
        items.put(None)  # end

    def consumer() -> None:
        while (item := items.get()) is not None:
            results.append(work.consume(item))

    threads = [threading.Thread(target=producer), threading.Thread(target=consumer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def pc_ftpool_ports(work: Work) -> list[int]:
    """The seed's message-channel pattern: producer and consumer Workers, a MessageChannel between
    them, the consumer posting each result to its parent (this thread)."""
    to_consumer, from_producer = ftpool.MessageChannel()

    def producer(port: Any) -> None:
        for i in range(work.items):
            port.post_message(work.produce(i))
        port.close()  # the consumer drains what was posted, then sees the end

    def consumer(port: Any) -> None:
        parent = ftpool.parent_port()
        assert parent is not None
        for item in port:
            parent.post_message(work.consume(item))

    producing = ftpool.Worker(producer, to_consumer, name="bench-producer")
    consuming = ftpool.Worker(consumer, from_producer, name="bench-consumer")
    try:
        results = [consuming.receive(timeout=RECEIVE_TIMEOUT) for _ in range(work.items)]
    finally:
        for worker in (producing, consuming):
            if worker.join(timeout=RECEIVE_TIMEOUT) != 0:
                raise AssertionError(f"{worker.name} failed: {worker.exception!r}")
    return results


def pc_ftpool_channel(work: Work) -> list[int]:
    """Producer and consumer Workers joined by an ftpool Channel (capacity 2: backpressure)."""
    channel = ftpool.Channel(capacity=2)
    results: list[int] = []

    def producer() -> None:
        try:
            for i in range(work.items):
                channel.send(work.produce(i), timeout=RECEIVE_TIMEOUT)
        finally:
            channel.close()

    def consumer() -> None:
        for item in channel:
            results.append(work.consume(item))

    workers = [ftpool.Worker(producer, name="bench-producer"),
               ftpool.Worker(consumer, name="bench-consumer")]
    for worker in workers:
        if worker.join(timeout=RECEIVE_TIMEOUT) != 0:
            raise AssertionError(f"{worker.name} failed: {worker.exception!r}")
    return results


# --- pool implementations (one producer, POOL_WORKERS consumers) ---------------------------------


def pool_executor(make: Callable[[int], Executor]) -> Callable[[Work], list[int]]:
    def run(work: Work) -> list[int]:
        """This thread produces and submits each item as soon as it exists (pipelined)."""
        with make(POOL_WORKERS) as executor:
            futures = [executor.submit(work.consume, work.produce(i)) for i in range(work.items)]
            return [future.result(timeout=RECEIVE_TIMEOUT) for future in futures]

    return run


def pool_threads_queue(work: Work) -> list[int]:
    """A hand-made pool: a producer thread, POOL_WORKERS consumer threads on one queue.Queue."""
    items: queue.Queue[int | None] = queue.Queue()
    results: list[int] = []

    def producer() -> None:
        for i in range(work.items):
            items.put(work.produce(i))
        for _ in range(POOL_WORKERS):
            items.put(None)

    def consumer() -> None:
        while (item := items.get()) is not None:
            results.append(work.consume(item))

    threads = [threading.Thread(target=producer)]
    threads += [threading.Thread(target=consumer) for _ in range(POOL_WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(results)


def pool_ftpool_channel(work: Work) -> list[int]:
    """The seed's pool rebuilt on ftpool: a producer Worker, POOL_WORKERS consumer Workers
    receiving from one Channel (the first idle consumer takes the next item)."""
    channel = ftpool.Channel()
    results: list[int] = []

    def producer() -> None:
        try:
            for i in range(work.items):
                channel.send(work.produce(i))
        finally:
            channel.close()

    def consumer() -> None:
        for item in channel:
            results.append(work.consume(item))

    workers = [ftpool.Worker(producer, name="bench-producer")]
    workers += [ftpool.Worker(consumer, name=f"bench-consumer-{i}") for i in range(POOL_WORKERS)]
    for worker in workers:
        if worker.join(timeout=RECEIVE_TIMEOUT) != 0:
            raise AssertionError(f"{worker.name} failed: {worker.exception!r}")
    return sorted(results)


def _available(*names: str) -> bool:
    return all(hasattr(ftpool, name) for name in names)


def producer_consumer_impls() -> dict[str, Callable[[Work], list[int]]]:
    impls: dict[str, Callable[[Work], list[int]]] = {}
    if _available("Worker", "MessageChannel", "parent_port"):
        impls["ftpool Worker+MessageChannel"] = pc_ftpool_ports
    if _available("Worker", "Channel"):
        impls["ftpool Worker+Channel"] = pc_ftpool_channel
    impls["threads+queue.Queue"] = pc_threads_queue
    return impls


def pool_impls() -> dict[str, Callable[[Work], list[int]]]:
    impls: dict[str, Callable[[Work], list[int]]] = {}
    pool = getattr(ftpool, "Pool", None)
    if pool is not None:
        impls["ftpool Pool"] = pool_executor(lambda n: pool(max_workers=n))
    if _available("Worker", "Channel"):
        impls["ftpool Worker+Channel"] = pool_ftpool_channel
    impls["ThreadPoolExecutor"] = pool_executor(lambda n: ThreadPoolExecutor(max_workers=n))
    impls["threads+queue.Queue"] = pool_threads_queue
    return impls


PC_IMPLS = producer_consumer_impls()
POOL_IMPLS = pool_impls()


def _scenario(impls: dict[str, Callable[[Work], list[int]]], work: Work,
              consumers: int) -> dict[str, float]:
    total, produce, consume = serial(work)
    values = {
        "serial sum": total,
        "ideal bound": ideal_bound(produce, consume, work.items, consumers, CORES),
    }
    for name, impl in impls.items():
        started = time.perf_counter()
        results = impl(work)
        values[name] = time.perf_counter() - started
        if sorted(results) != work.expected():
            raise AssertionError(f"{name} returned {results}, expected {work.expected()}")
    return values


def _ratios(impls: dict[str, Callable[[Work], list[int]]]) -> list[tuple[str, str]]:
    return [(base, name) for name in impls for base in ("serial sum", "ideal bound")]


CASES = [
    Case(
        name="scenario.producer_consumer",
        description=(f"the seed's producer -> consumer: {PC_ITEMS} items, produce "
                     f"{PC_PRODUCE:g} units, consume {PC_CONSUME:g} unit each; makespan, seconds"),
        run=lambda quick: _scenario(PC_IMPLS, Work(quick, PC_ITEMS, PC_PRODUCE, PC_CONSUME), 1),
        unit="s",
        higher_is_better=False,
        ratios=_ratios(PC_IMPLS),
        target="ideal bound / makespan close to 1 on 3.13t GIL off",
        kind="scenario",
        info={"items": PC_ITEMS, "produce_units": PC_PRODUCE, "consume_units": PC_CONSUME,
              "consumers": 1, "cores": CORES,
              "unit_iterations": {"quick": UNIT[True], "full": UNIT[False]},
              "implementations": list(PC_IMPLS)},
    ),
    Case(
        name="scenario.pool",
        description=(f"the seed's pool: 1 producer -> {POOL_WORKERS} consumers, {POOL_ITEMS} "
                     f"items, produce {POOL_PRODUCE:g} units, consume {POOL_CONSUME:g} each; "
                     "makespan, seconds"),
        run=lambda quick: _scenario(
            POOL_IMPLS, Work(quick, POOL_ITEMS, POOL_PRODUCE, POOL_CONSUME), POOL_WORKERS),
        unit="s",
        higher_is_better=False,
        ratios=_ratios(POOL_IMPLS),
        target="ideal bound / makespan close to 1 on 3.13t GIL off",
        kind="scenario",
        info={"items": POOL_ITEMS, "produce_units": POOL_PRODUCE, "consume_units": POOL_CONSUME,
              "consumers": POOL_WORKERS, "cores": CORES,
              "unit_iterations": {"quick": UNIT[True], "full": UNIT[False]},
              "implementations": list(POOL_IMPLS)},
    ),
]
