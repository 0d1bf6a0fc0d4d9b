"""The article's atomic counter (``SharedArrayBuffer`` + ``Atomics``), then threads hammering one
counter.

First the article's example, line by line: an int32 view over a 4-byte shared buffer, ``load``,
``add``, ``sub``. Then ``--threads`` workers each add 1 to ONE shared counter ``--ops`` times: the
:class:`~ftpool.AtomicCounter` and ``Atomics.add`` on a ``SharedArray('i')`` end exactly at
threads x ops with no lock, and so does an :class:`~ftpool.Adder` (a cell per thread, summed at the
end: the counter that scales); a plain ``+=`` on a shared int, next to them, is not atomic and can
lose updates when threads run in parallel (3.13t with the GIL off).
"""

from __future__ import annotations

import argparse
import threading
import time

import ftpool
from ftpool import Adder, AtomicCounter, Atomics, SharedArray, SharedBuffer

DEFAULT_THREADS = 4
DEFAULT_OPS = 50_000


def article_example() -> None:
    """The article's code, in Python."""
    # Create a SharedArrayBuffer with a size in bytes
    shared = SharedArray("i", SharedBuffer(4))  # Int32Array.BYTES_PER_ELEMENT == 4
    shared[0] = 0
    print("Atomics.load(shared, 0)      ->", Atomics.load(shared, 0))  # prints 0
    Atomics.add(shared, 0, 1)  # add 1 to the shared buffer
    print("after Atomics.add(shared, 0, 1):", Atomics.load(shared, 0))  # prints 1
    Atomics.sub(shared, 0, 1)  # subtract 1 from the shared buffer
    print("after Atomics.sub(shared, 0, 1):", Atomics.load(shared, 0))  # prints 0


def conventions() -> None:
    """What comes back: ``add``/``sub`` return the OLD value on both ``Atomics`` and
    ``AtomicCounter`` (Node's rule); ``add_and_get`` returns the new one."""
    counter = AtomicCounter(41)
    print("AtomicCounter(41).add(1)     ->", counter.add(1), " (the old value, as Atomics.add)")
    print("then .add_and_get(1)         ->", counter.add_and_get(1), " (the new value)")
    print("then .compare_exchange(43, 0) ->", counter.compare_exchange(43, 0),
          " (the old value; it was 43, so now", counter.load(), end=")\n")


class _Box:
    """A shared plain int, updated with ``+=`` (read, add, write: three steps, not atomic)."""

    value = 0


def hammer(threads: int, ops: int) -> bool:
    """``threads`` workers add 1 to shared counters ``ops`` times each; True if the atomic ones
    are exact."""
    counter = AtomicCounter()
    adder = Adder()
    array = SharedArray("i", 1)
    box = _Box()
    start = threading.Barrier(threads)

    def work() -> None:
        start.wait()  # all at once, so that they really run at the same time
        add = counter.add
        striped_add = adder.add  # this thread's own cell
        atomics_add = Atomics.add
        for _ in range(ops):
            add()
            striped_add()
            atomics_add(array, 0, 1)
            box.value += 1  # not atomic: a racing thread's update can be overwritten

    began = time.perf_counter()
    workers = [ftpool.Worker(work, name=f"adder-{i}") for i in range(threads)]
    codes = [worker.join() for worker in workers]
    seconds = time.perf_counter() - began
    expected = threads * ops
    lost = expected - box.value
    print(f"{threads} threads x {ops} increments each, {seconds * 1e3:.0f} ms "
          f"(GIL {'on' if ftpool.runtime().gil_enabled else 'off'}):")
    print(f"  AtomicCounter.add()        {counter.load():>10}  expected {expected}")
    print(f"  Atomics.add(SharedArray)   {Atomics.load(array, 0):>10}  expected {expected}")
    print(f"  Adder.add() (striped)      {adder.sum():>10}  expected {expected}")
    print(f"  plain int += 1             {box.value:>10}  "
          + (f"lost {lost} updates to races" if lost else "(no update lost this time)"))
    return (codes == [0] * threads
            and counter.load() == expected == Atomics.load(array, 0) == adder.sum())


def main(argv: list[str]) -> int:
    """Run the demo; returns the exit code (1 if an atomic total was not exact)."""
    parser = argparse.ArgumentParser(prog="python -m ftpool demo atomic-counter",
                                     description=__doc__)
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                        help=f"worker threads (default {DEFAULT_THREADS})")
    parser.add_argument("--ops", type=int, default=DEFAULT_OPS,
                        help=f"increments per thread (default {DEFAULT_OPS})")
    args = parser.parse_args(argv)
    if args.threads < 1 or args.ops < 0:
        parser.error("--threads must be >= 1 and --ops >= 0")
    article_example()
    conventions()
    print()
    return 0 if hammer(args.threads, args.ops) else 1
