"""Shared-memory atomics: ``AtomicCounter``/``Atomics`` against the ``atomics`` package's own API,
a lock-protected int and per-thread counters; and the wake-up latency of ``Atomics.wait``/``notify``
against the seed article's consumer that polls every second.

- ``counter.add``: one thread, operations per second. ``AtomicCounter.add()`` against ``atomics``'
  ``inc()`` and ``fetch_add(1)`` on an ``atomicview`` (its public per-operation API), a ``Lock``
  around ``+= 1``, ``Atomics.add`` on a ``SharedArray('q')``, and a plain local int (what a
  per-thread counter costs: the floor, nothing shared).
- ``counter.scaling``: aggregate increments per second on ONE shared counter from 1 and from 2
  threads, for ``AtomicCounter`` and for the lock; plus per-thread counters (each thread its own
  int) as the control that shows how much parallelism the machine gave at that moment.
- ``adder.scaling``: ``Adder.add`` from 1 and 2 threads (each thread its own cell), against
  ``AtomicCounter.add`` (one shared cell) in the same run, with 128-byte cell spacing against 64,
  and an empty loop as the control (how much parallelism the machine gave at that moment).
- ``counter.contention``: why ONE shared ``AtomicCounter`` does not scale. The same patomic
  increment, 1 vs 2 threads, reached through: one shared ``AtomicCounter``; one shared Python
  function (a closure over its own function object and pointer) that both threads call; per-thread
  functions (each thread builds its own) on the SAME cell; on cells 8 bytes apart (one cache line);
  on cells 64 bytes apart (own lines). Shared vs per-thread function on one cell is the
  Python-level cost of sharing an object (its reference count, written by every call under 3.13t);
  same cell vs own lines is the hardware's (the cache line moving between the cores).
- ``atomics.wake``: a consumer sleeps in ``Atomics.wait``; the producer stores and notifies; the
  latency is notify -> the consumer running again (p50, p99). The seed's consumer instead polls
  every 1 s; that is measured with a 10 ms poll (the same code, 100x shorter interval) and scaled
  by 100, since waiting seconds per sample is too slow for a benchmark.

Run with ``PYTHON_GIL=0`` on 3.13t: the ``atomics`` package imports cffi, which otherwise switches
the GIL on (and then no thread scales).
"""

from __future__ import annotations

import ctypes
import random
import statistics
import threading
import time
from collections.abc import Callable

from benchlib import Case, quantile

import ftpool._adder
from ftpool import Adder, AtomicCounter, Atomics, SharedArray, SharedBuffer
from ftpool._atomics import _thread_function
from ftpool._runtime import load_atomics
from ftpool._shared import _cffi_lock

POLL_INTERVAL = 0.010  # seconds: the measured stand-in for the seed's 1-second poll
POLL_SCALE = 1.0 / POLL_INTERVAL  # to the seed's 1 s interval


def _rate(ops: int, seconds: float) -> float:
    return ops / seconds if seconds > 0 else float("inf")


def _timed(fn: Callable[[int], object], n: int) -> float:
    start = time.perf_counter()
    fn(n)
    return _rate(n, time.perf_counter() - start)


# --- counter.add ----------------------------------------------------------------------------------


def _counter_add(quick: bool) -> dict[str, float]:
    scale = 1 if quick else 5
    atomics = load_atomics()
    counter = AtomicCounter()
    array = SharedArray("q", 1)
    lock = threading.Lock()
    box = [0]

    def ftpool_add(n: int) -> None:
        add = counter.add
        for _ in range(n):
            add()

    def ftpool_atomics_add(n: int) -> None:
        add = Atomics.add
        for _ in range(n):
            add(array, 0, 1)

    def locked(n: int) -> None:
        for _ in range(n):
            with lock:
                box[0] += 1

    def local_int(n: int) -> None:
        count = 0
        for _ in range(n):
            count += 1
        box.append(count)

    memory = bytearray(8)
    with _cffi_lock:  # atomics' public API calls cffi on every operation: one thread only
        context = atomics.atomicview(buffer=memory, atype=atomics.INT)
        view = context.__enter__()
        try:

            def inc(n: int) -> None:
                f = view.inc
                for _ in range(n):
                    f()

            def fetch_add(n: int) -> None:
                f = view.fetch_add
                for _ in range(n):
                    f(1)

            result = {
                "atomics inc()": _timed(inc, 6_000 * scale),
                "AtomicCounter.add": _timed(ftpool_add, 25_000 * scale),
                "atomics fetch_add(1)": _timed(fetch_add, 2_000 * scale),
                "Atomics.add (SharedArray)": _timed(ftpool_atomics_add, 20_000 * scale),
                "Lock + int": _timed(locked, 100_000 * scale),
                "per-thread int": _timed(local_int, 400_000 * scale),
            }
        finally:
            context.__exit__(None, None, None)
    assert counter.load() == 25_000 * scale
    assert Atomics.load(array, 0) == 20_000 * scale
    return result


# --- counter.scaling ------------------------------------------------------------------------------


def _threads_rate(threads: int, n: int, work: Callable[[int], object]) -> float:
    """Aggregate ops/s of ``threads`` threads each running ``work(n)``, started together."""
    barrier = threading.Barrier(threads + 1)

    def body() -> None:
        barrier.wait()
        work(n)

    workers = [threading.Thread(target=body, name=f"bench-atomics-{i}") for i in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    start = time.perf_counter()
    for worker in workers:
        worker.join()
    return _rate(threads * n, time.perf_counter() - start)


def _counter_scaling(quick: bool) -> dict[str, float]:
    scale = 1 if quick else 4
    counter = AtomicCounter()
    lock = threading.Lock()
    box = [0]

    def atomic(n: int) -> None:
        add = counter.add
        for _ in range(n):
            add()

    def locked(n: int) -> None:
        for _ in range(n):
            with lock:
                box[0] += 1

    totals: list[int] = []

    def own(n: int) -> None:
        count = 0
        for _ in range(n):
            count += 1
        totals.append(count)

    n_atomic, n_lock, n_own = 25_000 * scale, 60_000 * scale, 800_000 * scale
    result = {
        "AtomicCounter x1": _threads_rate(1, n_atomic, atomic),
        "AtomicCounter x2": _threads_rate(2, n_atomic, atomic),
        "Lock + int x1": _threads_rate(1, n_lock, locked),
        "Lock + int x2": _threads_rate(2, n_lock, locked),
        "per-thread int x1": _threads_rate(1, n_own, own),
        "per-thread int x2": _threads_rate(2, n_own, own),
    }
    # The point of atomics: the exact total, with no lock.
    assert counter.load() == 3 * n_atomic, counter.load()
    assert box[0] == 3 * n_lock
    assert sum(totals) == 3 * n_own
    return result


# --- adder.scaling --------------------------------------------------------------------------------


def _adder_scaling(quick: bool) -> dict[str, float]:
    scale = 1 if quick else 4
    n = 40_000 * scale

    def hoisted_adds(adder: Adder) -> Callable[[int], None]:
        def work(count: int) -> None:
            add = adder.add  # this thread's own add function
            for _ in range(count):
                add()
        return work

    def counter_adds(counter: AtomicCounter) -> Callable[[int], None]:
        def work(count: int) -> None:
            add = counter.add
            for _ in range(count):
                add()
        return work

    def own(count: int) -> None:
        for _ in range(count):
            pass  # the loop alone: what nothing shared costs

    result: dict[str, float] = {}
    adders: list[tuple[Adder, int]] = []
    for threads in (1, 2):
        adder = Adder()
        result[f"Adder x{threads}"] = _threads_rate(threads, n, hoisted_adds(adder))
        adders.append((adder, threads * n))
        counter = AtomicCounter()
        result[f"AtomicCounter x{threads}"] = _threads_rate(threads, n, counter_adds(counter))
        assert counter.load() == threads * n
        saved = ftpool._adder.STRIDE
        ftpool._adder.STRIDE = 64  # type: ignore[misc]  # cells one line apart
        try:
            narrow = Adder()
        finally:
            ftpool._adder.STRIDE = saved  # type: ignore[misc]
        result[f"Adder (64-byte stride) x{threads}"] = _threads_rate(threads, n,
                                                                    hoisted_adds(narrow))
        adders.append((narrow, threads * n))
        result[f"empty loop x{threads}"] = _threads_rate(threads, 40 * n, own)
    for adder, want in adders:
        assert adder.sum() == want, (adder.sum(), want)
    return result


# --- counter.contention ---------------------------------------------------------------------------


def _incrementer(address: int, memory: object) -> Callable[[], None]:
    """A function that increments the int64 at ``address`` with patomic, built for the calling
    thread: its own function object and pointer (``memory`` is kept alive by it)."""
    binding = SharedArray("q", 1)._binding  # any int64 binding has the same patomic functions
    assert binding is not None
    inc = _thread_function(binding, "inc")
    cell = ctypes.byref(ctypes.c_int64.from_address(address))

    def add() -> None:
        inc(cell, 5)
        assert memory  # keeps the memory alive; never false

    return add


def _counter_contention(quick: bool) -> dict[str, float]:
    scale = 1 if quick else 4
    n = 40_000 * scale
    result: dict[str, float] = {}
    for threads in (1, 2):
        counter = AtomicCounter()

        def shared(count: int, counter: AtomicCounter = counter) -> None:
            add = counter.add
            for _ in range(count):
                add()

        result[f"one shared AtomicCounter x{threads}"] = _threads_rate(threads, n, shared)
        assert counter.load() == threads * n

        buffer = SharedBuffer(4 * 64)
        base = buffer._address + (-buffer._address % 64)
        cells = SharedArray("q", buffer)
        one = _incrementer(base, buffer)  # one function object, called by every thread

        def shared_function(count: int, add: Callable[[], None] = one) -> None:
            for _ in range(count):
                add()

        result[f"one shared function, same cell x{threads}"] = _threads_rate(threads, n,
                                                                            shared_function)
        for name, spacing in (("same cell", 0), ("cells 8 B apart (one line)", 8),
                              ("cells 64 B apart (own lines)", 64)):
            taken = AtomicCounter()  # hands each thread its number

            def own_function(count: int, spacing: int = spacing, taken: AtomicCounter = taken,
                             base: int = base, buffer: SharedBuffer = buffer) -> None:
                add = _incrementer(base + taken.add() * spacing, buffer)  # built in the thread
                for _ in range(count):
                    add()

            result[f"per-thread functions, {name} x{threads}"] = _threads_rate(threads, n,
                                                                               own_function)
        assert sum(cells.tolist()) == 4 * threads * n
    return result


# --- atomics.wake ---------------------------------------------------------------------------------


def _latencies(samples: int, consumer_waits: Callable[[SharedArray], None]) -> list[float]:
    """Seconds from the producer's store (+notify) to the consumer running, per sample.

    The producer posts 1 ms plus a random part of a poll interval after the consumer started
    waiting, so that a polling consumer is caught at a random phase of its interval (as a job
    arriving at any time would be).
    """
    flag = SharedArray("i", 1)
    rng = random.Random(4)
    ready = threading.Event()
    posted = [0.0]
    latencies: list[float] = []

    def consumer() -> None:
        for _ in range(samples):
            ready.set()  # the flag is 0 again: the producer may post the next one
            consumer_waits(flag)
            latencies.append(time.perf_counter() - posted[0])
            Atomics.store(flag, 0, 0)

    thread = threading.Thread(target=consumer, name="bench-atomics-consumer")
    thread.start()
    try:
        for _ in range(samples):
            if not ready.wait(10.0):
                break  # the consumer died: join it and let its exception show
            ready.clear()
            time.sleep(0.001 + rng.random() * POLL_INTERVAL)  # the consumer is waiting by then
            posted[0] = time.perf_counter()
            Atomics.store(flag, 0, 1)
            Atomics.notify(flag, 0)
    finally:
        thread.join()
    return latencies


def _wait_until_set(flag: SharedArray) -> None:
    while Atomics.load(flag, 0) == 0:
        Atomics.wait(flag, 0, 0)  # sleeps until notified; returns at once if already set


def _poll_until_set(flag: SharedArray) -> None:
    while Atomics.load(flag, 0) == 0:  # the seed's consumer: look, then sleep a fixed interval
        time.sleep(POLL_INTERVAL)


def _wake(quick: bool) -> dict[str, float]:
    waits = _latencies(20 if quick else 80, _wait_until_set)
    polls = _latencies(10 if quick else 40, _poll_until_set)
    poll_p50 = statistics.median(polls) * 1e3
    return {
        "Atomics.wait/notify p50": statistics.median(waits) * 1e3,
        "Atomics.wait/notify p99": quantile(waits, 0.99) * 1e3,
        "poll every 10 ms p50": poll_p50,
        "poll every 1 s p50 (10 ms x100)": poll_p50 * POLL_SCALE,
    }


CASES = [
    Case(
        name="counter.add",
        description="one thread: AtomicCounter.add vs atomics' inc()/fetch_add, Lock+int, "
        "Atomics.add, per-thread int; ops/s",
        run=_counter_add,
        unit="ops/s",
        higher_is_better=True,
        ratios=[("AtomicCounter.add", "atomics inc()"),
                ("AtomicCounter.add", "atomics fetch_add(1)"),
                ("AtomicCounter.add", "Lock + int")],
        target="AtomicCounter.add / atomics inc() >= 4",
    ),
    Case(
        name="counter.scaling",
        description="1 vs 2 threads incrementing ONE counter, aggregate ops/s (AtomicCounter, "
        "Lock+int; per-thread ints as the machine's control)",
        run=_counter_scaling,
        unit="ops/s",
        higher_is_better=True,
        ratios=[("AtomicCounter x2", "AtomicCounter x1"),
                ("Lock + int x2", "Lock + int x1"),
                ("per-thread int x2", "per-thread int x1")],
        target="AtomicCounter x2 / x1 >= 1.5 (3.13t, GIL off)",
    ),
    Case(
        name="adder.scaling",
        description="Adder.add (a cell per thread) from 1 and 2 threads vs AtomicCounter.add "
        "(one cell), 128 vs 64-byte cell spacing; an empty loop as the machine's control",
        run=_adder_scaling,
        unit="ops/s",
        higher_is_better=True,
        ratios=[("Adder x2", "Adder x1"),
                ("Adder x1", "AtomicCounter x1"),
                ("Adder x2", "AtomicCounter x2"),
                ("Adder x2", "Adder (64-byte stride) x2"),
                ("empty loop x2", "empty loop x1")],
        target="Adder x2 / x1 >= 1.8 on 2 cores; Adder x1 / AtomicCounter x1 >= 1.0",
    ),
    Case(
        name="counter.contention",
        description="one increment, 1 vs 2 threads: one shared AtomicCounter / shared function vs "
        "per-thread functions on the same cell, one line, own lines (Python vs hardware cost)",
        run=_counter_contention,
        unit="ops/s",
        higher_is_better=True,
        ratios=[("one shared AtomicCounter x2", "one shared AtomicCounter x1"),
                ("one shared function, same cell x2", "one shared function, same cell x1"),
                ("per-thread functions, same cell x2", "per-thread functions, same cell x1"),
                ("per-thread functions, cells 8 B apart (one line) x2",
                 "per-thread functions, cells 8 B apart (one line) x1"),
                ("per-thread functions, cells 64 B apart (own lines) x2",
                 "per-thread functions, cells 64 B apart (own lines) x1")],
        target="explains counter.scaling (no target of its own)",
    ),
    Case(
        name="atomics.wake",
        description="notify -> woken consumer latency: Atomics.wait vs the seed's sleep-polling",
        run=_wake,
        unit="ms",
        higher_is_better=False,
        ratios=[("poll every 1 s p50 (10 ms x100)", "Atomics.wait/notify p50")],
        target="Atomics.wait/notify p50 < 1 ms",
    ),
]
