"""Stress rounds for the atomics: exact totals under contention (SharedArray, AtomicCounter),
wait/notify accounting with Workers terminated while they wait, pool tasks on one counter (see
stress_engine.py for the engine and how to add a round)."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from typing import Any

from stress_engine import WAIT, PhasedRound, Scenario, start_thread

import ftpool
from ftpool import Pool, Terminated, Worker

Atomics = ftpool.Atomics


def _wrap(value: int, array: ftpool.SharedArray) -> int:
    span = array.max - array.min + 1
    return (value - array.min) % span + array.min


class AtomicsRound(PhasedRound):
    """2-4 threads add, subtract and CAS-increment random elements of a SharedArray and an
    AtomicCounter; the totals must be exact (with the typecode's wraparound)."""

    def setup(self) -> None:
        rng = self.rng
        self.typecode = rng.choice("bBhHiIqQ")
        self.length = rng.randint(1, 8)
        self.array = ftpool.SharedArray(self.typecode, self.length)
        self.counter = ftpool.AtomicCounter(rng.randint(-100, 100))
        self.counter_start = self.counter.load()
        self.n_threads = rng.randint(2, 4)
        self.ops = rng.randint(100, 2000)
        self.deltas = [[0] * self.length for _ in range(self.n_threads)]
        self.counter_deltas = [0] * self.n_threads
        self.seeds = [rng.randrange(1 << 30) for _ in range(self.n_threads)]

    def drive(self) -> None:
        rnd = self.rnd
        threads = [start_thread(lambda t=t: self.hammer(t, self.seeds[t]),
                                f"stress-atomics-{rnd.label}-{t}")
                   for t in range(self.n_threads)]
        rnd.join(threads, "atomics threads")

    def hammer(self, t: int, seed: int) -> None:
        """Thread ``t``: ``ops`` random updates, each also counted in its own deltas."""
        r = random.Random(seed)
        array, counter, length = self.array, self.counter, self.length
        mine = self.deltas[t]
        for _ in range(self.ops):
            i = r.randrange(length)
            op = r.random()
            if op < 0.35:
                Atomics.add(array, i, 1)
                mine[i] += 1
            elif op < 0.6:
                Atomics.sub(array, i, 1)
                mine[i] -= 1
            elif op < 0.8:
                while True:  # a CAS increment loop
                    old = Atomics.load(array, i)
                    new = _wrap(old + 3, array)
                    if Atomics.compare_exchange(array, i, old, new) == old:
                        break
                mine[i] += 3
            else:
                n = r.randint(1, 5)
                if op < 0.9:
                    counter.add(n)
                    self.counter_deltas[t] += n
                else:
                    counter.sub(n)
                    self.counter_deltas[t] -= n

    def check(self) -> None:
        rnd, array, counter = self.rnd, self.array, self.counter
        for i in range(self.length):
            want = _wrap(sum(d[i] for d in self.deltas), array)
            if array[i] != want:
                rnd.problem("lost", f"SharedArray({self.typecode!r})[{i}] = {array[i]}, want "
                            f"{want} (atomic updates lost)")
        if counter.load() != self.counter_start + sum(self.counter_deltas):
            rnd.problem("lost", f"AtomicCounter = {counter.load()}, want "
                        f"{self.counter_start + sum(self.counter_deltas)}")
        rnd.tally.atomic_ops += self.n_threads * self.ops


class WaitNotifyRound(PhasedRound):
    """Waiters (threads and Workers) in Atomics.wait; a notifier wakes some at a time; some
    Workers are terminated while they wait. notify's counts must equal the "ok" returns."""

    def setup(self) -> None:
        rng = self.rng
        self.flag = ftpool.SharedArray(rng.choice("iq"), 2)  # [0]: the word; [1]: waits done
        self.n_waiters = rng.randint(1, 5)
        self.results: list[Counter[str]] = [Counter() for _ in range(self.n_waiters)]
        self.started = threading.Barrier(self.n_waiters + 1)
        # (seed, as a Worker) of each waiter; then which Workers get terminated
        self.plan = [(rng.randrange(1 << 30), rng.random() < 0.4) for _ in range(self.n_waiters)]
        self.victim_plan = [rng.random() < 0.5 for _, as_worker in self.plan if as_worker]
        self.woken = 0  # what notify() said it woke

    def drive(self) -> None:
        rnd, rng, flag = self.rnd, self.rng, self.flag
        waiters: list[Any] = []
        workers: list[Worker] = []
        for w, (seed, as_worker) in enumerate(self.plan):
            name = f"stress-waiter-{rnd.label}-{w}"
            if as_worker:
                worker = Worker(self.wait_loop, w, seed, name=name)
                waiters.append(worker)
                workers.append(worker)
            else:
                waiters.append(start_thread(lambda w=w, s=seed: self.wait_loop(w, s), name))
        victims = [w for w, chosen in zip(workers, self.victim_plan, strict=True) if chosen]
        try:
            self.started.wait(WAIT)
            for _ in range(rng.randint(1, 50)):
                self.woken += Atomics.notify(flag, 0, rng.choice([None, 1, 2]))
                if victims and rng.random() < 0.1:
                    self.fault(victims.pop())
                time.sleep(rng.choice([0, 0, 0.0005]))
            for victim in victims:
                self.fault(victim)
            Atomics.store(flag, 0, 1)
            self.woken += Atomics.notify(flag, 0)
            rnd.join(waiters, "Atomics.wait waiters")
        except (TimeoutError, threading.BrokenBarrierError):
            raise rnd.hung("Atomics.wait waiters did not wake up") from None

    def wait_loop(self, w: int, seed: int) -> None:
        """Waiter ``w``: wait (with random timeouts) until the word is no longer 0."""
        r = random.Random(seed)
        mine = self.results[w]
        flag = self.flag
        try:
            self.started.wait(WAIT)
            while True:
                outcome = Atomics.wait(flag, 0, 0, timeout=r.choice([None, 0.001, 0.01, 0.05]))
                mine[outcome] += 1
                Atomics.add(flag, 1, 1)
                if outcome == "not-equal":
                    return
        except Terminated:
            mine["terminated"] += 1

    def fault(self, victim: Worker) -> None:
        """Terminate a Worker while it waits in Atomics.wait."""
        victim.terminate(timeout=WAIT)
        self.rnd.fault("worker terminated in Atomics.wait")

    def finish(self) -> None:
        Atomics.store(self.flag, 0, 1)
        Atomics.notify(self.flag, 0)

    def check(self) -> None:
        rnd, results, woken = self.rnd, self.results, self.woken
        oks = sum(r["ok"] for r in results)
        if woken != oks:
            rnd.problem("lost" if woken > oks else "duplicated",
                        f"Atomics.notify reported {woken} woken, waiters returned 'ok' {oks} "
                        "times")
        total = sum(sum(r[k] for k in ("ok", "timed-out", "not-equal")) for r in results)
        if Atomics.load(self.flag, 1) != total:
            rnd.problem("violations",
                        f"waits counted {Atomics.load(self.flag, 1)}, returned {total}")
        rnd.tally.atomic_ops += total + woken


class PoolAtomicsRound(PhasedRound):
    """Pool tasks increment one AtomicCounter: the total is exact."""

    def setup(self) -> None:
        rng = self.rng
        self.counter = ftpool.AtomicCounter()
        self.n = rng.randint(10, 2000)
        self.max_workers = rng.randint(1, 4)
        self.chunksize = rng.choice([None, 1, 7])

    def drive(self) -> None:
        with Pool(max_workers=self.max_workers,
                  thread_name_prefix=f"stress-pa-{self.rnd.label}") as pool:
            for _ in pool.map(self.counter.add, [1] * self.n, chunksize=self.chunksize):
                pass

    def check(self) -> None:
        rnd, n = self.rnd, self.n
        if self.counter.load() != n:
            rnd.problem("lost",
                        f"{n} pool tasks added 1 each, the counter says {self.counter.load()}")
        rnd.tally.tasks += n
        rnd.tally.outcomes["result"] += n
        rnd.tally.atomic_ops += n


SCENARIOS: dict[str, Scenario] = {
    "atomics": (AtomicsRound, WaitNotifyRound, PoolAtomicsRound),
}
